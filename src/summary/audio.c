/* Audio summaries: 16-bit PCM WAV clips in the audio plugin's [k,2] string
   tensor of (wav, label) rows, as tf.summary.audio writes them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "../writer/writer_internal.h"
#include "encode.h"
#include "plugin_data.pb-c.h"
#include <tbw/record.h>
#include <tbw/summary.h>

#define MAX_RATE 768000u

static inline int16_t to_pcm16(float v)
{
    if (!(v == v))
        return 0;
    if (v >= 1.0f)
        return 32767;
    if (v <= -1.0f)
        return -32767;
    return (int16_t)lrintf(v * 32767.0f);
}

int tbw_wav_encode(const float *samples, size_t frames, size_t channels, uint32_t sample_rate, uint8_t **out,
                   size_t *out_len)
{
    if (!out || !out_len)
        return TBW_EINVAL;
    *out = NULL;
    *out_len = 0;
    if ((frames && !samples) || channels == 0 || channels > 64 || sample_rate == 0 || sample_rate > MAX_RATE)
        return TBW_EINVAL;
    size_t n, bytes;
    if (!tbw__mul(frames, channels, &n) || !tbw__mul(n, 2, &bytes) || bytes > 0xFFFFFFFFu - 44)
        return TBW_ERANGE;
    uint8_t *w = malloc(44 + bytes);
    if (!w)
        return TBW_ENOMEM;
    memcpy(w, "RIFF", 4);
    tbw__store_le32(w + 4, (uint32_t)(36 + bytes));
    memcpy(w + 8, "WAVEfmt ", 8);
    tbw__store_le32(w + 16, 16);
    w[20] = 1; /* PCM */
    w[21] = 0;
    w[22] = (uint8_t)channels;
    w[23] = 0;
    tbw__store_le32(w + 24, sample_rate);
    tbw__store_le32(w + 28, (uint32_t)(sample_rate * channels * 2));
    w[32] = (uint8_t)(channels * 2);
    w[33] = 0;
    w[34] = 16;
    w[35] = 0;
    memcpy(w + 36, "data", 4);
    tbw__store_le32(w + 40, (uint32_t)bytes);
    for (size_t i = 0; i < n; i++) {
        uint16_t s = (uint16_t)to_pcm16(samples[i]);
        w[44 + 2 * i] = (uint8_t)s;
        w[45 + 2 * i] = (uint8_t)(s >> 8);
    }
    *out = w;
    *out_len = 44 + bytes;
    return TBW_OK;
}

int tbw_audio(tbw_writer *w, const char *tag, int64_t step, const tbw_audio_clip *clips, size_t n,
              uint32_t sample_rate)
{
    int rc = tbw__check_tag(w, tag);
    if (rc)
        return rc;
    if (!clips || n == 0 || n > 10000)
        return tbw__writer_fail(w, TBW_EINVAL, "audio '%s': needs 1..10000 clips", tag);
    if (sample_rate == 0 || sample_rate > MAX_RATE)
        return tbw__writer_fail(w, TBW_EINVAL, "audio '%s': sample rate %u is outside 1..%u Hz", tag, sample_rate,
                                MAX_RATE);
    for (size_t i = 0; i < n; i++) {
        if ((clips[i].frames && !clips[i].samples) || clips[i].channels == 0 || clips[i].channels > 64)
            return tbw__writer_fail(w, TBW_EINVAL, "audio '%s': clip %zu needs samples and 1..64 channels", tag, i);
        if (clips[i].label && !tbw__utf8_valid(clips[i].label, strlen(clips[i].label)))
            return tbw__writer_fail(w, TBW_EINVAL, "audio '%s': label of clip %zu is not valid UTF-8", tag, i);
    }
    /* The clips' WAV bytes must fit one event record: refused here, before any sample is read. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s, b;
        size_t label = clips[i].label ? strlen(clips[i].label) : 0;
        if (!tbw__mul(clips[i].frames, clips[i].channels, &s) || !tbw__mul(s, 2, &b) ||
            b > TBW_RECORD_MAX_PAYLOAD || label > TBW_RECORD_MAX_PAYLOAD ||
            (total += 44 + b + label + 20) > TBW_RECORD_MAX_PAYLOAD)
            return tbw__writer_fail(w, TBW_ERANGE,
                                    "audio '%s': with clip %zu the clips are over %llu bytes, the most an event "
                                    "record holds",
                                    tag, i, (unsigned long long)TBW_RECORD_MAX_PAYLOAD);
    }
    ProtobufCBinaryData *vals = calloc(2 * n, sizeof *vals);
    if (!vals)
        return tbw__writer_fail(w, TBW_ENOMEM, "audio '%s': out of memory", tag);
    for (size_t i = 0; i < n; i++) {
        uint8_t *wav;
        size_t len;
        rc = tbw_wav_encode(clips[i].samples, clips[i].frames, clips[i].channels, sample_rate, &wav, &len);
        if (rc) {
            rc = tbw__writer_fail(w, rc, "audio '%s': encoding clip %zu failed: %s", tag, i, tbw_strerror(rc));
            goto done;
        }
        vals[2 * i].data = wav;
        vals[2 * i].len = len;
        vals[2 * i + 1].data = (uint8_t *)(clips[i].label ? clips[i].label : "");
        vals[2 * i + 1].len = clips[i].label ? strlen(clips[i].label) : 0;
    }
    tbw__shape shape;
    Tensorboard__TensorProto t = TENSORBOARD__TENSOR_PROTO__INIT;
    t.dtype = TENSORBOARD__DATA_TYPE__DT_STRING;
    t.tensor_shape = tbw__shape_init(&shape, 2, (int64_t)n, 2);
    t.n_string_val = 2 * n;
    t.string_val = vals;
    Tensorboard__AudioPluginData apd = TENSORBOARD__AUDIO_PLUGIN_DATA__INIT;
    apd.encoding = TENSORBOARD__AUDIO_PLUGIN_DATA__ENCODING__WAV;
    uint8_t content[16];
    size_t clen = tensorboard__audio_plugin_data__pack(&apd, content);
    tbw__meta meta;
    tbw__meta_make(&meta, "audio", content, clen);
    rc = tbw__write_tensor(w, tag, step, &t, &meta);
done:
    for (size_t i = 0; i < n; i++)
        free(vals[2 * i].data);
    free(vals);
    return rc;
}
