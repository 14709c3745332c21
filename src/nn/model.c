/* The sequential model: layer list, memory planning, forward/backward/step and introspection. */
#include "nn_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool cnn_conv_direct_available(void)
{
    return cnn__direct_cpu();
}

const char *cnn_kernel_isa(void)
{
    switch (cnn__own_isa()) {
    case 512: return "avx512";
    case 256: return "avx2";
    default: return NULL;
    }
}

const char *cnn_strerror(int status)
{
    return tbw_strerror(status);
}

const char *cnn_model_errmsg(const cnn_model *m)
{
    return m ? m->errmsg : "no model";
}

int cnn_model_create(cnn_model **out, int in_c, int in_h, int in_w, const cnn_model_opts *opts, char *errmsg,
                     size_t errmsg_len)
{
    tbw__err e = TBW__ERR_BUF(errmsg, errmsg_len);
    if (errmsg && errmsg_len)
        errmsg[0] = '\0';
    if (!out)
        return tbw__fail(e, TBW_EINVAL, "out is NULL");
    *out = NULL;
    cnn_model_opts o = CNN_MODEL_OPTS_INIT;
    if (opts)
        o = *opts;
    if (in_c < 1 || in_h < 1 || in_w < 1 || in_c > 65536 || in_h > 65536 || in_w > 65536)
        return tbw__fail(e, TBW_EINVAL, "input shape [%d, %d, %d] must be 1..65536 in each dimension", in_c, in_h,
                         in_w);
    if (o.optimizer != CNN_OPT_ADAM && o.optimizer != CNN_OPT_SGD)
        return tbw__fail(e, TBW_EINVAL, "unknown optimizer %d", (int)o.optimizer);
    if (!(o.learning_rate > 0.0f) || !isfinite(o.learning_rate))
        return tbw__fail(e, TBW_EINVAL, "learning_rate must be a finite number > 0 (got %g)", (double)o.learning_rate);
    if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f) || !(o.beta2 >= 0.0f && o.beta2 < 1.0f))
        return tbw__fail(e, TBW_EINVAL, "beta1 and beta2 must be in [0, 1) (got %g, %g)", (double)o.beta1,
                         (double)o.beta2);
    if (!(o.epsilon >= 0.0f) || !isfinite(o.epsilon))
        return tbw__fail(e, TBW_EINVAL, "epsilon must be a finite number >= 0 (got %g)", (double)o.epsilon);
    if (!(o.momentum >= 0.0f && o.momentum < 1.0f))
        return tbw__fail(e, TBW_EINVAL, "momentum must be in [0, 1) (got %g)", (double)o.momentum);
    if (o.threads < 0 || o.threads > 1024)
        return tbw__fail(e, TBW_EINVAL, "threads must be 0 (all cores) to 1024 (got %d)", o.threads);
    if ((int)o.conv_algo < CNN_CONV_AUTO || (int)o.conv_algo > CNN_CONV_WINOGRAD)
        return tbw__fail(e, TBW_EINVAL, "unknown conv_algo %d", (int)o.conv_algo);
    size_t in_size;
    if (!tbw__mul((size_t)in_c * (size_t)in_h, (size_t)in_w, &in_size) || in_size > (size_t)INT32_MAX)
        return tbw__fail(e, TBW_ERANGE, "input shape [%d, %d, %d] has more than 2^31 values", in_c, in_h, in_w);
    cnn_model *m = calloc(1, sizeof *m);
    if (!m)
        return tbw__fail(e, TBW_ENOMEM, "out of memory allocating the model");
    m->opts = o;
    m->loss_grad_scale = 1.0f;
    m->in_c = in_c;
    m->in_h = in_h;
    m->in_w = in_w;
    m->in_size = in_size;
    cnn__rng_seed(&m->rng, o.seed);
    *out = m;
    return TBW_OK;
}

void cnn_model_free(cnn_model *m)
{
    if (!m)
        return;
    /* Every buffer is a region of the one arena. Two things stay apart from it: the workers, which own
     * threads, a mutex and condition variables that must be stopped, joined and destroyed (not just
     * freed), and the layer array, which grows while layers are added, before the arena is sized. */
    cnn__workers_free(m->workers);
    free(m->arena);
    free(m->layers);
    free(m);
}

/* ---- adding layers ---- */

static int check_name(cnn_model *m, const char *name)
{
    if (m->built)
        return TBW__FAIL(m, TBW_EINVAL, "cannot add layer: the model is already built");
    if (!name || !*name)
        return TBW__FAIL(m, TBW_EINVAL, "layer name is empty");
    size_t len = strlen(name);
    if (len >= CNN__NAME_MAX)
        return TBW__FAIL(m, TBW_EINVAL, "layer name longer than %d characters", CNN__NAME_MAX - 1);
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        /* '/' nests name scopes ("conv1/Relu"), as in TensorFlow: not first, last or doubled. */
        bool scope = ch == '/' && i > 0 && i + 1 < len && name[i + 1] != '/';
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                  ch == '-' || ch == '.' || scope;
        if (!ok)
            return TBW__FAIL(m, TBW_EINVAL, "layer name '%s' has a character outside [A-Za-z0-9_.-/]", name);
    }
    for (size_t i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0)
            return TBW__FAIL(m, TBW_EINVAL, "layer name '%s' is used twice", name);
    return TBW_OK;
}

/* Reserves a new layer fed by the current output shape; the caller fills in the rest. */
static int push_layer(cnn_model *m, const char *name, cnn_layer_kind kind, cnn__layer **out)
{
    if (!m)
        return TBW_EINVAL;
    int rc = check_name(m, name);
    if (rc)
        return rc;
    if (m->nlayers == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        cnn__layer *nl = realloc(m->layers, cap * sizeof *nl);
        if (!nl)
            return TBW__FAIL(m, TBW_ENOMEM, "out of memory adding layer '%s'", name);
        m->layers = nl;
        m->cap = cap;
    }
    cnn__layer *L = &m->layers[m->nlayers];
    memset(L, 0, sizeof *L);
    snprintf(L->name, sizeof L->name, "%s", name);
    L->kind = kind;
    if (m->nlayers == 0) {
        L->in_c = m->in_c;
        L->in_h = m->in_h;
        L->in_w = m->in_w;
    } else {
        const cnn__layer *P = &m->layers[m->nlayers - 1];
        L->in_c = P->out_c;
        L->in_h = P->out_h;
        L->in_w = P->out_w;
    }
    L->in_size = (size_t)L->in_c * L->in_h * L->in_w;
    L->out_c = L->in_c;
    L->out_h = L->in_h;
    L->out_w = L->in_w;
    L->kh = L->kw = L->sh = L->sw = L->dh = L->dw = 1;
    *out = L;
    return TBW_OK;
}

