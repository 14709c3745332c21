/* Checkpoints: every weight, optimizer slot, the step and the RNG state in one CRC-protected file,
 * written to a temporary name, fsynced and renamed so a crash never leaves a half-written checkpoint
 * under the real name. Layout in docs/engine.md. */
#include "nn_internal.h"

#include "../common/file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const uint8_t MAGIC[8] = {'T', 'B', 'W', 'C', 'N', 'N', 'C', 'K'};
#define CKPT_VERSION 1u
#define HDR_LEN 32u

/* One saved tensor: a parameter or one of its optimizer slots. */
typedef struct ck_tensor {
    char name[CNN__NAME_MAX + 32];
    const float *src;
    float *dst;
    int rank;
    int dims[4];
    size_t count;
    bool nonneg; /* Adam's second moments: never negative */
} ck_tensor;

/* The largest step a checkpoint may hold: every step is exact as a double, and Adam's bias
   correction stays finite long after. */
#define CKPT_MAX_STEP ((int64_t)1 << 53)

/* Enumerates the tensors in file order: all parameters, then slot 1, then slot 2. Returns false past the end. */
static bool nth_tensor(const cnn_model *m, size_t k, ck_tensor *t)
{
    size_t nslots = m->opts.optimizer == CNN_OPT_ADAM ? 2 : 1;
    size_t per = 0;
    for (size_t i = 0; i < m->nlayers; i++)
        per += (m->layers[i].w_count ? 1 : 0) + (m->layers[i].b_count ? 1 : 0);
    if (k >= per * (1 + nslots))
        return false;
    size_t group = k / per, idx = k % per;
    for (size_t i = 0; i < m->nlayers; i++) {
        const cnn__layer *L = &m->layers[i];
        for (int which = 0; which < 2; which++) {
            size_t cnt = which ? L->b_count : L->w_count;
            if (!cnt)
                continue;
            if (idx-- != 0)
                continue;
            size_t off = which ? L->b_off : L->w_off;
            float *base = group == 0 ? m->params : group == 1 ? m->slot1 : m->slot2;
            const char *suffix = group == 0 ? "" : m->opts.optimizer == CNN_OPT_SGD ? "/Momentum"
                                                   : group == 1                     ? "/Adam"
                                                                                    : "/Adam_1";
            snprintf(t->name, sizeof t->name, "%s%s", which ? L->bname : L->wname, suffix);
            t->src = base + off;
            t->dst = base + off;
            t->count = cnt;
            t->nonneg = group == 2;
            if (which) {
                t->rank = 1;
                t->dims[0] = (int)cnt;
            } else {
                t->rank = L->w_rank;
                memcpy(t->dims, L->w_dims, sizeof t->dims);
            }
            return true;
        }
    }
    return false;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

typedef struct ck_out {
    FILE *f;
    uLong crc;
    uint64_t len;
    bool failed;
} ck_out;

static void emit(ck_out *o, const void *p, size_t n)
{
    if (o->failed || n == 0)
        return;
    if (fwrite(p, 1, n, o->f) != n) {
        o->failed = true;
        return;
    }
    const uint8_t *b = p;
    while (n > 0) { /* crc32 takes a uInt length */
        uInt c = n > 0x40000000u ? 0x40000000u : (uInt)n;
        o->crc = crc32(o->crc, b, c);
        b += c;
        n -= c;
        o->len += c;
    }
}

static void emit_floats(ck_out *o, const float *x, size_t n)
{
    uint8_t buf[4096];
    while (n > 0) {
        size_t c = n > sizeof buf / 4 ? sizeof buf / 4 : n;
        for (size_t i = 0; i < c; i++) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            put32(buf + 4 * i, u);
        }
        emit(o, buf, 4 * c);
        x += c;
        n -= c;
    }
}

/* The file failure that stopped the save, with what it was doing ("write"), as a status. */
static int save_failed(cnn_model *m, const char *what, const char *file)
{
    return tbw__fail_errno(TBW__ERR(m), errno ? errno : EIO, "save: %s %s", what, file);
}

