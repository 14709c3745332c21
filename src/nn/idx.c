/* IDX (MNIST format) reader and mini-batch source. zlib's gzread reads gzip and plain files alike;
 * every header field is checked before anything is allocated so a hostile file fails with a message. */
#include "nn_internal.h"

#include "../common/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAX_BYTES ((size_t)1 << 32) /* larger than any image set this engine trains on */

struct cnn_dataset {
    char errmsg[TBW__ERRMSG_LEN];
    size_t count;
    int rows, cols;
    uint8_t *images;
    uint8_t *labels;
    size_t *order;
};

int cnn_dataset_create(cnn_dataset **out, char *errmsg, size_t errmsg_len)
{
    tbw__err e = TBW__ERR_BUF(errmsg, errmsg_len);
    if (errmsg && errmsg_len)
        errmsg[0] = '\0';
    if (!out)
        return tbw__fail(e, TBW_EINVAL, "out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? TBW_OK : tbw__fail(e, TBW_ENOMEM, "out of memory allocating the dataset");
}

void cnn_dataset_free(cnn_dataset *ds)
{
    if (!ds)
        return;
    free(ds->images);
    free(ds->labels);
    free(ds->order);
    free(ds);
}

const char *cnn_dataset_errmsg(const cnn_dataset *ds)
{
    return ds ? ds->errmsg : "no dataset";
}

/* Reads exactly len bytes; distinguishes a short file from a read error. */
static int read_exact(cnn_dataset *ds, gzFile f, const char *path, void *buf, size_t len, const char *what)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        size_t chunk = len - got > (1u << 30) ? (1u << 30) : len - got;
        int r = gzread(f, p + got, (unsigned)chunk);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            /* zlib: Z_BUF_ERROR is a stream that ends early, Z_DATA_ERROR one that is damaged
               (a bad block, a CRC or length that does not match). */
            if (zerr == Z_BUF_ERROR)
                return TBW__FAIL(ds, TBW_ETRUNCATED, "%s: compressed data ends inside the %s (%s)", path, what, msg);
            if (zerr == Z_DATA_ERROR)
                return TBW__FAIL(ds, TBW_ECORRUPT, "%s: compressed data is corrupt in the %s (%s)", path, what, msg);
            return TBW__FAIL(ds, TBW_EIO, "%s: read error in the %s: %s", path, what, msg);
        }
        if (r == 0)
            return TBW__FAIL(ds, TBW_ETRUNCATED, "%s: file truncated: %s needs %zu bytes, only %zu present", path, what,
                             len, got);
        got += (size_t)r;
    }
    return TBW_OK;
}

/* Reads the total data bytes a header declared into a new buffer that grows as the bytes arrive, so
   a header that claims gigabytes costs no more memory than the data the file really holds. */
static int read_data(cnn_dataset *ds, gzFile f, const char *path, size_t total, uint8_t **out)
{
    size_t cap = total < ((size_t)1 << 20) ? total : (size_t)1 << 20, got = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return TBW__FAIL(ds, TBW_ENOMEM, "%s: cannot allocate %zu bytes", path, cap);
    for (;;) {
        int rc = read_exact(ds, f, path, buf + got, cap - got, "data");
        if (rc) {
            if (rc == TBW_ETRUNCATED)
                rc = TBW__FAIL(ds, TBW_ETRUNCATED, "%s: file truncated: the header declares %zu data bytes, the "
                               "file ends or breaks within the first %zu", path, total, cap);
            free(buf);
            return rc;
        }
        got = cap;
        if (got == total)
            break;
        size_t ncap = cap > total / 2 ? total : cap * 2;
        uint8_t *nb = realloc(buf, ncap);
        if (!nb) {
            free(buf);
            return TBW__FAIL(ds, TBW_ENOMEM, "%s: cannot allocate %zu bytes", path, ncap);
        }
        buf = nb;
        cap = ncap;
    }
    *out = buf;
    return TBW_OK;
}

/* Loads one ubyte IDX file of the given rank; dims receives the sizes, *data the payload. */
static int load_idx(cnn_dataset *ds, const char *path, int want_rank, uint32_t dims[3], uint8_t **data, size_t *len)
{
    *data = NULL;
    uint8_t *buf = NULL;
    int rc;
    if (!path)
        return TBW__FAIL(ds, TBW_EINVAL, "NULL path");
    int fd, err = tbw__open_read(path, &fd);
    if (err)
        return tbw__fail_errno(TBW__ERR(ds), err, "%s: cannot open", path);
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        return TBW__FAIL(ds, TBW_ENOMEM, "%s: out of memory opening it", path);
    }
    uint8_t hdr[4];
    rc = read_exact(ds, f, path, hdr, 4, "header");
    if (rc)
        goto fail;
    if (hdr[0] != 0 || hdr[1] != 0) {
        rc = TBW__FAIL(ds, TBW_ECORRUPT, "%s: not an IDX file (magic %02x %02x, want 00 00)", path, hdr[0], hdr[1]);
        goto fail;
    }
    if (hdr[2] != 0x08) {
        rc = TBW__FAIL(ds, TBW_ECORRUPT, "%s: IDX type byte 0x%02x, only unsigned byte (0x08) is supported", path,
                       hdr[2]);
        goto fail;
    }
    if (hdr[3] != want_rank) {
        rc = TBW__FAIL(ds, TBW_EMISMATCH, "%s: IDX rank %d, expected %d", path, hdr[3], want_rank);
        goto fail;
    }
    size_t total = 1;
    for (int i = 0; i < want_rank; i++) {
        uint8_t d[4];
        rc = read_exact(ds, f, path, d, 4, "dimension sizes");
        if (rc)
            goto fail;
        dims[i] = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
        if (!tbw__mul(total, dims[i], &total) || total > IDX_MAX_BYTES) {
            rc = TBW__FAIL(ds, TBW_ERANGE, "%s: dimension sizes multiply past the %zu byte limit", path,
                           IDX_MAX_BYTES);
            goto fail;
        }
    }
    if (total == 0) {
        rc = TBW__FAIL(ds, TBW_ECORRUPT, "%s: a dimension is zero", path);
        goto fail;
    }
    rc = read_data(ds, f, path, total, &buf);
    if (rc)
        goto fail;
    uint8_t extra;
    int r = gzread(f, &extra, 1);
    if (r != 0) {
        rc = TBW__FAIL(ds, TBW_ECORRUPT, "%s: %s after the %zu data bytes", path,
                       r > 0 ? "unexpected trailing bytes" : "read error", total);
        goto fail;
    }
    if (gzclose(f) != Z_OK) {
        f = NULL;
        rc = TBW__FAIL(ds, TBW_EIO, "%s: close failed", path);
        goto fail;
    }
    *data = buf;
    *len = total;
    return TBW_OK;