static int finish_layer(cnn_model *m, cnn__layer *L)
{
    size_t out;
    if (!tbw__mul((size_t)L->out_c * (size_t)L->out_h, (size_t)L->out_w, &out) || out > (size_t)INT32_MAX)
        return TBW__FAIL(m, TBW_ERANGE, "layer '%s': output too large", L->name);
    L->out_size = out;
    snprintf(L->wname, sizeof L->wname, "%s/weights", L->name);
    snprintf(L->bname, sizeof L->bname, "%s/biases", L->name);
    m->nlayers++;
    return TBW_OK;
}

static int init_ok(cnn_init init)
{
    return init == CNN_INIT_HE || init == CNN_INIT_GLOROT || init == CNN_INIT_ZEROS;
}

static int geometry(cnn_model *m, cnn__layer *L, const char *what, cnn_padding padding, int pt, int pb, int pl, int pr)
{
    int rc = cnn_conv_out_size(L->in_h, L->kh, L->sh, L->dh, padding, pt, pb, &L->out_h, &L->pt);
    if (rc)
        return TBW__FAIL(m, rc, "%s '%s': %s: window %d (dilation %d, stride %d) does not fit height %d",
                         what, L->name, cnn_strerror(rc), L->kh, L->dh, L->sh, L->in_h);
    rc = cnn_conv_out_size(L->in_w, L->kw, L->sw, L->dw, padding, pl, pr, &L->out_w, &L->pl);
    if (rc)
        return TBW__FAIL(m, rc, "%s '%s': %s: window %d (dilation %d, stride %d) does not fit width %d",
                         what, L->name, cnn_strerror(rc), L->kw, L->dw, L->sw, L->in_w);
    L->padding = padding;
    /* What padding was really applied, for introspection. */
    L->pb = (L->out_h - 1) * L->sh + (L->kh - 1) * L->dh + 1 - L->in_h - L->pt;
    L->pr = (L->out_w - 1) * L->sw + (L->kw - 1) * L->dw + 1 - L->in_w - L->pl;
    if (L->pb < 0)
        L->pb = 0;
    if (L->pr < 0)
        L->pr = 0;
    return TBW_OK;
}

int cnn_model_add_conv2d(cnn_model *m, const char *name, const cnn_conv2d_opts *opts)
{
    cnn_conv2d_opts o = CNN_CONV2D_OPTS_INIT;
    if (opts)
        o = *opts;
    cnn__layer *L;
    int rc = push_layer(m, name, CNN_LAYER_CONV2D, &L);
    if (rc)
        return rc;
    if (o.filters < 1 || o.filters > 65536 || o.kernel_h < 1 || o.kernel_w < 1 || o.kernel_h > 1024 ||
        o.kernel_w > 1024 || o.stride_h < 1 || o.stride_w < 1 || o.dilation_h < 1 || o.dilation_w < 1 ||
        o.dilation_h > 1024 || o.dilation_w > 1024 || !init_ok(o.init) || !isfinite(o.bias_init))
        return TBW__FAIL(m, TBW_EINVAL, "conv2d '%s': filters, kernel, stride and dilation must be >= 1", name);
    L->kh = o.kernel_h;
    L->kw = o.kernel_w;
    L->sh = o.stride_h;
    L->sw = o.stride_w;
    L->dh = o.dilation_h;
    L->dw = o.dilation_w;
    rc = geometry(m, L, "conv2d", o.padding, o.pad_top, o.pad_bottom, o.pad_left, o.pad_right);
    if (rc)
        return rc;
    L->out_c = o.filters;
    L->use_bias = o.use_bias;
    L->init = o.init;
    L->bias_init = o.bias_init;
    L->w_rank = 4;
    L->w_dims[0] = o.filters;
    L->w_dims[1] = L->in_c;
    L->w_dims[2] = L->kh;
    L->w_dims[3] = L->kw;
    size_t k;
    if (!tbw__mul((size_t)L->in_c * (size_t)L->kh, (size_t)L->kw, &k) || !tbw__mul(k, (size_t)o.filters, &L->w_count) ||
        k > (size_t)INT32_MAX)
        return TBW__FAIL(m, TBW_ERANGE, "conv2d '%s': filter too large", name);
    L->b_count = o.use_bias ? (size_t)o.filters : 0;
    return finish_layer(m, L);
}

static int add_simple(cnn_model *m, const char *name, cnn_layer_kind kind)
{
    cnn__layer *L;
    int rc = push_layer(m, name, kind, &L);
    if (rc)
        return rc;
    if (kind == CNN_LAYER_FLATTEN) {
        L->out_c = (int)L->in_size;
        L->out_h = L->out_w = 1;
    }
    return finish_layer(m, L);
}

int cnn_model_add_relu(cnn_model *m, const char *name) { return add_simple(m, name, CNN_LAYER_RELU); }
int cnn_model_add_sigmoid(cnn_model *m, const char *name) { return add_simple(m, name, CNN_LAYER_SIGMOID); }
int cnn_model_add_tanh(cnn_model *m, const char *name) { return add_simple(m, name, CNN_LAYER_TANH); }
int cnn_model_add_flatten(cnn_model *m, const char *name) { return add_simple(m, name, CNN_LAYER_FLATTEN); }

int cnn_model_add_dropout(cnn_model *m, const char *name, float rate)
{
    if (m && !(rate >= 0.0f && rate < 1.0f))
        return TBW__FAIL(m, TBW_EINVAL, "dropout '%s': rate must be in [0, 1)", name ? name : "");
    cnn__layer *L;
    int rc = push_layer(m, name, CNN_LAYER_DROPOUT, &L);
    if (rc)
        return rc;
    L->rate = rate;
    return finish_layer(m, L);
}

