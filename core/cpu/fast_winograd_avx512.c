/* The Winograd transforms (fast_winograd.c) on 16 tiles a vector, for AVX-512F: two groups of
 * 8 tiles at once, so that a transposition serves 16 tiles and each vector of V fills a
 * whole 16-tile panel of vd_mm's B. Per input row of the 16 tiles: 16 loads of 8 floats, 8
 * joins, 8 + 8 in-lane shuffles and 8 128-bit-lane shuffles, where AVX2 needs twice 24
 * shuffles; B^T and A^T then run on 16 lanes. Each lane gets exactly the operations of the
 * 8-lane transforms (fast_winograd.h writes them once for both widths), so results equal
 * AVX2's bit for bit (tests/test_ops_cpu_fast.c compares them).
 *
 * The input: vector k (k < 4) holds row r of tiles k and k + 4 of the first group in its two
 * halves, vector k + 4 those of the second group. The in-lane steps of the 8x8 transposition
 * (unpack, shuffle) then leave s[j] (j < 4) with columns j and j + 4 of tiles 0-3, 0-3, 4-7,
 * 4-7 in its four 128-bit lanes and s[j + 4] the same for tiles 8-15, so that one
 * shuffle_f32x4 of the two gives a column of the 16 tiles in order.
 *
 * Built twice, as fast_avx512.h says; the tests run it under other names (VD_WG512_INPUT,
 * VD_WG512_OUTPUT). */
#include "core/cpu/fast_avx512.h"
#include "core/cpu/fast_winograd.h"

#if VD_HAVE_AVX2_CODE

/* row r of lane i of group g: 8 floats, the first a the tile's (vd_wg_rows) */
VD_AVX512_INLINE __m256 row8(const float *xc, const vd_wg_rows *g, int r, int i, float *edge) {
    int64_t s = g->src[r][i];
    if (s >= 0) return _mm256_loadu_ps(xc + s);
    if (s == -1) return _mm256_setzero_ps();
    float *e = edge + (r * 8 + i) * 8; /* zeros outside [lo, hi) were set for the block */
    const float *xs = xc + g->off[r][i];
    for (int q = g->lo[r][i]; q < g->hi[r][i]; q++) e[q] = xs[q];
    return _mm256_loadu_ps(e);
}

/* One channel of the groups g0 and g1 (NULL: none, zeros): a*a vectors of 16 tiles at
 * v + xi * vstride. */
VD_AVX512_INLINE void input_pair(const int a, const float *xc, const vd_wg_rows *g0,
                             const vd_wg_rows *g1, float *e0, float *e1, float *v,
                             int64_t vstride) {
    v16 tmp[6][6]; /* [tile row r][column j'] = (d B)[r][j'], lanes = tiles */
    const int direct = g0->direct && g1 && g1->direct;
    for (int r = 0; r < a; r++) {
        v16 z[8];
        for (int k = 0; k < 4; k++) {
            if (direct) {
                z[k] = vd_avx512_join(_mm256_loadu_ps(xc + g0->src[r][k]),
                                      _mm256_loadu_ps(xc + g0->src[r][k + 4]));
                z[k + 4] = vd_avx512_join(_mm256_loadu_ps(xc + g1->src[r][k]),
                                          _mm256_loadu_ps(xc + g1->src[r][k + 4]));
                continue;
            }
            z[k] = vd_avx512_join(row8(xc, g0, r, k, e0), row8(xc, g0, r, k + 4, e0));
            z[k + 4] = g1 ? vd_avx512_join(row8(xc, g1, r, k, e1), row8(xc, g1, r, k + 4, e1))
                          : V(setzero_ps)();
        }
        v16 t[8], s[8], col[6];
        for (int k = 0; k < 8; k += 2) {
            t[k] = V(unpacklo_ps)(z[k], z[k + 1]);
            t[k + 1] = V(unpackhi_ps)(z[k], z[k + 1]);
        }
        for (int k = 0; k < 8; k += 4) {
            s[k] = V(shuffle_ps)(t[k], t[k + 2], 0x44);
            s[k + 1] = V(shuffle_ps)(t[k], t[k + 2], 0xEE);
            s[k + 2] = V(shuffle_ps)(t[k + 1], t[k + 3], 0x44);
            s[k + 3] = V(shuffle_ps)(t[k + 1], t[k + 3], 0xEE);
        }
        for (int j = 0; j < 4; j++) col[j] = V(shuffle_f32x4)(s[j], s[j + 4], 0x88);
        for (int j = 4; j < a; j++) col[j] = V(shuffle_f32x4)(s[j - 4], s[j], 0xDD);
        VD_WG_BT(V, a, col, tmp[r]);
    }
    for (int j2 = 0; j2 < a; j2++) {
        v16 cc[6], out[6];
        for (int r = 0; r < a; r++) cc[r] = tmp[r][j2];
        VD_WG_BT(V, a, cc, out);
        for (int r2 = 0; r2 < a; r2++) V(storeu_ps)(v + (r2 * a + j2) * vstride, out[r2]);
    }
}

