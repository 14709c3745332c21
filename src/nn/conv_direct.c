/* Direct convolution for stride-1 conv layers on AVX-512F CPUs (no im2col, no GEMM packing).
 *
 * All three passes are one register-blocked loop over a zero-padded copy of an image:
 *
 *   forward   y[oc][p]  = sum_k  xp[poff[p] + koff[k]] * W[oc][k]        k = (c, ky, kx)
 *   input grad dx[c][p] = sum_k' dyp[pdoff[p] + kdoff[k']] * Wf[k'][c]    k' = (oc, ky', kx'), W flipped
 *   weight grad dW[k][oc] += sum_p xp[poff[p] + koff[k]] * dy[oc][p]
 *
 * The output channels lie on the vector lanes (up to 64 = four 16-float registers per tile), so the
 * weights are read as whole vectors and each input value is broadcast once per tile row. A forward tile
 * is MR output pixels x up to 64 channels held in registers over the whole reduction, so each output is
 * written once. Tiles never read outside the padded copy: the padding is in the buffer, the tables hold
 * plain offsets, and a short last tile repeats its last pixel (or tap) and drops the copies.
 *
 * The input gradient is the forward pass of the padded output gradient with the filters flipped and
 * the channel roles swapped; this needs 0 <= pad <= (k-1)*dilation on every side, which SAME and
 * VALID padding satisfy. Summation runs in k order per output, like a naive convolution. */
#include "nn_internal.h"
#include "../common/cpu.h"

#include <string.h>

#include "simd512.h"
#ifdef CNN_X86_512
#define CNN_DIRECT_X86 1
#endif

enum { LANES = 16, BLOCK = 64 };

static int round16(int n)
{
    return (n + LANES - 1) / LANES * LANES;
}

bool cnn__direct_cpu(void)
{
#ifdef CNN_DIRECT_X86
    return tbw__cpu_avx512();
#else
    return false;
#endif
}

const char *cnn__direct_unfit(const cnn__layer *L)
{
    if (L->sh != 1 || L->sw != 1)
        return "a stride other than 1";
    if (L->pt > (L->kh - 1) * L->dh || L->pb > (L->kh - 1) * L->dh || L->pl > (L->kw - 1) * L->dw ||
        L->pr > (L->kw - 1) * L->dw)
        return "padding wider than the dilated kernel";
    /* every offset is an int32 */
    long long hp = (long long)L->in_h + L->pt + L->pb, wp = (long long)L->in_w + L->pl + L->pr;
    long long hq = (long long)L->in_h + (long long)(L->kh - 1) * L->dh;
    long long wq = (long long)L->in_w + (long long)(L->kw - 1) * L->dw;
    if (hp * wp * L->in_c > INT32_MAX / 2 || hq * wq * L->out_c > INT32_MAX / 2)
        return "planes too large";
    long long taps = (long long)L->kh * L->kw;
    if (taps * L->in_c > INT32_MAX / 64 || taps * L->out_c > INT32_MAX / 64)
        return "a reduction too long";
    return NULL;
}

bool cnn__direct_worth(const cnn__layer *L)
{
    return (long)L->in_c * L->kh * L->kw >= 64;
}

size_t cnn__direct_ints(const cnn__layer *L)
{
    size_t P = (size_t)L->out_h * L->out_w, HW = (size_t)L->in_h * L->in_w;
    size_t K = (size_t)L->in_c * L->kh * L->kw, KD = (size_t)L->out_c * L->kh * L->kw;
    return K + P + KD + HW;
}

size_t cnn__direct_packed(const cnn__layer *L)
{
    size_t K = (size_t)L->in_c * L->kh * L->kw, KD = (size_t)L->out_c * L->kh * L->kw;
    return K * (size_t)round16(L->out_c) + KD * (size_t)round16(L->in_c);
}

size_t cnn__direct_scratch(const cnn__layer *L)
{
    size_t hp = (size_t)L->in_h + L->pt + L->pb, wp = (size_t)L->in_w + L->pl + L->pr;
    size_t hq = (size_t)L->in_h + (size_t)(L->kh - 1) * L->dh, wq = (size_t)L->in_w + (size_t)(L->kw - 1) * L->dw;
    size_t P = (size_t)L->out_h * L->out_w;
    size_t n = hp * wp * L->in_c + hq * wq * L->out_c + P * (size_t)round16(L->out_c);
    return (n + 15) & ~(size_t)15; /* whole 64-byte lines per thread */
}

size_t cnn__direct_wgrad_floats(const cnn__layer *L)
{
    return (size_t)L->in_c * L->kh * L->kw * (size_t)round16(L->out_c);
}