fail:
    if (f)
        gzclose(f);
    free(buf);
    return rc;
}

int cnn_dataset_load_idx(cnn_dataset *ds, const char *images_path, const char *labels_path)
{
    if (!ds)
        return TBW_EINVAL;
    uint32_t idims[3] = {0}, ldims[3] = {0};
    uint8_t *img = NULL, *lab = NULL;
    size_t ilen, llen;
    size_t *order = NULL;
    int rc = load_idx(ds, images_path, 3, idims, &img, &ilen);
    if (rc)
        goto fail;
    rc = load_idx(ds, labels_path, 1, ldims, &lab, &llen);
    if (rc)
        goto fail;
    if (idims[0] != ldims[0]) {
        rc = TBW__FAIL(ds, TBW_EMISMATCH, "%u images but %u labels", idims[0], ldims[0]);
        goto fail;
    }
    if (idims[1] > 65536 || idims[2] > 65536) {
        rc = TBW__FAIL(ds, TBW_ERANGE, "%s: images of %ux%u are too large", images_path, idims[1], idims[2]);
        goto fail;
    }
    order = malloc(sizeof(size_t) * idims[0]);
    if (!order) {
        rc = TBW__FAIL(ds, TBW_ENOMEM, "out of memory for the sample order");
        goto fail;
    }
    for (size_t i = 0; i < idims[0]; i++)
        order[i] = i;
    free(ds->images);
    free(ds->labels);
    free(ds->order);
    ds->images = img;
    ds->labels = lab;
    ds->order = order;
    ds->count = idims[0];
    ds->rows = (int)idims[1];
    ds->cols = (int)idims[2];
    ds->errmsg[0] = '\0';
    return TBW_OK;
fail:
    free(img);
    free(lab);
    free(order);
    return rc;
}

size_t cnn_dataset_count(const cnn_dataset *ds)
{
    return ds ? ds->count : 0;
}

void cnn_dataset_dims(const cnn_dataset *ds, int *rows, int *cols)
{
    if (rows)
        *rows = ds ? ds->rows : 0;
    if (cols)
        *cols = ds ? ds->cols : 0;
}

const uint8_t *cnn_dataset_images(const cnn_dataset *ds)
{
    return ds ? ds->images : NULL;
}

const uint8_t *cnn_dataset_labels(const cnn_dataset *ds)
{
    return ds ? ds->labels : NULL;
}

int cnn_dataset_shuffle(cnn_dataset *ds, uint64_t seed, uint64_t epoch)
{
    if (!ds)
        return TBW_EINVAL;
    if (ds->count == 0)
        return TBW__FAIL(ds, TBW_EINVAL, "shuffle: dataset is empty");
    /* A fresh stream per (seed, epoch) makes any epoch's order reproducible on its own,
     * e.g. after restoring a checkpoint mid-run. */
    cnn__rng r;
    cnn__rng_seed(&r, seed ^ (epoch * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull));
    for (size_t i = 0; i < ds->count; i++)
        ds->order[i] = i;
    for (size_t i = ds->count - 1; i > 0; i--) {
        size_t j = (size_t)cnn__rng_below(&r, (uint64_t)i + 1);
        size_t t = ds->order[i];
        ds->order[i] = ds->order[j];
        ds->order[j] = t;
    }
    return TBW_OK;
}

int cnn_dataset_batch(const cnn_dataset *ds, size_t first, size_t n, float *x, int32_t *labels)
{
    if (!ds)
        return TBW_EINVAL;
    if (n == 0 || first > ds->count || n > ds->count - first)
        return TBW__FAIL((cnn_dataset *)ds, TBW_EINVAL, "batch: samples %zu..%zu outside 0..%zu", first,
                         first + n, ds->count);
    size_t pix = (size_t)ds->rows * ds->cols;
    for (size_t i = 0; i < n; i++) {
        size_t s = ds->order[first + i];
        if (x) {
            const uint8_t *src = ds->images + s * pix;
            float *dst = x + i * pix;
            for (size_t p = 0; p < pix; p++)
                dst[p] = (float)src[p] * (1.0f / 255.0f);
        }
        if (labels)
            labels[i] = ds->labels[s];
    }
    return TBW_OK;
}
