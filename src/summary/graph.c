/* The graph builder: NodeDefs with attributes, checked and serialized as a
   GraphDef, written as Event.graph_def. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "../common/strset.h"
#include "graph.pb-c.h"
#include <tbw/graph.h>
#include <tbw/summary.h>

struct tbw_graph {
    Tensorboard__NodeDef **nodes;
    size_t n, cap;
    tbw__strset names;
    char errmsg[TBW__ERRMSG_LEN];
};

int tbw_graph_create(tbw_graph **out, char *errmsg, size_t errmsg_len)
{
    tbw__err e = TBW__ERR_BUF(errmsg, errmsg_len);
    if (errmsg && errmsg_len)
        errmsg[0] = '\0';
    if (!out)
        return tbw__fail(e, TBW_EINVAL, "out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? TBW_OK : tbw__fail(e, TBW_ENOMEM, "out of memory allocating the graph");
}

void tbw_graph_free(tbw_graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        protobuf_c_message_free_unpacked(&g->nodes[i]->base, NULL);
    free(g->nodes);
    tbw__strset_free(&g->names);
    free(g);
}

const char *tbw_graph_errmsg(const tbw_graph *g)
{
    return g ? g->errmsg : "graph is NULL";
}

size_t tbw_graph_node_count(const tbw_graph *g)
{
    return g ? g->n : 0;
}

static bool valid_text(const char *s)
{
    return s && s[0] && tbw__utf8_valid(s, strlen(s));
}

int tbw_graph_add_node(tbw_graph *g, const char *name, const char *op, const char *const *inputs, size_t n_inputs,
                       const char *device, size_t *index)
{
    if (!g)
        return TBW_EINVAL;
    if (!valid_text(name))
        return TBW__FAIL(g, TBW_EINVAL, "node name is empty or not valid UTF-8");
    if (!valid_text(op))
        return TBW__FAIL(g, TBW_EINVAL, "node '%s': op is empty or not valid UTF-8", name);
    if (n_inputs && !inputs)
        return TBW__FAIL(g, TBW_EINVAL, "node '%s': inputs is NULL with n_inputs=%zu", name, n_inputs);
    for (size_t i = 0; i < n_inputs; i++)
        if (!valid_text(inputs[i]))
            return TBW__FAIL(g, TBW_EINVAL, "node '%s': input %zu is empty or not valid UTF-8", name, i);
    if (device && !tbw__utf8_valid(device, strlen(device)))
        return TBW__FAIL(g, TBW_EINVAL, "node '%s': device is not valid UTF-8", name);
    size_t nl = strlen(name);
    uint64_t h = tbw__str_hash(name, nl);
    if (tbw__strset_has(&g->names, name, nl, h))
        return TBW__FAIL(g, TBW_EINVAL, "duplicate node name '%s'", name);
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 32;
        Tensorboard__NodeDef **nn = realloc(g->nodes, ncap * sizeof *nn);
        if (!nn)
            return TBW__FAIL(g, TBW_ENOMEM, "out of memory adding node '%s'", name);
        g->nodes = nn;
        g->cap = ncap;
    }
    Tensorboard__NodeDef *nd = malloc(sizeof *nd);
    if (!nd)
        return TBW__FAIL(g, TBW_ENOMEM, "out of memory adding node '%s'", name);
    tensorboard__node_def__init(nd);
    nd->name = strdup(name);
    nd->op = strdup(op);
    nd->device = strdup(device ? device : "");
    nd->input = n_inputs ? calloc(n_inputs, sizeof *nd->input) : NULL;
    bool oom = !nd->name || !nd->op || !nd->device || (n_inputs && !nd->input);
    for (size_t i = 0; !oom && i < n_inputs; i++) {
        nd->input[i] = strdup(inputs[i]);
        oom = !nd->input[i];
        nd->n_input = i + 1;
    }
    if (oom || tbw__strset_add(&g->names, name, nl, h)) {
        protobuf_c_message_free_unpacked(&nd->base, NULL);
        return TBW__FAIL(g, TBW_ENOMEM, "out of memory adding node '%s'", name);
    }
    g->nodes[g->n] = nd;
    if (index)
        *index = g->n;
    g->n++;
    return TBW_OK;
}

/* Takes ownership of v (freed on failure) and sets it as attr key of node. */
static int set_attr(tbw_graph *g, size_t node, const char *key, Tensorboard__AttrValue *v)
{
    if (!v)
        return TBW__FAIL(g, TBW_ENOMEM, "out of memory building attribute '%s'", key ? key : "");
    int rc = TBW_OK;
    if (node >= g->n) {
        rc = TBW__FAIL(g, TBW_EINVAL, "no node with index %zu (the graph has %zu)", node, g->n);
        goto fail;
    }
    if (!valid_text(key)) {
        rc = TBW__FAIL(g, TBW_EINVAL, "node '%s': attribute key is empty or not valid UTF-8", g->nodes[node]->name);
        goto fail;
    }
    Tensorboard__NodeDef *nd = g->nodes[node];
    for (size_t i = 0; i < nd->n_attr; i++) {
        if (strcmp(nd->attr[i]->key, key) == 0) {
            protobuf_c_message_free_unpacked(&nd->attr[i]->value->base, NULL);
            nd->attr[i]->value = v;
            return TBW_OK;
        }
    }
    Tensorboard__NodeDef__AttrEntry **na = realloc(nd->attr, (nd->n_attr + 1) * sizeof *na);
    if (!na) {
        rc = TBW__FAIL(g, TBW_ENOMEM, "out of memory setting attribute '%s'", key);
        goto fail;
    }
    nd->attr = na;
    Tensorboard__NodeDef__AttrEntry *e = malloc(sizeof *e);
    char *k = strdup(key);
    if (!e || !k) {
        free(e);
        free(k);
        rc = TBW__FAIL(g, TBW_ENOMEM, "out of memory setting attribute '%s'", key);
        goto fail;
    }
    tensorboard__node_def__attr_entry__init(e);
    e->key = k;
    e->value = v;
    nd->attr[nd->n_attr++] = e;
    return TBW_OK;
fail:
    protobuf_c_message_free_unpacked(&v->base, NULL);
    return rc;
}