void cnn__direct_setup(cnn__layer *L, int32_t *ints, float *packed, float *scratch, float *wgrad)
{
    const int C = L->in_c, OC = L->out_c, kh = L->kh, kw = L->kw, H = L->in_h, W = L->in_w;
    const int hp = H + L->pt + L->pb, wp = W + L->pl + L->pr;
    const int hq = H + (kh - 1) * L->dh, wq = W + (kw - 1) * L->dw;
    const int K = C * kh * kw, P = L->out_h * L->out_w, KD = OC * kh * kw;
    L->xp_h = hp;
    L->xp_w = wp;
    L->dyp_h = hq;
    L->dyp_w = wq;
    L->koff = ints;
    L->poff = L->koff + K;
    L->kdoff = L->poff + P;
    L->pdoff = L->kdoff + KD;
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++)
                L->koff[(c * kh + ky) * kw + kx] = (c * hp + ky * L->dh) * wp + kx * L->dw;
    for (int p = 0; p < P; p++)
        L->poff[p] = (p / L->out_w) * wp + p % L->out_w;
    for (int oc = 0; oc < OC; oc++)
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++)
                L->kdoff[(oc * kh + ky) * kw + kx] = (oc * hq + ky * L->dh) * wq + kx * L->dw;
    for (int p = 0; p < H * W; p++)
        L->pdoff[p] = (p / W) * wq + p % W;
    L->wpk = packed;
    L->wdk = packed + (size_t)K * round16(OC);
    L->dscr = scratch;
    L->dscr_ld = cnn__direct_scratch(L);
    L->dwt = wgrad;
}

/* Per-thread scratch: the padded input, the padded output gradient and the transposed output gradient.
 * Their borders and unused lanes are zero from the allocation and are never written. */
static float *scr_x(const cnn__layer *L, int t)
{
    return L->dscr + (size_t)t * L->dscr_ld;
}

static float *scr_dy(const cnn__layer *L, int t)
{
    return scr_x(L, t) + (size_t)L->xp_h * L->xp_w * L->in_c;
}

static float *scr_dyt(const cnn__layer *L, int t)
{
    return scr_dy(L, t) + (size_t)L->dyp_h * L->dyp_w * L->out_c;
}

/* Packs src[rows][k] (row-major, k contiguous) into blocks of 64 rows, each [kin][lanes] with the rows
 * on the lanes, zero beyond rows. flip reverses the kernel taps: k = (c, ky, kx) reads tap (c, kh-1-ky,
 * kw-1-kx), and swap reads W[k's channel][row] instead of W[row][k's channel] (the input-gradient
 * filters). */
static void pack(const cnn__layer *L, const float *w, float *dst, bool backward)
{
    const int kh = L->kh, kw = L->kw, taps = kh * kw;
    const int rows = backward ? L->in_c : L->out_c; /* on the lanes */
    const int chans = backward ? L->out_c : L->in_c;
    const int kin = chans * taps;
    for (int b = 0; b < rows; b += BLOCK) {
        int width = rows - b < BLOCK ? rows - b : BLOCK, lanes = round16(width);
        float *blk = dst + (size_t)b * kin;
        for (int k = 0; k < kin; k++) {
            int ch = k / taps, tap = k % taps;
            if (backward)
                tap = taps - 1 - tap;
            float *d = blk + (size_t)k * lanes;
            for (int r = 0; r < width; r++) {
                int oc = backward ? ch : b + r, ic = backward ? b + r : ch;
                d[r] = w[((size_t)oc * L->in_c + ic) * taps + tap];
            }
            for (int r = width; r < lanes; r++)
                d[r] = 0.0f;
        }
    }
}

void cnn__direct_pack(const cnn__layer *L, const float *w, bool backward)
{
    if (backward)
        pack(L, w, L->wdk, true);
    else
        pack(L, w, L->wpk, false);
}

static void pad_copy(const float *src, int planes, int h, int w, float *dst, int dh, int dw, int top, int left)
{
    for (int c = 0; c < planes; c++)
        for (int y = 0; y < h; y++)
            memcpy(dst + ((size_t)c * dh + y + top) * dw + left, src + ((size_t)c * h + y) * w,
                   sizeof(float) * (size_t)w);
}

#ifdef CNN_DIRECT_X86

/* Output pixels per tile for a given number of 16-lane registers: MR * NJ accumulators plus NJ weight
 * registers stay within the 32 vector registers. */
#define MR_FOR(NJ) ((NJ) == 4 ? 7 : (NJ) == 3 ? 9 : 14)

