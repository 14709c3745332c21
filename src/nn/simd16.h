/* Sixteen-float vectors for the engine's own kernels (gemm16.c, conv_winograd.c), written once and
 * compiled once per instruction set: the file including this one sets CNN_ISA to 512 (AVX-512F, one
 * register per vector) or 256 (AVX2 with FMA, two registers per vector) before including it, and
 * names its ISA-specific functions with CNN_ISA_FN. Every function using these carries CNN_V16 and
 * runs only after cnn__own_isa() chose that instruction set.
 *
 * Both sets do the same lane-wise operations in the same order (an FMA is one rounding in both); only
 * the data movement differs. */
#ifndef CNN_SIMD16_H
#define CNN_SIMD16_H

#if defined(__x86_64__) && defined(__GNUC__)
#define CNN_X86_16 1
#include <immintrin.h>

#ifndef CNN_ISA
#define CNN_ISA 512
#endif
#define CNN_ISA_PASTE(a, b) a##_##b
#define CNN_ISA_XPASTE(a, b) CNN_ISA_PASTE(a, b)
#define CNN_ISA_FN(name) CNN_ISA_XPASTE(name, CNN_ISA)
/* fn_512(...) or fn_256(...) for the set a layer was planned for (never 0 where this is reached) */
#define CNN_ISA_DISPATCH(isa, fn, ...) ((isa) == 512 ? fn##_512(__VA_ARGS__) : fn##_256(__VA_ARGS__))

#if CNN_ISA == 512
#include "simd512.h"
#define CNN_V16 CNN_AVX512
typedef __m512 v16;

CNN_V16 static inline __mmask16 v16__keep(int n)
{
    return (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1u);
}
CNN_V16 static inline v16 v16_zero(void) { return _mm512_setzero_ps(); }
CNN_V16 static inline v16 v16_set1(float x) { return _mm512_set1_ps(x); }
CNN_V16 static inline v16 v16_load(const float *p) { return _mm512_loadu_ps(p); }
CNN_V16 static inline void v16_store(float *p, v16 v) { _mm512_storeu_ps(p, v); }
CNN_V16 static inline v16 v16_add(v16 a, v16 b) { return _mm512_add_ps(a, b); }
CNN_V16 static inline v16 v16_sub(v16 a, v16 b) { return _mm512_sub_ps(a, b); }
CNN_V16 static inline v16 v16_mul(v16 a, v16 b) { return _mm512_mul_ps(a, b); }
/* a * b + c, one rounding */
CNN_V16 static inline v16 v16_fma(v16 a, v16 b, v16 c) { return _mm512_fmadd_ps(a, b, c); }
/* lanes [0, n) of p, the rest zero; nothing past them is read */
CNN_V16 static inline v16 v16_load_n(const float *p, int n) { return _mm512_maskz_loadu_ps(v16__keep(n), p); }
/* lanes [0, n) to p; nothing past them is written */
CNN_V16 static inline void v16_store_n(float *p, int n, v16 v) { _mm512_mask_storeu_ps(p, v16__keep(n), v); }
CNN_V16 static inline __m512i v16__strides(int stride)
{
    return _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                              _mm512_set1_epi32(stride));
}
/* lane l = p[l * stride] for l < n, zero beyond */
CNN_V16 static inline v16 v16_gather_n(const float *p, int stride, int n)
{
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), v16__keep(n), v16__strides(stride), p, 4);
}
/* p[l * stride] = lane l for l < n */
CNN_V16 static inline void v16_scatter_n(float *p, int stride, int n, v16 v)
{
    _mm512_mask_i32scatter_ps(p, v16__keep(n), v16__strides(stride), v, 4);
}
CNN_V16 static inline void v16_transpose(v16 r[16]) { transpose16(r); }

#elif CNN_ISA == 256
#define CNN_V16 __attribute__((target("avx2,fma")))
typedef struct v16 {
    __m256 lo, hi; /* lanes 0-7 and 8-15 */
} v16;

CNN_V16 static inline v16 v16_zero(void) { return (v16){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
CNN_V16 static inline v16 v16_set1(float x) { return (v16){_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
CNN_V16 static inline v16 v16_load(const float *p) { return (v16){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
CNN_V16 static inline void v16_store(float *p, v16 v)
{
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
}
CNN_V16 static inline v16 v16_add(v16 a, v16 b) { return (v16){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
CNN_V16 static inline v16 v16_sub(v16 a, v16 b) { return (v16){_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
CNN_V16 static inline v16 v16_mul(v16 a, v16 b) { return (v16){_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
CNN_V16 static inline v16 v16_fma(v16 a, v16 b, v16 c)
{
    return (v16){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
/* all ones in lanes [0, n) of eight */
CNN_V16 static inline __m256i v16__keep8(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/* masked loads and stores neither read nor write (nor fault on) the lanes they leave out */
CNN_V16 static inline v16 v16_load_n(const float *p, int n)
{
    if (n >= 16)
        return v16_load(p);
    return (v16){_mm256_maskload_ps(p, v16__keep8(n)), _mm256_maskload_ps(p + 8, v16__keep8(n - 8))};
}
CNN_V16 static inline void v16_store_n(float *p, int n, v16 v)
{
    if (n >= 16) {
        v16_store(p, v);
        return;
    }
    _mm256_maskstore_ps(p, v16__keep8(n), v.lo);
    _mm256_maskstore_ps(p + 8, v16__keep8(n - 8), v.hi);
}
CNN_V16 static inline v16 v16_gather_n(const float *p, int stride, int n)
{
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
    const __m256 z = _mm256_setzero_ps();
    return (v16){_mm256_mask_i32gather_ps(z, p, idx, _mm256_castsi256_ps(v16__keep8(n)), 4),
                 _mm256_mask_i32gather_ps(z, p + (size_t)8 * stride, idx, _mm256_castsi256_ps(v16__keep8(n - 8)),
                                          4)};
}
/* AVX2 has no scatter; this runs once per reduced filter, not per pixel */
CNN_V16 static inline void v16_scatter_n(float *p, int stride, int n, v16 v)
{
    float t[16];
    v16_store(t, v);
    for (int l = 0; l < n && l < 16; l++)
        p[(size_t)l * stride] = t[l];
}
/* r[i] lane j = r[j] lane i for eight rows of eight */
CNN_V16 static inline void v16__transpose8(__m256 r[8])
{
    __m256 t[8], s[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) {
        s[4 * h + 0] = _mm256_shuffle_ps(t[4 * h + 0], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * h + 1] = _mm256_shuffle_ps(t[4 * h + 0], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
        s[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(s[i], s[4 + i], 0x20);
        r[4 + i] = _mm256_permute2f128_ps(s[i], s[4 + i], 0x31);
    }
}
/* the 16 x 16 transpose as four 8 x 8 ones: the off-diagonal blocks trade places */
CNN_V16 static inline void v16_transpose(v16 r[16])
{
    __m256 a[8], b[8], c[8], d[8];
    for (int i = 0; i < 8; i++) {
        a[i] = r[i].lo;
        b[i] = r[i].hi;
        c[i] = r[8 + i].lo;
        d[i] = r[8 + i].hi;
    }
    v16__transpose8(a);
    v16__transpose8(b);
    v16__transpose8(c);
    v16__transpose8(d);
    for (int i = 0; i < 8; i++) {
        r[i] = (v16){a[i], c[i]};
        r[8 + i] = (v16){b[i], d[i]};
    }
}
#else
#error "CNN_ISA must be 512 or 256"
#endif

#endif
#endif
