/*
 * tbw graph builder: a TensorFlow GraphDef for TensorBoard's Graphs tab.
 *
 * Node names use "/" for name scopes ("conv1/Conv2D"), which the Graphs tab
 * folds into boxes. Inputs name other nodes: "node", "node:1" for a node's
 * second output, "^node" for a control dependency. The `_output_shapes`
 * attribute (a list of shapes, one per output) labels the edges with tensor
 * shapes. A graph is used by one thread at a time.
 */
#ifndef TBW_GRAPH_H
#define TBW_GRAPH_H

#include <tbw/writer.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tbw_graph tbw_graph;

/** Creates an empty graph. errmsg/errmsg_len: optional buffer (NULL, 0 for none) for a one-line
 *  message on failure. Returns 0, TBW_EINVAL (out is NULL) or TBW_ENOMEM. */
TBW_API int tbw_graph_create(tbw_graph **out, char *errmsg, size_t errmsg_len);
/** Frees the graph. NULL is a no-op. */
TBW_API void tbw_graph_free(tbw_graph *g);
/** One line about the last failure on g. */
TBW_API const char *tbw_graph_errmsg(const tbw_graph *g);

/**
 * Adds a node. name: unique, non-empty UTF-8; op: e.g. "Conv2D"; inputs may
 * name nodes added later (checked by tbw_graph_write). device may be NULL.
 * *index receives the node's index for the attribute calls (may be NULL).
 * Returns TBW_EINVAL for a duplicate or empty name.
 */
TBW_API int tbw_graph_add_node(tbw_graph *g, const char *name, const char *op, const char *const *inputs,
                               size_t n_inputs, const char *device, size_t *index);

/* Attributes on node `node` (an index from tbw_graph_add_node). Setting a key again replaces it. */
TBW_API int tbw_graph_attr_string(tbw_graph *g, size_t node, const char *key, const char *value);
TBW_API int tbw_graph_attr_int(tbw_graph *g, size_t node, const char *key, int64_t value);
TBW_API int tbw_graph_attr_float(tbw_graph *g, size_t node, const char *key, float value);
TBW_API int tbw_graph_attr_bool(tbw_graph *g, size_t node, const char *key, bool value);
/** A DataType attribute, e.g. TBW_DT_FLOAT (1) for "T". */
TBW_API int tbw_graph_attr_type(tbw_graph *g, size_t node, const char *key, int dtype);
/** A shape: rank dims, -1 for an unknown size; rank -1 for an unknown rank. */
TBW_API int tbw_graph_attr_shape(tbw_graph *g, size_t node, const char *key, const int64_t *dims, int rank);
TBW_API int tbw_graph_attr_int_list(tbw_graph *g, size_t node, const char *key, const int64_t *values, size_t n);
TBW_API int tbw_graph_attr_float_list(tbw_graph *g, size_t node, const char *key, const float *values, size_t n);
TBW_API int tbw_graph_attr_string_list(tbw_graph *g, size_t node, const char *key, const char *const *values,
                                       size_t n);
/** A list of shapes (e.g. "_output_shapes"): shape i has ranks[i] dims starting at dims[offset of i]. */
TBW_API int tbw_graph_attr_shape_list(tbw_graph *g, size_t node, const char *key, const int64_t *dims,
                                      const int *ranks, size_t n);

/** Number of nodes so far. */
TBW_API size_t tbw_graph_node_count(const tbw_graph *g);

/**
 * Checks the graph (every input names an existing node) and serializes it
 * as a GraphDef. *out is freed with tbw_free(). Errors go to g's message.
 */
TBW_API int tbw_graph_serialize(tbw_graph *g, uint8_t **out, size_t *len);

/**
 * Checks and writes the graph as Event.graph_def at step. An invalid graph is
 * refused with TBW_EINVAL and nothing is written. Every failure leaves its
 * message on g; a write failure is also kept on w, as for any write.
 */
TBW_API int tbw_graph_write(tbw_writer *w, tbw_graph *g, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