int cnn_model_save(cnn_model *m, const char *path)
{
    if (!m)
        return TBW_EINVAL;
    if (!m->built)
        return TBW__FAIL(m, TBW_EINVAL, "save: model is not built");
    if (!path || !*path)
        return TBW__FAIL(m, TBW_EINVAL, "save: empty path");
    /* Refuse what cnn_model_load would refuse, so a save that succeeds always loads: a model whose
       training diverged (a NaN or infinite weight) is not written over a good checkpoint. */
    ck_tensor t;
    for (size_t k = 0; nth_tensor(m, k, &t); k++)
        for (size_t i = 0; i < t.count; i++)
            if (!isfinite(t.src[i]) || (t.nonneg && t.src[i] < 0))
                return TBW__FAIL(m, TBW_ERANGE,
                                 "save: '%s' value %zu is %g, not a %s number (did training diverge?); nothing "
                                 "was written",
                                 t.name, i, (double)t.src[i], t.nonneg ? "finite non-negative" : "finite");
    tbw__atomic a;
    char why[TBW__ERRMSG_LEN - 8];
    int rc = tbw__atomic_open(&a, TBW__ERR_BUF(why, sizeof why), path);
    if (rc)
        return TBW__FAIL(m, rc, "save: %s", why);
    ck_out o = {a.f, crc32(0L, Z_NULL, 0), 0, false};
    uint8_t hdr[HDR_LEN] = {0};
    errno = 0;
    if (fwrite(hdr, 1, HDR_LEN, o.f) != HDR_LEN) {
        rc = save_failed(m, "write", a.tmp);
        goto fail;
    }
    uint8_t b[64];
    put64(b, (uint64_t)m->step);
    for (int i = 0; i < 4; i++)
        put64(b + 8 + 8 * i, m->rng.s[i]);
    emit(&o, b, 40);
    uint32_t ntensors = 0;
    for (size_t k = 0; nth_tensor(m, k, &t); k++) {
        uint32_t nl = (uint32_t)strlen(t.name);
        put32(b, nl);
        emit(&o, b, 4);
        emit(&o, t.name, nl);
        put32(b, (uint32_t)t.rank);
        for (int d = 0; d < t.rank; d++)
            put32(b + 4 + 4 * d, (uint32_t)t.dims[d]);
        emit(&o, b, 4 + 4 * (size_t)t.rank);
        emit_floats(&o, t.src, t.count);
        ntensors++;
    }
    if (o.failed) {
        rc = save_failed(m, "write", a.tmp);
        goto fail;
    }
    memcpy(hdr, MAGIC, 8);
    put32(hdr + 8, CKPT_VERSION);
    put32(hdr + 12, (uint32_t)m->opts.optimizer);
    put64(hdr + 16, o.len);
    put32(hdr + 24, (uint32_t)o.crc);
    put32(hdr + 28, ntensors);
    if (fseek(o.f, 0, SEEK_SET) != 0 || fwrite(hdr, 1, HDR_LEN, o.f) != HDR_LEN) {
        rc = save_failed(m, "write", a.tmp);
        goto fail;
    }
    rc = tbw__atomic_commit(&a, TBW__ERR_BUF(why, sizeof why));
    return rc ? TBW__FAIL(m, rc, "save: %s", why) : TBW_OK;
fail:
    tbw__atomic_abort(&a);
    return rc;
}

