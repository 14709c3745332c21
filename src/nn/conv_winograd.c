/* Winograd convolution F(m x m, 5x5), m = 2 or 4, for 5x5, stride-1, undilated conv layers on
 * AVX-512F or AVX2 CPUs.
 *
 * The output of an image is cut into m x m tiles; tile (i, j) reads the a x a patch (a = m + 4) at
 * (m i, m j) of a zero-padded copy of the input. With Bt, G and At the transforms for the points 0, 1,
 * -1, 2, -2 (and 1/2, -1/2 for m = 4) and infinity,
 *
 *   V[c]  = Bt d[c] Bt^T            a x a per tile and input channel
 *   U[oc][c] = G g[oc][c] G^T       a x a per filter, once per step
 *   Y[oc] = At (sum_c U[oc][c] .* V[c]) At^T
 *
 * so the a^2 positions of a transformed tile are a^2 independent products [tiles x C] x [C x OC]:
 * per channel pair, 36 multiplies for 2x2 outputs or 64 for 4x4, where a direct convolution needs
 * 100 or 400. Each layer takes the m with the fewest multiplies over its whole output (tiles that hang
 * over the edge count in full); the lecture's conv2 (14x14) takes m = 4: 16 tiles x 64 = 1024
 * multiplies per channel pair against 4900 direct (4.8x fewer) and 1764 with m = 2.
 *
 * The backward passes are the exact gradient of that forward, not of the convolution it approximates
 * in floating point:
 *
 *   dP[oc] = At^T dY[oc] At                       a x a per tile and output channel
 *   dU[oc][c] = sum over tiles and images of dP[oc] .* V[c]    then dW = G^T dU G
 *   dV[c] = sum_oc U[oc][c] .* dP[oc]             then dX = overlap-add of Bt^T dV[c] Bt
 *
 * Channels lie on the vector lanes throughout: an image is moved to HWC (channels innermost, rounded
 * up to 16 lanes, the extra lanes zero), each transform handles 16 channels per register, and each
 * product is a register-blocked kernel that broadcasts one operand and reads the other as vectors. The
 * weight gradient's parts stay in the transformed domain per thread; they are added in thread order
 * and transformed back once per step. The transforms are written once over the tables below; every
 * call site is inlined for one table, so the compiler sees constant coefficients and drops the zero
 * terms and the multiplies by 1 and -1.
 *
 * The kernels are written on simd16.h's 16-float vectors, and this file is compiled twice: as it stands
 * (the AVX-512F instance, the layer-shape functions and the dispatch on L->isa) and with CNN_ISA=256
 * (the AVX2 instance alone). */
#include "nn_internal.h"
#ifndef CNN_ISA
#define CNN_WINO_COMMON 1
#endif
#include "simd16.h"

#include <string.h>

enum { LANES = 16, BLOCK = 64, R = 5, AMAX = 8 };

/* One tile size: Bt (a x a), At (m x a) and G (a x 5), each row-major. */
typedef struct wtab {
    int m, a;
    float bt[AMAX * AMAX], at[4 * AMAX];
    double g[AMAX * R];
} wtab;

static const wtab F2 = {
    2, 6,
    {4, 0, -5, 0, 1, 0,
     0, 4, 4, -1, -1, 0,
     0, -4, 4, 1, -1, 0,
     0, -2, -1, 2, 1, 0,
     0, 2, -1, -2, 1, 0,
     0, 4, 0, -5, 0, 1},
    {1, 1, 1, 1, 1, 0,
     0, 1, -1, 2, -2, 1},
    {1.0 / 4, 0, 0, 0, 0,
     1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6,
     1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6,
     1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3,
     1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3,
     0, 0, 0, 0, 1},
};

