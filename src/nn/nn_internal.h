/* Private structures of the CNN engine, shared by the files in src/nn. */
#ifndef TBW_NN_INTERNAL_H
#define TBW_NN_INTERNAL_H

#include <tbw/cnn.h>

#include "../common/util.h" /* tbw__mul: overflow-checked size arithmetic */

#include <pthread.h>
#include <stdarg.h>

#include "../common/err.h"

#define CNN__NAME_MAX 64

/* ---- PRNG (xoshiro256**) ---- */
typedef struct cnn__rng {
    uint64_t s[4];
} cnn__rng;

void cnn__rng_seed(cnn__rng *r, uint64_t seed);
uint64_t cnn__rng_next(cnn__rng *r);
/* Uniform in [0, 1) with 24 random bits, so every value is exact in float. */
float cnn__rng_uniform(cnn__rng *r);
/* Standard normal (Box-Muller, one value per call). */
float cnn__rng_normal(cnn__rng *r);
/* Uniform integer in [0, n) without modulo bias. */
uint64_t cnn__rng_below(cnn__rng *r, uint64_t n);

/* ---- floating-point mode ----
 * Denormal numbers are flushed to zero (FTZ) and read as zero (DAZ) inside the engine's work, as
 * TensorFlow's CPU kernels do: once Adam's second moments or small gradients decay into the denormal
 * range every operation on them takes a microcode assist (a 10-epoch run at lr 1e-3 ran 20% slower).
 * Every public call that computes enters the mode and restores the caller's on return; the engine's
 * worker threads keep it (OpenBLAS's own threads, used only when BLAS runs multi-threaded, do not). */
#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
#include <xmmintrin.h>
static inline unsigned cnn__fp_enter(void)
{
    unsigned old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
}
/* Puts back the caller's FTZ/DAZ bits only: exception flags raised during the call stay visible. */
static inline void cnn__fp_leave(unsigned old)
{
    _mm_setcsr((_mm_getcsr() & ~0x8040u) | (old & 0x8040u));
}
/* The engine's worker threads: default masks and rounding, denormals flushed. */
static inline void cnn__fp_worker(void)
{
    _mm_setcsr(0x1F80u | 0x8040u);
}
#else
static inline unsigned cnn__fp_enter(void)
{
    return 0;
}
static inline void cnn__fp_leave(unsigned old)
{
    (void)old;
}
static inline void cnn__fp_worker(void)
{
}
#endif

/* ---- workers: the model's own threads (named apart from the pooling layer's cnn__pool_*) ---- */
typedef void (*cnn__task_fn)(void *ctx, size_t begin, size_t end);
typedef struct cnn__workers cnn__workers;

int cnn__workers_create(cnn__workers **out, int threads);
void cnn__workers_free(cnn__workers *p);
/* Splits [0, n) into one contiguous chunk per thread (the caller runs the first) and waits.
 * The split depends only on n and the thread count, so results are reproducible. */
void cnn__workers_run(cnn__workers *p, size_t n, cnn__task_fn fn, void *ctx);

/* ---- the arena ----
 * cnn_model_build sizes every buffer of the model first, then makes one zeroed allocation and points
 * each buffer at its region. Every region starts on a CNN__ALIGN boundary: a cache line, so slices
 * of different threads never share one, and a whole AVX-512 vector. A region of 0 bytes is absent
 * (its pointer is NULL). The model's regions come first, in this order: parameters, gradients,
 * optimizer slot 1 (Adam m, SGD velocity), slot 2 (Adam v), input copy, dataset staging, input
 * gradient, the two gradient ping-pong buffers, the conv chunk buffer, the per-thread bias sums,
 * softmax, loss gradient, label staging; then each layer's regions in layer order, in the order of
 * cnn__lregion below. */
#define CNN__ALIGN 64

