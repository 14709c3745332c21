/* The model as a TensorFlow-style GraphDef, through tbw's graph builder. */
#include <stdio.h>
#include <string.h>

#include <tbw/cnn_graph.h>

#define DT_FLOAT 1
#define DT_INT32 3
#define DT_INT64 9
#define DT_BOOL 10

#define MAX_VARS 64

/* The export in progress: the first failure, the node feeding the next layer and the variables that
 * the train op depends on. */
typedef struct {
    tbw_graph *g;
    int rc;
    char prev[256];
    char vars[MAX_VARS][300];
    size_t nvars;
} ctx;

/* Adds a node with T and one output shape (NCHW, -1 batch); rank 1..4. */
static size_t node(ctx *c, const char *name, const char *op, const char *const *in, size_t nin, int dtype,
                   const int64_t *shape, int rank)
{
    size_t idx = 0;
    if (c->rc)
        return 0;
    c->rc = tbw_graph_add_node(c->g, name, op, in, nin, "/device:CPU:0", &idx);
    if (!c->rc && dtype)
        c->rc = tbw_graph_attr_type(c->g, idx, "T", dtype);
    if (!c->rc && rank >= 0) {
        int r[1] = {rank};
        c->rc = tbw_graph_attr_shape_list(c->g, idx, "_output_shapes", shape, r, 1);
    }
    return idx;
}

static void attr_ints(ctx *c, size_t idx, const char *key, int64_t a, int64_t b, int64_t d, int64_t e)
{
    int64_t v[4] = {a, b, d, e};
    if (!c->rc)
        c->rc = tbw_graph_attr_int_list(c->g, idx, key, v, 4);
}

static void attr_str(ctx *c, size_t idx, const char *key, const char *v)
{
    if (!c->rc)
        c->rc = tbw_graph_attr_string(c->g, idx, key, v);
}

static const char *pad_name(cnn_padding padding)
{
    return padding == CNN_PAD_VALID ? "VALID" : padding == CNN_PAD_SAME ? "SAME" : "EXPLICIT";
}

/* The node name of a single-op layer: the layer name itself if it has a scope. */
static void op_node_name(char *out, size_t cap, const char *layer, const char *op)
{
    if (strchr(layer, '/'))
        snprintf(out, cap, "%s", layer);
    else
        snprintf(out, cap, "%s/%s", layer, op);
}

static void add_var_dep(ctx *c, const char *var)
{
    if (c->nvars < MAX_VARS)
        snprintf(c->vars[c->nvars++], sizeof c->vars[0], "^%s", var);
}

/* input/x (the images, NCHW) and input/y (the labels). */
static void export_inputs(ctx *c, const cnn_layer_info *first)
{
    int64_t xs[4] = {-1, first->in_c, first->in_h, first->in_w};
    size_t x = node(c, "input/x", "Placeholder", NULL, 0, 0, xs, 4);
    if (!c->rc)
        c->rc = tbw_graph_attr_type(c->g, x, "dtype", DT_FLOAT);
    int64_t ys[1] = {-1};
    size_t y = node(c, "input/y", "Placeholder", NULL, 0, 0, ys, 1);
    if (!c->rc)
        c->rc = tbw_graph_attr_type(c->g, y, "dtype", DT_INT32);
    snprintf(c->prev, sizeof c->prev, "input/x");
}

/* S/weights as a variable with its shape and dtype. */
static void export_weights(ctx *c, const cnn_layer_info *L, const char *wname)
{
    size_t wn = node(c, wname, "VariableV2", NULL, 0, 0, NULL, -1);
    if (!c->rc && L->nparams > 0) {
        int64_t wd[4];
        for (int k = 0; k < L->params[0].rank && k < 4; k++)
            wd[k] = L->params[0].dims[k];
        int r[1] = {L->params[0].rank};
        c->rc = tbw_graph_attr_shape_list(c->g, wn, "_output_shapes", wd, r, 1);
        if (!c->rc)
            c->rc = tbw_graph_attr_type(c->g, wn, "dtype", DT_FLOAT);
    }
    add_var_dep(c, wname);
}

/* S/biases and S/BiasAdd on the previous node. */
static void export_bias(ctx *c, const cnn_layer_info *L, const int64_t *os, int orank, bool conv)
{
    char bname[256], name[256];
    snprintf(bname, sizeof bname, "%s/biases", L->name);
    size_t bn = node(c, bname, "VariableV2", NULL, 0, 0, NULL, -1);
    if (!c->rc) {
        int64_t bd[1] = {L->params[1].dims[0]};
        int r[1] = {1};
        c->rc = tbw_graph_attr_shape_list(c->g, bn, "_output_shapes", bd, r, 1);
    }
    add_var_dep(c, bname);
    const char *bin[2] = {c->prev, bname};
    snprintf(name, sizeof name, "%s/BiasAdd", L->name);
    size_t ba = node(c, name, "BiasAdd", bin, 2, DT_FLOAT, os, orank);
    if (conv)
        attr_str(c, ba, "data_format", "NCHW");
    snprintf(c->prev, sizeof c->prev, "%s", name);
}

/* S/weights and the op S/<op> that reads the previous output and them; the op becomes the output. */
static size_t weighted_op(ctx *c, const cnn_layer_info *L, const char *op_name, const int64_t *os, int orank)
{
    char wname[256], name[256];
    snprintf(wname, sizeof wname, "%s/weights", L->name);
    export_weights(c, L, wname);
    const char *in[2] = {c->prev, wname};
    snprintf(name, sizeof name, "%s/%s", L->name, op_name);
    size_t op = node(c, name, op_name, in, 2, DT_FLOAT, os, orank);
    snprintf(c->prev, sizeof c->prev, "%s", name);
    return op;
}

