/* Image summaries (the images plugin's [width, height, png...] string tensor)
   and the grid helper. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "../writer/writer_internal.h"
#include "encode.h"
#include <tbw/record.h>
#include <tbw/summary.h>

/* Checks the batch; on failure why says which condition failed. The size limits apply before
   anything is allocated: at most TBW_IMAGE_MAX_SIDE pixels per side, and one image's raw pixels
   within an event record (its PNG can be no larger than about that). */
static int check_batch(const tbw_image_batch *b, size_t *img_elems, char *why, size_t cap)
{
    if (!b || !b->data)
        return snprintf(why, cap, "the batch or its data is NULL"), TBW_EINVAL;
    if (b->n == 0 || b->height == 0 || b->width == 0)
        return snprintf(why, cap, "n, height and width must be >= 1 (got %zu, %zu, %zu)", b->n, b->height, b->width),
               TBW_EINVAL;
    if (b->channels != 1 && b->channels != 3 && b->channels != 4)
        return snprintf(why, cap, "channels must be 1, 3 or 4 (got %zu)", b->channels), TBW_EINVAL;
    if (b->type != TBW_PIXEL_U8 && b->type != TBW_PIXEL_F32)
        return snprintf(why, cap, "unknown pixel type %d", (int)b->type), TBW_EINVAL;
    if (b->layout != TBW_LAYOUT_HWC && b->layout != TBW_LAYOUT_CHW)
        return snprintf(why, cap, "unknown layout %d", (int)b->layout), TBW_EINVAL;
    if (b->height > TBW_IMAGE_MAX_SIDE || b->width > TBW_IMAGE_MAX_SIDE)
        return snprintf(why, cap, "%zux%zu px is over the %d px per side an image may have", b->width, b->height,
                        TBW_IMAGE_MAX_SIDE),
               TBW_ERANGE;
    size_t e, total;
    if (!tbw__mul(b->height, b->width, &e) || !tbw__mul(e, b->channels, &e) || e > TBW_RECORD_MAX_PAYLOAD)
        return snprintf(why, cap, "one %zux%zux%zu image is over the %llu bytes an event record holds", b->width,
                        b->height, b->channels, (unsigned long long)TBW_RECORD_MAX_PAYLOAD),
               TBW_ERANGE;
    if (!tbw__mul(e, b->n, &total) || !tbw__mul(total, 4, &total))
        return snprintf(why, cap, "a batch of %zu such images is too large to address", b->n), TBW_ERANGE;
    *img_elems = e;
    return TBW_OK;
}