/* The regions one layer can own; which ones it has depends on its kind and conv path. */
typedef enum cnn__lregion {
    CNN__LR_OUT,    /* output activations (none for a flatten: it renames its input) */
    CNN__LR_COL,    /* conv im2col: columns of one chunk */
    CNN__LR_DCOL,   /* conv im2col: column gradients of one chunk */
    CNN__LR_TCOL,   /* conv im2col: per-thread columns of one image */
    CNN__LR_TDW,    /* conv im2col: per-thread partial weight gradients */
    CNN__LR_DINTS,  /* conv direct: offset tables (int32) */
    CNN__LR_WPK,    /* conv direct: packed weights */
    CNN__LR_DSCR,   /* conv direct: per-thread scratch (relies on starting zeroed) */
    CNN__LR_DWT,    /* conv direct: per-thread partial weight gradients */
    CNN__LR_ARGMAX, /* max pool: winning input index per output (int32) */
    CNN__LR_MASK,   /* dropout: kept-unit scale per output */
    CNN__LR_MMPK,   /* dense, engine kernel: per-thread packed block of W */
    CNN__LR_MMT,    /* dense, engine kernel: dy transposed, per-thread blocks of dx transposed */
    CNN__LR_COUNT
} cnn__lregion;

/* ---- layers ---- */
typedef struct cnn__layer {
    char name[CNN__NAME_MAX];
    char wname[CNN__NAME_MAX + 16];
    char bname[CNN__NAME_MAX + 16];
    cnn_layer_kind kind;
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    size_t in_size, out_size; /* per sample */

    /* conv and pool geometry */
    int kh, kw, sh, sw, dh, dw;
    cnn_padding padding;
    int pt, pb, pl, pr;
    bool use_bias;
    cnn_init init;
    float bias_init;
    float rate;

    /* parameters: offsets into the model's parameter arena */
    size_t w_off, w_count, b_off, b_count;
    int w_rank, w_dims[4];

    float *out;      /* [batch * out_size] */
    float *col;      /* conv: [K, chunk * P] columns of one chunk */
    float *dcol;     /* conv: [K, chunk * P] column gradients (only when the input gradient is needed) */
    size_t chunk;    /* conv: images per im2col chunk */
    float *tcol;     /* conv, per thread: [K, P] columns of one image (and then their gradient) */
    float *tdw;      /* conv, per thread: [OC, K] partial weight gradient */
    int32_t *argmax; /* maxpool: [batch * out_size] */

    /* the instruction set of the engine's kernels for this layer (cnn__own_isa(): 512, 256, or 0 where
     * they cannot run), fixed when the model is planned */
    int isa;
    /* conv on im2col with the products on the engine's kernel (gemm16.c) rather than sgemm; then tcol
     * also holds the columns transposed, [P][round16(K)], and tdw is [OC][round16(K)] per thread */
    bool col_own;
    /* conv computed by the direct kernels (conv_direct.c) instead of im2col + sgemm */
    bool direct;
    /* conv computed by Winograd F(2x2, 5x5) (conv_winograd.c); uses the direct path's fields below:
     * xp_h/xp_w the padded HWC plane, wpk/wdk the transformed filters for the forward and the input
     * gradient, dscr the per-thread scratch, dwt the per-thread transformed weight gradient */
    bool wino;
    int xp_h, xp_w;           /* zero-padded input plane */
    int dyp_h, dyp_w;         /* zero-padded output-gradient plane */
    int32_t *koff, *poff;     /* forward taps and output pixels, as offsets into the padded input */
    int32_t *kdoff, *pdoff;   /* the same for the input gradient, into the padded output gradient */
    int32_t *dints;           /* the arena region behind the four tables */
    float *wpk, *wdk;         /* weights packed for the forward and for the input gradient */
    float *dscr;              /* per thread: padded input, padded output gradient, transposed dY */
    size_t dscr_ld;
    float *dwt;               /* per thread: [K, OC rounded to 16] partial weight gradient */
    float *mask;     /* dropout: [batch * out_size] */

    /* dense computed by the engine's kernel (gemm16.c) instead of sgemm; see dense.c */
    bool mm_own;
    float *mmpk, *mmt;

    size_t rbytes[CNN__LR_COUNT]; /* bytes of each of this layer's arena regions, from the sizing pass */
} cnn__layer;

