/* What the Winograd convolution (fast_winograd.c) shares with its AVX-512 transforms
 * (fast_winograd_avx512.c): the tables of a group of 8 tiles, the transforms' arithmetic
 * (B^T, A^T) and the stores of output rows, all lane by lane, so that a tile's result does not
 * depend on whether it went through 8-lane or 16-lane vectors. */
#ifndef VD_CPU_FAST_WINOGRAD_H
#define VD_CPU_FAST_WINOGRAD_H

#include "core/cpu/fast_avx2.h"

#define VD_WG_PF_MAX 48 /* cache lines a group's transform asks for ahead (vd_wg_rows.pf) */
#define VD_WG_EDGE_FLOATS (6 * 8 * 8) /* a group's zero-padded edge rows: [row][lane][8] */

/* Where lane i's input row r comes from, for one group of 8 tiles (the same in every
 * channel): src >= 0 an offset into the channel plane (8 floats readable, the first a the
 * tile's), -1 zeros, -2 the edge buffer (columns [lo, hi) of the a inside the map). */
typedef struct vd_wg_rows {
    int64_t src[6][8];
    int64_t off[6][8]; /* edge rows: offset of the tile's first column (may be outside) */
    int lo[6][8], hi[6][8];
    int n_edge;
    int direct; /* every row of every lane direct (src >= 0) */
    int npf;
    int64_t pf[VD_WG_PF_MAX]; /* offsets of the cache lines the group reads */
} vd_wg_rows;

/* Output pixels of one group of 8 tiles: lane i writes rows [0, nr) and columns [0, ncol)
 * of its m x m block at offset base of each output plane. */
typedef struct vd_wg_out {
    int64_t base[8];
    int nr[8], ncol[8];
    int nv, npf;
    int64_t pf[VD_WG_PF_MAX]; /* offsets of the cache lines the group writes */
} vd_wg_out;

/* Asks for the lines a group's input transform reads in the channel plane xc (the next
 * channel's, while the transform does this one). */
static inline void vd_wg_prefetch_rows(const float *xc, const vd_wg_rows *g) {
    for (int q = 0; q < g->npf; q++) __builtin_prefetch(xc + g->pf[q], 0, 3);
}

/* The same for the lines a group's output transform writes in the output plane yk and reads
 * in the residual's rk (NULL: none). */
static inline void vd_wg_prefetch_out(float *yk, const float *rk, const vd_wg_out *go) {
    for (int q = 0; q < go->npf; q++) {
        __builtin_prefetch(yk + go->pf[q], 1, 3);
        if (rk) __builtin_prefetch(rk + go->pf[q], 0, 3);
    }
}

/* The input transform, 16 tiles a vector: V of input channels [c0, c1) of one image (xn,
 * channel planes of `plane` floats) for `groups` groups of 8 tiles (their tables rows[]).
 * Group g's 8 tiles of channel c go to v + (g / 2) * c_all * 16 + c * 16 + (g % 2) * 8 in each
 * of the a*a matrices (vstride floats apart): panels of 16 tiles for vd_mm. An odd last group
 * fills its panel's other half with zeros (which vd_mm does not read). edge: groups *
 * VD_WG_EDGE_FLOATS floats, zero where a group's edge rows are not written (the caller clears
 * it once per block). */
typedef void vd_wg512_input_fn(int a, const float *xn, int64_t plane, const vd_wg_rows *rows,
                               int64_t groups, int64_t c0, int64_t c1, int64_t c_all,
                               float *edge, float *v, int64_t vstride);

/* The output transform, 16 tiles a vector: kn output channels from M (channel k's row at
 * m + k * tb, tiles consecutive, the a*a matrices mstride floats apart) into planes y + k *
 * oplane (width ow), + bias[k] (bias NULL: none), + the residual at res + k * oplane (NULL:
 * none), then act, for `groups` groups of 8 tiles (their tables go[]). */
typedef void vd_wg512_output_fn(int a, const float *m, int64_t tb, int64_t mstride,
                                const vd_wg_out *go, int64_t groups, int64_t kn,
                                const float *bias, float *y, const float *res, int64_t oplane,
                                int64_t ow, vd_act act);

