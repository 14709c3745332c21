#include "encode.h"

#include <stdlib.h>
#include <string.h>

#include "../writer/pbwire.h"
#include "../writer/writer_internal.h"
#include <tbw/common.h>
#include <tbw/record.h>

int tbw__meta_make(tbw__meta *m, const char *plugin_name, const uint8_t *content, size_t content_len)
{
    Tensorboard__SummaryMetadata md = TENSORBOARD__SUMMARY_METADATA__INIT;
    Tensorboard__SummaryMetadata__PluginData pd = TENSORBOARD__SUMMARY_METADATA__PLUGIN_DATA__INIT;
    pd.plugin_name = (char *)plugin_name;
    pd.content.data = (uint8_t *)content;
    pd.content.len = content_len;
    md.plugin_data = &pd;
    size_t n = tensorboard__summary_metadata__get_packed_size(&md);
    if (n > sizeof m->bytes)
        return TBW_ERANGE;
    m->len = tensorboard__summary_metadata__pack(&md, m->bytes);
    return TBW_OK;
}

Tensorboard__TensorShapeProto *tbw__shape_init(tbw__shape *s, size_t rank, int64_t d0, int64_t d1)
{
    tensorboard__tensor_shape_proto__init(&s->proto);
    for (size_t i = 0; i < 2; i++) {
        tensorboard__tensor_shape_proto__dim__init(&s->dims[i]);
        s->ptrs[i] = &s->dims[i];
    }
    s->dims[0].size = d0;
    s->dims[1].size = d1;
    s->proto.n_dim = rank;
    s->proto.dim = rank ? s->ptrs : NULL;
    return &s->proto;
}

int tbw__write_tensor(tbw_writer *w, const char *tag, int64_t step, const Tensorboard__TensorProto *tensor,
                      const tbw__meta *meta)
{
    size_t tlen = tensorboard__tensor_proto__get_packed_size(tensor);
    size_t total = tbw__ld_len(tlen);
    if (total > TBW_RECORD_MAX_PAYLOAD) /* refused before the copy is made */
        return tbw__writer_fail(w, TBW_ERANGE,
                                "the tensor for tag '%.64s' is %zu bytes; an event file record holds at most %llu "
                                "(TensorBoard cannot read a larger one)",
                                tag, tlen, (unsigned long long)TBW_RECORD_MAX_PAYLOAD);
    uint8_t *buf = malloc(total);
    if (!buf)
        return tbw__writer_fail(w, TBW_ENOMEM, "out of memory encoding a %zu-byte tensor for tag '%s'", tlen, tag);
    uint8_t *p = buf;
    *p++ = 0x42; /* Summary.Value.tensor */
    p = tbw__put_varint(p, tlen);
    tensorboard__tensor_proto__pack(tensor, p);
    int rc = tbw_writer_write_value(w, tag, step, buf, total, meta ? meta->bytes : NULL, meta ? meta->len : 0);
    free(buf);
    return rc;
}
