/* What fast_mm.c (the GEMM's driver) shares with fast_mm_avx512.c (its AVX-512 micro-kernel):
 * the epilogue of one tile and the micro-kernel's signature; and the table of the AVX-512
 * kernels that fast_mm.c picks for everyone (vd_cpu_avx512_kernels). */
#ifndef VD_CPU_FAST_MM_H
#define VD_CPU_FAST_MM_H

#include "core/cpu/fast_winograd.h"
#include "core/cpu/kernels.h"

/* The epilogue of one tile, relative to the tile's first row and column. */
typedef struct vd_mm_tile_epi {
    const float *bias_row, *bias_col, *res;
    int64_t ldr;
    vd_act act; /* NONE, RELU, or one that vd_avx2_act_ok accepts */
} vd_mm_tile_epi;

/* A kernel's first step: the tile's residual and its rows of C come from memory and are used
 * after the loop over the depth (hundreds of cycles later), so ask for them now. */
static inline __attribute__((always_inline)) void
vd_mm_tile_prefetch(int rows, const vd_mm_tile_epi *e, const float *c, int64_t ldc, int load_c) {
    for (int i = 0; i < rows; i++) {
        if (e && e->res) __builtin_prefetch(e->res + i * e->ldr, 0, 3);
        if (!load_c) __builtin_prefetch(c + i * ldc, 1, 3);
    }
}

#define VD_MM512_MR 16 /* rows of C per AVX-512 tile */

/* X(i) for each row i of a tile, 6 (AVX2) or 16 (AVX-512): the kernels' named accumulators
 * (an array of vectors would live on the stack) and their switches over the row count. */
#define VD_MM_ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define VD_MM_ROWS16(X) \
    VD_MM_ROWS6(X) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)

/* C (rows x 16 when two, else x 8, at stride ldc) = [C +] A B, then e (may be NULL), for
 * rows <= VD_MM512_MR. A is packed: kc steps of VD_MM512_MR floats, row i of step kk at
 * ap[kk * VD_MM512_MR + i]; B is kc rows of 16 floats (only the first 8 read unless two).
 * Every element is the same chain of fused multiply-adds, in the same order, as in the AVX2
 * kernel of fast_mm.c, so the two give identical results. */
typedef void vd_mm512_kernel(int rows, int two, const float *ap, const float *b, int64_t kc,
                             float *c, int64_t ldc, int load_c, const vd_mm_tile_epi *e);

/* The kernel compiled for AVX-512F (x86-64 with GCC or clang only; call it only when
 * vd_cpu_has_avx512()). Tests build the same source with SIMDe under another name
 * (VD_MM512_KERNEL). */
#ifndef VD_MM512_KERNEL
#define VD_MM512_KERNEL vd_mm512_kern
#endif
vd_mm512_kernel VD_MM512_KERNEL;

/* The AVX-512 kernels, all from one build: compiled for AVX-512F, or the tests' copies on
 * SIMDe. */
typedef struct vd_avx512_kernels {
    vd_mm512_kernel *mm;
    vd_wg512_input_fn *wg_input;
    vd_wg512_output_fn *wg_output;
} vd_avx512_kernels;

/* The AVX-512 kernels to run, or NULL where vd_cpu_has_avx512() is 0. */
const vd_avx512_kernels *vd_cpu_avx512_kernels(void);

/* Tests: run k (its copies built on SIMDe) instead of the native kernels, which also lets
 * vd_cpu_force_isa(2) reach them on a CPU without AVX-512 (NULL: the native ones again).
 * Process-wide; not for use while kernels run. */
void vd_cpu_avx512_emulate(const vd_avx512_kernels *k);

#endif