static int add_pool(cnn_model *m, const char *name, const cnn_pool_opts *opts, cnn_layer_kind kind)
{
    cnn_pool_opts o = CNN_POOL_OPTS_INIT;
    if (opts)
        o = *opts;
    cnn__layer *L;
    int rc = push_layer(m, name, kind, &L);
    if (rc)
        return rc;
    if (o.size_h < 1 || o.size_w < 1 || o.stride_h < 1 || o.stride_w < 1 || o.size_h > 65536 || o.size_w > 65536)
        return TBW__FAIL(m, TBW_EINVAL, "pool '%s': window and stride must be >= 1", name);
    if (o.padding == CNN_PAD_EXPLICIT && (o.pad_top >= o.size_h || o.pad_bottom >= o.size_h ||
                                          o.pad_left >= o.size_w || o.pad_right >= o.size_w))
        return TBW__FAIL(m, TBW_EINVAL, "pool '%s': explicit padding must be smaller than the window", name);
    L->kh = o.size_h;
    L->kw = o.size_w;
    L->sh = o.stride_h;
    L->sw = o.stride_w;
    rc = geometry(m, L, "pool", o.padding, o.pad_top, o.pad_bottom, o.pad_left, o.pad_right);
    if (rc)
        return rc;
    return finish_layer(m, L);
}

int cnn_model_add_maxpool(cnn_model *m, const char *name, const cnn_pool_opts *opts)
{
    return add_pool(m, name, opts, CNN_LAYER_MAXPOOL);
}

int cnn_model_add_avgpool(cnn_model *m, const char *name, const cnn_pool_opts *opts)
{
    return add_pool(m, name, opts, CNN_LAYER_AVGPOOL);
}

int cnn_model_add_dense(cnn_model *m, const char *name, const cnn_dense_opts *opts)
{
    cnn_dense_opts o = CNN_DENSE_OPTS_INIT;
    if (opts)
        o = *opts;
    cnn__layer *L;
    int rc = push_layer(m, name, CNN_LAYER_DENSE, &L);
    if (rc)
        return rc;
    if (o.units < 1 || o.units > (1 << 24) || !init_ok(o.init) || !isfinite(o.bias_init))
        return TBW__FAIL(m, TBW_EINVAL, "dense '%s': units must be >= 1 and init valid", name);
    L->out_c = o.units;
    L->out_h = L->out_w = 1;
    L->use_bias = o.use_bias;
    L->init = o.init;
    L->bias_init = o.bias_init;
    L->w_rank = 2;
    L->w_dims[0] = (int)L->in_size;
    L->w_dims[1] = o.units;
    if (!tbw__mul(L->in_size, (size_t)o.units, &L->w_count))
        return TBW__FAIL(m, TBW_ERANGE, "dense '%s': weight matrix too large", name);
    L->b_count = o.use_bias ? (size_t)o.units : 0;
    return finish_layer(m, L);
}

/* ---- build: size every buffer, then one arena ---- */

/* Separate allocations let AddressSanitizer catch a kernel running off the end of its buffer; inside
 * one arena it cannot, so sanitizer builds leave a poisoned gap after every region. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_REDZONE ((size_t)CNN__ALIGN)
#else
#define ARENA_REDZONE ((size_t)0)
#endif

/* The model's own regions of the arena, in their order there (the layers' follow, see nn_internal.h). */
enum {
    R_PARAMS, R_GRADS, R_SLOT1, R_SLOT2, R_X, R_XSTAGE, R_DINPUT, R_GBUF0, R_GBUF1, R_TMP, R_DSCRATCH,
    R_PROBS, R_DLOGITS, R_LSTAGE, R_COUNT
};

typedef struct build_plan {
    size_t batch;
    int threads;
    size_t nparams, max_act, max_tmp, max_oc;
    size_t dscratch_ld;    /* doubles per thread in the bias sums */
    size_t bytes[R_COUNT]; /* the model's regions */
    size_t total;          /* the whole arena: every region rounded up to CNN__ALIGN */
    const char *too_large; /* the first region whose size overflowed, NULL while none did */
} build_plan;

/* *bytes = a x b x c elements of elem bytes; an overflow names the region in p->too_large. */
static void need(build_plan *p, size_t *bytes, size_t a, size_t b, size_t c, size_t elem, const char *what)
{
    size_t n;
    if (!tbw__mul(a, b, &n) || !tbw__mul(n, c, &n) || !tbw__mul(n, elem, bytes)) {
        *bytes = 0;
        if (!p->too_large)
            p->too_large = what;
    }
}

static size_t align_up(size_t n)
{
    return (n + (CNN__ALIGN - 1)) & ~(size_t)(CNN__ALIGN - 1);
}

/* Adds one region to the arena's total; false on overflow. */
static bool arena_add(build_plan *p, size_t bytes)
{
    size_t r;
    if (bytes == 0)
        return true;
    return !__builtin_add_overflow(bytes, (size_t)(CNN__ALIGN - 1) + ARENA_REDZONE, &r) &&
           !__builtin_add_overflow(p->total, r & ~(size_t)(CNN__ALIGN - 1), &p->total);
}

/* The next region in the arena, NULL for an absent (0-byte) one. The total was checked, so no overflow. */
static void *carve(char *arena, size_t *off, size_t bytes)
{
    if (bytes == 0)
        return NULL;
    char *r = arena + *off;
    *off += align_up(bytes + ARENA_REDZONE);
#ifdef ARENA_ASAN
    ASAN_POISON_MEMORY_REGION(r + bytes, align_up(bytes + ARENA_REDZONE) - bytes);
#endif
    return r;
}

