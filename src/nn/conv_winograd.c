/* Winograd F(2x2, 5x5) convolution for 5x5, stride-1, undilated conv layers on AVX-512F CPUs.
 *
 * The output of an image is cut into 2x2 tiles; tile (i, j) reads the 6x6 patch at (2i, 2j) of a
 * zero-padded copy of the input. With Bt, G and At the transforms for the points 0, 1, -1, 2, -2 and
 * infinity,
 *
 *   V[c]  = Bt d[c] Bt^T            6x6 per tile and input channel
 *   U[oc][c] = G g[oc][c] G^T       6x6 per filter, once per step
 *   Y[oc] = At (sum_c U[oc][c] .* V[c]) At^T
 *
 * so the 36 positions of a transformed tile are 36 independent products [tiles x C] x [C x OC]:
 * 36 multiplies per 2x2 outputs and channel pair instead of 100 (2.78x fewer). The backward passes are
 * the exact gradient of that forward, not of the convolution it approximates in floating point:
 *
 *   dP[oc] = At^T dY[oc] At                       6x6 per tile and output channel
 *   dU[oc][c] = sum over tiles and images of dP[oc] .* V[c]    then dW = G^T dU G
 *   dV[c] = sum_oc U[oc][c] .* dP[oc]             then dX = overlap-add of Bt^T dV[c] Bt
 *
 * Channels lie on the vector lanes throughout: an image is moved to HWC (channels innermost, rounded
 * up to 16 lanes, the extra lanes zero), each transform handles 16 channels per register, and each
 * product is a register-blocked kernel that broadcasts one operand and reads the other as vectors. The
 * weight gradient's parts stay in the transformed domain per thread; they are added in thread order
 * and transformed back once per step. */
#include "nn_internal.h"

#include <string.h>

#include "simd512.h"

enum { LANES = 16, BLOCK = 64, A = 6, R = 5, NPOS = 36 };

/* G of F(2, 5): rows are the six points, columns the five taps. */
static const double WG[A][R] = {
    {1.0 / 4, 0, 0, 0, 0},
    {1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6},
    {1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3},
    {1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3},
    {0, 0, 0, 0, 1},
};

static int round16(int n)
{
    return (n + LANES - 1) / LANES * LANES;
}

static size_t tiles(const cnn__layer *L)
{
    return (size_t)((L->out_h + 1) / 2) * (size_t)((L->out_w + 1) / 2);
}

/* The padded HWC plane: two rows and columns per tile plus the four the 5x5 window reaches past it.
 * It always holds the input with its padding: out = in + pad_before + pad_after - 4. */
static size_t plane_floats(const cnn__layer *L)
{
    size_t hp = (size_t)(L->out_h + 1) / 2 * 2 + 4, wp = (size_t)(L->out_w + 1) / 2 * 2 + 4;
    return hp * wp * (size_t)round16(L->in_c);
}

const char *cnn__wino_unfit(const cnn__layer *L)
{
    if (L->kh != 5 || L->kw != 5)
        return "a kernel other than 5x5";
    if (L->sh != 1 || L->sw != 1)
        return "a stride other than 1";
    if (L->dh != 1 || L->dw != 1)
        return "dilation";
    /* one thread's transformed tiles stay below 256 MB */
    double t = (double)tiles(L), c = round16(L->in_c), o = round16(L->out_c);
    if (t * NPOS * (c + o) + 8.0 * t * o + 2.0 * (double)plane_floats(L) > 64.0 * 1024 * 1024)
        return "planes too large for one thread's tiles";
    if ((double)NPOS * c * o * 2 > 64.0 * 1024 * 1024)
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
    return (size_t)NPOS * L->in_c * round16(L->out_c) + (size_t)NPOS * L->out_c * round16(L->in_c);
}

size_t cnn__wino_scratch(const cnn__layer *L)
{
    size_t T = tiles(L), c16 = (size_t)round16(L->in_c), o16 = (size_t)round16(L->out_c);
    size_t n = 2 * plane_floats(L) + NPOS * T * (c16 + o16) + 8 * T * o16;
    return (n + 15) & ~(size_t)15;
}

size_t cnn__wino_wgrad_floats(const cnn__layer *L)
{
    return (size_t)NPOS * L->in_c * round16(L->out_c);
}

