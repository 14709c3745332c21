/* The engine's own single-precision GEMM: a register-blocked kernel that broadcasts one operand (A, at
 * any row and reduction stride, so a transposed operand costs nothing) and reads the other (B,
 * row-major) as 16-float vectors. The Winograd convolution's products, the dense layers' and im2col's
 * use it.
 *
 * This file is compiled twice (simd16.h): as it stands for AVX-512F, which also holds the dispatch,
 * and with CNN_ISA=256 for AVX2 with FMA. Callers pass the instruction set cnn__own_isa() chose. */
#include "nn_internal.h"
#ifndef CNN_ISA
#define CNN_DISPATCH 1
#endif
#include "simd16.h"

#include "../common/cpu.h"

#ifdef CNN_X86_16

enum { LANES = 16, BLOCK = 64 };

/* C[r][0, 16 NJ) (+)= sum_k A[r * ars + k * aks] * B[k * ldb + (0, 16 NJ)] for r < rows, in blocks of MR
 * rows held in registers over the whole reduction; a short last block repeats its last row and drops
 * the copies. */
#define DEFINE_GEMM(NJ, MR)                                                                                  \
    CNN_V16 static void gemm_##NJ##_##MR(int rows, int K, const float *a, size_t ars, size_t aks,             \
                                         const float *b, size_t ldb, float *c, size_t ldc, bool add)         \
    {                                                                                                        \
        for (int r0 = 0; r0 < rows; r0 += MR) {                                                              \
            const int valid = rows - r0 < MR ? rows - r0 : MR;                                               \
            const float *ar[MR];                                                                             \
            for (int r = 0; r < MR; r++)                                                                     \
                ar[r] = a + (size_t)(r0 + (r < valid ? r : valid - 1)) * ars;                                \
            v16 acc[MR][NJ];                                                                                 \
            for (int r = 0; r < MR; r++)                                                                     \
                for (int j = 0; j < NJ; j++)                                                                 \
                    acc[r][j] = v16_zero();                                                                  \
            const float *bk = b;                                                                             \
            size_t ko = 0;                                                                                   \
            for (int k = 0; k < K; k++, bk += ldb, ko += aks) {                                              \
                v16 bv[NJ];                                                                                  \
                for (int j = 0; j < NJ; j++)                                                                 \
                    bv[j] = v16_load(bk + j * LANES);                                                        \
                for (int r = 0; r < MR; r++) {                                                               \
                    const v16 v = v16_set1(ar[r][ko]);                                                       \
                    for (int j = 0; j < NJ; j++)                                                             \
                        acc[r][j] = v16_fma(v, bv[j], acc[r][j]);                                            \
                }                                                                                            \
            }                                                                                                \
            for (int r = 0; r < valid; r++)                                                                  \
                for (int j = 0; j < NJ; j++) {                                                               \
                    float *d = c + (size_t)(r0 + r) * ldc + j * LANES;                                       \
                    v16_store(d, add ? v16_add(v16_load(d), acc[r][j]) : acc[r][j]);                         \
                }                                                                                            \
        }                                                                                                    \
    }

#if CNN_ISA == 512
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

CNN_V16 void CNN_ISA_FN(cnn__gemm)(int rows, int K, const float *a, size_t ars, size_t aks, const float *b,
                                   size_t ldb, int n, float *c, size_t ldc, bool add)
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
#else
/* 16 ymm registers: one vector of B is two of them, so the widest block is one vector wide and six
 * rows tall (12 accumulators, 2 operands, 1 broadcast); wider products take it once per 16 columns.
 * Twelve accumulators also cover the FMA's latency twice over where eight only just do, so the rows
 * go in blocks of six with the rest in one or two shorter blocks (16 = 6 + 6 + 4, 20 = 6 + 6 + 4 + 4),
 * none repeating a row. */
DEFINE_GEMM(1, 6) DEFINE_GEMM(1, 5) DEFINE_GEMM(1, 4) DEFINE_GEMM(1, 3)

CNN_V16 void CNN_ISA_FN(cnn__gemm)(int rows, int K, const float *a, size_t ars, size_t aks, const float *b,
                                   size_t ldb, int n, float *c, size_t ldc, bool add)
{
    int six = rows / 6 * 6, rest = rows - six;
    if (rest > 0 && rest < 3 && six > 0) { /* 7 = 4 + 3, 8 = 4 + 4 rather than a block of 1 or 2 */
        six -= 6;
        rest += 6;
    }
    const int four = rest == 8 ? 8 : rest == 7 || rest == 4 ? 4 : 0, last = rest - four;
    for (int j = 0; j < n; j += LANES) {
        if (six)
            gemm_1_6(six, K, a, ars, aks, b + j, ldb, c + j, ldc, add);
        if (four)
            gemm_1_4(four, K, a + (size_t)six * ars, ars, aks, b + j, ldb, c + (size_t)six * ldc + j, ldc, add);
        const size_t r = (size_t)(six + four);
        if (last == 5)
            gemm_1_5(last, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, add);
        else if (last > 0) /* 3, or all of 1 or 2 rows (the block repeats its last row) */
            gemm_1_3(last, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, add);
    }
}
#endif

CNN_V16 void CNN_ISA_FN(cnn__transpose)(const float *src, size_t rows, size_t lds, size_t cols, float *dst,
                                        size_t ldd)
{
    for (size_t r0 = 0; r0 < rows; r0 += LANES) {
        const size_t n = rows - r0 < LANES ? rows - r0 : LANES;
        for (size_t c0 = 0; c0 < cols; c0 += LANES) {
            v16 v[LANES];
            for (size_t i = 0; i < LANES; i++)
                v[i] = i < n ? v16_load(src + (r0 + i) * lds + c0) : v16_zero();
            v16_transpose(v);
            for (size_t i = 0; i < LANES; i++)
                v16_store(dst + (c0 + i) * ldd + r0, v[i]);
        }
    }
}

/* vector moves, since the compiler's inline copy of a short row (rep movs) costs more than the row */
CNN_V16 void CNN_ISA_FN(cnn__copy)(const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c += LANES)
            v16_store(dst + r * ldd + c, v16_load(src + r * lds + c));
}

#endif

#ifdef CNN_DISPATCH
int cnn__own_isa(void)
{
#ifdef CNN_X86_16
    if (tbw__cpu_avx512())
        return 512;
    if (tbw__cpu_avx2())
        return 256;
#endif
    return 0;
}

#ifdef CNN_X86_16
#define DISPATCH CNN_ISA_DISPATCH
#else
#define DISPATCH(isa, fn, ...) ((void)(isa))
#endif

void cnn__gemm16(int isa, int rows, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, int n,
                 float *c, size_t ldc, bool add)
{
    DISPATCH(isa, cnn__gemm, rows, K, a, ars, aks, b, ldb, n, c, ldc, add);
}

void cnn__transpose16(int isa, const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd)
{
    DISPATCH(isa, cnn__transpose, src, rows, lds, cols, dst, ldd);
}

void cnn__copy16(int isa, const float *src, size_t rows, size_t lds, size_t cols, float *dst, size_t ldd)
{
    DISPATCH(isa, cnn__copy, src, rows, lds, cols, dst, ldd);
}
#endif