/* Parameter offsets, the largest activation and conv chunk, and each conv layer's path. */
static int plan_layer(cnn_model *m, build_plan *p, cnn__layer *L)
{
    L->w_off = p->nparams;
    p->nparams += L->w_count;
    L->b_off = p->nparams;
    p->nparams += L->b_count;
    if (p->nparams < L->w_count)
        return TBW__FAIL(m, TBW_ERANGE, "too many parameters");
    if (L->out_size > p->max_act)
        p->max_act = L->out_size;
    size_t np, t;
    if (!tbw__mul(p->batch, L->out_size, &np) || np > (size_t)INT32_MAX)
        return TBW__FAIL(m, TBW_ERANGE, "layer '%s': batch x output exceeds INT_MAX", L->name);
    L->isa = cnn__own_isa();
    if (L->kind == CNN_LAYER_DENSE)
        L->mm_own = cnn__dense_own_fits(L);
    if (L->kind != CNN_LAYER_CONV2D)
        return TBW_OK;
    const char *why = cnn__direct_cpu() ? cnn__direct_unfit(L) : "a CPU without AVX-512F";
    if (m->opts.conv_algo == CNN_CONV_DIRECT && why)
        return TBW__FAIL(m, TBW_EINVAL, "layer '%s': direct convolution does not support %s", L->name, why);
    /* AUTO leaves short reductions (the first layer of a grey-scale net: 1x5x5) to im2col: there
     * a tile's transpose into NCHW is a large share of its work and direct measured no faster */
    const char *wwhy = L->isa ? cnn__wino_unfit(L) : "a CPU without AVX-512F or AVX2";
    if (m->opts.conv_algo == CNN_CONV_WINOGRAD && wwhy)
        return TBW__FAIL(m, TBW_EINVAL, "layer '%s': Winograd convolution does not support %s", L->name, wwhy);
    L->wino = !wwhy && (m->opts.conv_algo == CNN_CONV_WINOGRAD ||
                        (m->opts.conv_algo == CNN_CONV_AUTO && cnn__wino_worth(L)));
    L->direct = !L->wino && !why &&
                (m->opts.conv_algo == CNN_CONV_DIRECT || (m->opts.conv_algo == CNN_CONV_AUTO && cnn__direct_worth(L)));
    /* im2col's products on the engine's kernel need rows of whole vectors: output planes of 16k pixels */
    L->col_own = !L->wino && !L->direct && L->isa && (L->out_h * L->out_w) % 16 == 0;
    L->chunk = cnn__conv_chunk(L, p->batch);
    if (!tbw__mul(L->chunk, (size_t)L->out_h * L->out_w, &np) || np > (size_t)INT32_MAX)
        return TBW__FAIL(m, TBW_ERANGE, "layer '%s': im2col width exceeds INT_MAX", L->name);
    if (!tbw__mul(np, (size_t)L->out_c, &t))
        return TBW__FAIL(m, TBW_ERANGE, "layer '%s': too large", L->name);
    if (!L->direct && !L->wino && !L->col_own && t > p->max_tmp)
        p->max_tmp = t;
    if ((size_t)L->out_c > p->max_oc)
        p->max_oc = (size_t)L->out_c;
    return TBW_OK;
}

/* Sizes of layer i's regions into L->rbytes and the arena's total. */
static int size_layer(cnn_model *m, build_plan *p, size_t i)
{
    cnn__layer *L = &m->layers[i];
    size_t *r = L->rbytes, T = (size_t)p->threads, P = (size_t)L->out_h * L->out_w;
    memset(L->rbytes, 0, sizeof L->rbytes);
    p->too_large = NULL;
    /* NCHW flattened is the same memory, so a flatten only renames its input */
    if (L->kind != CNN_LAYER_FLATTEN)
        need(p, &r[CNN__LR_OUT], p->batch, L->out_size, 1, sizeof(float), "output");
    if (L->kind == CNN_LAYER_CONV2D && L->direct) {
        /* cnn__direct_unfit bounds the tables and counts to int32 */
        need(p, &r[CNN__LR_DINTS], cnn__direct_ints(L), 1, 1, sizeof(int32_t), "direct offset tables");
        need(p, &r[CNN__LR_WPK], cnn__direct_packed(L), 1, 1, sizeof(float), "packed weights");
        need(p, &r[CNN__LR_DSCR], cnn__direct_scratch(L), T, 1, sizeof(float), "direct scratch");
        need(p, &r[CNN__LR_DWT], cnn__direct_wgrad_floats(L), T, 1, sizeof(float), "weight gradient parts");
    } else if (L->kind == CNN_LAYER_CONV2D && L->wino) {
        need(p, &r[CNN__LR_WPK], cnn__wino_packed(L), 1, 1, sizeof(float), "transformed filters");
        need(p, &r[CNN__LR_DSCR], cnn__wino_scratch(L), T, 1, sizeof(float), "Winograd scratch");
        need(p, &r[CNN__LR_DWT], cnn__wino_wgrad_floats(L), T, 1, sizeof(float), "weight gradient parts");
    } else if (L->kind == CNN_LAYER_CONV2D && L->col_own) {
        /* always image by image: the columns and, transposed, their copy; the partial dW as [OC][K16] */
        size_t K = (size_t)L->in_c * L->kh * L->kw, K16 = (K + 15) / 16 * 16;
        need(p, &r[CNN__LR_TCOL], K + K16, P, T, sizeof(float), "per-thread columns");
        need(p, &r[CNN__LR_TDW], (size_t)L->out_c, K16, T, sizeof(float), "weight gradient parts");
    } else if (L->kind == CNN_LAYER_CONV2D) {
        size_t K = (size_t)L->in_c * L->kh * L->kw;
        need(p, &r[CNN__LR_COL], K, L->chunk, P, sizeof(float), "im2col columns");
        /* the first layer has no input gradient unless the caller asked for it */
        if (i > 0 || m->opts.input_grad)
            r[CNN__LR_DCOL] = r[CNN__LR_COL];
        need(p, &r[CNN__LR_TCOL], K, P, T, sizeof(float), "per-thread columns");
        need(p, &r[CNN__LR_TDW], L->w_count, T, 1, sizeof(float), "weight gradient parts");
    } else if (L->kind == CNN_LAYER_MAXPOOL) {
        need(p, &r[CNN__LR_ARGMAX], p->batch, L->out_size, 1, sizeof(int32_t), "argmax");
    } else if (L->kind == CNN_LAYER_DROPOUT) {
        need(p, &r[CNN__LR_MASK], p->batch, L->out_size, 1, sizeof(float), "dropout mask");
    } else if (L->kind == CNN_LAYER_DENSE && L->mm_own) {
        need(p, &r[CNN__LR_MMPK], cnn__dense_pack_floats(L), T, 1, sizeof(float), "packed weight blocks");
        need(p, &r[CNN__LR_MMT], cnn__dense_trans_rows(L, p->threads), (p->batch + 15) / 16 * 16, 1,
             sizeof(float), "transposed gradients");
    }
    if (p->too_large)
        return TBW__FAIL(m, TBW_ERANGE, "layer '%s': %s too large for batch %zu", L->name, p->too_large,
                         p->batch);
    for (int k = 0; k < CNN__LR_COUNT; k++)
        if (!arena_add(p, r[k]))
            return TBW__FAIL(m, TBW_ERANGE, "layer '%s': the model's buffers exceed the address space",
                             L->name);
    return TBW_OK;
}

