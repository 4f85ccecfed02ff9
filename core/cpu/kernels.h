/* Internal declarations of the CPU kernels (ref_*.c, fast_*.c) collected in kernels_table.c,
 * and small helpers they share. Every kernel has the vd_cpu_kernel signature: it reads
 * dst->src[i]->data and writes dst->data (see cpu.h). */
#ifndef VD_CPU_KERNELS_H
#define VD_CPU_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/cpu/cpu.h"

/* ---- reference kernels: plain loops, double accumulators; single-threaded but for conv2d
 * and linear, which split their output planes / rows over the pool ------------------------ */
void vd_cpu_ref_conv2d(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_linear(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_pool2d(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_upsample(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_unary(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_binary(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_layer_norm(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_softmax(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_reduce_max(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_box_refine(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_concat(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_slice(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_permute(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_topk(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_gather(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_ref_attention(const vd_cpu_ctx *ctx, vd_tensor *dst);
size_t vd_cpu_ref_attention_scratch(const vd_tensor *dst, int n_threads);
void vd_cpu_ref_msda(const vd_cpu_ctx *ctx, vd_tensor *dst);
size_t vd_cpu_ref_msda_scratch(const vd_tensor *dst, int n_threads);

/* ---- fast kernels: split over ctx->pool (grouped convs: OpenBLAS single-threaded per task) */
void vd_cpu_fast_conv2d(const vd_cpu_ctx *ctx, vd_tensor *dst);
size_t vd_cpu_fast_conv2d_scratch(const vd_tensor *dst, int n_threads);
void vd_cpu_fast_upsample(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_fast_unary(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_fast_binary(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_fast_layer_norm(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_fast_softmax(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_fast_reduce_max(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_fast_box_refine(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_fast_concat(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_fast_permute(const vd_cpu_ctx *ctx, vd_tensor *dst);
void vd_cpu_fast_topk(const vd_cpu_ctx *ctx, vd_tensor *dst);
size_t vd_cpu_fast_topk_scratch(const vd_tensor *dst, int n_threads);

/* ---- packed GEMM (fast_mm.c) -------------------------------------------------------------- */

/* 1 when the CPU has AVX2 and FMA, or as forced by vd_cpu_force_isa. */
int vd_cpu_has_avx2(void);
/* 1 when vd_mm and the Winograd transforms run their AVX-512 kernels (fast_*_avx512.c): the
 * CPU has AVX-512F, AVX2 and FMA (every other fast kernel stays AVX2), or as forced. */
int vd_cpu_has_avx512(void);
/* Tests: 0 forces the plain C kernels, 1 AVX2, 2 AVX2 with the AVX-512 kernels (native, or
 * those given to vd_cpu_avx512_emulate; else 1), when compiled for x86-64; -1 automatic.
 * Process-wide; not for use while kernels run. */
void vd_cpu_force_isa(int level);

/* B operands are packed in panels of VD_MM_NR columns: panel p holds columns [16p, 16p+16) as
 * k rows of 16 floats (zeros past column n), panels one after the other. A panel row is one
 * AVX-512 vector, or two AVX2 ones: producers that work 8 columns at a time (im2col, Winograd)
 * fill half-panels, the left half at offset 0 of each row, the right at offset 8. */
#define VD_MM_NR 16
static inline size_t vd_mm_packed_floats(int64_t k, int64_t n) {
    return (size_t)((n + VD_MM_NR - 1) / VD_MM_NR) * VD_MM_NR * (size_t)k;
}

/* Packs B (k x n) into bp (vd_mm_packed_floats(k, n) floats): B[kk][j] = b[kk * ldb + j]
 * (trans 0) or b[j * ldb + kk] (trans 1, e.g. a linear layer's weight [n, k]). */
void vd_mm_pack_b(const float *b, int64_t ldb, int trans, int64_t k, int64_t n, float *bp);

/* What is applied to a finished tile of C: act(c + bias_row[i] + bias_col[j] + res[i][j]);
 * NULL members are skipped. Indices relative to the C of the vd_mm call. */
typedef struct vd_mm_epilogue {
    const float *bias_row; /* [m] */
    const float *bias_col; /* [n] */
    const float *res;      /* [m][ldr] */
    int64_t ldr;
    vd_act act;
} vd_mm_epilogue;

/* The depth of one pass of vd_mm: with a deeper k, the passes before the last store partial
 * sums into C, and the epilogue (residual included) comes with the last. */
#define VD_MM_KC 256

/* c[i * ldc + j] = epilogue(sum_kk a[i * lda + kk] * B[kk][j]) for i < m, j < n, with B
 * packed by vd_mm_pack_b (depth k). Single-threaded: callers split m and n over the pool.
 * epi may be NULL. Accumulates in f32 (FMA with AVX2), depth in passes of VD_MM_KC. With
 * k <= VD_MM_KC each residual value is read just before C's value at its place is written,
 * so c may be the residual itself. */
void vd_mm(const float *a, int64_t lda, const float *bp, int64_t k, float *c, int64_t ldc,
           int64_t m, int64_t n, const vd_mm_epilogue *epi);

/* The same with B unpacked: B[kk][j] = b[kk * ldb + j] (trans 0, ldb >= n: a pointwise
 * conv's input) or b[j * ldb + kk] (trans 1, ldb >= k: a linear layer's weight [n, k]). Each
 * strip of 16 columns x 256 rows is copied to the stack as it is needed. */
void vd_mm_inplace(const float *a, int64_t lda, const float *b, int64_t ldb, int trans,
                   int64_t k, float *c, int64_t ldc, int64_t m, int64_t n,
                   const vd_mm_epilogue *epi);

/* A packed for the AVX-512 kernel: tiles of 16 rows over the whole depth, row i of step kk at
 * ap[((i / 16) * k + kk) * 16 + i % 16] (the last tile's missing rows left unset: no kernel
 * reads them). Constant operands (Winograd's U) are packed once; vd_mm packs other A blocks
 * as it goes. Only where vd_cpu_has_avx512(). */
static inline size_t vd_mm_packed_a_floats(int64_t m, int64_t k) {
    return (size_t)((m + 15) / 16) * 16 * (size_t)k;
}
void vd_mm_pack_a(const float *a, int64_t lda, int64_t m, int64_t k, float *ap);

/* vd_mm with A packed by vd_mm_pack_a (from row 0 of a tile), only when vd_cpu_has_avx512(). */
void vd_mm_prepacked(const float *ap, const float *bp, int64_t k, float *c, int64_t ldc,
                     int64_t m, int64_t n, const vd_mm_epilogue *epi);

/* ---- conv2d and linear on the packed GEMM (fast_conv.c) and Winograd (fast_winograd.c) ----
 * The fast table's conv2d and linear. Prepared once per model (cpu.h): Winograd's U, and
 * w^T packed for linear (both work without: im2col instead of Winograd, w read in place). */
void vd_cpu_packed_conv2d(const vd_cpu_ctx *ctx, vd_tensor *dst);
size_t vd_cpu_packed_conv2d_scratch(const vd_tensor *dst, int n_threads);
int vd_cpu_packed_conv2d_overwrites(const vd_tensor *dst);
const vd_tensor *vd_cpu_packed_conv2d_prep_key(const vd_tensor *dst, int *variant);
void *vd_cpu_packed_conv2d_prep_make(const vd_tensor *dst, int variant, size_t *bytes);
void vd_cpu_packed_linear(const vd_cpu_ctx *ctx, vd_tensor *dst);
const vd_tensor *vd_cpu_packed_linear_prep_key(const vd_tensor *dst, int *variant);
void *vd_cpu_packed_linear_prep_make(const vd_tensor *dst, int variant, size_t *bytes);

/* How dst (a conv2d) runs as Winograd here: 4 = F(4x4, 3x3), 2 = F(2x2, 3x3), 0 = not at all
 * (it needs 3x3, stride 1, one group, AVX2 + FMA, no activation but ReLU after a residual,
 * and a map of at least 64 tiles). */
int vd_cpu_winograd_variant(const vd_tensor *dst);
/* The prepared U's variant (vd_cpu_packed_conv2d_prep_key) is vd_cpu_winograd_variant, with
 * this bit when U is packed for vd_mm's AVX-512 kernel (vd_mm_pack_a, when
 * vd_cpu_has_avx512()). */
#define VD_CPU_WINOGRAD_PACKED_U (1 << 8)
size_t vd_cpu_winograd_scratch(const vd_tensor *dst, int n_threads);
/* Tests: 1 makes multi-threaded Winograd share every block among the threads, 0 gives each
 * thread blocks of its own, -1 chooses by the shape (the default). Process-wide; not for use
 * while kernels run. */
void vd_cpu_force_winograd_shared(int shared);
/* Tests: 1 when, in every group of 8 tiles of dst's Winograd plan, the cache lines listed for
 * prefetching hold every input value the input transform reads and every output value it
 * writes, and lie inside the planes (whatever the planes' alignment); 0 otherwise or without
 * Winograd for dst. */
int vd_cpu_winograd_lines_ok(const vd_tensor *dst);
/* Runs dst as Winograd (variant != 0) with u (not NULL), the prepared transform (a*a, O, C)
 * of its weight (vd_cpu_packed_conv2d_prep_make). */
void vd_cpu_winograd_conv2d(const vd_cpu_ctx *ctx, vd_tensor *dst, const void *u);

/* Attention on the packed GEMM, MSDA head-major (fast_attn.c). */
void vd_cpu_mm_attention(const vd_cpu_ctx *ctx, vd_tensor *dst);
size_t vd_cpu_mm_attention_scratch(const vd_tensor *dst, int n_threads);
void vd_cpu_hm_msda(const vd_cpu_ctx *ctx, vd_tensor *dst);
size_t vd_cpu_hm_msda_scratch(const vd_tensor *dst, int n_threads);
const vd_tensor *vd_cpu_hm_msda_prep_key(const vd_tensor *dst, int *variant);
void *vd_cpu_hm_msda_prep_make(const vd_tensor *dst, int variant, size_t *bytes);

/* Separable pool2d (fast_pool.c): a pass along rows, then down columns. */
void vd_cpu_sep_pool2d(const vd_cpu_ctx *ctx, vd_tensor *dst);
size_t vd_cpu_sep_pool2d_scratch(const vd_tensor *dst, int n_threads);

/* ---- helpers ------------------------------------------------------------------------------ */

/* y[i] = act(y[i]) for n elements (fast_elementwise.c): relu, SiLU, sigmoid and GELU in
 * loops that vectorise (vd_cpu_expf, vd_cpu_erff), inverse sigmoid through vd_act_apply. Only at x = -inf does the
 * result differ in kind: SiLU gives -inf where the reference (and PyTorch) give NaN. */
void vd_cpu_act_row(vd_act act, float *y, int64_t n);

/* y = softmax(x) over n elements, max subtracted (y may be x); a row holding NaN gives NaN
 * (fast_elementwise.c). */
void vd_cpu_softmax_row(const float *x, float *y, int64_t n);

/* e^x for x in [-87.33, 88] with about 1.5 ulp of error; x is clamped to that range first
 * (e^-87.33 = 1.2e-38, e^88 = 1.7e38) and NaN gives NaN. No branches and no libm call, so
 * loops of it vectorise: the fast kernels (built with -fno-trapping-math, see CMakeLists)
 * use it for sigmoid, SiLU and softmax, where the clamp cannot matter. Cody-Waite reduction
 * x = n ln2 + r, a degree-7 polynomial for e^r, and 2^n built in the exponent bits. */
static inline float vd_cpu_expf(float x) {
    x = x < -87.33654f ? -87.33654f : x;
    x = x > 88.0f ? 88.0f : x;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504088896341f + magic;
    uint32_t tb, mb;
    memcpy(&tb, &t, 4);
    memcpy(&mb, &magic, 4);
    float n = t - magic; /* round(x / ln2), in [-126, 127]; also tb - mb */
    float r = x - n * 0.693359375f; /* ln2 split in two for an exact n * ln2_hi */
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t sb = (tb - mb + 127u) << 23; /* 2^n (unsigned: no overflow whatever x was) */
    float s;
    memcpy(&s, &sb, 4);
    return p * s;
}

/* Byte offsets into the per-thread slices of ctx->scratch: each slice is rounded up to 64. */
static inline size_t vd_cpu_slice_bytes(size_t per_thread) { return (per_thread + 63) & ~(size_t)63; }

static inline void *vd_cpu_thread_scratch(const vd_cpu_ctx *ctx, size_t per_thread, int thread) {
    return (char *)ctx->scratch + vd_cpu_slice_bytes(per_thread) * (size_t)thread;
}

/* Elements before, along and after `axis` of t: t viewed as [outer, ne[axis], inner]. */
static inline void vd_cpu_split_axis(const vd_tensor *t, int axis, int64_t *outer,
                                     int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= t->ne[i];
    for (int i = axis + 1; i < t->ndim; i++) *inner *= t->ne[i];
}

/* Rows of the last dim: t viewed as [rows, ne[ndim-1]]. */
static inline int64_t vd_cpu_rows(const vd_tensor *t) {
    return vd_nelements(t) / t->ne[t->ndim - 1];
}

/* Splits n items into `parts` nearly equal ranges; range i is [*b, *e). */
static inline void vd_cpu_range(int64_t n, int parts, int i, int64_t *b, int64_t *e) {
    *b = n * i / parts;
    *e = n * (i + 1) / parts;
}

/* Part i of `parts` of n items cut in units of `unit` (the last one may be short), the units
 * spread evenly: items [*b, *e). */
static inline void vd_cpu_unit_range(int64_t n, int64_t unit, int parts, int i, int64_t *b,
                                     int64_t *e) {
    vd_cpu_range((n + unit - 1) / unit, parts, i, b, e);
    *b *= unit;
    *e = VD_MIN(*e * unit, n);
}

/* How many blocks to cut `units` into: at least `blocks`, at most `units`, and such that
 * `per_block` tasks each make a multiple of the threads, so that the threads, handed tasks of
 * equal size (vd_cpu_range over the units), finish together: 13 equal tasks on 2 threads
 * keep one waiting for the 13th, 1/14 of the job. */
static inline int64_t vd_cpu_even_blocks(int64_t units, int64_t blocks, int64_t per_block,
                                         int n_threads) {
    while (n_threads > 1 && blocks < units && (blocks * per_block) % n_threads) blocks++;
    return blocks;
}

/* Number of tasks for an elementwise job of n items costing about `cost` each: enough to
 * spread over the threads, none smaller than about 16k units of work. */
static inline int vd_cpu_tasks(const vd_cpu_ctx *ctx, int64_t n, int64_t cost) {
    if (ctx->n_threads <= 1 || n <= 1) return 1;
    int64_t work = n * (cost < 1 ? 1 : cost);
    int64_t t = work / 16384;
    int64_t max = (int64_t)ctx->n_threads * 4;
    if (t > max) t = max;
    if (t > n) t = n;
    return (int)vd_cpu_even_blocks(n, t < 1 ? 1 : t, 1, ctx->n_threads);
}

/* Bilinear sampling geometry of one MSDA point on an h x w map (align_corners false, zero
 * padding): the four taps' row indices inside the level (-1 where outside) and weights. */
typedef struct vd_cpu_taps {
    int64_t idx[4]; /* (y0,x0), (y0,x1), (y1,x0), (y1,x1); -1 = outside, contributes 0 */
    float w[4];
} vd_cpu_taps;

static inline void vd_cpu_bilinear_taps(float loc_x, float loc_y, int h, int w, vd_cpu_taps *t) {
    float x = loc_x * (float)w - 0.5f, y = loc_y * (float)h - 0.5f;
    for (int i = 0; i < 4; i++) {
        t->idx[i] = -1;
        t->w[i] = 0;
    }
    /* NaN and far-away points sample nothing (and never reach the int conversion) */
    if (!(x > -1.0f && x < (float)w && y > -1.0f && y < (float)h)) return;
    float fx0 = floorf(x), fy0 = floorf(y);
    int x0 = (int)fx0, y0 = (int)fy0;
    float ax = x - fx0, ay = y - fy0;
    int xs[2] = {x0, x0 + 1}, ys[2] = {y0, y0 + 1};
    float wx[2] = {1.0f - ax, ax}, wy[2] = {1.0f - ay, ay};
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 2; i++) {
            if (xs[i] < 0 || xs[i] >= w || ys[j] < 0 || ys[j] >= h) continue;
            t->idx[j * 2 + i] = (int64_t)ys[j] * w + xs[i];
            t->w[j * 2 + i] = wx[i] * wy[j];
        }
}

/* The sampling location of MSDA point k (global point index) of level l for one query/head. */
static inline void vd_cpu_msda_loc(const vd_msda_params *p, const float *ref, const float *off,
                                   const float *point_scale, int l, int k, float *lx,
                                   float *ly) {
    if (p->ref_dim == 4) {
        *lx = ref[0] + off[0] * point_scale[k] * ref[2] * p->offset_scale;
        *ly = ref[1] + off[1] * point_scale[k] * ref[3] * p->offset_scale;
    } else {
        *lx = ref[0] + off[0] / (float)p->w[l];
        *ly = ref[1] + off[1] / (float)p->h[l];
    }
}

/* Total points per head of an MSDA node. */
static inline int vd_cpu_msda_points(const vd_msda_params *p) {
    int lp = 0;
    for (int l = 0; l < p->n_levels; l++) lp += p->points[l];
    return lp;
}

/* erf(x) with at most 4e-7 absolute error in f32 (Abramowitz & Stegun 7.1.26, 1.5e-7 in
 * exact arithmetic; the formula of PyTorch's own vectorised CPU erf), branch-free so GELU
 * loops vectorise. */
static inline float vd_cpu_erff(float x) {
    float a = x < 0.0f ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    float y = 1.0f - p * t * vd_cpu_expf(-a * a);
    return x < 0.0f ? -y : y;
}

#endif