static const wtab F4 = {
    4, 8,
    {4, 0, -21, 0, 21, 0, -4, 0,
     0, -4, -4, 17, 17, -4, -4, 0,
     0, 4, -4, -17, 17, 4, -4, 0,
     0, 2, 1, -10, -5, 8, 4, 0,
     0, -2, 1, 10, -5, -8, 4, 0,
     0, 4, 8, -5, -10, 1, 2, 0,
     0, -4, 8, 5, -10, -1, 2, 0,
     0, -4, 0, 21, 0, -21, 0, 4},
    {1, 1, 1, 1, 1, 1, 1, 0,
     0, 1, -1, 2, -2, 0.5f, -0.5f, 0,
     0, 1, 1, 4, 4, 0.25f, 0.25f, 0,
     0, 1, -1, 8, -8, 0.125f, -0.125f, 1},
    {1.0 / 4, 0, 0, 0, 0,
     1.0 / 18, 1.0 / 18, 1.0 / 18, 1.0 / 18, 1.0 / 18,
     1.0 / 18, -1.0 / 18, 1.0 / 18, -1.0 / 18, 1.0 / 18,
     1.0 / 360, 1.0 / 180, 1.0 / 90, 1.0 / 45, 2.0 / 45,
     1.0 / 360, -1.0 / 180, 1.0 / 90, -1.0 / 45, 2.0 / 45,
     16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45, 1.0 / 45,
     16.0 / 45, -8.0 / 45, 4.0 / 45, -2.0 / 45, 1.0 / 45,
     0, 0, 0, 0, 1.0 / 4},
};

static int round16(int n)
{
    return (n + LANES - 1) / LANES * LANES;
}

static size_t tile_count(int out_h, int out_w, int m)
{
    return (size_t)((out_h + m - 1) / m) * (size_t)((out_w + m - 1) / m);
}

/* The tile size with the fewest multiplies over the layer's output; m = 2 on a tie (smaller error). */
static const wtab *tab(const cnn__layer *L)
{
    size_t two = tile_count(L->out_h, L->out_w, 2) * 36, four = tile_count(L->out_h, L->out_w, 4) * 64;
    return four < two ? &F4 : &F2;
}

/* The shapes one pass works with. */
typedef struct wgeo {
    int m, a, npos, tw, T, c16, o16;
    int hp, wp; /* padded HWC input plane: m rows and columns per tile plus the 4 the window reaches past */
    int yw;     /* width of the tile-aligned HWC output */
} wgeo;

static wgeo geo(const cnn__layer *L)
{
    const wtab *w = tab(L);
    wgeo g;
    g.m = w->m;
    g.a = w->a;
    g.npos = w->a * w->a;
    int th = (L->out_h + g.m - 1) / g.m;
    g.tw = (L->out_w + g.m - 1) / g.m;
    g.T = th * g.tw;
    g.c16 = round16(L->in_c);
    g.o16 = round16(L->out_c);
    g.hp = th * g.m + 4; /* always holds the input with its padding: out = in + pads - 4 */
    g.wp = g.tw * g.m + 4;
    g.yw = g.tw * g.m;
    return g;
}

static size_t plane_floats(const wgeo *g)
{
    return (size_t)g->hp * g->wp * g->c16;
}

#ifdef CNN_WINO_COMMON
const char *cnn__wino_unfit(const cnn__layer *L)
{
    if (L->kh != 5 || L->kw != 5)
        return "a kernel other than 5x5";
    if (L->sh != 1 || L->sw != 1)
        return "a stride other than 1";
    if (L->dh != 1 || L->dw != 1)
        return "dilation";
    /* one thread's scratch and the transformed filters each stay below 256 MB */
    wgeo g = geo(L);
    double t = g.T, c = g.c16, o = g.o16;
    if (t * g.npos * (c + o) + 2.0 * t * g.m * g.m * o + 2.0 * (double)plane_floats(&g) > 64.0 * 1024 * 1024)
        return "planes too large for one thread's tiles";
    if ((double)g.npos * c * o * 2 > 64.0 * 1024 * 1024)
        return "too many channels";
    return NULL;
}

bool cnn__wino_worth(const cnn__layer *L)
{
    /* the channels fill the vector lanes; a grey-scale first layer would waste 15 of 16 */
    return L->in_c >= 8 && L->out_c >= 8;
}

size_t cnn__wino_packed(const cnn__layer *L)
{
    wgeo g = geo(L);
    return (size_t)g.npos * L->in_c * g.o16 + (size_t)g.npos * L->out_c * g.c16;
}