VD_AVX512_INLINE void input_loop(const int a, const float *xn, int64_t plane,
                             const vd_wg_rows *rows, int64_t groups, int64_t c0, int64_t c1,
                             int64_t c_all, float *edge, float *v, int64_t vstride) {
    for (int64_t c = c0; c < c1; c++)
        for (int64_t g = 0; g < groups; g += 2) {
            const vd_wg_rows *g1 = g + 1 < groups ? &rows[g + 1] : NULL;
            if (c + 1 < c1) { /* the next channel's lines of these groups */
                vd_wg_prefetch_rows(xn + (c + 1) * plane, &rows[g]);
                if (g1) vd_wg_prefetch_rows(xn + (c + 1) * plane, g1);
            }
            input_pair(a, xn + c * plane, &rows[g], g1, edge + g * VD_WG_EDGE_FLOATS,
                       edge + (g + 1) * VD_WG_EDGE_FLOATS, v + (g / 2) * c_all * 16 + c * 16,
                       vstride);
        }
}

VD_AVX512 void VD_WG512_INPUT(int a, const float *xn, int64_t plane, const vd_wg_rows *rows,
                              int64_t groups, int64_t c0, int64_t c1, int64_t c_all, float *edge,
                              float *v, int64_t vstride) {
    if (a == 6) input_loop(6, xn, plane, rows, groups, c0, c1, c_all, edge, v, vstride);
    else input_loop(4, xn, plane, rows, groups, c0, c1, c_all, edge, v, vstride);
}

/* One output channel of the groups g0 and g1 (NULL: none; its lanes of M are not read). */
VD_AVX512_INLINE void output_pair(const int a, const float *mm, int64_t mstride, float bias,
                              const vd_wg_out *g0, const vd_wg_out *g1, int64_t ow, float *yk,
                              const float *rk, vd_act act) {
    const int m = a - 2;
    v16 t[6][4]; /* t[j][py] = (A^T M)[py][j] */
    for (int j = 0; j < a; j++) {
        v16 mc[6];
        for (int r = 0; r < a; r++) {
            const float *q = mm + (r * a + j) * mstride;
            mc[r] = g1 ? V(loadu_ps)(q) : vd_avx512_load8z(q);
        }
        VD_WG_AT(V, a, mc, t[j]);
    }
    for (int py = 0; py < m; py++) {
        v16 row[6], o[4];
        for (int j = 0; j < a; j++) row[j] = t[j][py];
        VD_WG_AT(V, a, row, o);
        VD_WG_ROW_EPILOGUE(V, vd_avx512_act, 16, m, o, bias, act);
        if (m == 2) { /* 2 pixels per tile: through a buffer */
            float f[2][16];
            V(storeu_ps)(f[0], o[0]);
            V(storeu_ps)(f[1], o[1]);
            vd_wg_store2(f[0], f[1], g0, py, ow, yk, rk, act);
            if (g1) vd_wg_store2(f[0] + 8, f[1] + 8, g1, py, ow, yk, rk, act);
            continue;
        }
        v16 s[4];
        VD_WG_TRANSPOSE4(V, o, s);
        /* the lower 8 lanes are g0's tiles, the upper 8 g1's: their s as AVX2 has them */
        __m256 lo[4], hi[4];
        for (int i = 0; i < 4; i++) lo[i] = V(castps512_ps256)(s[i]), hi[i] = vd_avx512_hi(s[i]);
        vd_wg_store4(lo, g0, py, ow, yk, rk, act);
        if (g1) vd_wg_store4(hi, g1, py, ow, yk, rk, act);
    }
}

VD_AVX512_INLINE void output_loop(const int a, const float *m, int64_t tb, int64_t mstride,
                              const vd_wg_out *go, int64_t groups, int64_t kn, const float *bias,
                              float *y, const float *res, int64_t oplane, int64_t ow,
                              vd_act act) {
    for (int64_t k = 0; k < kn; k++)
        for (int64_t g = 0; g < groups; g += 2) {
            const vd_wg_out *g1 = g + 1 < groups ? &go[g + 1] : NULL;
            if (k + 1 < kn) { /* the next channel's output (and residual) */
                const float *rn = res ? res + (k + 1) * oplane : NULL;
                vd_wg_prefetch_out(y + (k + 1) * oplane, rn, &go[g]);
                if (g1) vd_wg_prefetch_out(y + (k + 1) * oplane, rn, g1);
            }
            output_pair(a, m + k * tb + g * 8, mstride, bias ? bias[k] : 0.0f, &go[g], g1, ow,
                        y + k * oplane, res ? res + k * oplane : NULL, act);
        }
}

VD_AVX512 void VD_WG512_OUTPUT(int a, const float *m, int64_t tb, int64_t mstride,
                               const vd_wg_out *go, int64_t groups, int64_t kn,
                               const float *bias, float *y, const float *res, int64_t oplane,
                               int64_t ow, vd_act act) {
    if (a == 6) output_loop(6, m, tb, mstride, go, groups, kn, bias, y, res, oplane, ow, act);
    else output_loop(4, m, tb, mstride, go, groups, kn, bias, y, res, oplane, ow, act);
}

#else
typedef int vd_wg512_none; /* not x86-64: no transforms (an empty file is not C) */
#endif
