/* Event-file reader: record framing and CRC checks here, Event decoding by the
   generated protobuf-c code, then a flat view of the parts tools need. */
#include <tbw/reader.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/err.h"
#include "../common/file.h"
#include "../common/util.h"
#include "../record/record.h"
#include "event.pb-c.h"
#include "pbscan.h"


struct tbw_reader {
    FILE *f;
    char *path;
    uint64_t off;
    uint8_t *buf;
    size_t cap;
    Tensorboard__Event *ev;
    tbw_event view;
    tbw_value *values;
    int64_t *dims;           /* all values' dims, back to back */
    uint8_t **strs;          /* string pointers, back to back */
    size_t *str_lens;
    uint8_t *scratch;        /* numeric data converted to little-endian bytes */
    ProtobufCAllocator alloc;
    bool oom;                /* the allocator saw a failure during unpacking */
    char errmsg[TBW__ERRMSG_LEN];
};

static void *pb_alloc(void *data, size_t n)
{
    void *p = malloc(n);
    if (!p)
        ((tbw_reader *)data)->oom = true;
    return p;
}

static void pb_free(void *data, void *p)
{
    (void)data;
    free(p);
}


int tbw_reader_open(tbw_reader **out, const char *path, char *errmsg, size_t errmsg_len)
{
    tbw__err e = TBW__ERR_BUF(errmsg, errmsg_len);
    tbw__fail(e, TBW_OK, "%s", "");
    if (!out)
        return tbw__fail(e, TBW_EINVAL, "out is NULL");
    *out = NULL;
    if (!path)
        return tbw__fail(e, TBW_EINVAL, "path is NULL");
    tbw_reader *r = calloc(1, sizeof *r);
    if (!r)
        return tbw__fail(e, TBW_ENOMEM, "out of memory allocating the reader");
    r->alloc = (ProtobufCAllocator){pb_alloc, pb_free, r};
    r->path = strdup(path);
    if (!r->path) {
        free(r);
        return tbw__fail(e, TBW_ENOMEM, "out of memory copying the path");
    }
    int err = tbw__fopen_read(path, &r->f);
    if (err) {
        int rc = tbw__fail_errno(e, err, "cannot open %s", path);
        free(r->path);
        free(r);
        return rc;
    }
    *out = r;
    return TBW_OK;
}

static void release_event(tbw_reader *r)
{
    if (r->ev)
        tensorboard__event__free_unpacked(r->ev, &r->alloc);
    r->ev = NULL;
    free(r->values);
    free(r->dims);
    free(r->strs);
    free(r->str_lens);
    free(r->scratch);
    r->values = NULL;
    r->dims = NULL;
    r->strs = NULL;
    r->str_lens = NULL;
    r->scratch = NULL;
}

/* Reads exactly n bytes; 1 on success, 0 on a short read (end of file). */
static int read_exact(tbw_reader *r, void *p, size_t n)
{
    return fread(p, 1, n, r->f) == n;
}

static size_t dtype_size(int dt)
{
    switch (dt) {
    case TBW_DT_FLOAT:
    case TBW_DT_INT32:
        return 4;
    case TBW_DT_DOUBLE:
    case TBW_DT_INT64:
        return 8;
    case TBW_DT_UINT8:
    case TBW_DT_BOOL:
        return 1;
    default:
        return 0;
    }
}

static double element_as_double(int dt, const uint8_t *p)
{
    switch (dt) {
    case TBW_DT_FLOAT: {
        float f;
        uint32_t b = tbw__load_le32(p);
        memcpy(&f, &b, 4);
        return f;
    }
    case TBW_DT_DOUBLE: {
        double d;
        uint64_t b = tbw__load_le64(p);
        memcpy(&d, &b, 8);
        return d;
    }
    case TBW_DT_INT32:
        return (double)(int32_t)tbw__load_le32(p);
    case TBW_DT_INT64:
        return (double)(int64_t)tbw__load_le64(p);
    case TBW_DT_UINT8:
    case TBW_DT_BOOL:
        return p[0];
    default:
        return 0;
    }
}

/* Where the next value's dims, strings and converted numbers go in the reader's arrays. */
typedef struct view_cursor {
    size_t dims, strs, scratch;
} view_cursor;

/* Counts what the summary's values need in the flat arrays. */
static void count_summary(const Tensorboard__Summary *s, view_cursor *need)
{
    for (size_t i = 0; s && i < s->n_value; i++) {
        const Tensorboard__Summary__Value *sv = s->value[i];
        if (sv->value_case == TENSORBOARD__SUMMARY__VALUE__VALUE_TENSOR && sv->tensor) {
            const Tensorboard__TensorProto *t = sv->tensor;
            need->dims += t->tensor_shape ? t->tensor_shape->n_dim : 0;
            need->strs += t->n_string_val;
            if (t->tensor_content.len == 0) {
                size_t cnt = t->n_float_val + t->n_double_val + t->n_int_val + t->n_int64_val + t->n_bool_val;
                need->scratch += cnt * 8;
            }
        } else if (sv->value_case == TENSORBOARD__SUMMARY__VALUE__VALUE_IMAGE ||
                   sv->value_case == TENSORBOARD__SUMMARY__VALUE__VALUE_AUDIO) {
            need->strs += 1;
        }
    }
}