/* Checks the payload against the model; copies only when apply is set, so a bad file changes nothing. */
static int walk(cnn_model *m, const char *path, const uint8_t *p, size_t len, uint32_t ntensors, bool apply)
{
    size_t pos = 40;
    if (len < pos)
        return TBW__FAIL(m, TBW_ECORRUPT, "load %s: payload too short", path);
    /* A CRC only says the bytes are the ones written: every field is checked for what it means. */
    uint64_t step = get64(p), rng[4], rng_or = 0;
    for (int i = 0; i < 4; i++)
        rng_or |= rng[i] = get64(p + 8 + 8 * i);
    if (step > (uint64_t)CKPT_MAX_STEP)
        return TBW__FAIL(m, TBW_ECORRUPT, "load %s: step %lld is outside 0..2^53", path, (long long)step);
    if (rng_or == 0)
        return TBW__FAIL(m, TBW_ECORRUPT, "load %s: the random generator's state is all zero", path);
    if (apply) {
        m->step = (int64_t)step;
        memcpy(m->rng.s, rng, sizeof rng);
    }
    ck_tensor t;
    size_t k = 0;
    for (; nth_tensor(m, k, &t); k++) {
        if (k >= ntensors) {
            /* The count is in the header, outside the CRC: more payload means the header is wrong. */
            if (pos < len)
                return TBW__FAIL(m, TBW_ECORRUPT, "load %s: the header counts %u tensors, the payload holds more",
                                 path, ntensors);
            return TBW__FAIL(m, TBW_EMISMATCH, "load %s: file has %u tensors, model needs '%s' and more", path,
                             ntensors, t.name);
        }
        if (len - pos < 4)
            return TBW__FAIL(m, TBW_ECORRUPT, "load %s: tensor %zu header overruns the payload", path, k);
        uint32_t nl = get32(p + pos);
        pos += 4;
        if (nl > len - pos || len - pos - nl < 4)
            return TBW__FAIL(m, TBW_ECORRUPT, "load %s: tensor %zu name overruns the payload", path, k);
        const char *name = (const char *)p + pos;
        pos += nl;
        if (nl != strlen(t.name) || memcmp(name, t.name, nl) != 0)
            return TBW__FAIL(m, TBW_EMISMATCH, "load %s: tensor %zu is '%.*s', model expects '%s'", path, k,
                             (int)(nl > 80 ? 80 : nl), name, t.name);
        uint32_t rank = get32(p + pos);
        pos += 4;
        if (rank > 4 || len - pos < 4 * (size_t)rank)
            return TBW__FAIL(m, TBW_ECORRUPT, "load %s: '%s' has a bad rank %u", path, t.name, rank);
        bool same = (int)rank == t.rank;
        char fshape[64] = "", mshape[64] = "";
        size_t fl = 0, ml = 0;
        for (uint32_t d = 0; d < rank; d++) {
            uint32_t v = get32(p + pos + 4 * d);
            if (same && v != (uint32_t)t.dims[d])
                same = false;
            fl += (size_t)snprintf(fshape + fl, sizeof fshape - fl, "%s%u", d ? "x" : "", v);
        }
        for (int d = 0; d < t.rank; d++)
            ml += (size_t)snprintf(mshape + ml, sizeof mshape - ml, "%s%d", d ? "x" : "", t.dims[d]);
        pos += 4 * (size_t)rank;
        if (!same)
            return TBW__FAIL(m, TBW_EMISMATCH, "load %s: '%s' has shape [%s] in the file, [%s] in the model", path,
                             t.name, fshape, mshape);
        if ((len - pos) / 4 < t.count)
            return TBW__FAIL(m, TBW_ECORRUPT, "load %s: '%s' data overruns the payload", path, t.name);
        if (apply) {
            for (size_t i = 0; i < t.count; i++) {
                uint32_t u = get32(p + pos + 4 * i);
                memcpy(&t.dst[i], &u, 4);
            }
        } else {
            for (size_t i = 0; i < t.count; i++) {
                uint32_t u = get32(p + pos + 4 * i);
                float v;
                memcpy(&v, &u, 4);
                if (!isfinite(v) || (t.nonneg && v < 0))
                    return TBW__FAIL(m, TBW_ECORRUPT, "load %s: '%s' value %zu is %g, not a %s number", path, t.name,
                                     i, (double)v, t.nonneg ? "finite non-negative" : "finite");
            }
        }
        pos += 4 * t.count;
    }
    if (k != ntensors && pos == len)
        return TBW__FAIL(m, TBW_ECORRUPT, "load %s: the header counts %u tensors, the payload holds %zu", path,
                         ntensors, k);
    if (k != ntensors)
        return TBW__FAIL(m, TBW_EMISMATCH, "load %s: file has %u tensors, model has %zu", path, ntensors, k);
    if (pos != len)
        return TBW__FAIL(m, TBW_ECORRUPT, "load %s: %zu unexplained bytes after the last tensor", path, len - pos);
    return TBW_OK;
}

