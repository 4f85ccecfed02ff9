/* What the AVX-512F kernels (fast_mm_avx512.c, fast_winograd_avx512.c) share: their vector
 * type, how they are compiled, and helpers. Each file is built twice: into the library for
 * AVX-512F (its functions called only when the CPU has it), and by the tests with
 * VD_AVX512_EMULATE, where SIMDe's AVX-512 on AVX2 + FMA runs the same code on machines without
 * AVX-512 (tests/CMakeLists.txt). SIMDe's 512-bit operations are then pairs of the host's own
 * AVX2 + FMA ones, so both builds give the same bits. */
#ifndef VD_CPU_FAST_AVX512_H
#define VD_CPU_FAST_AVX512_H

#include "core/cpu/fast_avx2.h"

#if VD_HAVE_AVX2_CODE

#ifdef VD_AVX512_EMULATE
#include <simde/x86/avx512.h>
#if !defined(SIMDE_X86_AVX2_NATIVE) || !defined(SIMDE_X86_FMA_NATIVE)
#error "the emulated AVX-512 kernels need -mavx2 -mfma (their halves must be AVX2's own FMAs)"
#endif
typedef simde__m512 v16;
typedef simde__m512d v16d;
#define V(f) simde_mm512_##f
#define VD_AVX512 VD_AVX2
#else
typedef __m512 v16;
typedef __m512d v16d;
#define V(f) _mm512_##f
#define VD_AVX512 __attribute__((target("avx512f,avx2,fma")))
#endif

#define VD_AVX512_INLINE static inline __attribute__((always_inline)) VD_AVX512

/* [lo | hi] */
VD_AVX512_INLINE v16 vd_avx512_join(__m256 lo, __m256 hi) {
    return V(castpd_ps)(
        V(insertf64x4)(V(castps_pd)(V(castps256_ps512)(lo)), _mm256_castps_pd(hi), 1));
}

/* the upper 8 floats */
VD_AVX512_INLINE __m256 vd_avx512_hi(v16 x) {
    return _mm256_castpd_ps(V(extractf64x4_pd)(V(castps_pd)(x), 1));
}

/* 8 floats, the upper 8 lanes zero */
VD_AVX512_INLINE v16 vd_avx512_load8z(const float *p) {
    return vd_avx512_join(_mm256_loadu_ps(p), _mm256_setzero_ps());
}

/* vd_avx2_act on each 8-float half (for act of vd_avx2_act_ok), so that results equal AVX2's */
VD_AVX512_INLINE v16 vd_avx512_act(vd_act act, v16 y) {
    if (act == VD_ACT_RELU) return V(max_ps)(V(setzero_ps)(), y); /* NaN stays NaN */
    return vd_avx512_join(vd_avx2_act(act, V(castps512_ps256)(y)),
                          vd_avx2_act(act, vd_avx512_hi(y)));
}

#endif

#endif