/* The transforms compiled for AVX-512F (call only when the CPU has it; fast_mm.h's
 * vd_cpu_avx512_kernels picks them). Tests build the same source with SIMDe under other
 * names. */
#ifndef VD_WG512_INPUT
#define VD_WG512_INPUT vd_wg512_input
#define VD_WG512_OUTPUT vd_wg512_output
#endif
vd_wg512_input_fn VD_WG512_INPUT;
vd_wg512_output_fn VD_WG512_OUTPUT;

#if VD_HAVE_AVX2_CODE

/* Stores one output row (py) of the 8 tiles of a group: q[i], pixels of lane i in 4 floats
 * (the first ncol used), + the residual, then ReLU when act is ReLU (other activations came
 * before the residual, which only ReLU may follow). m 4: q from the 4x4 transposition of
 * the row's vectors, s[i] holding lanes i and i + 4 in its two 128-bit halves. */
VD_AVX2_INLINE void vd_wg_store4(const __m256 *s, const vd_wg_out *go, int py, int64_t ow,
                                 float *yk, const float *rk, vd_act act) {
    const __m128 zero = _mm_setzero_ps();
    for (int i = 0; i < go->nv; i++) {
        if (py >= go->nr[i]) continue;
        __m128 q = i < 4 ? _mm256_castps256_ps128(s[i]) : _mm256_extractf128_ps(s[i - 4], 1);
        int64_t at0 = go->base[i] + py * ow;
        if (go->ncol[i] == 4) {
            if (rk) q = _mm_add_ps(q, _mm_loadu_ps(rk + at0));
            if (act == VD_ACT_RELU) q = _mm_max_ps(zero, q);
            _mm_storeu_ps(yk + at0, q);
        } else {
            float f[4];
            _mm_storeu_ps(f, q);
            for (int px = 0; px < go->ncol[i]; px++) {
                float vv = f[px] + (rk ? rk[at0 + px] : 0.0f);
                if (act == VD_ACT_RELU) vv = vv < 0.0f ? 0.0f : vv;
                yk[at0 + px] = vv;
            }
        }
    }
}

/* The same for m 2: f0[i] and f1[i] are pixels 0 and 1 of lane i. */
static inline void vd_wg_store2(const float *f0, const float *f1, const vd_wg_out *go, int py,
                                int64_t ow, float *yk, const float *rk, vd_act act) {
    for (int i = 0; i < go->nv; i++) {
        if (py >= go->nr[i]) continue;
        int64_t at0 = go->base[i] + py * ow;
        for (int px = 0; px < go->ncol[i]; px++) {
            float vv = (px ? f1 : f0)[i] + (rk ? rk[at0 + px] : 0.0f);
            if (act == VD_ACT_RELU) vv = vv < 0.0f ? 0.0f : vv;
            yk[at0 + px] = vv;
        }
    }
}

/* The transforms' arithmetic, written once for both widths: OP(f) names the intrinsic f of
 * the width (_mm256_##f, or the AVX-512 V(f)), and every lane gets the same operations in the
 * same order. */

/* r = B^T d over a values (a column or a row of the tile), a 4 or 6 */
#define VD_WG_BT(OP, a, d, r)                                                                   \
    do {                                                                                        \
        if ((a) == 4) {                                                                         \
            r[0] = OP(sub_ps)(d[0], d[2]);                                                      \
            r[1] = OP(add_ps)(d[1], d[2]);                                                      \
            r[2] = OP(sub_ps)(d[2], d[1]);                                                      \
            r[3] = OP(sub_ps)(d[1], d[3]);                                                      \
            break;                                                                              \
        }                                                                                       \
        const __typeof__(r[0]) four_ = OP(set1_ps)(4.0f), five_ = OP(set1_ps)(5.0f);            \
        __typeof__(r[0]) p_ = OP(fnmadd_ps)(four_, d[2], d[4]); /* d4 - 4 d2 */                \
        __typeof__(r[0]) q_ = OP(fnmadd_ps)(four_, d[1], d[3]); /* d3 - 4 d1 */                \
        __typeof__(r[0]) c_ = OP(sub_ps)(d[4], d[2]);                                           \
        __typeof__(r[0]) e_ = OP(sub_ps)(d[3], d[1]);                                           \
        e_ = OP(add_ps)(e_, e_); /* 2 (d3 - d1) */                                              \
        r[0] = OP(fmadd_ps)(four_, d[0], OP(fnmadd_ps)(five_, d[2], d[4]));                     \
        r[1] = OP(add_ps)(p_, q_);                                                              \
        r[2] = OP(sub_ps)(p_, q_);                                                              \
        r[3] = OP(add_ps)(c_, e_);                                                              \
        r[4] = OP(sub_ps)(c_, e_);                                                              \
        r[5] = OP(fmadd_ps)(four_, d[1], OP(fnmadd_ps)(five_, d[3], d[5]));                     \
    } while (0)