int cnn_model_load(cnn_model *m, const char *path)
{
    if (!m)
        return TBW_EINVAL;
    if (!m->built)
        return TBW__FAIL(m, TBW_EINVAL, "load: model is not built");
    if (!path)
        return TBW__FAIL(m, TBW_EINVAL, "load: NULL path");
    int rc;
    uint8_t *buf = NULL;
    FILE *f;
    int err = tbw__fopen_read(path, &f);
    if (err)
        return tbw__fail_errno(TBW__ERR(m), err, "load %s", path);
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        rc = tbw__fail_errno(TBW__ERR(m), errno, "load %s: stat", path);
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    uint8_t hdr[HDR_LEN];
    size_t got = fread(hdr, 1, size < HDR_LEN ? size : HDR_LEN, f);
    if (got < 8 || memcmp(hdr, MAGIC, 8) != 0) {
        rc = TBW__FAIL(m, got < 8 && size < 8 ? TBW_ETRUNCATED : TBW_ECORRUPT,
                       "load %s: not a tbw CNN checkpoint (bad magic)", path);
        goto fail;
    }
    if (got < HDR_LEN) {
        rc = TBW__FAIL(m, TBW_ETRUNCATED, "load %s: truncated header (%zu of %u bytes)", path, got, HDR_LEN);
        goto fail;
    }
    uint32_t version = get32(hdr + 8);
    if (version != CKPT_VERSION) {
        rc = TBW__FAIL(m, TBW_ECORRUPT, "load %s: format version %u, this build reads %u", path, version,
                       CKPT_VERSION);
        goto fail;
    }
    uint64_t plen = get64(hdr + 16);
    if (plen > size - HDR_LEN) {
        rc = TBW__FAIL(m, TBW_ETRUNCATED, "load %s: truncated: payload of %llu bytes, file has %zu", path,
                       (unsigned long long)plen, size - HDR_LEN);
        goto fail;
    }
    if (plen < size - HDR_LEN) {
        rc = TBW__FAIL(m, TBW_ECORRUPT, "load %s: %zu trailing bytes after the payload", path,
                       (size_t)(size - HDR_LEN - plen));
        goto fail;
    }
    uint32_t opt = get32(hdr + 12);
    if (opt != CNN_OPT_ADAM && opt != CNN_OPT_SGD) {
        rc = TBW__FAIL(m, TBW_ECORRUPT, "load %s: the header names optimizer %u, which does not exist", path, opt);
        goto fail;
    }
    if (opt != (uint32_t)m->opts.optimizer) {
        rc = TBW__FAIL(m, TBW_EMISMATCH, "load %s: saved with optimizer %u, model uses %d", path, opt,
                       m->opts.optimizer);
        goto fail;
    }
    buf = malloc(plen ? (size_t)plen : 1);
    if (!buf) {
        rc = TBW__FAIL(m, TBW_ENOMEM, "load %s: cannot allocate %llu bytes", path, (unsigned long long)plen);
        goto fail;
    }
    if (fread(buf, 1, (size_t)plen, f) != plen) {
        rc = TBW__FAIL(m, TBW_ETRUNCATED, "load %s: short read", path);
        goto fail;
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < plen;) {
        uInt c = plen - off > 0x40000000u ? 0x40000000u : (uInt)(plen - off);
        crc = crc32(crc, buf + off, c);
        off += c;
    }
    if ((uint32_t)crc != get32(hdr + 24)) {
        rc = TBW__FAIL(m, TBW_ECORRUPT, "load %s: CRC-32 mismatch (file %08x, computed %08x): corrupt", path,
                       get32(hdr + 24), (unsigned)crc);
        goto fail;
    }
    uint32_t ntensors = get32(hdr + 28);
    rc = walk(m, path, buf, (size_t)plen, ntensors, false);
    if (rc)
        goto fail;
    walk(m, path, buf, (size_t)plen, ntensors, true);
    free(buf);
    fclose(f);
    return TBW_OK;
fail:
    free(buf);
    fclose(f);
    return rc;
}
