/* An event file through the reader: framing, both CRCs, Event decoding and the value views. The
   CRCs are made right for half the inputs, so the decoder is reached, not only the checks. */
#include "fuzz.h"

#include <string.h>

#include <tbw/reader.h>
#include <tbw/record.h>

static uint8_t frame_buf[1 << 20];

static void touch(const tbw_event *ev)
{
    volatile double sink = ev->wall_time + (double)ev->step;
    for (size_t i = 0; i < ev->n_values; i++) {
        const tbw_value *v = &ev->values[i];
        sink += (double)strlen(v->tag) + (double)strlen(v->plugin_name) + (double)v->plugin_content_len;
        for (size_t k = 0; k < v->data_len; k++)
            sink += v->data[k];
        for (size_t k = 0; k < v->n_strings; k++)
            sink += v->string_lens[k] ? v->strings[k][0] + v->strings[k][v->string_lens[k] - 1] : 0;
        for (size_t k = 0; k < v->rank; k++)
            sink += (double)v->dims[k];
        for (size_t k = 0; k < v->histo_buckets; k++)
            sink += v->histo_bucket[k] + v->histo_bucket_limit[k];
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *file = data;
    size_t flen = size;
    if (size > 0 && (data[0] & 1) && size - 1 + TBW_RECORD_OVERHEAD <= sizeof frame_buf) {
        /* the rest of the input is one Event payload: frame it with correct CRCs */
        tbw_record_frame(data + 1, size - 1, frame_buf);
        file = frame_buf;
        flen = size - 1 + TBW_RECORD_OVERHEAD;
    }
    tbw_reader *r;
    char msg[256];
    if (tbw_reader_open(&r, fuzz_file(0, file, flen), msg, sizeof msg))
        return 0;
    const tbw_event *ev;
    while (tbw_reader_next(r, &ev) == 1)
        touch(ev);
    tbw_reader_close(r);
    return 0;
}