void cnn__wino_setup(cnn__layer *L, float *packed, float *scratch, float *wgrad)
{
    L->xp_h = (L->out_h + 1) / 2 * 2 + 4;
    L->xp_w = (L->out_w + 1) / 2 * 2 + 4;
    L->wpk = packed;
    L->wdk = packed + (size_t)NPOS * L->in_c * round16(L->out_c);
    L->dscr = scratch;
    L->dscr_ld = cnn__wino_scratch(L);
    L->dwt = wgrad;
}

/* Thread t's scratch, in order: padded input (HWC), its gradient, the transformed input tiles
 * [36][T][C16], the transformed output tiles [36][T][O16], the output (HWC, tile-aligned) and the
 * output gradient (HWC, tile-aligned). Everything a pass reads without writing first is zero from
 * the allocation and is never written: the borders and extra lanes of the padded input, and the
 * output gradient beyond the output's rows, columns and channels. */
typedef struct wbufs {
    float *xh, *dxh, *v, *p, *yh, *dyh;
} wbufs;

static wbufs bufs(const cnn__layer *L, int t)
{
    size_t T = tiles(L), c16 = (size_t)round16(L->in_c), o16 = (size_t)round16(L->out_c);
    wbufs b;
    b.xh = L->dscr + (size_t)t * L->dscr_ld;
    b.dxh = b.xh + plane_floats(L);
    b.v = b.dxh + plane_floats(L);
    b.p = b.v + NPOS * T * c16;
    b.yh = b.p + NPOS * T * o16;
    b.dyh = b.yh + 4 * T * o16;
    return b;
}

/* u = G g G^T for one 5x5 filter g. */
static void filter_transform(const float *g, double u[NPOS])
{
    double h[A][R];
    for (int i = 0; i < A; i++)
        for (int k = 0; k < R; k++) {
            double s = 0;
            for (int j = 0; j < R; j++)
                s += WG[i][j] * g[j * R + k];
            h[i][k] = s;
        }
    for (int i = 0; i < A; i++)
        for (int j = 0; j < A; j++) {
            double s = 0;
            for (int k = 0; k < R; k++)
                s += h[i][k] * WG[j][k];
            u[i * A + j] = s;
        }
}

void cnn__wino_pack(const cnn__layer *L, const float *w, bool backward)
{
    const int C = L->in_c, OC = L->out_c, c16 = round16(C), o16 = round16(OC);
    float *u = backward ? L->wdk : L->wpk;
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++) {
            double f[NPOS];
            filter_transform(w + ((size_t)oc * C + c) * R * R, f);
            for (int pos = 0; pos < NPOS; pos++) {
                if (backward) /* [36][OC][C16] for dV = dP x U^T */
                    u[((size_t)pos * OC + oc) * c16 + c] = (float)f[pos];
                else /* [36][C][O16] for M = V x U */
                    u[((size_t)pos * C + c) * o16 + oc] = (float)f[pos];
            }
        }
}

/* dW[oc][c] = G^T (sum over threads of dU[oc][c]) G for the channel pairs q in [b, e), q = oc * C + c. */
void cnn__wino_reduce(const cnn__layer *L, int threads, float *dw, size_t b, size_t e)
{
    const size_t C = (size_t)L->in_c, o16 = (size_t)round16(L->out_c), part = cnn__wino_wgrad_floats(L);
    for (size_t q = b; q < e; q++) {
        size_t oc = q / C, c = q % C;
        double m[A][A], h[R][A];
        for (int pos = 0; pos < NPOS; pos++) {
            const float *s = L->dwt + ((size_t)pos * C + c) * o16 + oc;
            float sum = s[0];
            for (int t = 1; t < threads; t++)
                sum += s[(size_t)t * part];
            m[pos / A][pos % A] = sum;
        }
        for (int k = 0; k < R; k++)
            for (int j = 0; j < A; j++) {
                double s = 0;
                for (int i = 0; i < A; i++)
                    s += WG[i][k] * m[i][j];
                h[k][j] = s;
            }
        float *d = dw + q * R * R;
        for (int k = 0; k < R; k++)
            for (int l = 0; l < R; l++) {
                double s = 0;
                for (int j = 0; j < A; j++)
                    s += h[k][j] * WG[j][l];
                d[k * R + l] = (float)s;
            }
    }
}

