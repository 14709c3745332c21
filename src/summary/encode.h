/* Shared encoding steps of the summary kinds. Internal. */
#ifndef TBW_ENCODE_H
#define TBW_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "summary.pb-c.h"
#include "tensor.pb-c.h"
#include <tbw/writer.h>

/* A tensor shape of rank 0, 1 or 2 that lives on the caller's stack. */
typedef struct tbw__shape {
    Tensorboard__TensorShapeProto proto;
    Tensorboard__TensorShapeProto__Dim dims[2];
    Tensorboard__TensorShapeProto__Dim *ptrs[2];
} tbw__shape;

/* Sets s to [d0] (rank 1), [d0, d1] (rank 2) or a scalar (rank 0); returns &s->proto. */
Tensorboard__TensorShapeProto *tbw__shape_init(tbw__shape *s, size_t rank, int64_t d0, int64_t d1);

/* A packed SummaryMetadata for plugin_name with the given packed content. */
typedef struct tbw__meta {
    uint8_t bytes[128];
    size_t len;
} tbw__meta;

int tbw__meta_make(tbw__meta *m, const char *plugin_name, const uint8_t *content, size_t content_len);

/*
 * Packs tensor as Summary.Value field 8 and hands it, with the metadata, to
 * the writer. Allocation failures are reported on w.
 */
int tbw__write_tensor(tbw_writer *w, const char *tag, int64_t step, const Tensorboard__TensorProto *tensor,
                      const tbw__meta *meta);

#endif