size_t cnn__wino_scratch(const cnn__layer *L)
{
    wgeo g = geo(L);
    size_t T = (size_t)g.T, mm = (size_t)g.m * g.m;
    size_t n = 2 * plane_floats(&g) + (size_t)g.npos * T * (size_t)(g.c16 + g.o16) + 2 * mm * T * g.o16;
    return (n + 15) & ~(size_t)15;
}

size_t cnn__wino_wgrad_floats(const cnn__layer *L)
{
    wgeo g = geo(L);
    return (size_t)g.npos * L->in_c * g.o16;
}

void cnn__wino_setup(cnn__layer *L, float *packed, float *scratch, float *wgrad)
{
    wgeo g = geo(L);
    L->xp_h = g.hp;
    L->xp_w = g.wp;
    L->wpk = packed;
    L->wdk = packed + (size_t)g.npos * L->in_c * g.o16;
    L->dscr = scratch;
    L->dscr_ld = cnn__wino_scratch(L);
    L->dwt = wgrad;
}

size_t cnn__wino_reduce_parts(const cnn__layer *L)
{
    return (size_t)L->in_c * (size_t)((L->out_c + LANES - 1) / LANES);
}

#ifdef CNN_X86_16
/* each layer runs on the set it was planned for (L->isa) */
void cnn__wino_pack(const cnn__layer *L, const float *w, bool backward, size_t oc0, size_t oc1)
{
    CNN_ISA_DISPATCH(L->isa, cnn__wino_pack, L, w, backward, oc0, oc1);
}

void cnn__wino_reduce(const cnn__layer *L, int threads, float *dw, size_t b, size_t e)
{
    CNN_ISA_DISPATCH(L->isa, cnn__wino_reduce, L, threads, dw, b, e);
}

void cnn__wino_forward(const cnn__layer *L, const float *x, float *y, int t)
{
    CNN_ISA_DISPATCH(L->isa, cnn__wino_forward, L, x, y, t);
}

void cnn__wino_backward(const cnn__layer *L, const float *x, const float *dy, float *dx, int t)
{
    CNN_ISA_DISPATCH(L->isa, cnn__wino_backward, L, x, dy, dx, t);
}
#else /* not x86-64: never selected (cnn__own_isa() is 0), kept linkable */

void cnn__wino_forward(const cnn__layer *L, const float *x, float *y, int t)
{
    (void)L, (void)x, (void)y, (void)t;
}

void cnn__wino_backward(const cnn__layer *L, const float *x, const float *dy, float *dx, int t)
{
    (void)L, (void)x, (void)dy, (void)dx, (void)t;
}

void cnn__wino_pack(const cnn__layer *L, const float *w, bool backward, size_t oc0, size_t oc1)
{
    (void)L, (void)w, (void)backward, (void)oc0, (void)oc1;
}

void cnn__wino_reduce(const cnn__layer *L, int threads, float *dw, size_t b, size_t e)
{
    (void)L, (void)threads, (void)dw, (void)b, (void)e;
}

#endif /* CNN_X86_16 */
#endif /* CNN_WINO_COMMON */

/* Thread t's scratch, in order: padded input (HWC), its gradient, the transformed input tiles
 * [a^2][T][C16], the transformed output tiles [a^2][T][O16], the output (HWC, tile-aligned) and the
 * output gradient (HWC, tile-aligned). Everything a pass reads without writing first is zero from
 * the allocation and is never written: the borders and extra lanes of the padded input, and the
 * output gradient beyond the output's rows, columns and channels. */
typedef struct wbufs {
    float *xh, *dxh, *v, *p, *yh, *dyh;
} wbufs;

static inline wbufs bufs(const cnn__layer *L, const wgeo *g, int t)
{
    size_t T = (size_t)g->T, mm = (size_t)g->m * g->m;
    wbufs b;
    b.xh = L->dscr + (size_t)t * L->dscr_ld;
    b.dxh = b.xh + plane_floats(g);
    b.v = b.dxh + plane_floats(g);
    b.p = b.v + (size_t)g->npos * T * g->c16;
    b.yh = b.p + (size_t)g->npos * T * g->o16;
    b.dyh = b.yh + mm * T * g->o16;
    return b;
}

