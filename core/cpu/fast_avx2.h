/* AVX2 versions of the fast kernels' scalar helpers, for code compiled with
 * __attribute__((target("avx2,fma"))) (VD_AVX2) and called only when vd_cpu_has_avx2().
 * Each computes exactly what its scalar twin in kernels.h computes (the same operations in
 * the same order, no fused multiply-adds), so results do not depend on which one ran. */
#ifndef VD_CPU_FAST_AVX2_H
#define VD_CPU_FAST_AVX2_H

#include "core/cpu/kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define VD_HAVE_AVX2_CODE 1
#define VD_AVX2 __attribute__((target("avx2,fma")))
#define VD_AVX2_INLINE static inline __attribute__((always_inline)) VD_AVX2

/* vd_cpu_expf, 8 lanes */
VD_AVX2_INLINE __m256 vd_avx2_expf(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    /* clamps that keep NaN, like x < lo ? lo : x */
    x = _mm256_max_ps(_mm256_set1_ps(-87.33654f), x);
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
    __m256 t = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), magic);
    __m256 n = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), r),
                      _mm256_set1_ps(1.0f));
    __m256i e = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(magic));
    e = _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* 1 when vd_avx2_act computes act (else use vd_cpu_act_row on the stored values) */
static inline int vd_avx2_act_ok(vd_act act) {
    return act == VD_ACT_NONE || act == VD_ACT_RELU || act == VD_ACT_SILU ||
           act == VD_ACT_SIGMOID;
}

/* vd_cpu_act_row for one vector, for the activations of vd_avx2_act_ok */
VD_AVX2_INLINE __m256 vd_avx2_act(vd_act act, __m256 y) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    switch (act) {
    case VD_ACT_RELU: return _mm256_max_ps(_mm256_setzero_ps(), y); /* NaN stays NaN */
    case VD_ACT_SILU:
        return _mm256_div_ps(y, _mm256_add_ps(one, vd_avx2_expf(_mm256_xor_ps(y, sign))));
    case VD_ACT_SIGMOID:
        return _mm256_div_ps(one, _mm256_add_ps(one, vd_avx2_expf(_mm256_xor_ps(y, sign))));
    default: return y;
    }
}

/* r[i][j] <- r[j][i], 8 vectors of 8 */
VD_AVX2_INLINE void vd_avx2_transpose8(__m256 *r) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

#else
#define VD_HAVE_AVX2_CODE 0
#endif

#endif