static Tensorboard__AttrValue *new_attr(void)
{
    Tensorboard__AttrValue *v = malloc(sizeof *v);
    if (v)
        tensorboard__attr_value__init(v);
    return v;
}

static Tensorboard__TensorShapeProto *new_shape(const int64_t *dims, int rank)
{
    Tensorboard__TensorShapeProto *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    tensorboard__tensor_shape_proto__init(s);
    if (rank < 0) {
        s->unknown_rank = true;
        return s;
    }
    if (rank > 0) {
        s->dim = calloc((size_t)rank, sizeof *s->dim);
        if (!s->dim) {
            free(s);
            return NULL;
        }
        for (int i = 0; i < rank; i++) {
            Tensorboard__TensorShapeProto__Dim *d = malloc(sizeof *d);
            if (!d) {
                protobuf_c_message_free_unpacked(&s->base, NULL);
                return NULL;
            }
            tensorboard__tensor_shape_proto__dim__init(d);
            d->size = dims[i];
            s->dim[i] = d;
            s->n_dim = (size_t)i + 1;
        }
    }
    return s;
}

int tbw_graph_attr_string(tbw_graph *g, size_t node, const char *key, const char *value)
{
    if (!g)
        return TBW_EINVAL;
    if (!value || !tbw__utf8_valid(value, strlen(value)))
        return TBW__FAIL(g, TBW_EINVAL, "attribute '%s': string value is NULL or not valid UTF-8", key ? key : "");
    Tensorboard__AttrValue *v = new_attr();
    if (v) {
        size_t n = strlen(value);
        v->value_case = TENSORBOARD__ATTR_VALUE__VALUE_S;
        v->s.data = malloc(n ? n : 1);
        if (!v->s.data) {
            free(v);
            v = NULL;
        } else {
            memcpy(v->s.data, value, n);
            v->s.len = n;
        }
    }
    return set_attr(g, node, key, v);
}

int tbw_graph_attr_int(tbw_graph *g, size_t node, const char *key, int64_t value)
{
    if (!g)
        return TBW_EINVAL;
    Tensorboard__AttrValue *v = new_attr();
    if (v) {
        v->value_case = TENSORBOARD__ATTR_VALUE__VALUE_I;
        v->i = value;
    }
    return set_attr(g, node, key, v);
}

int tbw_graph_attr_float(tbw_graph *g, size_t node, const char *key, float value)
{
    if (!g)
        return TBW_EINVAL;
    Tensorboard__AttrValue *v = new_attr();
    if (v) {
        v->value_case = TENSORBOARD__ATTR_VALUE__VALUE_F;
        v->f = value;
    }
    return set_attr(g, node, key, v);
}

int tbw_graph_attr_bool(tbw_graph *g, size_t node, const char *key, bool value)
{
    if (!g)
        return TBW_EINVAL;
    Tensorboard__AttrValue *v = new_attr();
    if (v) {
        v->value_case = TENSORBOARD__ATTR_VALUE__VALUE_B;
        v->b = value;
    }
    return set_attr(g, node, key, v);
}