/* A conv layer: S/weights, S/Conv2D with its geometry, then the bias. */
static void export_conv(ctx *c, const cnn_layer_info *L, const int64_t *os, int orank)
{
    size_t op = weighted_op(c, L, "Conv2D", os, orank);
    attr_ints(c, op, "strides", 1, 1, L->stride_h, L->stride_w);
    attr_ints(c, op, "dilations", 1, 1, L->dilation_h, L->dilation_w);
    attr_str(c, op, "padding", pad_name(L->padding));
    attr_str(c, op, "data_format", "NCHW");
    if (!c->rc && L->padding == CNN_PAD_EXPLICIT) {
        int64_t ep[8] = {0, 0, 0, 0, L->pad_top, L->pad_bottom, L->pad_left, L->pad_right};
        c->rc = tbw_graph_attr_int_list(c->g, op, "explicit_paddings", ep, 8);
    }
    if (L->nparams > 1)
        export_bias(c, L, os, orank, true);
}

/* A dense layer: S/weights, S/MatMul, then the bias. */
static void export_dense(ctx *c, const cnn_layer_info *L, const int64_t *os, int orank)
{
    size_t op = weighted_op(c, L, "MatMul", os, orank);
    if (!c->rc) {
        c->rc = tbw_graph_attr_bool(c->g, op, "transpose_a", false);
        if (!c->rc)
            c->rc = tbw_graph_attr_bool(c->g, op, "transpose_b", false);
    }
    if (L->nparams > 1)
        export_bias(c, L, os, orank, false);
}

/* An activation, pooling, flatten or dropout layer: one node. */
static void export_single_op(ctx *c, const cnn_layer_info *L, const int64_t *os, int orank)
{
    char name[256];
    op_node_name(name, sizeof name, L->name, L->op);
    const char *in[1] = {c->prev};
    size_t op = node(c, name, L->op, in, 1, DT_FLOAT, os, orank);
    if (L->kind == CNN_LAYER_MAXPOOL || L->kind == CNN_LAYER_AVGPOOL) {
        attr_ints(c, op, "ksize", 1, 1, L->kernel_h, L->kernel_w);
        attr_ints(c, op, "strides", 1, 1, L->stride_h, L->stride_w);
        attr_str(c, op, "padding", pad_name(L->padding));
        attr_str(c, op, "data_format", "NCHW");
    } else if (L->kind == CNN_LAYER_DROPOUT && !c->rc) {
        c->rc = tbw_graph_attr_float(c->g, op, "rate", L->rate);
    }
    snprintf(c->prev, sizeof c->prev, "%s", name);
}

/* One layer, by kind; returns its number of outputs per sample (the logits of the last one). */
static int export_layer(ctx *c, const cnn_layer_info *L)
{
    int64_t os[4] = {-1, L->out_c, L->out_h, L->out_w};
    int orank = (L->kind == CNN_LAYER_DENSE || L->kind == CNN_LAYER_FLATTEN) ? 2 : 4;
    if (orank == 2)
        os[1] = (int64_t)L->out_c * L->out_h * L->out_w;
    if (L->kind == CNN_LAYER_CONV2D)
        export_conv(c, L, os, orank);
    else if (L->kind == CNN_LAYER_DENSE)
        export_dense(c, L, os, orank);
    else
        export_single_op(c, L, os, orank);
    return L->out_c * L->out_h * L->out_w;
}

/* Loss, accuracy and the optimizer on the logits, named as in the lecture's graph. */
static void export_head(ctx *c, int classes)
{
    int64_t ls[2] = {-1, classes};
    const char *sin[1] = {c->prev};
    node(c, "softmax/Softmax", "Softmax", sin, 1, DT_FLOAT, ls, 2);
    const char *xin[2] = {c->prev, "input/y"};
    int64_t bs[1] = {-1};
    node(c, "cross_entropy/SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits", xin, 2,
         DT_FLOAT, bs, 1);
    node(c, "accuracy/ArgMax", "ArgMax", sin, 1, DT_FLOAT, bs, 1);
    const char *ein[2] = {"accuracy/ArgMax", "input/y"};
    node(c, "accuracy/Equal", "Equal", ein, 2, DT_INT64, bs, 1);
    const char *min[1] = {"accuracy/Equal"};
    int64_t sc[1] = {0};
    node(c, "accuracy/Mean", "Mean", min, 1, DT_FLOAT, sc, 0);
    const char *tin[MAX_VARS + 1];
    tin[0] = "cross_entropy/SoftmaxCrossEntropyWithLogits";
    for (size_t i = 0; i < c->nvars; i++)
        tin[i + 1] = c->vars[i];
    node(c, "train/Adam", "NoOp", tin, c->nvars + 1, 0, NULL, -1);
}

int cnn_model_export_graph(const cnn_model *m, tbw_graph *g)
{
    if (!m || !g)
        return TBW_EINVAL;
    size_t nl = cnn_model_layer_count(m);
    if (nl == 0)
        return TBW_EINVAL;
    cnn_layer_info first;
    if (cnn_model_layer_info(m, 0, &first))
        return TBW_EINVAL;
    ctx c = {.g = g};
    export_inputs(&c, &first);
    int classes = 0;
    for (size_t i = 0; i < nl && !c.rc; i++) {
        cnn_layer_info L;
        if (cnn_model_layer_info(m, i, &L) || strlen(L.name) > 200) {
            c.rc = TBW_EINVAL; /* names are kept short enough for every node name */
            break;
        }
        classes = export_layer(&c, &L);
    }
    export_head(&c, classes);
    return c.rc;
}
