/* The engine's own single-precision GEMM for AVX-512F CPUs: a register-blocked kernel that broadcasts
 * one operand (A, at any row and reduction stride, so a transposed operand costs nothing) and reads the
 * other (B, row-major) as vectors. The Winograd convolution's products, the dense layers' and im2col's
 * use it;
 * callers take it only after cnn__direct_cpu() said yes. */
#include "nn_internal.h"
#include "simd512.h"

#ifdef CNN_X86_512

enum { LANES = 16, BLOCK = 64 };

/* C[r][0, 16 NJ) (+)= sum_k A[r * ars + k * aks] * B[k * ldb + (0, 16 NJ)] for r < rows, in blocks of MR
 * rows held in registers over the whole reduction; a short last block repeats its last row and drops
 * the copies. */
#define DEFINE_GEMM(NJ, MR)                                                                                  \
    CNN_AVX512 static void gemm_##NJ##_##MR(int rows, int K, const float *a, size_t ars, size_t aks,           \
                                            const float *b, size_t ldb, float *c, size_t ldc, bool add)      \
    {                                                                                                        \
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

/* Four block heights per width, the largest keeping MR * NJ accumulators and NJ operands within the
 * 32 vector registers: the product takes the one that computes the fewest rows (16 tiles: 4 x 4 rows
 * rather than 3 x 7). */
DEFINE_GEMM(1, 14) DEFINE_GEMM(1, 12) DEFINE_GEMM(1, 10) DEFINE_GEMM(1, 8)
DEFINE_GEMM(2, 14) DEFINE_GEMM(2, 12) DEFINE_GEMM(2, 10) DEFINE_GEMM(2, 8)
DEFINE_GEMM(3, 9) DEFINE_GEMM(3, 8) DEFINE_GEMM(3, 6) DEFINE_GEMM(3, 5)
DEFINE_GEMM(4, 7) DEFINE_GEMM(4, 6) DEFINE_GEMM(4, 5) DEFINE_GEMM(4, 4)

typedef void gemm_fn(int, int, const float *, size_t, size_t, const float *, size_t, float *, size_t, bool);
static gemm_fn *const GEMMS[4][4] = {
    {gemm_1_14, gemm_1_12, gemm_1_10, gemm_1_8},
    {gemm_2_14, gemm_2_12, gemm_2_10, gemm_2_8},
    {gemm_3_9, gemm_3_8, gemm_3_6, gemm_3_5},
    {gemm_4_7, gemm_4_6, gemm_4_5, gemm_4_4},
};
static const int HEIGHTS[4][4] = {{14, 12, 10, 8}, {14, 12, 10, 8}, {9, 8, 6, 5}, {7, 6, 5, 4}};

void cnn__gemm512(int rows, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, int n, float *c,
                 size_t ldc, bool add)
{
    for (int j = 0; j < n; j += BLOCK) {
        int nj = (n - j < BLOCK ? n - j : BLOCK) / LANES, best = 0;
        for (int h = 1; h < 4; h++) {
            int mr = HEIGHTS[nj - 1][h], mb = HEIGHTS[nj - 1][best];
            if ((rows + mr - 1) / mr * mr < (rows + mb - 1) / mb * mb)
                best = h;
        }
        GEMMS[nj - 1][best](rows, K, a, ars, aks, b + j, ldb, c + j, ldc, add);
    }
}

/* dst[c][r] = src[r][c] for r < rows, c < cols (a multiple of 16); rows are read in blocks of 16, a short
 * last block as zeros, so dst's rows are written up to round16(rows) */
CNN_AVX512 void cnn__transpose512(const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd)
{
    for (size_t r0 = 0; r0 < rows; r0 += LANES) {
        const size_t n = rows - r0 < LANES ? rows - r0 : LANES;
        for (size_t c0 = 0; c0 < cols; c0 += LANES) {
            __m512 v[LANES];
            for (size_t i = 0; i < LANES; i++)
                v[i] = i < n ? _mm512_loadu_ps(src + (r0 + i) * lds + c0) : _mm512_setzero_ps();
            transpose16(v);
            for (size_t i = 0; i < LANES; i++)
                _mm512_storeu_ps(dst + (c0 + i) * ldd + r0, v[i]);
        }
    }
}

/* dst[r][0, cols) = src[r * lds + (0, cols)] for r < rows, cols a multiple of 16: vector moves, since the
 * compiler's inline copy of a short row (rep movs) costs more than the row */
CNN_AVX512 void cnn__copy512(const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c += LANES)
            _mm512_storeu_ps(dst + r * ldd + c, _mm512_loadu_ps(src + r * lds + c));
}

#else /* no AVX-512 build: never selected (cnn__direct_cpu() is false), kept linkable */

void cnn__gemm512(int rows, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, int n, float *c,
                  size_t ldc, bool add)
{
    (void)rows, (void)K, (void)a, (void)ars, (void)aks, (void)b, (void)ldb, (void)n, (void)c, (void)ldc, (void)add;
}

void cnn__transpose512(const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd)
{
    (void)src, (void)rows, (void)lds, (void)cols, (void)dst, (void)ldd;
}

void cnn__copy512(const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd)
{
    (void)src, (void)rows, (void)lds, (void)cols, (void)dst, (void)ldd;
}

#endif