int tbw_graph_attr_type(tbw_graph *g, size_t node, const char *key, int dtype)
{
    if (!g)
        return TBW_EINVAL;
    if (dtype <= 0 || dtype > 30)
        return TBW__FAIL(g, TBW_EINVAL, "attribute '%s': %d is not a DataType", key ? key : "", dtype);
    Tensorboard__AttrValue *v = new_attr();
    if (v) {
        v->value_case = TENSORBOARD__ATTR_VALUE__VALUE_TYPE;
        v->type = (Tensorboard__DataType)dtype;
    }
    return set_attr(g, node, key, v);
}

static bool rank_ok(const int64_t *dims, int rank)
{
    if (rank < -1 || rank > 64 || (rank > 0 && !dims))
        return false;
    for (int i = 0; i < rank; i++)
        if (dims[i] < -1)
            return false;
    return true;
}

int tbw_graph_attr_shape(tbw_graph *g, size_t node, const char *key, const int64_t *dims, int rank)
{
    if (!g)
        return TBW_EINVAL;
    if (!rank_ok(dims, rank))
        return TBW__FAIL(g, TBW_EINVAL, "attribute '%s': rank must be -1..64 with dims >= -1", key ? key : "");
    Tensorboard__AttrValue *v = new_attr();
    if (v) {
        v->value_case = TENSORBOARD__ATTR_VALUE__VALUE_SHAPE;
        v->shape = new_shape(dims, rank);
        if (!v->shape) {
            free(v);
            v = NULL;
        }
    }
    return set_attr(g, node, key, v);
}

static Tensorboard__AttrValue *new_list_attr(void)
{
    Tensorboard__AttrValue *v = new_attr();
    if (!v)
        return NULL;
    v->list = malloc(sizeof *v->list);
    if (!v->list) {
        free(v);
        return NULL;
    }
    tensorboard__attr_value__list_value__init(v->list);
    v->value_case = TENSORBOARD__ATTR_VALUE__VALUE_LIST;
    return v;
}

/* A new list attribute, or NULL if values is NULL with n > 0 (message on g) or memory ran out. */
static Tensorboard__AttrValue *list_attr_for(tbw_graph *g, const char *key, const void *values, size_t n, bool *bad)
{
    *bad = n && !values;
    if (*bad) {
        TBW__FAIL(g, TBW_EINVAL, "attribute '%s': values is NULL", key ? key : "");
        return NULL;
    }
    return new_list_attr();
}

static void *copy_values(const void *values, size_t n, size_t elem)
{
    void *p = malloc(n * elem);
    if (p)
        memcpy(p, values, n * elem);
    return p;
}

int tbw_graph_attr_int_list(tbw_graph *g, size_t node, const char *key, const int64_t *values, size_t n)
{
    if (!g)
        return TBW_EINVAL;
    bool bad;
    Tensorboard__AttrValue *v = list_attr_for(g, key, values, n, &bad);
    if (bad)
        return TBW_EINVAL;
    if (v && n && !(v->list->i = copy_values(values, n, sizeof *values))) {
        protobuf_c_message_free_unpacked(&v->base, NULL);
        v = NULL;
    } else if (v) {
        v->list->n_i = n;
    }
    return set_attr(g, node, key, v);
}

int tbw_graph_attr_float_list(tbw_graph *g, size_t node, const char *key, const float *values, size_t n)
{
    if (!g)
        return TBW_EINVAL;
    bool bad;
    Tensorboard__AttrValue *v = list_attr_for(g, key, values, n, &bad);
    if (bad)
        return TBW_EINVAL;
    if (v && n && !(v->list->f = copy_values(values, n, sizeof *values))) {
        protobuf_c_message_free_unpacked(&v->base, NULL);
        v = NULL;
    } else if (v) {
        v->list->n_f = n;
    }
    return set_attr(g, node, key, v);
}