#define UNROLLED _Pragma("GCC unroll 8")

#ifdef CNN_X86_16

/* NCHW image (planes x h x w) into the interior of an HWC buffer at (top, left), ld lanes per pixel:
 * 16 channels x 16 pixels of a row per register transpose. Lanes of channels past `planes` get zeros. */
CNN_V16 static void to_hwc(const float *src, int planes, int h, int w, float *dst, int dst_w, int ld, int top,
                              int left)
{
    for (int y = 0; y < h; y++)
        for (int x0 = 0; x0 < w; x0 += LANES) {
            const int n = w - x0 < LANES ? w - x0 : LANES;
            for (int c0 = 0; c0 < planes; c0 += LANES) {
                v16 r[16];
                for (int l = 0; l < LANES; l++)
                    r[l] = c0 + l < planes ? v16_load_n(src + ((size_t)(c0 + l) * h + y) * w + x0, n)
                                           : v16_zero();
                v16_transpose(r);
                float *d = dst + ((size_t)(y + top) * dst_w + left + x0) * ld + c0;
                for (int i = 0; i < n; i++)
                    v16_store(d + (size_t)i * ld, r[i]);
            }
        }
}

/* The way back: planes x h x w from the HWC buffer's window at (top, left). */
CNN_V16 static void from_hwc(const float *src, int src_w, int ld, int top, int left, int planes, int h, int w,
                                float *dst)
{
    for (int y = 0; y < h; y++)
        for (int x0 = 0; x0 < w; x0 += LANES) {
            const int n = w - x0 < LANES ? w - x0 : LANES;
            const float *s = src + ((size_t)(y + top) * src_w + left + x0) * ld;
            for (int c0 = 0; c0 < planes; c0 += LANES) {
                v16 r[16];
                for (int i = 0; i < LANES; i++)
                    r[i] = i < n ? v16_load(s + (size_t)i * ld + c0) : v16_zero();
                v16_transpose(r);
                for (int l = 0; l < LANES && c0 + l < planes; l++)
                    v16_store_n(dst + ((size_t)(c0 + l) * h + y) * w + x0, n, r[l]);
            }
        }
}

#define INLINE CNN_V16 static inline __attribute__((always_inline))

/* out[r] = sum_c k[r * rs + c * cs] in[c] for r < rows, c < cols: with k constant after inlining, the
 * zero terms vanish and +-1 become an add or a subtract. */
INLINE void mv(const float *k, int rows, int cols, int rs, int cs, const v16 *in, v16 *out)
{
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++) {
        v16 acc = v16_zero();
        bool first = true;
#pragma GCC unroll 8
        for (int c = 0; c < cols; c++) {
            const float w = k[r * rs + c * cs];
            if (w == 0.0f)
                continue;
            if (first)
                acc = w == 1.0f ? in[c] : v16_mul(v16_set1(w), in[c]);
            else if (w == 1.0f)
                acc = v16_add(acc, in[c]);
            else if (w == -1.0f)
                acc = v16_sub(acc, in[c]);
            else
                acc = v16_fma(v16_set1(w), in[c], acc);
            first = false;
        }
        out[r] = acc;
    }
}

/* o = K i K^T for a square block i (n x n) and K (rows x n, strides rs and cs). */
INLINE void mv2(const float *k, int rows, int n, int rs, int cs, v16 i[AMAX][AMAX], v16 o[AMAX][AMAX])
{
    v16 s[AMAX][AMAX], col[AMAX], res[AMAX];
#pragma GCC unroll 8
    for (int j = 0; j < n; j++) { /* s = K i, column by column */
#pragma GCC unroll 8
        for (int r = 0; r < n; r++)
            col[r] = i[r][j];
        mv(k, rows, n, rs, cs, col, res);
#pragma GCC unroll 8
        for (int r = 0; r < rows; r++)
            s[r][j] = res[r];
    }
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++) /* then s K^T, row by row */
        mv(k, rows, n, rs, cs, s[r], o[r]);
}

/* U = G f G^T for 16 filters at once, one per lane: lane l's 5x5 filter starts at base[l * stride];
 * lanes past n read nothing and give zeros. */