/* Sizes of the model's own regions into p->bytes and the arena's total. */
static int size_model(cnn_model *m, build_plan *p)
{
    size_t *r = p->bytes, B = p->batch, in = m->in_size, K = m->layers[m->nlayers - 1].out_size;
    size_t np = p->nparams ? p->nparams : 1; /* present even in a model without parameters */
    memset(p->bytes, 0, sizeof p->bytes);
    p->too_large = NULL;
    need(p, &r[R_PARAMS], np, 1, 1, sizeof(float), "parameters");
    r[R_GRADS] = r[R_SLOT1] = r[R_PARAMS];
    if (m->opts.optimizer == CNN_OPT_ADAM)
        r[R_SLOT2] = r[R_PARAMS];
    need(p, &r[R_X], B, in, 1, sizeof(float), "input batch");
    r[R_XSTAGE] = r[R_X];
    if (m->opts.input_grad)
        r[R_DINPUT] = r[R_X];
    need(p, &r[R_GBUF0], B, p->max_act, 1, sizeof(float), "gradient buffers");
    r[R_GBUF1] = r[R_GBUF0];
    need(p, &r[R_TMP], p->max_tmp, 1, 1, sizeof(float), "conv chunk buffer");
    p->dscratch_ld = (p->max_oc + 7) & ~(size_t)7; /* a cache line apart, no false sharing */
    need(p, &r[R_DSCRATCH], p->dscratch_ld, (size_t)p->threads, 1, sizeof(double), "bias gradient sums");
    need(p, &r[R_PROBS], B, K, 1, sizeof(float), "softmax");
    r[R_DLOGITS] = r[R_PROBS];
    need(p, &r[R_LSTAGE], B, 1, 1, sizeof(int32_t), "label staging");
    if (p->too_large)
        return TBW__FAIL(m, TBW_ERANGE, "%s too large for batch %zu", p->too_large, B);
    for (int k = 0; k < R_COUNT; k++)
        if (!arena_add(p, r[k]))
            return TBW__FAIL(m, TBW_ERANGE, "the model's buffers exceed the address space");
    return TBW_OK;
}

/* Points every buffer at its region of the zeroed arena a, in the order the sizes were added. */
static void place_buffers(cnn_model *m, const build_plan *p, char *a)
{
    const size_t *r = p->bytes;
    size_t off = 0;
    m->params = carve(a, &off, r[R_PARAMS]);
    m->grads = carve(a, &off, r[R_GRADS]);
    m->slot1 = carve(a, &off, r[R_SLOT1]);
    m->slot2 = carve(a, &off, r[R_SLOT2]);
    m->x = carve(a, &off, r[R_X]);
    m->xstage = carve(a, &off, r[R_XSTAGE]);
    m->dinput = carve(a, &off, r[R_DINPUT]);
    m->gbuf[0] = carve(a, &off, r[R_GBUF0]);
    m->gbuf[1] = carve(a, &off, r[R_GBUF1]);
    m->tmp = carve(a, &off, r[R_TMP]);
    m->dscratch = carve(a, &off, r[R_DSCRATCH]);
    m->dscratch_ld = p->dscratch_ld;
    m->probs = carve(a, &off, r[R_PROBS]);
    m->dlogits = carve(a, &off, r[R_DLOGITS]);
    m->lstage = carve(a, &off, r[R_LSTAGE]);
    for (size_t i = 0; i < m->nlayers; i++) {
        cnn__layer *L = &m->layers[i];
        const size_t *lr = L->rbytes;
        L->out = carve(a, &off, lr[CNN__LR_OUT]);
        if (L->kind == CNN_LAYER_FLATTEN)
            L->out = i == 0 ? m->x : m->layers[i - 1].out;
        L->col = carve(a, &off, lr[CNN__LR_COL]);
        L->dcol = carve(a, &off, lr[CNN__LR_DCOL]);
        L->tcol = carve(a, &off, lr[CNN__LR_TCOL]);
        L->tdw = carve(a, &off, lr[CNN__LR_TDW]);
        L->dints = carve(a, &off, lr[CNN__LR_DINTS]);
        L->wpk = carve(a, &off, lr[CNN__LR_WPK]);
        L->dscr = carve(a, &off, lr[CNN__LR_DSCR]);
        L->dwt = carve(a, &off, lr[CNN__LR_DWT]);
        L->argmax = carve(a, &off, lr[CNN__LR_ARGMAX]);
        L->mask = carve(a, &off, lr[CNN__LR_MASK]);
        L->mmpk = carve(a, &off, lr[CNN__LR_MMPK]);
        L->mmt = carve(a, &off, lr[CNN__LR_MMT]);
        if (L->kind == CNN_LAYER_CONV2D && L->direct)
            cnn__direct_setup(L, L->dints, L->wpk, L->dscr, L->dwt);
        if (L->kind == CNN_LAYER_CONV2D && L->wino)
            cnn__wino_setup(L, L->wpk, L->dscr, L->dwt);
    }
}

static int build_threads(const cnn_model *m)
{
    int threads = m->opts.threads;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)(n > 64 ? 64 : n) : 1;
    }
    return threads;
}

static void init_weights(cnn_model *m)
{
    for (size_t i = 0; i < m->nlayers; i++) {
        cnn__layer *L = &m->layers[i];
        if (L->w_count == 0)
            continue;
        float *w = cnn__W(m, L);
        double fan_in, fan_out;
        if (L->kind == CNN_LAYER_CONV2D) {
            double rf = (double)L->kh * L->kw;
            fan_in = rf * L->in_c;
            fan_out = rf * L->out_c;
        } else {
            fan_in = (double)L->in_size;
            fan_out = (double)L->out_size;
        }
        if (L->init == CNN_INIT_HE) {
            float sd = (float)sqrt(2.0 / fan_in);
            for (size_t j = 0; j < L->w_count; j++)
                w[j] = sd * cnn__rng_normal(&m->rng);
        } else if (L->init == CNN_INIT_GLOROT) {
            float lim = (float)sqrt(6.0 / (fan_in + fan_out));
            for (size_t j = 0; j < L->w_count; j++)
                w[j] = lim * (2.0f * cnn__rng_uniform(&m->rng) - 1.0f);
        } else {
            memset(w, 0, sizeof(float) * L->w_count);
        }
        float *b = cnn__B(m, L);
        for (size_t j = 0; j < L->b_count; j++)
            b[j] = L->bias_init;
    }
}