/* out[oc][p] (ld npix) for oc < width, p < npix, from src (padded plane set) and w [kin][NJ*16]. */
#define DEFINE_TILES(NJ)                                                                                     \
    CNN_AVX512 static void tiles_##NJ(const float *src, const int32_t *koff, int kin, const int32_t *poff,    \
                                      int npix, const float *w, int width, float *out)                       \
    {                                                                                                        \
        enum { MR = MR_FOR(NJ) };                                                                            \
        float tb[MR * NJ * LANES];                                                                           \
        for (int p0 = 0; p0 < npix; p0 += MR) {                                                              \
            const int valid = npix - p0 < MR ? npix - p0 : MR;                                               \
            const float *base[MR];                                                                           \
            for (int r = 0; r < MR; r++)                                                                     \
                base[r] = src + poff[p0 + (r < valid ? r : valid - 1)];                                      \
            __m512 acc[MR][NJ];                                                                              \
            for (int r = 0; r < MR; r++)                                                                     \
                for (int j = 0; j < NJ; j++)                                                                 \
                    acc[r][j] = _mm512_setzero_ps();                                                         \
            const float *wk = w;                                                                             \
            for (int k = 0; k < kin; k++, wk += NJ * LANES) {                                                \
                const int o = koff[k];                                                                       \
                __m512 wv[NJ];                                                                               \
                for (int j = 0; j < NJ; j++)                                                                 \
                    wv[j] = _mm512_loadu_ps(wk + j * LANES);                                                 \
                for (int r = 0; r < MR; r++) {                                                               \
                    const __m512 v = _mm512_set1_ps(base[r][o]);                                             \
                    for (int j = 0; j < NJ; j++)                                                             \
                        acc[r][j] = _mm512_fmadd_ps(v, wv[j], acc[r][j]);                                    \
                }                                                                                            \
            }                                                                                                \
            if (MR == 14) { /* transpose in registers, one masked store of the pixels per channel */       \
                const __mmask16 keep = (__mmask16)((1u << valid) - 1u);                                      \
                for (int j = 0; j < NJ; j++) {                                                               \
                    __m512 t[16];                                                                            \
                    for (int r = 0; r < 16; r++)                                                             \
                        t[r] = r < MR ? acc[r < MR ? r : 0][j] : _mm512_setzero_ps();                        \
                    transpose16(t);                                                                          \
                    for (int l = 0; l < LANES && j * LANES + l < width; l++)                                 \
                        _mm512_mask_storeu_ps(out + (size_t)(j * LANES + l) * npix + p0, keep, t[l]);         \
                }                                                                                            \
                continue;                                                                                    \
            }                                                                                                \
            for (int r = 0; r < MR; r++)                                                                     \
                for (int j = 0; j < NJ; j++)                                                                 \
                    _mm512_storeu_ps(tb + (r * NJ + j) * LANES, acc[r][j]);                                  \
            for (int c = 0; c < width; c++) {                                                                \
                float *o = out + (size_t)c * npix + p0;                                                      \
                for (int r = 0; r < valid; r++)                                                              \
                    o[r] = tb[r * NJ * LANES + c];                                                           \
            }                                                                                                \
        }                                                                                                    \
    }

/* dw[k][lanes] += sum_p src[poff[p] + koff[k]] * dyt[p][lanes] for k < kin (dyt row stride ld). */
#define DEFINE_WTILES(NJ)                                                                                    \
    CNN_AVX512 static void wtiles_##NJ(const float *src, const int32_t *koff, int kin, const int32_t *poff,   \
                                       int npix, const float *dyt, int ld, float *dw, int ldw)              \
    {                                                                                                        \
        enum { MR = MR_FOR(NJ) };                                                                            \
        for (int k0 = 0; k0 < kin; k0 += MR) {                                                               \
            const int valid = kin - k0 < MR ? kin - k0 : MR;                                                 \
            const float *base[MR];                                                                           \
            for (int r = 0; r < MR; r++)                                                                     \
                base[r] = src + koff[k0 + (r < valid ? r : valid - 1)];                                      \
            __m512 acc[MR][NJ];                                                                              \
            for (int r = 0; r < MR; r++)                                                                     \
                for (int j = 0; j < NJ; j++)                                                                 \
                    acc[r][j] = _mm512_setzero_ps();                                                         \
            const float *dp = dyt;                                                                           \
            for (int p = 0; p < npix; p++, dp += ld) {                                                       \
                const int o = poff[p];                                                                       \
                __m512 dv[NJ];                                                                               \
                for (int j = 0; j < NJ; j++)                                                                 \
                    dv[j] = _mm512_loadu_ps(dp + j * LANES);                                                 \
                for (int r = 0; r < MR; r++) {                                                               \
                    const __m512 v = _mm512_set1_ps(base[r][o]);                                             \
                    for (int j = 0; j < NJ; j++)                                                             \
                        acc[r][j] = _mm512_fmadd_ps(v, dv[j], acc[r][j]);                                    \
                }                                                                                            \
            }                                                                                                \
            for (int r = 0; r < valid; r++)                                                                  \
                for (int j = 0; j < NJ; j++) {                                                               \
                    float *d = dw + (size_t)(k0 + r) * ldw + j * LANES;                                      \
                    _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), acc[r][j]));                       \
                }                                                                                            \
        }                                                                                                    \
    }