#ifdef CNN_X86_512

/* NCHW image (planes x h x w) into the interior of an HWC buffer at (top, left), ld lanes per pixel:
 * 16 channels x 16 pixels of a row per register transpose. Lanes of channels past `planes` get zeros. */
CNN_AVX512 static void to_hwc(const float *src, int planes, int h, int w, float *dst, int dst_w, int ld, int top,
                              int left)
{
    for (int y = 0; y < h; y++)
        for (int x0 = 0; x0 < w; x0 += LANES) {
            const int n = w - x0 < LANES ? w - x0 : LANES;
            const __mmask16 keep = (__mmask16)((1u << n) - 1u);
            for (int c0 = 0; c0 < planes; c0 += LANES) {
                __m512 r[16];
                for (int l = 0; l < LANES; l++)
                    r[l] = c0 + l < planes ? _mm512_maskz_loadu_ps(keep, src + ((size_t)(c0 + l) * h + y) * w + x0)
                                           : _mm512_setzero_ps();
                transpose16(r);
                float *d = dst + ((size_t)(y + top) * dst_w + left + x0) * ld + c0;
                for (int i = 0; i < n; i++)
                    _mm512_storeu_ps(d + (size_t)i * ld, r[i]);
            }
        }
}

/* The way back: planes x h x w from the HWC buffer's window at (top, left). */
CNN_AVX512 static void from_hwc(const float *src, int src_w, int ld, int top, int left, int planes, int h, int w,
                                float *dst)
{
    for (int y = 0; y < h; y++)
        for (int x0 = 0; x0 < w; x0 += LANES) {
            const int n = w - x0 < LANES ? w - x0 : LANES;
            const __mmask16 keep = (__mmask16)((1u << n) - 1u);
            const float *s = src + ((size_t)(y + top) * src_w + left + x0) * ld;
            for (int c0 = 0; c0 < planes; c0 += LANES) {
                __m512 r[16];
                for (int i = 0; i < LANES; i++)
                    r[i] = i < n ? _mm512_loadu_ps(s + (size_t)i * ld + c0) : _mm512_setzero_ps();
                transpose16(r);
                for (int l = 0; l < LANES && c0 + l < planes; l++)
                    _mm512_mask_storeu_ps(dst + ((size_t)(c0 + l) * h + y) * w + x0, keep, r[l]);
            }
        }
}

#define V16 __m512
#define ADD _mm512_add_ps
#define SUB _mm512_sub_ps
#define MUL(k, v) _mm512_mul_ps(_mm512_set1_ps(k), v)
#define FMA(k, v, acc) _mm512_fmadd_ps(_mm512_set1_ps(k), v, acc)

/* o = Bt i */
CNN_AVX512 static inline void bt(const V16 i[A], V16 o[A])
{
    V16 d42 = SUB(i[4], i[2]);
    o[0] = FMA(4.0f, i[0], FMA(-5.0f, i[2], i[4]));
    o[1] = SUB(MUL(4.0f, ADD(i[1], i[2])), ADD(i[3], i[4]));
    o[2] = FMA(4.0f, SUB(i[2], i[1]), SUB(i[3], i[4]));
    o[3] = FMA(2.0f, SUB(i[3], i[1]), d42);
    o[4] = FMA(2.0f, SUB(i[1], i[3]), d42);
    o[5] = FMA(4.0f, i[1], FMA(-5.0f, i[3], i[5]));
}

/* o = Bt^T i */
CNN_AVX512 static inline void btt(const V16 i[A], V16 o[A])
{
    V16 s12 = ADD(i[1], i[2]), s34 = ADD(i[3], i[4]);
    o[0] = MUL(4.0f, i[0]);
    o[1] = FMA(4.0f, ADD(SUB(i[1], i[2]), i[5]), MUL(2.0f, SUB(i[4], i[3])));
    o[2] = SUB(FMA(4.0f, s12, MUL(-5.0f, i[0])), s34);
    o[3] = FMA(-5.0f, i[5], FMA(2.0f, SUB(i[3], i[4]), SUB(i[2], i[1])));
    o[4] = SUB(ADD(i[0], s34), s12);
    o[5] = i[5];
}