int cnn_model_build(cnn_model *m, size_t batch)
{
    if (!m)
        return TBW_EINVAL;
    if (m->built)
        return TBW__FAIL(m, TBW_EINVAL, "model is already built");
    if (batch == 0)
        return TBW__FAIL(m, TBW_EINVAL, "batch size must be at least 1");
    if (m->nlayers == 0)
        return TBW__FAIL(m, TBW_EINVAL, "model has no layers");
    if (batch > (size_t)INT32_MAX)
        return TBW__FAIL(m, TBW_ERANGE, "batch size %zu too large", batch);
    build_plan p = {.batch = batch, .threads = build_threads(m), .max_act = m->in_size, .max_tmp = 1,
                    .max_oc = 1};
    size_t xin;
    if (!tbw__mul(batch, m->in_size, &xin) || xin > (size_t)INT32_MAX)
        return TBW__FAIL(m, TBW_ERANGE, "batch x input size exceeds INT_MAX");
    int rc;
    for (size_t i = 0; i < m->nlayers; i++)
        if ((rc = plan_layer(m, &p, &m->layers[i])) != TBW_OK)
            return rc;
    const cnn__layer *last = &m->layers[m->nlayers - 1];
    if (last->out_size < 2)
        return TBW__FAIL(m, TBW_EINVAL, "last layer must produce at least 2 logits, has %zu", last->out_size);
    if ((rc = size_model(m, &p)) != TBW_OK)
        return rc;
    for (size_t i = 0; i < m->nlayers; i++)
        if ((rc = size_layer(m, &p, i)) != TBW_OK)
            return rc;
    if (p.total > SIZE_MAX - (CNN__ALIGN - 1))
        return TBW__FAIL(m, TBW_ERANGE, "the model's buffers exceed the address space");

    /* One zeroed allocation, over-sized to start the regions on an aligned boundary: calloc (rather than
     * aligned_alloc + memset) keeps large arenas on the kernel's lazily zeroed pages. */
    void *arena = calloc(1, p.total + (CNN__ALIGN - 1));
    if (!arena)
        return TBW__FAIL(m, TBW_ENOMEM, "out of memory planning the model for batch %zu (a %zu-byte arena)",
                         batch, p.total);
    cnn__workers *w;
    if (cnn__workers_create(&w, p.threads) != TBW_OK) {
        free(arena);
        return TBW__FAIL(m, TBW_ENOMEM,
                         "out of memory planning the model for batch %zu (starting %d threads)", batch,
                         p.threads);
    }
    m->arena = arena;
    m->arena_bytes = p.total;
    m->workers = w;
    m->threads = p.threads;
    place_buffers(m, &p, (char *)(((uintptr_t)arena + (CNN__ALIGN - 1)) & ~(uintptr_t)(CNN__ALIGN - 1)));
    m->nparams = p.nparams;
    m->batch = batch;
    m->built = true;
    init_weights(m);
    return TBW_OK;
}

/* ---- running ---- */


static const float *layer_input(const cnn_model *m, size_t i)
{
    return i == 0 ? m->x : m->layers[i - 1].out;
}

static int check_run(cnn_model *m, const void *p, size_t n, const char *what)
{
    if (!m)
        return TBW_EINVAL;
    if (!m->built)
        return TBW__FAIL(m, TBW_EINVAL, "%s: model is not built", what);
    if (!p)
        return TBW__FAIL(m, TBW_EINVAL, "%s: NULL data", what);
    if (n == 0 || n > m->batch)
        return TBW__FAIL(m, TBW_EINVAL, "%s: %zu samples, must be 1..%zu (the built batch)", what, n, m->batch);
    return TBW_OK;
}

static int model_forward(cnn_model *m, const float *x, size_t n, bool training)
{
    int rc = check_run(m, x, n, "forward");
    if (rc)
        return rc;
    memcpy(m->x, x, sizeof(float) * n * m->in_size);
    for (size_t i = 0; i < m->nlayers; i++) {
        cnn__layer *L = &m->layers[i];
        const float *in = layer_input(m, i);
        if (i + 2 < m->nlayers && cnn__conv_fuses(L, &m->layers[i + 1], &m->layers[i + 2])) {
            cnn__conv_relu_pool_forward(m, L, &m->layers[i + 1], &m->layers[i + 2], in, n);
            i += 2;
            continue;
        }
        switch (L->kind) {
        case CNN_LAYER_CONV2D: cnn__conv_forward(m, L, in, n); break;
        case CNN_LAYER_MAXPOOL:
        case CNN_LAYER_AVGPOOL: cnn__pool_forward(m, L, in, n); break;
        case CNN_LAYER_DENSE: cnn__dense_forward(m, L, in, n); break;
        case CNN_LAYER_FLATTEN: break;
        default: cnn__act_forward(m, L, in, n, training); break;
        }
    }
    m->fwd_n = n;
    m->have_loss = false;
    return TBW_OK;
}

int cnn_model_classes(const cnn_model *m)
{
    return m && m->nlayers ? (int)m->layers[m->nlayers - 1].out_size : 0;
}

const float *cnn_model_output(const cnn_model *m)
{
    return m && m->built && m->fwd_n ? m->layers[m->nlayers - 1].out : NULL;
}

static int model_loss(cnn_model *m, const int32_t *labels, size_t n, double *loss, double *acc)
{
    int rc = check_run(m, labels, n, "loss");
    if (rc)
        return rc;
    if (m->fwd_n != n)
        return TBW__FAIL(m, TBW_EINVAL, "loss: %zu labels but the last forward had %zu samples", n, m->fwd_n);
    size_t K = m->layers[m->nlayers - 1].out_size;
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= K)
            return TBW__FAIL(m, TBW_EINVAL, "loss: label %d of sample %zu is outside 0..%zu", (int)labels[i], i,
                             K - 1);
    const float *z = m->layers[m->nlayers - 1].out;
    double total = 0.0;
    size_t correct = 0;
    float inv_n = m->loss_grad_scale / (float)n; /* the mean's 1/n, times the caller's scale */
    for (size_t i = 0; i < n; i++) {
        const float *zi = z + i * K;
        float *pi = m->probs + i * K;
        float *gi = m->dlogits + i * K;
        size_t best = 0;
        for (size_t k = 1; k < K; k++)
            if (zi[k] > zi[best])
                best = k;
        float mx = zi[best];
        double s = 0.0;
        for (size_t k = 0; k < K; k++) {
            pi[k] = expf(zi[k] - mx);
            s += pi[k];
        }
        /* log-sum-exp relative to the max keeps large logits finite */
        total += log(s) - ((double)zi[labels[i]] - mx);
        float inv = (float)(1.0 / s);
        for (size_t k = 0; k < K; k++) {
            pi[k] *= inv;
            gi[k] = (pi[k] - (k == (size_t)labels[i] ? 1.0f : 0.0f)) * inv_n;
        }
        if (best == (size_t)labels[i])
            correct++;
    }
    if (loss)
        *loss = total / (double)n;
    if (acc)
        *acc = (double)correct / (double)n;
    m->have_loss = true;
    return TBW_OK;
}