static void view_histo(tbw_value *o, const Tensorboard__HistogramProto *h)
{
    o->kind = TBW_VALUE_HISTO;
    if (!h)
        return;
    o->histo_min = h->min;
    o->histo_max = h->max;
    o->histo_num = h->num;
    o->histo_sum = h->sum;
    o->histo_sum_squares = h->sum_squares;
    o->histo_buckets = h->n_bucket < h->n_bucket_limit ? h->n_bucket : h->n_bucket_limit;
    o->histo_bucket_limit = h->bucket_limit;
    o->histo_bucket = h->bucket;
}

/* Points o's strings at count strings starting at the cursor, filled from src. */
static void view_strings(tbw_reader *r, view_cursor *at, tbw_value *o, const ProtobufCBinaryData *src, size_t count)
{
    o->strings = (const uint8_t *const *)&r->strs[at->strs];
    o->string_lens = &r->str_lens[at->strs];
    o->n_strings = count;
    for (size_t k = 0; k < count; k++) {
        r->strs[at->strs] = src[k].data;
        r->str_lens[at->strs] = src[k].len;
        at->strs++;
    }
}

/* Numeric values stored in the repeated fields, converted to little-endian bytes in dst. Returns
   how many there were. */
static size_t tensor_numbers(const Tensorboard__TensorProto *t, int dtype, uint8_t *dst)
{
    switch (dtype) {
    case TBW_DT_FLOAT:
        for (size_t k = 0; k < t->n_float_val; k++) {
            uint32_t b;
            memcpy(&b, &t->float_val[k], 4);
            tbw__store_le32(dst + 4 * k, b);
        }
        return t->n_float_val;
    case TBW_DT_DOUBLE:
        for (size_t k = 0; k < t->n_double_val; k++) {
            uint64_t b;
            memcpy(&b, &t->double_val[k], 8);
            tbw__store_le64(dst + 8 * k, b);
        }
        return t->n_double_val;
    case TBW_DT_INT32:
        for (size_t k = 0; k < t->n_int_val; k++)
            tbw__store_le32(dst + 4 * k, (uint32_t)t->int_val[k]);
        return t->n_int_val;
    case TBW_DT_UINT8:
        for (size_t k = 0; k < t->n_int_val; k++)
            dst[k] = (uint8_t)t->int_val[k];
        return t->n_int_val;
    case TBW_DT_INT64:
        for (size_t k = 0; k < t->n_int64_val; k++)
            tbw__store_le64(dst + 8 * k, (uint64_t)t->int64_val[k]);
        return t->n_int64_val;
    case TBW_DT_BOOL:
        for (size_t k = 0; k < t->n_bool_val; k++)
            dst[k] = t->bool_val[k] ? 1 : 0;
        return t->n_bool_val;
    default:
        return 0;
    }
}

static void view_tensor(tbw_reader *r, view_cursor *at, tbw_value *o, const Tensorboard__TensorProto *t)
{
    o->kind = TBW_VALUE_TENSOR;
    if (!t)
        return;
    o->dtype = (int)t->dtype;
    size_t count = 1;
    if (t->tensor_shape) {
        o->rank = t->tensor_shape->n_dim;
        o->dims = &r->dims[at->dims];
        for (size_t k = 0; k < o->rank; k++) {
            int64_t d = t->tensor_shape->dim[k]->size;
            r->dims[at->dims++] = d;
            count = d >= 0 && count <= SIZE_MAX / ((size_t)d ? (size_t)d : 1) ? count * (size_t)d : 0;
        }
    }
    if (t->n_string_val)
        view_strings(r, at, o, t->string_val, t->n_string_val);
    size_t es = dtype_size(o->dtype);
    if (t->tensor_content.len) {
        o->data = t->tensor_content.data;
        o->data_len = t->tensor_content.len;
    } else if (es) {
        uint8_t *dst = r->scratch + at->scratch;
        size_t nvals = tensor_numbers(t, o->dtype, dst);
        o->data = dst;
        o->data_len = nvals * es;
        at->scratch += nvals * 8;
    }
    if (es) {
        o->num_elements = o->data_len / es;
        if (o->num_elements == 1 && count == 1) {
            o->scalar = element_as_double(o->dtype, o->data);
            o->has_scalar = true;
        }
    } else {
        o->num_elements = o->dtype == TBW_DT_STRING ? o->n_strings : 0;
    }
}