/* o = At i (2 from 6) */
CNN_AVX512 static inline void at(const V16 i[A], V16 o[2])
{
    o[0] = ADD(ADD(ADD(i[0], i[1]), ADD(i[2], i[3])), i[4]);
    o[1] = ADD(FMA(2.0f, SUB(i[3], i[4]), SUB(i[1], i[2])), i[5]);
}

/* o = At^T i (6 from 2) */
CNN_AVX512 static inline void att(V16 i0, V16 i1, V16 o[A])
{
    o[0] = i0;
    o[1] = ADD(i0, i1);
    o[2] = SUB(i0, i1);
    o[3] = FMA(2.0f, i1, i0);
    o[4] = FMA(-2.0f, i1, i0);
    o[5] = i1;
}

/* Output rows per block for NJ vector registers of columns: MR * NJ accumulators and NJ operand
 * registers stay within the 32 vector registers. */
#define MR_FOR(NJ) ((NJ) == 4 ? 7 : (NJ) == 3 ? 9 : 14)

/* C[r][0, 16 NJ) (+)= sum_k A[r * ars + k * aks] * B[k * ldb + (0, 16 NJ)] for r < rows. */
#define DEFINE_GEMM(NJ)                                                                                      \
    CNN_AVX512 static void gemm_##NJ(int rows, int K, const float *a, size_t ars, size_t aks, const float *b,    \
                                     size_t ldb, float *c, size_t ldc, bool add)                             \
    {                                                                                                        \
        enum { MR = MR_FOR(NJ) };                                                                            \
        for (int r0 = 0; r0 < rows; r0 += MR) {                                                              \
            const int valid = rows - r0 < MR ? rows - r0 : MR;                                               \
            const float *ar[MR];                                                                             \
            for (int r = 0; r < MR; r++)                                                                     \
                ar[r] = a + (size_t)(r0 + (r < valid ? r : valid - 1)) * ars;                                \
            __m512 acc[MR][NJ];                                                                              \
            for (int r = 0; r < MR; r++)                                                                     \
                for (int j = 0; j < NJ; j++)                                                                 \
                    acc[r][j] = _mm512_setzero_ps();                                                         \
            const float *bk = b;                                                                             \
            size_t ko = 0;                                                                                   \
            for (int k = 0; k < K; k++, bk += ldb, ko += aks) {                                              \
                __m512 bv[NJ];                                                                               \
                for (int j = 0; j < NJ; j++)                                                                 \
                    bv[j] = _mm512_loadu_ps(bk + j * LANES);                                                 \
                for (int r = 0; r < MR; r++) {                                                               \
                    const __m512 v = _mm512_set1_ps(ar[r][ko]);                                              \
                    for (int j = 0; j < NJ; j++)                                                             \
                        acc[r][j] = _mm512_fmadd_ps(v, bv[j], acc[r][j]);                                    \
                }                                                                                            \
            }                                                                                                \
            for (int r = 0; r < valid; r++)                                                                  \
                for (int j = 0; j < NJ; j++) {                                                               \
                    float *d = c + (size_t)(r0 + r) * ldc + j * LANES;                                       \
                    _mm512_storeu_ps(d, add ? _mm512_add_ps(_mm512_loadu_ps(d), acc[r][j]) : acc[r][j]);     \
                }                                                                                            \
        }                                                                                                    \
    }

DEFINE_GEMM(1)
DEFINE_GEMM(2)
DEFINE_GEMM(3)
DEFINE_GEMM(4)

/* The product over n columns (a multiple of 16) in blocks of 64. */
static void gemm(int rows, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, int n, float *c,
                 size_t ldc, bool add)
{
    for (int j = 0; j < n; j += BLOCK) {
        int nj = (n - j < BLOCK ? n - j : BLOCK) / LANES;
        switch (nj) {
        case 1: gemm_1(rows, K, a, ars, aks, b + j, ldb, c + j, ldc, add); break;
        case 2: gemm_2(rows, K, a, ars, aks, b + j, ldb, c + j, ldc, add); break;
        case 3: gemm_3(rows, K, a, ars, aks, b + j, ldb, c + j, ldc, add); break;
        default: gemm_4(rows, K, a, ars, aks, b + j, ldb, c + j, ldc, add); break;
        }
    }
}