/* o = A^T m over a values -> a - 2 */
#define VD_WG_AT(OP, a, m, o)                                                                   \
    do {                                                                                        \
        if ((a) == 4) {                                                                         \
            __typeof__(o[0]) s_ = OP(add_ps)(m[1], m[2]);                                       \
            o[0] = OP(add_ps)(m[0], s_);                                                        \
            o[1] = OP(sub_ps)(OP(sub_ps)(m[1], m[2]), m[3]);                                    \
            break;                                                                              \
        }                                                                                       \
        __typeof__(o[0]) s1_ = OP(add_ps)(m[1], m[2]), d1_ = OP(sub_ps)(m[1], m[2]);            \
        __typeof__(o[0]) s2_ = OP(add_ps)(m[3], m[4]), d2_ = OP(sub_ps)(m[3], m[4]);            \
        o[0] = OP(add_ps)(OP(add_ps)(m[0], s1_), s2_);                                          \
        o[1] = OP(fmadd_ps)(OP(set1_ps)(2.0f), d2_, d1_);                                       \
        o[2] = OP(fmadd_ps)(OP(set1_ps)(4.0f), s2_, s1_);                                       \
        o[3] = OP(add_ps)(OP(fmadd_ps)(OP(set1_ps)(8.0f), d2_, d1_), m[5]);                     \
    } while (0)

/* Bias and (without residual: wg_shape_fits) the activation on the m vectors of one output
 * row; ReLU comes after the residual, in the stores. ACT: the width's vd_avx2_act. */
#define VD_WG_ROW_EPILOGUE(OP, ACT, LANES, m, o, bias, act)                                    \
    do {                                                                                        \
        const __typeof__(o[0]) b_ = OP(set1_ps)(bias);                                          \
        for (int px_ = 0; px_ < (m); px_++) o[px_] = OP(add_ps)(o[px_], b_);                    \
        if ((act) == VD_ACT_RELU || (act) == VD_ACT_NONE) break;                                \
        if (vd_avx2_act_ok(act)) {                                                              \
            for (int px_ = 0; px_ < (m); px_++) o[px_] = ACT(act, o[px_]);                      \
            break;                                                                              \
        }                                                                                       \
        float buf_[4 * (LANES)];                                                                \
        for (int px_ = 0; px_ < (m); px_++) OP(storeu_ps)(buf_ + px_ * (LANES), o[px_]);        \
        vd_cpu_act_row(act, buf_, (m) * (LANES));                                               \
        for (int px_ = 0; px_ < (m); px_++) o[px_] = OP(loadu_ps)(buf_ + px_ * (LANES));        \
    } while (0)

/* The 4 vectors of an output row (pixel px, lanes = tiles) -> s[i]: 4 pixels of lanes i and
 * i + 4 (i < 4), each 128-bit part of the vectors on its own. */
#define VD_WG_TRANSPOSE4(OP, o, s)                                                              \
    do {                                                                                        \
        __typeof__(s[0]) t0_ = OP(unpacklo_ps)(o[0], o[1]), t1_ = OP(unpackhi_ps)(o[0], o[1]);  \
        __typeof__(s[0]) t2_ = OP(unpacklo_ps)(o[2], o[3]), t3_ = OP(unpackhi_ps)(o[2], o[3]);  \
        s[0] = OP(shuffle_ps)(t0_, t2_, 0x44), s[1] = OP(shuffle_ps)(t0_, t2_, 0xEE);           \
        s[2] = OP(shuffle_ps)(t1_, t3_, 0x44), s[3] = OP(shuffle_ps)(t1_, t3_, 0xEE);           \
    } while (0)

#endif

#endif