static inline uint8_t f2u8(float v)
{
    if (!(v > 0.0f)) /* also NaN */
        return 0;
    if (v >= 1.0f)
        return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

/* Sample (y, x, c) of image i as a float, in the batch's own scale. */
static inline float sample_f(const tbw_image_batch *b, size_t i, size_t y, size_t x, size_t c, size_t img_elems)
{
    size_t off = b->layout == TBW_LAYOUT_HWC ? (y * b->width + x) * b->channels + c
                                             : (c * b->height + y) * b->width + x;
    off += i * img_elems;
    return b->type == TBW_PIXEL_U8 ? (float)((const uint8_t *)b->data)[off] : ((const float *)b->data)[off];
}

/* Image i of the batch as uint8 HWC into out. */
static void to_hwc_u8(const tbw_image_batch *b, size_t i, size_t img_elems, uint8_t *out)
{
    if (b->type == TBW_PIXEL_U8 && b->layout == TBW_LAYOUT_HWC) {
        memcpy(out, (const uint8_t *)b->data + i * img_elems, img_elems);
        return;
    }
    if (b->type == TBW_PIXEL_F32 && b->layout == TBW_LAYOUT_HWC) {
        const float *src = (const float *)b->data + i * img_elems;
        for (size_t k = 0; k < img_elems; k++)
            out[k] = f2u8(src[k]);
        return;
    }
    for (size_t y = 0; y < b->height; y++)
        for (size_t x = 0; x < b->width; x++)
            for (size_t c = 0; c < b->channels; c++) {
                float v = sample_f(b, i, y, x, c, img_elems);
                out[(y * b->width + x) * b->channels + c] =
                    b->type == TBW_PIXEL_U8 ? (uint8_t)v : f2u8(v);
            }
}

int tbw_images(tbw_writer *w, const char *tag, int64_t step, const tbw_image_batch *batch, size_t max_outputs)
{
    int rc = tbw__check_tag(w, tag);
    if (rc)
        return rc;
    size_t img_elems;
    char why[192];
    rc = check_batch(batch, &img_elems, why, sizeof why);
    if (rc)
        return tbw__writer_fail(w, rc, "images '%s': %s", tag, why);
    size_t k = max_outputs ? max_outputs : 3;
    if (k > batch->n)
        k = batch->n;
    if (k > 100000)
        return tbw__writer_fail(w, TBW_ERANGE, "images '%s': max_outputs %zu is too large", tag, k);
    uint8_t **strs = calloc(k + 2, sizeof *strs);
    size_t *lens = calloc(k + 2, sizeof *lens);
    ProtobufCBinaryData *vals = calloc(k + 2, sizeof *vals);
    uint8_t *pix = malloc(img_elems);
    char wbuf[24], hbuf[24];
    if (!strs || !lens || !vals || !pix) {
        rc = tbw__writer_fail(w, TBW_ENOMEM, "images '%s': out of memory", tag);
        goto done;
    }
    for (size_t i = 0; i < k; i++) {
        to_hwc_u8(batch, i, img_elems, pix);
        rc = tbw_png_encode(pix, batch->height, batch->width, batch->channels, tbw__writer_png_level(w),
                            &strs[i + 2], &lens[i + 2]);
        if (rc) {
            rc = tbw__writer_fail(w, rc, "images '%s': PNG encoding of image %zu failed: %s", tag, i,
                                  tbw_strerror(rc));
            goto done;
        }
    }
    /* Width first, as ASCII decimal: the images plugin's convention. */
    snprintf(wbuf, sizeof wbuf, "%zu", batch->width);
    snprintf(hbuf, sizeof hbuf, "%zu", batch->height);
    vals[0].data = (uint8_t *)wbuf;
    vals[0].len = strlen(wbuf);
    vals[1].data = (uint8_t *)hbuf;
    vals[1].len = strlen(hbuf);
    for (size_t i = 0; i < k; i++) {
        vals[i + 2].data = strs[i + 2];
        vals[i + 2].len = lens[i + 2];
    }
    tbw__shape shape;
    Tensorboard__TensorProto t = TENSORBOARD__TENSOR_PROTO__INIT;
    t.dtype = TENSORBOARD__DATA_TYPE__DT_STRING;
    t.tensor_shape = tbw__shape_init(&shape, 1, (int64_t)(k + 2), 0);
    t.n_string_val = k + 2;
    t.string_val = vals;
    tbw__meta meta;
    tbw__meta_make(&meta, "images", NULL, 0);
    rc = tbw__write_tensor(w, tag, step, &t, &meta);
done:
    if (strs)
        for (size_t i = 0; i < k + 2; i++)
            free(strs[i]);
    free(strs);
    free(lens);
    free(vals);
    free(pix);
    return rc;
}

int tbw_image_grid(const tbw_image_batch *b, size_t cols, size_t pad, uint8_t pad_value, bool normalize,
                   uint8_t **out, size_t *out_height, size_t *out_width, size_t *out_channels)
{
    if (!out || !out_height || !out_width || !out_channels)
        return TBW_EINVAL;
    *out = NULL;
    size_t img_elems;
    char why[192];
    int rc = check_batch(b, &img_elems, why, sizeof why);
    if (rc)
        return rc;
    if (cols == 0)
        cols = (size_t)ceil(sqrt((double)b->n));
    if (cols > b->n)
        cols = b->n;
    size_t rows = (b->n + cols - 1) / cols;
    size_t gh, gw, total;
    if (pad > 4096 || !tbw__mul(rows, b->height + pad, &gh) || !tbw__mul(cols, b->width + pad, &gw))
        return TBW_ERANGE;
    gh += pad;
    gw += pad;
    if (gh > TBW_IMAGE_MAX_SIDE || gw > TBW_IMAGE_MAX_SIDE || !tbw__mul(gh, gw, &total) ||
        !tbw__mul(total, b->channels, &total) || total > TBW_RECORD_MAX_PAYLOAD)
        return TBW_ERANGE;
    uint8_t *g = malloc(total);
    if (!g)
        return TBW_ENOMEM;
    memset(g, pad_value, total);
    for (size_t i = 0; i < b->n; i++) {
        size_t oy = pad + (i / cols) * (b->height + pad);
        size_t ox = pad + (i % cols) * (b->width + pad);
        float lo = 0, scale = 0;
        if (normalize) {
            float mn = INFINITY, mx = -INFINITY;
            for (size_t y = 0; y < b->height; y++)
                for (size_t x = 0; x < b->width; x++)
                    for (size_t c = 0; c < b->channels; c++) {
                        float v = sample_f(b, i, y, x, c, img_elems);
                        if (isfinite(v)) {
                            mn = v < mn ? v : mn;
                            mx = v > mx ? v : mx;
                        }
                    }
            lo = mn;
            scale = mx > mn ? 1.0f / (mx - mn) : 0.0f;
        }
        for (size_t y = 0; y < b->height; y++)
            for (size_t x = 0; x < b->width; x++)
                for (size_t c = 0; c < b->channels; c++) {
                    float v = sample_f(b, i, y, x, c, img_elems);
                    uint8_t u;
                    if (normalize)
                        u = scale > 0 ? f2u8((v - lo) * scale) : (isfinite(v) ? 128 : 0);
                    else
                        u = b->type == TBW_PIXEL_U8 ? (uint8_t)v : f2u8(v);
                    g[((oy + y) * gw + ox + x) * b->channels + c] = u;
                }
    }
    *out = g;
    *out_height = gh;
    *out_width = gw;
    *out_channels = b->channels;
    return TBW_OK;
}