struct cnn_model {
    char errmsg[TBW__ERRMSG_LEN];
    cnn_model_opts opts;
    int in_c, in_h, in_w;
    size_t in_size;

    cnn__layer *layers;
    size_t nlayers, cap;

    bool built;
    size_t batch;
    int threads;
    cnn__workers *workers;
    cnn__rng rng;

    /* Every buffer below and in the layers is a region of this one allocation (see "the arena"); it is
     * what calloc returned, the regions start at the next CNN__ALIGN boundary. */
    void *arena;
    size_t arena_bytes;   /* usable bytes from the aligned start */

    /* parameters and gradients: each ONE contiguous span of nparams floats (cnn__param_span) */
    size_t nparams;
    float *params, *grads, *slot1, *slot2;
    int64_t step;

    float *x;             /* [batch * in_size] copy of the input */
    float *gbuf[2];       /* ping-pong gradient buffers, [batch * max size] */
    float *dinput;        /* gradient w.r.t. the input when opts.input_grad */
    float *tmp;           /* conv output / gradient of one chunk in [C, chunk*P] layout */
    double *dscratch;     /* per-channel sums (conv bias gradients), threads x dscratch_ld */
    size_t dscratch_ld;
    float *probs;         /* softmax of the logits */
    float *dlogits;       /* gradient from the loss */
    float *xstage;        /* dataset batch staging */
    int32_t *lstage;

    float loss_grad_scale; /* backward starts from this times d(mean loss)/d(logits); 1 by default */
    size_t fwd_n;         /* samples in the last forward */
    bool have_loss;
};


/* conv.c */
/* True when the application runs BLAS on one thread: then the engine's threads call sgemm side by side
 * (conv per image, dense on column/row blocks) instead of leaving the parallelism to BLAS. */
bool cnn__blas_single(void);
/* Images per im2col chunk for a conv layer at this batch size (columns sized to stay in cache). */
size_t cnn__conv_chunk(const cnn__layer *L, size_t batch);
/* Lowers every conv layer's chunk to at most @p images (the buffers stay); lets tests compare splits. */
void cnn__conv_limit_chunk(cnn_model *m, size_t images);
/* One image's columns (ld = row stride of col) and their way back onto dx (which must start at zero;
 * col is clobbered). rows = true forces the general row-by-row loops that the fast layouts must match. */
void cnn__im2col(const cnn__layer *L, const float *x, float *col, size_t ld, bool rows);
void cnn__col2im(const cnn__layer *L, float *col, size_t ld, float *dx, bool rows);
void cnn__conv_forward(cnn_model *m, cnn__layer *L, const float *x, size_t n);
/* True when conv L, the ReLU `relu` above it and the max pool `pool` above that can run as one pass per
 * image (one image per GEMM, 2x2 pool); cnn__conv_relu_pool_forward then fills all three outputs. */
bool cnn__conv_fuses(const cnn__layer *L, const cnn__layer *relu, const cnn__layer *pool);
void cnn__conv_relu_pool_forward(cnn_model *m, cnn__layer *L, cnn__layer *relu, cnn__layer *pool, const float *x,
                                 size_t n);
void cnn__conv_backward(cnn_model *m, cnn__layer *L, const float *x, const float *dy, float *dx, size_t n);
/* conv_direct.c: direct kernels for stride-1 convolutions on AVX-512F CPUs */
bool cnn__direct_cpu(void);
/* NULL when L can run on the direct kernels, else what stops it (for messages). */
const char *cnn__direct_unfit(const cnn__layer *L);
/* Whether CNN_CONV_AUTO picks the direct kernels for a layer they fit (a long enough reduction). */
bool cnn__direct_worth(const cnn__layer *L);
/* Sizes of the buffers cnn__direct_setup takes: int32 tables, packed weights, one thread's scratch
 * (must start zeroed), one thread's partial weight gradient. */