INLINE void filters16(const wtab *w, const float *base, int stride, int n, v16 u[AMAX * AMAX])
{
    v16 f[R][R], h[AMAX][R];
    for (int j = 0; j < R; j++)
        for (int k = 0; k < R; k++)
            f[j][k] = v16_gather_n(base + j * R + k, stride, n);
    float g[AMAX * R];
    UNROLLED for (int i = 0; i < AMAX * R; i++)
        g[i] = (float)w->g[i];
    UNROLLED for (int k = 0; k < R; k++) { /* h = G f, column by column */
        v16 col[R], res[AMAX];
        UNROLLED for (int j = 0; j < R; j++)
            col[j] = f[j][k];
        mv(g, w->a, R, R, 1, col, res);
        UNROLLED for (int i = 0; i < w->a; i++)
            h[i][k] = res[i];
    }
    UNROLLED for (int i = 0; i < w->a; i++) /* then h G^T, row by row */
        mv(g, w->a, R, R, 1, h[i], u + i * w->a);
}

INLINE void pack_w(const wtab *tb, const cnn__layer *L, const float *w, bool backward, size_t oc0, size_t oc1)
{
    wgeo g = geo(L);
    const int C = L->in_c, OC = L->out_c;
    v16 u[AMAX * AMAX];
    if (!backward) { /* [a^2][C][O16] for M = V x U: 16 output channels per register */
        for (int c = 0; c < C; c++)
            for (int o = (int)oc0; o < (int)oc1; o += LANES) {
                const int n = (int)oc1 - o < LANES ? (int)oc1 - o : LANES;
                filters16(tb, w + ((size_t)o * C + c) * R * R, C * R * R, n, u);
                for (int pos = 0; pos < g.npos; pos++)
                    v16_store_n(L->wpk + ((size_t)pos * C + c) * g.o16 + o, n, u[pos]);
            }
        return;
    }
    for (int oc = (int)oc0; oc < (int)oc1; oc++) /* [a^2][OC][C16] for dV = dP x U^T: 16 input channels */
        for (int c = 0; c < C; c += LANES) {
            const int n = C - c < LANES ? C - c : LANES;
            filters16(tb, w + ((size_t)oc * C + c) * R * R, R * R, n, u);
            for (int pos = 0; pos < g.npos; pos++)
                v16_store_n(L->wdk + ((size_t)pos * OC + oc) * g.c16 + c, n, u[pos]);
        }
}

CNN_V16 void CNN_ISA_FN(cnn__wino_pack)(const cnn__layer *L, const float *w, bool backward, size_t oc0,
                                        size_t oc1)
{
    if (tab(L) == &F4)
        pack_w(&F4, L, w, backward, oc0, oc1);
    else
        pack_w(&F2, L, w, backward, oc0, oc1);
}

/* dW[oc][c] = G^T (sum over threads of dU[oc][c]) G, 16 output channels per register: part q of
 * cnn__wino_reduce_parts is input channel q / blocks and output channels 16 (q % blocks) on. */
INLINE void reduce_w(const wtab *w, const cnn__layer *L, int threads, float *dw, size_t b, size_t e)
{
    wgeo g = geo(L);
    const int C = L->in_c, OC = L->out_c, blocks = (OC + LANES - 1) / LANES, A = w->a;
    const size_t part = cnn__wino_wgrad_floats(L);
    float gt[R * AMAX]; /* G^T, row-major */
    UNROLLED for (int k = 0; k < R; k++)
        UNROLLED for (int i = 0; i < AMAX; i++)
            gt[k * AMAX + i] = i < A ? (float)w->g[i * R + k] : 0.0f;
    for (size_t q = b; q < e; q++) {
        const int c = (int)(q / (size_t)blocks), o = (int)(q % (size_t)blocks) * LANES;
        const int n = OC - o < LANES ? OC - o : LANES;
        v16 m[AMAX][AMAX], h[R][AMAX], d[R][R];
        for (int pos = 0; pos < g.npos; pos++) { /* the threads' parts, added in thread order */
            const float *s = L->dwt + ((size_t)pos * C + c) * g.o16 + o;
            v16 sum = v16_load(s);
            for (int t = 1; t < threads; t++)
                sum = v16_add(sum, v16_load(s + (size_t)t * part));
            m[pos / A][pos % A] = sum;
        }
        UNROLLED for (int j = 0; j < A; j++) { /* h = G^T m, column by column */
            v16 col[AMAX], res[R];
            UNROLLED for (int i = 0; i < A; i++)
                col[i] = m[i][j];
            mv(gt, R, A, AMAX, 1, col, res);
            UNROLLED for (int k = 0; k < R; k++)
                h[k][j] = res[k];
        }
        UNROLLED for (int k = 0; k < R; k++) /* then h G, row by row */
            mv(gt, R, A, AMAX, 1, h[k], d[k]);
        float *dst = dw + ((size_t)o * C + c) * R * R;
        for (int k = 0; k < R; k++)
            for (int l = 0; l < R; l++)
                v16_scatter_n(dst + k * R + l, C * R * R, n, d[k][l]);
    }
}