/* Fills o from one Summary.Value, dispatching on its kind. */
static void view_value(tbw_reader *r, view_cursor *at, tbw_value *o, const Tensorboard__Summary__Value *sv)
{
    o->tag = sv->tag ? sv->tag : "";
    o->plugin_name = "";
    o->display_name = "";
    if (sv->metadata) {
        if (sv->metadata->plugin_data) {
            o->plugin_name = sv->metadata->plugin_data->plugin_name;
            o->plugin_content = sv->metadata->plugin_data->content.data;
            o->plugin_content_len = sv->metadata->plugin_data->content.len;
        }
        o->display_name = sv->metadata->display_name;
    }
    switch (sv->value_case) {
    case TENSORBOARD__SUMMARY__VALUE__VALUE_SIMPLE_VALUE:
        o->kind = TBW_VALUE_SIMPLE;
        o->scalar = sv->simple_value;
        o->has_scalar = true;
        break;
    case TENSORBOARD__SUMMARY__VALUE__VALUE_HISTO:
        view_histo(o, sv->histo);
        break;
    case TENSORBOARD__SUMMARY__VALUE__VALUE_IMAGE:
        o->kind = TBW_VALUE_IMAGE;
        if (sv->image) {
            o->image_height = sv->image->height;
            o->image_width = sv->image->width;
            o->image_colorspace = sv->image->colorspace;
            view_strings(r, at, o, &sv->image->encoded_image_string, 1);
        }
        break;
    case TENSORBOARD__SUMMARY__VALUE__VALUE_AUDIO:
        o->kind = TBW_VALUE_AUDIO;
        if (sv->audio) {
            o->audio_sample_rate = sv->audio->sample_rate;
            view_strings(r, at, o, &sv->audio->encoded_audio_string, 1);
        }
        break;
    case TENSORBOARD__SUMMARY__VALUE__VALUE_TENSOR:
        view_tensor(r, at, o, sv->tensor);
        break;
    default:
        o->kind = TBW_VALUE_NONE;
        break;
    }
}

/* The summary's values, with one allocation per flat array, sized by a first pass. */
static int view_summary(tbw_reader *r, tbw_event *v, const Tensorboard__Summary *s)
{
    v->kind = TBW_EVENT_SUMMARY;
    size_t nv = s ? s->n_value : 0;
    view_cursor need = {0, 0, 0};
    count_summary(s, &need);
    r->values = calloc(nv ? nv : 1, sizeof *r->values);
    r->dims = calloc(need.dims ? need.dims : 1, sizeof *r->dims);
    r->strs = calloc(need.strs ? need.strs : 1, sizeof *r->strs);
    r->str_lens = calloc(need.strs ? need.strs : 1, sizeof *r->str_lens);
    r->scratch = malloc(need.scratch ? need.scratch : 1);
    if (!r->values || !r->dims || !r->strs || !r->str_lens || !r->scratch)
        return TBW__FAIL(r, TBW_ENOMEM, "out of memory decoding the event at offset %" PRIu64, v->offset);
    view_cursor at = {0, 0, 0};
    for (size_t i = 0; i < nv; i++)
        view_value(r, &at, &r->values[i], s->value[i]);
    v->values = r->values;
    v->n_values = nv;
    return TBW_OK;
}

/* Builds the flat view of the decoded event. */
static int make_view(tbw_reader *r)
{
    const Tensorboard__Event *e = r->ev;
    tbw_event *v = &r->view;
    uint64_t offset = v->offset;
    memset(v, 0, sizeof *v);
    v->offset = offset;
    v->wall_time = e->wall_time;
    v->step = e->step;
    switch (e->what_case) {
    case TENSORBOARD__EVENT__WHAT_FILE_VERSION:
        v->kind = TBW_EVENT_FILE_VERSION;
        v->file_version = e->file_version;
        return TBW_OK;
    case TENSORBOARD__EVENT__WHAT_GRAPH_DEF:
        v->kind = TBW_EVENT_GRAPH;
        v->graph_def = e->graph_def.data;
        v->graph_def_len = e->graph_def.len;
        return TBW_OK;
    case TENSORBOARD__EVENT__WHAT_SESSION_LOG:
        v->kind = TBW_EVENT_SESSION_LOG;
        v->session_status = e->session_log ? (int)e->session_log->status : 0;
        return TBW_OK;
    case TENSORBOARD__EVENT__WHAT_TAGGED_RUN_METADATA:
        v->kind = TBW_EVENT_RUN_METADATA;
        return TBW_OK;
    case TENSORBOARD__EVENT__WHAT_SUMMARY:
        return view_summary(r, v, e->summary);
    default:
        v->kind = TBW_EVENT_OTHER;
        return TBW_OK;
    }
}