DEFINE_TILES(1)
DEFINE_TILES(2)
DEFINE_TILES(3)
DEFINE_TILES(4)
DEFINE_WTILES(1)
DEFINE_WTILES(2)
DEFINE_WTILES(3)
DEFINE_WTILES(4)

/* Runs the tiles over blocks of 64 output channels. */
static void run(const float *src, const int32_t *koff, int kin, const int32_t *poff, int npix, const float *w,
                int nout, float *out)
{
    for (int b = 0; b < nout; b += BLOCK) {
        int width = nout - b < BLOCK ? nout - b : BLOCK;
        const float *wb = w + (size_t)b * kin;
        float *ob = out + (size_t)b * npix;
        switch ((width + LANES - 1) / LANES) {
        case 1: tiles_1(src, koff, kin, poff, npix, wb, width, ob); break;
        case 2: tiles_2(src, koff, kin, poff, npix, wb, width, ob); break;
        case 3: tiles_3(src, koff, kin, poff, npix, wb, width, ob); break;
        default: tiles_4(src, koff, kin, poff, npix, wb, width, ob); break;
        }
    }
}

static void wrun(const float *src, const int32_t *koff, int kin, const int32_t *poff, int npix, const float *dyt,
                 int nout, float *dw)
{
    const int ld = round16(nout);
    for (int b = 0; b < nout; b += BLOCK) {
        int width = nout - b < BLOCK ? nout - b : BLOCK;
        const float *db = dyt + b;
        float *wb = dw + b;
        switch ((width + LANES - 1) / LANES) {
        case 1: wtiles_1(src, koff, kin, poff, npix, db, ld, wb, ld); break;
        case 2: wtiles_2(src, koff, kin, poff, npix, db, ld, wb, ld); break;
        case 3: wtiles_3(src, koff, kin, poff, npix, db, ld, wb, ld); break;
        default: wtiles_4(src, koff, kin, poff, npix, db, ld, wb, ld); break;
        }
    }
}

#else /* no AVX-512 build: never selected (cnn__direct_cpu() is false), kept linkable */

static void run(const float *src, const int32_t *koff, int kin, const int32_t *poff, int npix, const float *w,
                int nout, float *out)
{
    (void)src, (void)koff, (void)kin, (void)poff, (void)npix, (void)w, (void)nout, (void)out;
}

static void wrun(const float *src, const int32_t *koff, int kin, const int32_t *poff, int npix, const float *dyt,
                 int nout, float *dw)
{
    (void)src, (void)koff, (void)kin, (void)poff, (void)npix, (void)dyt, (void)nout, (void)dw;
}

#endif

void cnn__direct_forward(const cnn__layer *L, const float *x, float *y, int t)
{
    float *xp = scr_x(L, t);
    pad_copy(x, L->in_c, L->in_h, L->in_w, xp, L->xp_h, L->xp_w, L->pt, L->pl);
    run(xp, L->koff, L->in_c * L->kh * L->kw, L->poff, L->out_h * L->out_w, L->wpk, L->out_c, y);
}

void cnn__direct_backward(const cnn__layer *L, const float *x, const float *dy, float *dx, int t)
{
    const int P = L->out_h * L->out_w, OC = L->out_c, ld = round16(OC);
    float *xp = scr_x(L, t), *dyt = scr_dyt(L, t);
    pad_copy(x, L->in_c, L->in_h, L->in_w, xp, L->xp_h, L->xp_w, L->pt, L->pl);
    for (int p0 = 0; p0 < P; p0 += 16) { /* dY [OC][P] -> [P][ld], in 16-pixel strips */
        int p1 = p0 + 16 < P ? p0 + 16 : P;
        for (int oc = 0; oc < OC; oc++) {
            const float *s = dy + (size_t)oc * P;
            for (int p = p0; p < p1; p++)
                dyt[(size_t)p * ld + oc] = s[p];
        }
    }
    wrun(xp, L->koff, L->in_c * L->kh * L->kw, L->poff, P, dyt, OC, L->dwt + (size_t)t * L->in_c * L->kh * L->kw * ld);
    if (!dx)
        return;
    float *dyp = scr_dy(L, t);
    pad_copy(dy, OC, L->out_h, L->out_w, dyp, L->dyp_h, L->dyp_w, (L->kh - 1) * L->dh - L->pt,
             (L->kw - 1) * L->dw - L->pl);
    run(dyp, L->kdoff, OC * L->kh * L->kw, L->pdoff, L->in_h * L->in_w, L->wdk, L->in_c, dx);
}