CNN_V16 void CNN_ISA_FN(cnn__wino_reduce)(const cnn__layer *L, int threads, float *dw, size_t b, size_t e)
{
    if (tab(L) == &F4)
        reduce_w(&F4, L, threads, dw, b, e);
    else
        reduce_w(&F2, L, threads, dw, b, e);
}

/* One side of a tile transform: an HWC plane `w` pixels wide whose tiles start every m pixels, or
 * the transformed domain [n^2][T][ld]. */
typedef struct wside {
    bool tiled;
    int w;
} wside;

/* For every tile and 16 lanes: the n_in x n_in block of src, times K on both sides (K is n_out x n_in
 * with strides rs, cs), into dst (added when add). Inlined with constant arguments only. */
INLINE void tile_transform(const wgeo *g, int ld, const float *src, wside si, int n_in, const float *k, int n_out,
                           int rs, int cs, float *dst, wside so, bool add)
{
    const int m = g->m;
    for (int t = 0; t < g->T; t++) {
        const size_t ty = (size_t)(t / g->tw) * m, tx = (size_t)(t % g->tw) * m;
        for (int lb = 0; lb < ld; lb += LANES) {
            v16 d[AMAX][AMAX], o[AMAX][AMAX];
            for (int i = 0; i < n_in; i++)
                for (int j = 0; j < n_in; j++)
                    d[i][j] = v16_load(src + (si.tiled ? ((size_t)(i * n_in + j) * g->T + t) * ld
                                                              : ((ty + i) * si.w + tx + j) * ld) + lb);
            mv2(k, n_out, n_in, rs, cs, d, o);
            for (int i = 0; i < n_out; i++)
                for (int j = 0; j < n_out; j++) {
                    float *q = dst + (so.tiled ? ((size_t)(i * n_out + j) * g->T + t) * ld
                                               : ((ty + i) * so.w + tx + j) * ld) + lb;
                    v16_store(q, add ? v16_add(v16_load(q), o[i][j]) : o[i][j]);
                }
        }
    }
}

enum { T_INPUT, T_OUTPUT, T_GRAD, T_INPUT_GRAD };

/* The four transforms of one table:
 *   T_INPUT       V = Bt d Bt^T       padded input plane -> [a^2][T][C16]
 *   T_OUTPUT      Y = At M At^T       [a^2][T][O16] -> tile-aligned output plane
 *   T_GRAD        dP = At^T dY At     tile-aligned output-gradient plane -> [a^2][T][O16]
 *   T_INPUT_GRAD  dX += Bt^T dV Bt    [a^2][T][C16] -> padded input-gradient plane (zeroed first) */
INLINE void transform_w(const wtab *w, const wgeo *g, int kind, const float *in, float *out)
{
    const int A = w->a, m = w->m;
    const wside tiled = {true, 0}, plane = {false, g->wp}, outplane = {false, g->yw};
    switch (kind) {
    case T_INPUT: tile_transform(g, g->c16, in, plane, A, w->bt, A, A, 1, out, tiled, false); break;
    case T_OUTPUT: tile_transform(g, g->o16, in, tiled, A, w->at, m, A, 1, out, outplane, false); break;
    case T_GRAD: tile_transform(g, g->o16, in, outplane, m, w->at, A, 1, A, out, tiled, false); break;
    default: tile_transform(g, g->c16, in, tiled, A, w->bt, A, 1, A, out, plane, true); break;
    }
}