size_t cnn__direct_ints(const cnn__layer *L);
size_t cnn__direct_packed(const cnn__layer *L);
size_t cnn__direct_scratch(const cnn__layer *L);
size_t cnn__direct_wgrad_floats(const cnn__layer *L);
void cnn__direct_setup(cnn__layer *L, int32_t *ints, float *packed, float *scratch, float *wgrad);
/* Packs the current weights for the forward (backward = false) or the input gradient. */
void cnn__direct_pack(const cnn__layer *L, const float *w, bool backward);
/* One image on thread t's scratch: y = conv(x) without bias; then dW partial of thread t += and, when dx
 * is not NULL, dx = input gradient (overwritten). */
void cnn__direct_forward(const cnn__layer *L, const float *x, float *y, int t);
void cnn__direct_backward(const cnn__layer *L, const float *x, const float *dy, float *dx, int t);
/* conv_winograd.c: Winograd F(2x2, 5x5) or F(4x4, 5x5) for 5x5 stride-1 undilated convolutions on the
 * engine's own kernels (AVX-512F or AVX2) */
const char *cnn__wino_unfit(const cnn__layer *L);
/* Whether CNN_CONV_AUTO picks Winograd for a layer it fits (channels enough to fill the lanes). */
bool cnn__wino_worth(const cnn__layer *L);
/* Sizes of the buffers cnn__wino_setup takes: transformed filters, one thread's scratch (must start
 * zeroed), one thread's transformed weight-gradient part. */
size_t cnn__wino_packed(const cnn__layer *L);
size_t cnn__wino_scratch(const cnn__layer *L);
size_t cnn__wino_wgrad_floats(const cnn__layer *L);
void cnn__wino_setup(cnn__layer *L, float *packed, float *scratch, float *wgrad);
/* Transforms the current weights of output channels [oc0, oc1) for the forward (backward = false) or
 * the input gradient. */
void cnn__wino_pack(const cnn__layer *L, const float *w, bool backward, size_t oc0, size_t oc1);
/* As cnn__direct_forward and cnn__direct_backward. */
void cnn__wino_forward(const cnn__layer *L, const float *x, float *y, int t);
void cnn__wino_backward(const cnn__layer *L, const float *x, const float *dy, float *dx, int t);
/* dW from the threads' parts, in cnn__wino_reduce_parts independent parts; this call does [b, e). */
size_t cnn__wino_reduce_parts(const cnn__layer *L);
void cnn__wino_reduce(const cnn__layer *L, int threads, float *dw, size_t b, size_t e);
/* the per-set instances the four calls above dispatch to on L->isa */
#define CNN__WINO_DECL(S)                                                                                    \
    void cnn__wino_pack_##S(const cnn__layer *L, const float *w, bool backward, size_t oc0, size_t oc1);     \
    void cnn__wino_reduce_##S(const cnn__layer *L, int threads, float *dw, size_t b, size_t e);              \
    void cnn__wino_forward_##S(const cnn__layer *L, const float *x, float *y, int t);                        \
    void cnn__wino_backward_##S(const cnn__layer *L, const float *x, const float *dy, float *dx, int t);
CNN__WINO_DECL(512)
CNN__WINO_DECL(256)

/* gemm16.c: the instruction set the engine's own kernels (gemm16.c, conv_winograd.c) run on here:
 * 512 (AVX-512F, VL, BW), 256 (AVX2 and FMA) or 0 (neither, or both switched off: TBW_NO_AVX512,
 * TBW_NO_AVX2). Every call below takes it as isa and must not be made with 0. */
