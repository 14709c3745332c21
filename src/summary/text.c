/* Text summaries: DT_STRING tensors for the text plugin. Rank 0 renders as
   Markdown, rank 2 as a table. */
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "../writer/writer_internal.h"
#include "encode.h"
#include <tbw/summary.h>

static int write_strings(tbw_writer *w, const char *tag, int64_t step, const char *const *cells, size_t rows,
                         size_t cols, size_t rank)
{
    size_t n;
    if (!tbw__mul(rows, cols, &n) || n > 10000000)
        return tbw__writer_fail(w, TBW_ERANGE, "text '%s': too many cells", tag);
    ProtobufCBinaryData *vals = calloc(n ? n : 1, sizeof *vals);
    if (!vals)
        return tbw__writer_fail(w, TBW_ENOMEM, "text '%s': out of memory", tag);
    for (size_t i = 0; i < n; i++) {
        const char *c = cells[i] ? cells[i] : "";
        size_t len = strlen(c);
        if (!tbw__utf8_valid(c, len)) {
            free(vals);
            return tbw__writer_fail(w, TBW_EINVAL, "text '%s': cell %zu is not valid UTF-8", tag, i);
        }
        vals[i].data = (uint8_t *)c;
        vals[i].len = len;
    }
    tbw__shape shape;
    Tensorboard__TensorProto t = TENSORBOARD__TENSOR_PROTO__INIT;
    t.dtype = TENSORBOARD__DATA_TYPE__DT_STRING;
    t.tensor_shape = tbw__shape_init(&shape, rank, (int64_t)rows, (int64_t)cols);
    t.n_string_val = n;
    t.string_val = vals;
    tbw__meta meta;
    tbw__meta_make(&meta, "text", NULL, 0);
    int rc = tbw__write_tensor(w, tag, step, &t, &meta);
    free(vals);
    return rc;
}

int tbw_text(tbw_writer *w, const char *tag, int64_t step, const char *text)
{
    int rc = tbw__check_tag(w, tag);
    if (rc)
        return rc;
    if (!text)
        return tbw__writer_fail(w, TBW_EINVAL, "text '%s': text is NULL", tag);
    const char *cells[1] = {text};
    return write_strings(w, tag, step, cells, 1, 1, 0);
}

int tbw_text_table(tbw_writer *w, const char *tag, int64_t step, const char *const *cells, size_t rows, size_t cols)
{
    int rc = tbw__check_tag(w, tag);
    if (rc)
        return rc;
    if (!cells || rows == 0 || cols == 0)
        return tbw__writer_fail(w, TBW_EINVAL, "text table '%s': needs cells and rows, cols >= 1", tag);
    return write_strings(w, tag, step, cells, rows, cols, 2);
}