/* One copy of each transform per tile size, with its coefficients folded in. */
CNN_V16 static void transform(const wgeo *g, int kind, const float *in, float *out)
{
#define KINDS(tb)                                                                                            \
    switch (kind) {                                                                                          \
    case T_INPUT: transform_w(tb, g, T_INPUT, in, out); break;                                               \
    case T_OUTPUT: transform_w(tb, g, T_OUTPUT, in, out); break;                                             \
    case T_GRAD: transform_w(tb, g, T_GRAD, in, out); break;                                                 \
    default: transform_w(tb, g, T_INPUT_GRAD, in, out); break;                                               \
    }
    if (g->m == 4) {
        KINDS(&F4)
    } else {
        KINDS(&F2)
    }
#undef KINDS
}

void CNN_ISA_FN(cnn__wino_forward)(const cnn__layer *L, const float *x, float *y, int t)
{
    const wgeo g = geo(L);
    const int C = L->in_c;
    const size_t T = (size_t)g.T;
    wbufs b = bufs(L, &g, t);
    to_hwc(x, C, L->in_h, L->in_w, b.xh, g.wp, g.c16, L->pt, L->pl);
    transform(&g, T_INPUT, b.xh, b.v);
    for (int pos = 0; pos < g.npos; pos++)
        CNN_ISA_FN(cnn__gemm)(g.T, C, b.v + pos * T * g.c16, (size_t)g.c16, 1, L->wpk + (size_t)pos * C * g.o16,
                     (size_t)g.o16, g.o16, b.p + pos * T * g.o16, (size_t)g.o16, false);
    transform(&g, T_OUTPUT, b.p, b.yh);
    from_hwc(b.yh, g.yw, g.o16, 0, 0, L->out_c, L->out_h, L->out_w, y);
}

void CNN_ISA_FN(cnn__wino_backward)(const cnn__layer *L, const float *x, const float *dy, float *dx, int t)
{
    const wgeo g = geo(L);
    const int C = L->in_c, OC = L->out_c;
    const size_t T = (size_t)g.T;
    wbufs b = bufs(L, &g, t);
    float *du = L->dwt + (size_t)t * cnn__wino_wgrad_floats(L);
    to_hwc(x, C, L->in_h, L->in_w, b.xh, g.wp, g.c16, L->pt, L->pl);
    transform(&g, T_INPUT, b.xh, b.v);
    to_hwc(dy, OC, L->out_h, L->out_w, b.dyh, g.yw, g.o16, 0, 0);
    transform(&g, T_GRAD, b.dyh, b.p);
    for (int pos = 0; pos < g.npos; pos++) /* dU[pos][c][oc] += sum_t V[pos][t][c] dP[pos][t][oc] */
        CNN_ISA_FN(cnn__gemm)(C, g.T, b.v + pos * T * g.c16, 1, (size_t)g.c16, b.p + pos * T * g.o16, (size_t)g.o16,
                     g.o16, du + (size_t)pos * C * g.o16, (size_t)g.o16, true);
    if (!dx)
        return;
    for (int pos = 0; pos < g.npos; pos++) /* dV[pos][t][c] = sum_oc dP[pos][t][oc] U[pos][oc][c], over V */
        CNN_ISA_FN(cnn__gemm)(g.T, OC, b.p + pos * T * g.o16, (size_t)g.o16, 1, L->wdk + (size_t)pos * OC * g.c16,
                     (size_t)g.c16, g.c16, b.v + pos * T * g.c16, (size_t)g.c16, false);
    memset(b.dxh, 0, sizeof(float) * plane_floats(&g));
    transform(&g, T_INPUT_GRAD, b.v, b.dxh);
    from_hwc(b.dxh, g.wp, g.c16, L->pt, L->pl, C, L->in_h, L->in_w, dx);
}
#endif /* CNN_X86_16 */