/* V[pos][t][c16] = Bt d Bt^T for every tile t of the padded HWC input xh. */
CNN_AVX512 static void input_transform(const cnn__layer *L, const float *xh, float *v)
{
    const int tw = (L->out_w + 1) / 2, T = (int)tiles(L), c16 = round16(L->in_c), wp = L->xp_w;
    for (int t = 0; t < T; t++) {
        const float *base = xh + ((size_t)(t / tw) * 2 * wp + (size_t)(t % tw) * 2) * c16;
        for (int cb = 0; cb < c16; cb += LANES) {
            V16 d[A][A], s[A][A], col[A], o[A];
            for (int i = 0; i < A; i++)
                for (int j = 0; j < A; j++)
                    d[i][j] = _mm512_loadu_ps(base + ((size_t)i * wp + j) * c16 + cb);
            for (int j = 0; j < A; j++) { /* s = Bt d, column by column */
                for (int i = 0; i < A; i++)
                    col[i] = d[i][j];
                bt(col, o);
                for (int i = 0; i < A; i++)
                    s[i][j] = o[i];
            }
            for (int i = 0; i < A; i++) { /* then s Bt^T, row by row */
                bt(s[i], o);
                for (int j = 0; j < A; j++)
                    _mm512_storeu_ps(v + ((size_t)(i * A + j) * T + t) * c16 + cb, o[j]);
            }
        }
    }
}

/* yh (HWC, tile-aligned) = At M At^T for every tile. */
CNN_AVX512 static void output_transform(const cnn__layer *L, const float *p, float *yh)
{
    const int tw = (L->out_w + 1) / 2, T = (int)tiles(L), o16 = round16(L->out_c), yw = 2 * tw;
    for (int t = 0; t < T; t++) {
        float *base = yh + ((size_t)(t / tw) * 2 * yw + (size_t)(t % tw) * 2) * o16;
        for (int ob = 0; ob < o16; ob += LANES) {
            V16 s[2][A], col[A], o[2];
            for (int j = 0; j < A; j++) {
                for (int i = 0; i < A; i++)
                    col[i] = _mm512_loadu_ps(p + ((size_t)(i * A + j) * T + t) * o16 + ob);
                at(col, o);
                s[0][j] = o[0];
                s[1][j] = o[1];
            }
            for (int i = 0; i < 2; i++) {
                at(s[i], o);
                _mm512_storeu_ps(base + ((size_t)i * yw) * o16 + ob, o[0]);
                _mm512_storeu_ps(base + ((size_t)i * yw + 1) * o16 + ob, o[1]);
            }
        }
    }
}

/* P[pos][t][o16] = At^T dY At for every tile of the HWC output gradient dyh. */
CNN_AVX512 static void grad_transform(const cnn__layer *L, const float *dyh, float *p)
{
    const int tw = (L->out_w + 1) / 2, T = (int)tiles(L), o16 = round16(L->out_c), yw = 2 * tw;
    for (int t = 0; t < T; t++) {
        const float *base = dyh + ((size_t)(t / tw) * 2 * yw + (size_t)(t % tw) * 2) * o16;
        for (int ob = 0; ob < o16; ob += LANES) {
            V16 u[A][2], o[A];
            for (int j = 0; j < 2; j++) { /* u = At^T dY, column by column */
                att(_mm512_loadu_ps(base + (size_t)j * o16 + ob), _mm512_loadu_ps(base + ((size_t)yw + j) * o16 + ob), o);
                for (int i = 0; i < A; i++)
                    u[i][j] = o[i];
            }
            for (int i = 0; i < A; i++) { /* then u At, row by row */
                att(u[i][0], u[i][1], o);
                for (int j = 0; j < A; j++)
                    _mm512_storeu_ps(p + ((size_t)(i * A + j) * T + t) * o16 + ob, o[j]);
            }
        }
    }
}