int cnn__own_isa(void);
/* C[r][0, n) (+)= sum_k A[r * ars + k * aks] * B[k * ldb + (0, n)] for r < rows, n a multiple of 16,
 * with add choosing += over =. */
void cnn__gemm16(int isa, int rows, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, int n,
                 float *c, size_t ldc, bool add);
/* dst[c][r] = src[r][c] for c < cols (a multiple of 16) and r < round16(rows), the rows past `rows` as
 * zeros. */
void cnn__transpose16(int isa, const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd);
/* dst[r][0, cols) = src[r][0, cols) for r < rows, cols a multiple of 16. */
void cnn__copy16(int isa, const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd);
/* the per-set instances behind those three (gemm16.c compiled once per set) */
#define CNN__GEMM16_DECL(S)                                                                                  \
    void cnn__gemm_##S(int rows, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb,   \
                       int n, float *c, size_t ldc, bool add);                                                \
    void cnn__transpose_##S(const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd);  \
    void cnn__copy_##S(const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd);
CNN__GEMM16_DECL(512)
CNN__GEMM16_DECL(256)
/* pooling.c */
void cnn__pool_forward(cnn_model *m, cnn__layer *L, const float *x, size_t n);
void cnn__pool_backward(cnn_model *m, cnn__layer *L, const float *dy, float *dx, size_t n);
/* The 2x2 stride-2 unpadded max pool, which has a fast path, and that path on @p planes planes of x. */
bool cnn__pool_is_max2x2(const cnn__layer *L);
void cnn__max2x2_forward(const cnn__layer *L, const float *x, float *y, int32_t *arg, size_t planes);
/* True when max pool L can also do the backward of the ReLU layer `below` feeding it. */
bool cnn__pool_folds_relu(const cnn__layer *L, const cnn__layer *below);
/* Gradient w.r.t. the input of the ReLU under L, in one pass. */
void cnn__pool_relu_backward(cnn_model *m, cnn__layer *L, const float *dy, float *dx, size_t n);
/* dense.c */
/* Whether dense layer L can run on the engine's kernel; then its regions: the floats of one thread's
 * packed block of W, and the rows of round16(batch) floats of its transposes. */
bool cnn__dense_own_fits(const cnn__layer *L);
size_t cnn__dense_pack_floats(const cnn__layer *L);
size_t cnn__dense_trans_rows(const cnn__layer *L, int threads);
void cnn__dense_forward(cnn_model *m, cnn__layer *L, const float *x, size_t n);
void cnn__dense_backward(cnn_model *m, cnn__layer *L, const float *x, const float *dy, float *dx, size_t n);
/* activ.c */
void cnn__act_forward(cnn_model *m, cnn__layer *L, const float *x, size_t n, bool training);
void cnn__act_backward(cnn_model *m, cnn__layer *L, const float *dy, float *dx, size_t n);
/* optim.c */
void cnn__optim_step(cnn_model *m);
/* model.c: the parameter span and the gradient span. Each is one contiguous run of cnn__span_floats(m)
 * floats in the arena holding every layer's weights, then its biases, in layer order (L->w_off and
 * L->b_off index both), so a whole-model operation on the gradients (an allreduce, a norm) is one call
 * on one pointer. Valid once the model is built (NULL and 0 before). */
static inline float *cnn__param_span(const cnn_model *m) { return m->params; }
static inline float *cnn__grad_span(const cnn_model *m) { return m->grads; }
static inline size_t cnn__span_floats(const cnn_model *m) { return m->nparams; }
/* model.c: weight/bias pointers */
static inline float *cnn__W(const cnn_model *m, const cnn__layer *L) { return m->params + L->w_off; }
static inline float *cnn__B(const cnn_model *m, const cnn__layer *L) { return m->params + L->b_off; }
static inline float *cnn__dW(const cnn_model *m, const cnn__layer *L) { return m->grads + L->w_off; }
static inline float *cnn__dB(const cnn_model *m, const cnn__layer *L) { return m->grads + L->b_off; }

#endif