int tbw_graph_attr_string_list(tbw_graph *g, size_t node, const char *key, const char *const *values, size_t n)
{
    if (!g)
        return TBW_EINVAL;
    if (n && !values)
        return TBW__FAIL(g, TBW_EINVAL, "attribute '%s': values is NULL", key ? key : "");
    for (size_t i = 0; i < n; i++)
        if (!values[i] || !tbw__utf8_valid(values[i], strlen(values[i])))
            return TBW__FAIL(g, TBW_EINVAL, "attribute '%s': value %zu is NULL or not valid UTF-8", key ? key : "", i);
    Tensorboard__AttrValue *v = new_list_attr();
    if (v && n) {
        v->list->s = calloc(n, sizeof *v->list->s);
        bool oom = !v->list->s;
        for (size_t i = 0; !oom && i < n; i++) {
            size_t len = strlen(values[i]);
            v->list->s[i].data = malloc(len ? len : 1);
            oom = !v->list->s[i].data;
            if (!oom) {
                memcpy(v->list->s[i].data, values[i], len);
                v->list->s[i].len = len;
                v->list->n_s = i + 1;
            }
        }
        if (oom) {
            protobuf_c_message_free_unpacked(&v->base, NULL);
            v = NULL;
        }
    }
    return set_attr(g, node, key, v);
}

int tbw_graph_attr_shape_list(tbw_graph *g, size_t node, const char *key, const int64_t *dims, const int *ranks,
                              size_t n)
{
    if (!g)
        return TBW_EINVAL;
    if (n && !ranks)
        return TBW__FAIL(g, TBW_EINVAL, "attribute '%s': ranks is NULL", key ? key : "");
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rank_ok(dims ? dims + off : NULL, ranks[i]))
            return TBW__FAIL(g, TBW_EINVAL, "attribute '%s': shape %zu has a bad rank or dims", key ? key : "", i);
        off += ranks[i] > 0 ? (size_t)ranks[i] : 0;
    }
    Tensorboard__AttrValue *v = new_list_attr();
    if (v && n) {
        v->list->shape = calloc(n, sizeof *v->list->shape);
        bool oom = !v->list->shape;
        off = 0;
        for (size_t i = 0; !oom && i < n; i++) {
            v->list->shape[i] = new_shape(dims ? dims + off : NULL, ranks[i]);
            oom = !v->list->shape[i];
            if (!oom)
                v->list->n_shape = i + 1;
            off += ranks[i] > 0 ? (size_t)ranks[i] : 0;
        }
        if (oom) {
            protobuf_c_message_free_unpacked(&v->base, NULL);
            v = NULL;
        }
    }
    return set_attr(g, node, key, v);
}

/* Every input must name a node: "name", "name:N" or "^name". */
static int check_inputs(tbw_graph *g)
{
    for (size_t i = 0; i < g->n; i++) {
        Tensorboard__NodeDef *nd = g->nodes[i];
        for (size_t k = 0; k < nd->n_input; k++) {
            const char *in = nd->input[k];
            const char *start = in[0] == '^' ? in + 1 : in;
            size_t len = strlen(start);
            const char *colon = strrchr(start, ':');
            if (colon && in[0] != '^') {
                const char *p = colon + 1;
                bool digits = *p != '\0';
                for (; *p; p++)
                    digits &= *p >= '0' && *p <= '9';
                if (digits)
                    len = (size_t)(colon - start);
            }
            if (len == 0 || !tbw__strset_has(&g->names, start, len, tbw__str_hash(start, len)))
                return TBW__FAIL(g, TBW_EINVAL, "node '%s': input '%s' names no node in the graph", nd->name, in);
        }
    }
    return TBW_OK;
}

int tbw_graph_serialize(tbw_graph *g, uint8_t **out, size_t *len)
{
    if (!g || !out || !len)
        return TBW_EINVAL;
    *out = NULL;
    *len = 0;
    int rc = check_inputs(g);
    if (rc)
        return rc;
    Tensorboard__GraphDef gd = TENSORBOARD__GRAPH_DEF__INIT;
    gd.n_node = g->n;
    gd.node = g->nodes;
    size_t n = tensorboard__graph_def__get_packed_size(&gd);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return TBW__FAIL(g, TBW_ENOMEM, "out of memory serializing a %zu-byte graph", n);
    *len = tensorboard__graph_def__pack(&gd, buf);
    *out = buf;
    return TBW_OK;
}

int tbw_graph_write(tbw_writer *w, tbw_graph *g, int64_t step)
{
    if (!g)
        return TBW_EINVAL;
    if (!w)
        return TBW__FAIL(g, TBW_EINVAL, "write: writer is NULL");
    uint8_t *bytes;
    size_t len;
    int rc = tbw_graph_serialize(g, &bytes, &len);
    if (rc)
        return rc;
    rc = tbw_writer_write_event_field(w, step, 4, bytes, len);
    tbw_free(bytes);
    /* The caller of a graph call reads the graph's message: a write failure is copied there (the
       writer keeps its own too). */
    return rc ? tbw__fail_copy(TBW__ERR(g), rc, tbw_writer_errmsg(w)) : TBW_OK;
}