static int model_backward(cnn_model *m)
{
    if (!m)
        return TBW_EINVAL;
    if (!m->built || !m->have_loss)
        return TBW__FAIL(m, TBW_EINVAL, "backward: call cnn_model_loss after a forward first");
    size_t n = m->fwd_n;
    const float *dy = m->dlogits;
    int which = 0;
    for (size_t ii = m->nlayers; ii-- > 0;) {
        cnn__layer *L = &m->layers[ii];
        const float *in = layer_input(m, ii);
        float *dx;
        if (L->kind == CNN_LAYER_FLATTEN) {
            /* the gradient passes through unchanged; the first layer's input gradient still needs a copy */
            if (ii == 0 && m->opts.input_grad)
                memcpy(m->dinput, dy, sizeof(float) * n * L->in_size);
            continue;
        }
        if (ii == 0)
            dx = m->opts.input_grad ? m->dinput : NULL;
        else
            dx = m->gbuf[which];
        switch (L->kind) {
        case CNN_LAYER_CONV2D: cnn__conv_backward(m, L, in, dy, dx, n); break;
        case CNN_LAYER_DENSE: cnn__dense_backward(m, L, in, dy, dx, n); break;
        case CNN_LAYER_MAXPOOL:
        case CNN_LAYER_AVGPOOL:
            if (dx && ii >= 2 && cnn__pool_folds_relu(L, &m->layers[ii - 1])) {
                /* dx is then the gradient below the ReLU, which is skipped */
                cnn__pool_relu_backward(m, L, dy, dx, n);
                ii--;
            } else if (dx) {
                cnn__pool_backward(m, L, dy, dx, n);
            }
            break;
        default:
            if (dx)
                cnn__act_backward(m, L, dy, dx, n);
            break;
        }
        dy = dx;
        which ^= 1;
    }
    return TBW_OK;
}

const float *cnn_model_input_grad(const cnn_model *m)
{
    return m ? m->dinput : NULL;
}

static int model_step(cnn_model *m)
{
    if (!m)
        return TBW_EINVAL;
    if (!m->built)
        return TBW__FAIL(m, TBW_EINVAL, "step: model is not built");
    cnn__optim_step(m);
    return TBW_OK;
}

static int model_train_step(cnn_model *m, const float *x, const int32_t *labels, size_t n, double *loss, double *acc)
{
    int rc = cnn_model_forward(m, x, n, true);
    if (!rc)
        rc = cnn_model_loss(m, labels, n, loss, acc);
    if (!rc)
        rc = cnn_model_backward(m);
    if (!rc)
        rc = cnn_model_step(m);
    return rc;
}

static int model_predict(cnn_model *m, const float *x, size_t n, int32_t *classes)
{
    if (m && !classes)
        return TBW__FAIL(m, TBW_EINVAL, "predict: NULL output");
    int rc = cnn_model_forward(m, x, n, false);
    if (rc)
        return rc;
    size_t K = m->layers[m->nlayers - 1].out_size;
    const float *z = m->layers[m->nlayers - 1].out;
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < K; k++)
            if (z[i * K + k] > z[i * K + best])
                best = k;
        classes[i] = (int32_t)best;
    }
    return TBW_OK;
}

/* Forward (eval mode) and loss of n samples, added to the sample-weighted sums. */
static int eval_batch(cnn_model *m, const float *x, const int32_t *labels, size_t n, double *tl, double *ta)
{
    double l, a;
    int rc = cnn_model_forward(m, x, n, false);
    if (!rc)
        rc = cnn_model_loss(m, labels, n, &l, &a);
    if (rc)
        return rc;
    *tl += l * (double)n;
    *ta += a * (double)n;
    return TBW_OK;
}

static int eval_means(double tl, double ta, size_t count, double *loss, double *acc)
{
    if (loss)
        *loss = tl / (double)count;
    if (acc)
        *acc = ta / (double)count;
    return TBW_OK;
}

static int model_evaluate(cnn_model *m, const float *x, const int32_t *labels, size_t count, double *loss, double *acc)
{
    if (!m)
        return TBW_EINVAL;
    if (!m->built)
        return TBW__FAIL(m, TBW_EINVAL, "evaluate: model is not built");
    if (!x || !labels || count == 0)
        return TBW__FAIL(m, TBW_EINVAL, "evaluate: need data and at least one sample");
    double tl = 0.0, ta = 0.0;
    for (size_t i = 0; i < count; i += m->batch) {
        size_t n = count - i < m->batch ? count - i : m->batch;
        int rc = eval_batch(m, x + i * m->in_size, labels + i, n, &tl, &ta);
        if (rc)
            return rc;
    }
    return eval_means(tl, ta, count, loss, acc);
}

static int model_evaluate_dataset(cnn_model *m, const cnn_dataset *ds, double *loss, double *acc)
{
    if (!m)
        return TBW_EINVAL;
    if (!m->built)
        return TBW__FAIL(m, TBW_EINVAL, "evaluate: model is not built");
    size_t count = cnn_dataset_count(ds);
    int rows, cols;
    cnn_dataset_dims(ds, &rows, &cols);
    if (count == 0)
        return TBW__FAIL(m, TBW_EINVAL, "evaluate: empty dataset");
    if (m->in_c != 1 || rows != m->in_h || cols != m->in_w)
        return TBW__FAIL(m, TBW_EMISMATCH, "evaluate: dataset images are 1x%dx%d, model expects %dx%dx%d", rows,
                         cols, m->in_c, m->in_h, m->in_w);
    double tl = 0.0, ta = 0.0;
    for (size_t i = 0; i < count; i += m->batch) {
        size_t n = count - i < m->batch ? count - i : m->batch;
        int rc = cnn_dataset_batch(ds, i, n, m->xstage, m->lstage);
        if (rc)
            return TBW__FAIL(m, rc, "evaluate: %s", cnn_dataset_errmsg(ds));
        rc = eval_batch(m, m->xstage, m->lstage, n, &tl, &ta);
        if (rc)
            return rc;
    }
    return eval_means(tl, ta, count, loss, acc);
}

int64_t cnn_model_step_count(const cnn_model *m)
{
    return m ? m->step : 0;
}

int cnn_model_set_learning_rate(cnn_model *m, float lr)
{
    if (!m)
        return TBW_EINVAL;
    if (!(lr > 0.0f) || !isfinite(lr))
        return TBW__FAIL(m, TBW_EINVAL, "learning rate must be finite and > 0");
    m->opts.learning_rate = lr;
    return TBW_OK;
}

