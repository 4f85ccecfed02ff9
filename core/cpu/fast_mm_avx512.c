/* The AVX-512 micro-kernel of vd_mm (fast_mm.c): a 16x16 block of C in 16 zmm registers. Per
 * step of the depth it loads one row of B (16 floats, one vector) and multiplies it by 16
 * values of A, each broadcast from memory into its fused multiply-add; A comes packed by the
 * driver (16 consecutive floats per step), so the 16 broadcasts of a step read one cache line
 * and no two rows of A compete for an L1 set, whatever the stride of A. That is 16 FMAs for
 * 17 loads: two 512-bit FMAs per cycle (Zen 5, Sapphire Rapids) need about 2.1 loads per
 * cycle, within the 3 or more those cores issue.
 *
 * Each element of C is the same chain of FMAs over the depth, in the same order, as in the
 * AVX2 kernel (6x16, two 8-float halves), and the epilogue adds in the same order and applies
 * the activation with the same AVX2 code on each half, so results are identical to AVX2's.
 *
 * Built twice, as fast_avx512.h says; the tests run it under another name (VD_MM512_KERNEL). */
#include "core/cpu/fast_avx512.h"
#include "core/cpu/fast_mm.h"

#if VD_HAVE_AVX2_CODE

#ifdef VD_AVX512_EMULATE
#define MM512_KERN static __attribute__((noinline)) VD_AVX512 /* one copy: see below */
#else
#define MM512_KERN VD_AVX512_INLINE
#endif

VD_AVX512_INLINE v16 loadn(const int two, const float *p) {
    return two ? V(loadu_ps)(p) : vd_avx512_load8z(p);
}

/* ROWS(X) expands X for each of the 16 rows; rows past `rows` are dead code after inlining
 * with constant rows. Named accumulators, as in fast_mm.c (an array would live on the stack). */
#define ROWS VD_MM_ROWS16

MM512_KERN void kern(const int rows, const int two, const float *ap, const float *b,
                       int64_t kc, float *c, int64_t ldc, int load_c, const vd_mm_tile_epi *e) {
    const v16 zero = V(setzero_ps)();
#define DECL(i)                                                                                 \
    v16 x##i = zero;                                                                            \
    if (load_c && rows > (i)) x##i = loadn(two, c + (i) * ldc);
    ROWS(DECL)
#undef DECL
    vd_mm_tile_prefetch(rows, e, c, ldc, load_c);
    for (int64_t kk = 0; kk < kc; kk++) {
        const v16 v = loadn(two, b + kk * 16);
        const float *ak = ap + kk * VD_MM512_MR;
#define STEP(i)                                                                                 \
        if (rows > (i)) x##i = V(fmadd_ps)(V(set1_ps)(ak[i]), v, x##i);
        ROWS(STEP)
#undef STEP
    }
    if (e) {
        v16 bc = zero;
        if (e->bias_col) bc = loadn(two, e->bias_col);
#define EPI(i)                                                                                  \
        if (rows > (i)) {                                                                       \
            if (e->bias_row) x##i = V(add_ps)(x##i, V(set1_ps)(e->bias_row[i]));                \
            if (e->bias_col) x##i = V(add_ps)(x##i, bc);                                        \
            if (e->res) x##i = V(add_ps)(x##i, loadn(two, e->res + (i) * e->ldr));              \
            if (e->act != VD_ACT_NONE) x##i = vd_avx512_act(e->act, x##i);                     \
        }
        ROWS(EPI)
#undef EPI
    }
#define STORE(i)                                                                                \
    if (rows > (i)) {                                                                           \
        if (two) V(storeu_ps)(c + (i) * ldc, x##i);                                             \
        else _mm256_storeu_ps(c + (i) * ldc, V(castps512_ps256)(x##i));                         \
    }
    ROWS(STORE)
#undef STORE
}
#undef ROWS

/* the case of i + 1 rows */
#define KERN_CASE(i)                                                                            \
    case (i) + 1:                                                                               \
        if (two) kern((i) + 1, 1, ap, b, kc, c, ldc, load_c, e);                                \
        else kern((i) + 1, 0, ap, b, kc, c, ldc, load_c, e);                                    \
        return;

/* Natively, one copy of kern per row count and width, each with its constants folded in.
 * Emulated, a single copy with rows and two as variables: the same code, and compiling 32
 * copies of SIMDe took minutes (more under ASan) for no test that the one copy misses. */
VD_AVX512 void VD_MM512_KERNEL(int rows, int two, const float *ap, const float *b,
                                  int64_t kc, float *c, int64_t ldc, int load_c,
                                  const vd_mm_tile_epi *e) {
#ifdef VD_AVX512_EMULATE
    if (rows >= 1 && rows <= VD_MM512_MR) kern(rows, two, ap, b, kc, c, ldc, load_c, e);
#else
    switch (rows) {
        VD_MM_ROWS16(KERN_CASE)
    default: return;
    }
#endif
}
#undef KERN_CASE

#else
typedef int vd_mm512_none; /* not x86-64: no kernel (an empty file is not C) */
#endif