int tbw_reader_next(tbw_reader *r, const tbw_event **out)
{
    if (!r || !out)
        return TBW_EINVAL;
    *out = NULL;
    release_event(r);
    uint64_t start = r->off;
    if (fseeko(r->f, (off_t)start, SEEK_SET) != 0)
        return tbw__fail_errno(TBW__ERR(r), errno, "%s: cannot seek to offset %" PRIu64, r->path, start);
    clearerr(r->f);
    uint8_t hdr[12];
    size_t got = fread(hdr, 1, sizeof hdr, r->f);
    if (got == 0 && feof(r->f))
        return 0;
    if (ferror(r->f))
        return TBW__FAIL(r, TBW_EIO, "%s: read error at offset %" PRIu64 ": %s", r->path, start,
                         strerror(errno ? errno : EIO));
    if (got < sizeof hdr)
        return TBW__FAIL(r, TBW_ETRUNCATED, "%s: truncated at the end: a record header at offset %" PRIu64
                         " has %zu of 12 bytes", r->path, start, got);
    uint64_t len;
    if (!tbw__record_length_ok(hdr, &len))
        return TBW__FAIL(r, TBW_ECORRUPT, "%s: corrupt at offset %" PRIu64 ": length CRC mismatch", r->path, start);
    /* TensorBoard itself cannot parse a larger message, and a damaged length must not make us
       allocate it. */
    if (len > TBW_RECORD_MAX_PAYLOAD)
        return TBW__FAIL(r, TBW_ECORRUPT, "%s: corrupt at offset %" PRIu64 ": record length %" PRIu64 " is too large",
                         r->path, start, len);
    /* A length beyond the end of the file: the rest has not been written yet.
       (Checked before allocating, so a damaged length cannot ask for gigabytes.) */
    struct stat st;
    if (fstat(fileno(r->f), &st) == 0 && (uint64_t)st.st_size < start + 12 + len + 4)
        return TBW__FAIL(r, TBW_ETRUNCATED, "%s: truncated at the end: the record at offset %" PRIu64
                         " needs %" PRIu64 " bytes, the file has %" PRIu64, r->path, start, 12 + len + 4,
                         (uint64_t)st.st_size - start);
    if (r->cap < len + 4) {
        size_t ncap = (size_t)len + 4;
        uint8_t *nb = realloc(r->buf, ncap);
        if (!nb)
            return TBW__FAIL(r, TBW_ENOMEM, "%s: out of memory for a %" PRIu64 "-byte record", r->path, len);
        r->buf = nb;
        r->cap = ncap;
    }
    if (!read_exact(r, r->buf, (size_t)len + 4)) {
        if (ferror(r->f))
            return TBW__FAIL(r, TBW_EIO, "%s: read error at offset %" PRIu64 ": %s", r->path, start,
                         strerror(errno ? errno : EIO));
        return TBW__FAIL(r, TBW_ETRUNCATED, "%s: truncated at the end: the record at offset %" PRIu64
                         " is incomplete", r->path, start);
    }
    if (!tbw__record_payload_ok(r->buf, (size_t)len))
        return TBW__FAIL(r, TBW_ECORRUPT, "%s: corrupt at offset %" PRIu64 ": data CRC mismatch", r->path, start);
    const char *why;
    size_t bad;
    if (!tbw__pb_scan(&tensorboard__event__descriptor, r->buf, (size_t)len, &why, &bad))
        return TBW__FAIL(r, TBW_ECORRUPT, "%s: corrupt at offset %" PRIu64 ": not a valid Event (%s at payload byte %zu)",
                         r->path, start, why, bad);
    r->oom = false;
    r->ev = tensorboard__event__unpack(&r->alloc, (size_t)len, r->buf);
    if (!r->ev && r->oom)
        return TBW__FAIL(r, TBW_ENOMEM, "%s: out of memory decoding the record at offset %" PRIu64, r->path, start);
    if (!r->ev)
        return TBW__FAIL(r, TBW_ECORRUPT, "%s: corrupt at offset %" PRIu64 ": the record is not a valid Event", r->path,
                         start);
    r->view.offset = start;
    int rc = make_view(r);
    if (rc) {
        release_event(r);
        return rc;
    }
    r->off = start + 12 + len + 4;
    *out = &r->view;
    return 1;
}

uint64_t tbw_reader_offset(const tbw_reader *r)
{
    return r ? r->off : 0;
}

const char *tbw_reader_errmsg(const tbw_reader *r)
{
    return r ? r->errmsg : "reader is NULL";
}

void tbw_reader_close(tbw_reader *r)
{
    if (!r)
        return;
    release_event(r);
    if (r->f)
        fclose(r->f);
    free(r->buf);
    free(r->path);
    free(r);
}