int cnn_model_set_loss_grad_scale(cnn_model *m, float s)
{
    if (!m)
        return TBW_EINVAL;
    if (!(s > 0.0f) || !isfinite(s))
        return TBW__FAIL(m, TBW_EINVAL, "loss gradient scale must be finite and > 0 (got %g)", (double)s);
    m->loss_grad_scale = s;
    return TBW_OK;
}

float *cnn_model_params_flat(cnn_model *m, size_t *count)
{
    if (count)
        *count = m && m->built ? m->nparams : 0;
    return m && m->built ? cnn__param_span(m) : NULL;
}

float *cnn_model_grads_flat(cnn_model *m, size_t *count)
{
    if (count)
        *count = m && m->built ? m->nparams : 0;
    return m && m->built ? cnn__grad_span(m) : NULL;
}

size_t cnn_model_param_count(const cnn_model *m)
{
    return m ? m->nparams : 0;
}

/* ---- introspection ---- */

size_t cnn_model_layer_count(const cnn_model *m)
{
    return m ? m->nlayers : 0;
}

int cnn_model_find_layer(const cnn_model *m, const char *name, size_t *index)
{
    if (!m || !name || !index)
        return TBW_EINVAL;
    for (size_t i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0) {
            *index = i;
            return TBW_OK;
        }
    return TBW_ENOTFOUND;
}

static const char *op_name(cnn_layer_kind k)
{
    switch (k) {
    case CNN_LAYER_CONV2D: return "Conv2D";
    case CNN_LAYER_RELU: return "Relu";
    case CNN_LAYER_SIGMOID: return "Sigmoid";
    case CNN_LAYER_TANH: return "Tanh";
    case CNN_LAYER_MAXPOOL: return "MaxPool";
    case CNN_LAYER_AVGPOOL: return "AvgPool";
    case CNN_LAYER_DENSE: return "MatMul";
    case CNN_LAYER_FLATTEN: return "Reshape";
    case CNN_LAYER_DROPOUT: return "Dropout";
    }
    return "Unknown";
}

int cnn_model_layer_info(const cnn_model *m, size_t index, cnn_layer_info *info)
{
    if (!m || !info || index >= m->nlayers)
        return TBW_EINVAL;
    const cnn__layer *L = &m->layers[index];
    memset(info, 0, sizeof *info);
    info->name = L->name;
    info->op = op_name(L->kind);
    info->kind = L->kind;
    info->in_c = L->in_c;
    info->in_h = L->in_h;
    info->in_w = L->in_w;
    info->out_c = L->out_c;
    info->out_h = L->out_h;
    info->out_w = L->out_w;
    info->output = m->built && m->fwd_n ? L->out : NULL;
    info->output_n = m->built ? m->fwd_n : 0;
    info->kernel_h = L->kh;
    info->kernel_w = L->kw;
    info->stride_h = L->sh;
    info->stride_w = L->sw;
    info->dilation_h = L->dh;
    info->dilation_w = L->dw;
    info->padding = L->padding;
    info->pad_top = L->pt;
    info->pad_bottom = L->pb;
    info->pad_left = L->pl;
    info->pad_right = L->pr;
    info->rate = L->rate;
    if (L->kind == CNN_LAYER_CONV2D) {
        info->col_rows = (size_t)L->in_c * L->kh * L->kw;
        info->col_cols = (size_t)L->out_h * L->out_w;
        if (m->built)
            info->conv_algo = L->wino ? "winograd" : L->direct ? "direct" : "im2col";
    }
    if (L->kind == CNN_LAYER_DENSE && m->built)
        info->matmul = L->mm_own ? "engine" : "sgemm";
    if (L->kind == CNN_LAYER_CONV2D && m->built)
        info->matmul = L->direct || L->wino || L->col_own ? "engine" : "sgemm";
    if (L->w_count) {
        info->nparams = L->b_count ? 2 : 1;
        cnn_tensor *p = info->params, *g = info->grads;
        p[0].name = g[0].name = L->wname;
        p[0].rank = g[0].rank = L->w_rank;
        for (int d = 0; d < 4; d++)
            p[0].dims[d] = g[0].dims[d] = L->w_dims[d];
        p[0].count = g[0].count = L->w_count;
        if (m->built) {
            p[0].data = cnn__W(m, L);
            g[0].data = cnn__dW(m, L);
        }
        if (L->b_count) {
            p[1].name = g[1].name = L->bname;
            p[1].rank = g[1].rank = 1;
            p[1].dims[0] = g[1].dims[0] = (int)L->b_count;
            p[1].count = g[1].count = L->b_count;
            if (m->built) {
                p[1].data = cnn__B(m, L);
                g[1].data = cnn__dB(m, L);
            }
        }
    }
    return TBW_OK;
}

/* ---- public entry points that compute: denormals flushed inside, the caller's mode restored ---- */

#define FP_SCOPED(call)                                                                                      \
    do {                                                                                                     \
        unsigned fp_ = cnn__fp_enter();                                                                      \
        int rc_ = (call);                                                                                    \
        cnn__fp_leave(fp_);                                                                                  \
        return rc_;                                                                                          \
    } while (0)

int cnn_model_forward(cnn_model *m, const float *x, size_t n, bool training)
{
    FP_SCOPED(model_forward(m, x, n, training));
}

int cnn_model_loss(cnn_model *m, const int32_t *labels, size_t n, double *loss, double *acc)
{
    FP_SCOPED(model_loss(m, labels, n, loss, acc));
}

int cnn_model_backward(cnn_model *m)
{
    FP_SCOPED(model_backward(m));
}

int cnn_model_step(cnn_model *m)
{
    FP_SCOPED(model_step(m));
}

int cnn_model_train_step(cnn_model *m, const float *x, const int32_t *labels, size_t n, double *loss, double *acc)
{
    FP_SCOPED(model_train_step(m, x, labels, n, loss, acc));
}

int cnn_model_predict(cnn_model *m, const float *x, size_t n, int32_t *classes)
{
    FP_SCOPED(model_predict(m, x, n, classes));
}

int cnn_model_evaluate(cnn_model *m, const float *x, const int32_t *labels, size_t count, double *loss, double *acc)
{
    FP_SCOPED(model_evaluate(m, x, labels, count, loss, acc));
}

int cnn_model_evaluate_dataset(cnn_model *m, const cnn_dataset *ds, double *loss, double *acc)
{
    FP_SCOPED(model_evaluate_dataset(m, ds, loss, acc));
}