/* dxh (padded HWC, zeroed first) += Bt^T dV Bt for every tile. */
CNN_AVX512 static void input_grad_transform(const cnn__layer *L, const float *v, float *dxh)
{
    const int tw = (L->out_w + 1) / 2, T = (int)tiles(L), c16 = round16(L->in_c), wp = L->xp_w;
    for (int t = 0; t < T; t++) {
        float *base = dxh + ((size_t)(t / tw) * 2 * wp + (size_t)(t % tw) * 2) * c16;
        for (int cb = 0; cb < c16; cb += LANES) {
            V16 s[A][A], col[A], o[A];
            for (int j = 0; j < A; j++) {
                for (int i = 0; i < A; i++)
                    col[i] = _mm512_loadu_ps(v + ((size_t)(i * A + j) * T + t) * c16 + cb);
                btt(col, o);
                for (int i = 0; i < A; i++)
                    s[i][j] = o[i];
            }
            for (int i = 0; i < A; i++) {
                btt(s[i], o);
                for (int j = 0; j < A; j++) {
                    float *d = base + ((size_t)i * wp + j) * c16 + cb;
                    _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), o[j]));
                }
            }
        }
    }
}

void cnn__wino_forward(const cnn__layer *L, const float *x, float *y, int t)
{
    const int C = L->in_c, T = (int)tiles(L), c16 = round16(C), o16 = round16(L->out_c);
    wbufs b = bufs(L, t);
    to_hwc(x, C, L->in_h, L->in_w, b.xh, L->xp_w, c16, L->pt, L->pl);
    input_transform(L, b.xh, b.v);
    for (int pos = 0; pos < NPOS; pos++)
        gemm(T, C, b.v + (size_t)pos * T * c16, (size_t)c16, 1, L->wpk + (size_t)pos * C * o16, (size_t)o16, o16,
             b.p + (size_t)pos * T * o16, (size_t)o16, false);
    output_transform(L, b.p, b.yh);
    from_hwc(b.yh, 2 * ((L->out_w + 1) / 2), o16, 0, 0, L->out_c, L->out_h, L->out_w, y);
}

void cnn__wino_backward(const cnn__layer *L, const float *x, const float *dy, float *dx, int t)
{
    const int C = L->in_c, OC = L->out_c, T = (int)tiles(L), c16 = round16(C), o16 = round16(OC);
    wbufs b = bufs(L, t);
    float *du = L->dwt + (size_t)t * cnn__wino_wgrad_floats(L);
    to_hwc(x, C, L->in_h, L->in_w, b.xh, L->xp_w, c16, L->pt, L->pl);
    input_transform(L, b.xh, b.v);
    to_hwc(dy, OC, L->out_h, L->out_w, b.dyh, 2 * ((L->out_w + 1) / 2), o16, 0, 0);
    grad_transform(L, b.dyh, b.p);
    for (int pos = 0; pos < NPOS; pos++) /* dU[pos][c][oc] += sum_t V[pos][t][c] dP[pos][t][oc] */
        gemm(C, T, b.v + (size_t)pos * T * c16, 1, (size_t)c16, b.p + (size_t)pos * T * o16, (size_t)o16, o16,
             du + (size_t)pos * C * o16, (size_t)o16, true);
    if (!dx)
        return;
    for (int pos = 0; pos < NPOS; pos++) /* dV[pos][t][c] = sum_oc dP[pos][t][oc] U[pos][oc][c], over V */
        gemm(T, OC, b.p + (size_t)pos * T * o16, (size_t)o16, 1, L->wdk + (size_t)pos * OC * c16, (size_t)c16, c16,
             b.v + (size_t)pos * T * c16, (size_t)c16, false);
    memset(b.dxh, 0, sizeof(float) * plane_floats(L));
    input_grad_transform(L, b.v, b.dxh);
    from_hwc(b.dxh, L->xp_w, c16, L->pt, L->pl, C, L->in_h, L->in_w, dx);
}

#else /* no AVX-512 build: never selected (cnn__direct_cpu() is false), kept linkable */

void cnn__wino_forward(const cnn__layer *L, const float *x, float *y, int t)
{
    (void)L, (void)x, (void)y, (void)t;
}

void cnn__wino_backward(const cnn__layer *L, const float *x, const float *dy, float *dx, int t)
{
    (void)L, (void)x, (void)dy, (void)dx, (void)t;
}

#endif
