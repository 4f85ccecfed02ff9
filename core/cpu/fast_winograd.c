/* Winograd F(4x4, 3x3) and F(2x2, 3x3) for 3x3 stride-1 convolutions (AVX2 + FMA; AVX-512F).
 *
 * Each m x m block of output pixels (a tile) comes from an a x a block of input d, a = m + 2:
 *     Y = A^T [ U (.) V ] A,   U = G g G^T (the weights),   V = B^T d B,
 * summed over input channels, so that the a*a products (.) of all channels become a*a GEMMs
 *     M[xi] (K x tiles) = U[xi] (K x C) V[xi] (C x tiles),   xi = 0 .. a*a - 1,
 * 36/16 = 2.25 (F4) or 16/4 = 4 (F2) multiplications per output instead of 9. Points 0, +-1,
 * +-2 (Lavin & Gray); against the direct sum in double the f32 error is a few 1e-6 relative
 * to sum |w x| for F4, less for F2 (tests/test_ops_cpu_fast.c bounds both).
 *
 * Which (vd_cpu_winograd_variant): F4 on maps of at least 64 of its tiles (32x32 pixels),
 * else F2 on maps of at least 64 of its tiles (16x16), else none (im2col). U (4x the weight
 * for F4, 16/9 for F2) is prepared once per model: made for each run it cost 17% of a
 * 256-channel 40x40 convolution (F4) and ~20% on F2's small maps. Where vd_mm runs its
 * AVX-512 kernel, each U[xi] is also packed for it (vd_mm_pack_a): packing it on every run
 * would cost about a third of GEMMs whose blocks have 32 tiles. Without a prepared U the
 * convolution takes the im2col path (fast_conv.c).
 *
 * Work is split in blocks of tiles (a multiple of 8, consecutive in row-major tile order of
 * one image). For each block the input (all channels) is transformed into V (the B operand of
 * vd_mm, 16 tiles per panel, each transform filling half of one), the a*a GEMMs run into M,
 * and M is transformed back into the output, with bias, residual and activation. Both
 * transforms work on 8 tiles at once, one tile per vector lane: rows of the input are loaded
 * 8 wide per tile and transposed (8x8), and output rows transposed back. With AVX-512F they
 * work on 16 tiles (two groups of 8) at once instead (fast_winograd_avx512.c), with results
 * identical to the 8-lane ones.
 *
 * Threads: with enough blocks each task is one block, V and M in the thread's own scratch.
 * With few blocks (small maps, or wide channels whose blocks are large) the threads share
 * each block instead, in three passes: the input transform split over input channels into
 * one V, the a*a GEMMs one a task into one M, then the output transform split over output
 * channels. That keeps the memory of a block the same as on one thread (V is not made once
 * per thread, which on 2 threads pushed the working set of a 256-channel layer out of L3),
 * does no transform twice, and reads V and U once (splitting the GEMMs over output channels
 * instead read all of V once per chunk: 256->256 at 80x80 and 128->128 at 40x40 were about 10%
 * slower on 2 threads). */
#include "core/cpu/fast_mm.h"

#define WG_X86 VD_HAVE_AVX2_CODE
#if WG_X86
#define WG_AVX2 VD_AVX2
#else
#define WG_AVX2
#endif

#define WG_NEAR_BUDGET ((int64_t)1200 << 10) /* bytes of V and M per task that stay near */
#define WG_MAX_TB 256                      /* tiles per block, at most */
#define WG_MIN_TILES 64

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int shared_override = -1; /* tests: vd_cpu_force_winograd_shared */

void vd_cpu_force_winograd_shared(int shared) { shared_override = shared < 0 ? -1 : !!shared; }

static int wg_shape_fits(const vd_tensor *dst) {
    const vd_tensor *w = dst->src[1];
    const vd_conv2d_params *p = &dst->p.conv;
    if (!WG_X86 || !vd_cpu_has_avx2()) return 0;
    if (w->ne[2] != 3 || w->ne[3] != 3 || p->stride_h != 1 || p->stride_w != 1 || p->groups != 1)
        return 0;
    /* the residual is added after the transposition, where only ReLU follows it */
    if (dst->src[3] && p->act != VD_ACT_NONE && p->act != VD_ACT_RELU) return 0;
    return 1;
}

int vd_cpu_winograd_variant(const vd_tensor *dst) {
    if (!wg_shape_fits(dst)) return 0;
    int64_t oh = dst->ne[2], ow = dst->ne[3];
    if (ceil_div(oh, 4) * ceil_div(ow, 4) >= WG_MIN_TILES) return 4;
    if (ceil_div(oh, 2) * ceil_div(ow, 2) >= WG_MIN_TILES) return 2;
    return 0;
}

/* ---- weights: U[xi][o][c] = (G g G^T)[xi / a][xi % a] --------------------------------------- */

static const float wg_g4[6][3] = {
    {0.25f, 0, 0},
    {-1.0f / 6, -1.0f / 6, -1.0f / 6},
    {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6},
    {1.0f / 24, -1.0f / 12, 1.0f / 6},
    {0, 0, 1},
};
static const float wg_g2[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};

/* U of w (O, C, 3, 3) into u (a*a, O, C); in f32, 64 (o, c) pairs at a time so that the
 * loops vectorise (one rounding per product and sum). */
static WG_AVX2 void wg_weights(const float *w, int64_t o, int64_t c, int a, float *u) {
    enum { B = 64 };
    const float(*gm)[3] = a == 6 ? wg_g4 : wg_g2;
    int64_t n = o * c;
    for (int64_t b0 = 0; b0 < n; b0 += B) {
        int nb = (int)VD_MIN(B, n - b0);
        float g[9][B], t[6][3][B];
        for (int q = 0; q < nb; q++)
            for (int e = 0; e < 9; e++) g[e][q] = w[(b0 + q) * 9 + e];
        for (int i = 0; i < a; i++)
            for (int jj = 0; jj < 3; jj++)
                for (int q = 0; q < nb; q++)
                    t[i][jj][q] = gm[i][0] * g[jj][q] + gm[i][1] * g[3 + jj][q] +
                                  gm[i][2] * g[6 + jj][q];
        for (int i = 0; i < a; i++)
            for (int jj = 0; jj < a; jj++) {
                float *ur = u + (i * a + jj) * n + b0;
                for (int q = 0; q < nb; q++)
                    ur[q] = t[i][0][q] * gm[jj][0] + t[i][1][q] * gm[jj][1] + t[i][2][q] * gm[jj][2];
            }
    }
}

/* 1 when each U[xi] is packed for vd_mm's AVX-512 kernel: the prepared U and the plan that
 * reads it both ask here */
static int wg_packed_u(void) { return vd_cpu_has_avx512(); }

const vd_tensor *vd_cpu_packed_conv2d_prep_key(const vd_tensor *dst, int *variant) {
    *variant = vd_cpu_winograd_variant(dst);
    if (*variant && wg_packed_u()) *variant |= VD_CPU_WINOGRAD_PACKED_U;
    return *variant ? dst->src[1] : NULL;
}

/* floats between the matrices U[xi] of the prepared U */
static int64_t wg_ustride(int64_t o, int64_t c, int packed) {
    return packed ? (int64_t)vd_mm_packed_a_floats(o, c) : o * c;
}

void *vd_cpu_packed_conv2d_prep_make(const vd_tensor *dst, int variant, size_t *bytes) {
    const vd_tensor *wt = dst->src[1];
    int packed = (variant & VD_CPU_WINOGRAD_PACKED_U) != 0;
    int a = (variant & ~VD_CPU_WINOGRAD_PACKED_U) + 2;
    int64_t o = wt->ne[0], c = wt->ne[1], us = wg_ustride(o, c, packed);
    *bytes = (size_t)(a * a * us) * sizeof(float);
    float *u = vd_aligned_alloc(*bytes); // (a*a, O, C), or each U[xi] packed
    float *t = packed ? vd_aligned_alloc((size_t)(a * a * o * c) * sizeof(float)) : u;
    if (u && t) {
        wg_weights(wt->data, o, c, a, t);
        for (int xi = 0; packed && xi < a * a; xi++)
            vd_mm_pack_a(t + xi * o * c, c, o, c, u + xi * us);
    } else {
        vd_aligned_free(u);
        u = NULL;
    }
    if (packed) vd_aligned_free(t);
    return u;
}

/* ---- plan --------------------------------------------------------------------------------- */

typedef struct wg_plan {
    int a, m, nxi;         /* input tile side, output tile side, a*a */
    int64_t n, c, h, w, o, oh, ow;
    int64_t pt, pl;
    int64_t th, tw, t;     /* tiles per column, per row, per image */
    int64_t tb, blocks;    /* tiles per block (at most; a multiple of 8), blocks per image:
                            * the image's groups of 8 tiles spread evenly (wg_block) */
    int shared;            /* the threads share each block (see the header) */
    int packed;            /* U packed for vd_mm's AVX-512 kernel (vd_mm_pack_a) */
    int64_t ustride;       /* floats between the matrices of U */
    int64_t cchunks;       /* shared: input channel ranges of the input transform */
    int64_t kc, kchunks;   /* shared: output channels per output transform task */
    int64_t vstride, mstride;  /* floats between the matrices of V, of M */
    size_t v_floats, m_floats; /* V and M of a block */
} wg_plan;

static void wg_plan_init(const vd_tensor *dst, int n_threads, int variant, wg_plan *p) {
    const vd_tensor *x = dst->src[0], *w = dst->src[1];
    p->m = variant, p->a = variant + 2, p->nxi = p->a * p->a;
    p->n = x->ne[0], p->c = x->ne[1], p->h = x->ne[2], p->w = x->ne[3];
    p->o = w->ne[0], p->oh = dst->ne[2], p->ow = dst->ne[3];
    p->pt = dst->p.conv.pad_t, p->pl = dst->p.conv.pad_l;
    p->th = ceil_div(p->oh, p->m), p->tw = ceil_div(p->ow, p->m), p->t = p->th * p->tw;
    /* Tiles per block: each block streams all of U once, and its V and M (per tile
     * a*a*4*(C + K) bytes) either stay near (L2 and a little L3: blocks up to WG_NEAR_BUDGET)
     * or go out to L3 and back (large blocks, when U is big); pick the size that moves fewer
     * bytes (tuned on the RT-DETR shapes: 32..512 channels, 20x20..320x320). */
    int64_t u_bytes = (int64_t)p->nxi * 4 * p->o * p->c;
    int64_t per_tile = (int64_t)p->nxi * 4 * (p->c + p->o);
    int64_t t8 = ceil_div(p->t, 8) * 8;
    int64_t tb_l2 = VD_MIN(WG_MAX_TB, VD_MAX(8, WG_NEAR_BUDGET / per_tile / 8 * 8));
    int64_t tb_big = VD_MIN(t8, WG_MAX_TB);
    int64_t cost_l2 = ceil_div(p->t, tb_l2) * u_bytes;
    int64_t cost_big = ceil_div(p->t, tb_big) * u_bytes + 2 * p->t * per_tile;
    p->blocks = ceil_div(p->t, VD_MIN(cost_l2 <= cost_big ? tb_l2 : tb_big, t8));
    /* threads: a block each when there are several blocks per thread to balance, else
     * shared blocks: their input channels in 4 chunks per thread, their a*a GEMMs one a task,
     * their output channels in 4 chunks per thread (of at least 8) */
    int64_t nt = n_threads;
    p->shared = nt > 1 && p->n * p->blocks < 4 * nt;
    if (shared_override >= 0) p->shared = nt > 1 && shared_override;
    p->packed = wg_packed_u();
    p->ustride = wg_ustride(p->o, p->c, p->packed);
    if (!p->shared) p->blocks = vd_cpu_even_blocks(t8 / 8, p->blocks, p->n, n_threads);
    p->tb = ceil_div(t8 / 8, p->blocks) * 8; /* the largest block (wg_block) */
    p->cchunks = p->shared ? VD_MIN(p->c, 4 * nt) : 1;
    p->kc = p->shared ? ceil_div(p->o, VD_MIN(4 * nt, ceil_div(p->o, 8))) : p->o;
    p->kchunks = ceil_div(p->o, p->kc);
    /* the matrices of V (and of M) one cache line more apart than they need: strides that
     * are multiples of 4 KB put all vectors of a tile in one L1 set */
    p->vstride = p->c * ceil_div(p->tb, 16) * 16 + 16; /* whole panels of 16 tiles */
    p->mstride = p->o * p->tb + 16;
    p->v_floats = (size_t)(p->nxi * p->vstride);
    p->m_floats = (size_t)(p->nxi * p->mstride);
}

/* Block b of an image: tiles [*t0, *t0 + *nt), at most tb */
static void wg_block(const wg_plan *p, int64_t b, int64_t *t0, int64_t *nt) {
    int64_t t1;
    vd_cpu_unit_range(p->t, 8, (int)p->blocks, (int)b, t0, &t1);
    *nt = t1 - *t0;
}

/* per group of 8 tiles: a zero-padded 8-float row per (tile row, lane) for tiles at the edges,
 * and the row table (vd_wg_rows, then vd_wg_out) */
static size_t wg_edge_bytes(const wg_plan *p) {
    return (size_t)(p->tb / 8) * VD_WG_EDGE_FLOATS * 4;
}

/* Prefetching. The transforms go channel by channel through every group of a block, and each
 * group touches a few cache lines of a + m rows of its channel: as many streams as rows times
 * channels, far too many for the hardware prefetcher, so each load missed on its own (the 32-
 * and 64-channel convolutions on 320x320 and 160x160 maps spent more time waiting than
 * computing). Each group's table lists its lines (offsets in a channel plane, at most
 * VD_WG_PF_MAX), and the transforms ask for those of the next channel while doing this one. */

/* Adds the lines of plane offsets [lo, hi) to pf (the first and then every 16 floats, and
 * the last, whatever the plane's alignment). */
static void wg_lines(int64_t lo, int64_t hi, int64_t *pf, int *npf) {
    for (int64_t q = lo; q < hi && *npf < VD_WG_PF_MAX; q += 16) pf[(*npf)++] = q;
    if (hi > lo && (hi - 1 - lo) % 16 && *npf < VD_WG_PF_MAX) pf[(*npf)++] = hi - 1;
}

/* The lines of spans [s[i], s[i] + len[i]) of 8 lanes (len 0: none), spans that touch or
 * overlap the previous one merged. */
static void wg_span_lines(const int64_t *s, const int *len, int64_t *pf, int *npf) {
    int64_t lo = 0, hi = -1;
    for (int i = 0; i < 8; i++) {
        if (len[i] <= 0) continue;
        if (hi >= lo && s[i] >= lo && s[i] <= hi) {
            hi = VD_MAX(hi, s[i] + len[i]);
            continue;
        }
        if (hi >= lo) wg_lines(lo, hi, pf, npf);
        lo = s[i], hi = s[i] + len[i];
    }
    if (hi >= lo) wg_lines(lo, hi, pf, npf);
}

static size_t wg_rows_bytes(const wg_plan *p) {
    return (size_t)(p->tb / 8) * sizeof(vd_wg_rows);
}
static size_t wg_out_bytes(const wg_plan *p) { return (size_t)(p->tb / 8) * sizeof(vd_wg_out); }

/* Shared by the threads (shared blocks only): V, both tables and M. */
static size_t wg_shared_bytes(const wg_plan *p) {
    if (!p->shared) return 0;
    return vd_cpu_slice_bytes(p->v_floats * 4) + vd_cpu_slice_bytes(wg_rows_bytes(p)) +
           vd_cpu_slice_bytes(wg_out_bytes(p)) + vd_cpu_slice_bytes(p->m_floats * 4);
}

/* Per thread: the edge rows, and (a block each) M, V and the tables. */
static size_t wg_thread_bytes(const wg_plan *p) {
    size_t b = vd_cpu_slice_bytes(wg_edge_bytes(p));
    if (!p->shared)
        b += vd_cpu_slice_bytes(p->m_floats * 4) + vd_cpu_slice_bytes(p->v_floats * 4) +
             vd_cpu_slice_bytes(VD_MAX(wg_rows_bytes(p), wg_out_bytes(p)));
    return b;
}

size_t vd_cpu_winograd_scratch(const vd_tensor *dst, int n_threads) {
    int variant = vd_cpu_winograd_variant(dst);
    if (!variant) return 0;
    wg_plan p;
    wg_plan_init(dst, n_threads, variant, &p);
    /* the shared part, then the threads' slices */
    return wg_shared_bytes(&p) + wg_thread_bytes(&p) * (size_t)n_threads;
}

#if WG_X86

/* ---- 8-lane helpers ------------------------------------------------------------------------- */

#define WG256(f) _mm256_##f

static inline __attribute__((always_inline)) WG_AVX2 void bt(const int a, const __m256 *d,
                                                             __m256 *r) {
    VD_WG_BT(WG256, a, d, r);
}

static inline __attribute__((always_inline)) WG_AVX2 void at(const int a, const __m256 *m,
                                                             __m256 *o) {
    VD_WG_AT(WG256, a, m, o);
}

/* ---- one task --------------------------------------------------------------------------------- */

typedef struct wg_job {
    const wg_plan *p;
    const float *x, *bias, *res;
    const float *u; /* prepared: (a*a, O, C), or each U[xi] packed (plan.packed) */
    float *y;
    vd_act act;
    char *shared;        /* shared blocks: V, the row and output tables, then M */
    char *threads;       /* the threads' slices: edge rows (a block each: M, V, tables) */
    size_t thread_bytes;
    const vd_avx512_kernels *k512; /* its transforms on 16 tiles a vector (NULL: 8, AVX2) */
    int64_t n, t0, nt;   /* shared blocks: the block being worked on, tiles [t0, t0 + nt) */
} wg_job;

static void wg_group_rows(const wg_plan *p, int64_t t0, int nv, vd_wg_rows *g) {
    g->n_edge = 0;
    for (int i = 0; i < 8; i++) {
        int64_t ty = (t0 + i) / p->tw, tx = (t0 + i) % p->tw;
        int64_t iy = ty * p->m - p->pt, ix = tx * p->m - p->pl;
        for (int r = 0; r < p->a; r++) {
            int64_t y = iy + r;
            g->src[r][i] = -1;
            if (i >= nv || y < 0 || y >= p->h) continue;
            /* 8 floats readable: inside this row, or the extra ones in the next row */
            int direct = ix >= 0 && (ix + 8 <= p->w || (ix + p->a <= p->w && y + 1 < p->h));
            if (direct) {
                g->src[r][i] = y * p->w + ix;
                continue;
            }
            g->src[r][i] = -2;
            g->off[r][i] = y * p->w + ix;
            g->lo[r][i] = (int)VD_MAX(0, -ix);
            g->hi[r][i] = (int)VD_MIN(p->a, p->w - ix);
            g->n_edge++;
        }
    }
    g->direct = 1;
    g->npf = 0;
    for (int r = 0; r < p->a; r++) {
        int64_t s[8];
        int len[8];
        for (int i = 0; i < 8; i++) {
            g->direct &= g->src[r][i] >= 0;
            int64_t src = g->src[r][i]; /* off, lo and hi are set for edge rows (-2) only */
            s[i] = src >= 0 ? src : src == -2 ? g->off[r][i] + g->lo[r][i] : 0;
            len[i] = src >= 0 ? p->a : src == -2 ? g->hi[r][i] - g->lo[r][i] : 0;
        }
        wg_span_lines(s, len, g->pf, &g->npf);
    }
}

/* V for one channel of one group: a*a vectors of 8 tiles, stored at v + xi * vstride. Row by
 * row of the tile: 8 loads, a transpose (one tile per lane), B^T along the row into tmp;
 * then B^T down each column of tmp into V. */
static inline __attribute__((always_inline)) WG_AVX2 void
wg_input_channel(const int a, const float *xc, const vd_wg_rows *g, float *edge, float *v,
                 int64_t vstride) {
    __m256 tmp[6][6]; /* [tile row r][column j'] = (d B)[r][j'], lanes = tiles */
    for (int r = 0; r < a; r++) {
        __m256 rr[8];
        if (g->direct) {
            for (int i = 0; i < 8; i++) rr[i] = _mm256_loadu_ps(xc + g->src[r][i]);
        } else {
            for (int i = 0; i < 8; i++) {
                int64_t s = g->src[r][i];
                if (s >= 0) {
                    rr[i] = _mm256_loadu_ps(xc + s);
                } else if (s == -1) {
                    rr[i] = _mm256_setzero_ps();
                } else { /* zeros outside [lo, hi) were set once for the group */
                    float *e = edge + (r * 8 + i) * 8;
                    const float *xs = xc + g->off[r][i];
                    for (int q = g->lo[r][i]; q < g->hi[r][i]; q++) e[q] = xs[q];
                    rr[i] = _mm256_loadu_ps(e);
                }
            }
        }
        vd_avx2_transpose8(rr); /* rr[j]: column j of row r, one tile per lane */
        bt(a, rr, tmp[r]);
    }
    for (int j2 = 0; j2 < a; j2++) {
        __m256 cc[6], out[6];
        for (int r = 0; r < a; r++) cc[r] = tmp[r][j2];
        bt(a, cc, out);
        for (int r2 = 0; r2 < a; r2++) _mm256_storeu_ps(v + (r2 * a + j2) * vstride, out[r2]);
    }
}

static void wg_group_out(const wg_plan *p, int64_t t0, int nv, vd_wg_out *o) {
    o->nv = nv;
    for (int i = 0; i < nv; i++) {
        int64_t ty = (t0 + i) / p->tw, tx = (t0 + i) % p->tw;
        o->base[i] = ty * p->m * p->ow + tx * p->m;
        o->nr[i] = (int)VD_MIN(p->m, p->oh - ty * p->m);
        o->ncol[i] = (int)VD_MIN(p->m, p->ow - tx * p->m);
    }
    o->npf = 0;
    for (int py = 0; py < p->m; py++) {
        int64_t s[8];
        int len[8];
        for (int i = 0; i < 8; i++) {
            s[i] = i < nv ? o->base[i] + py * p->ow : 0;
            len[i] = i < nv && py < o->nr[i] ? o->ncol[i] : 0;
        }
        wg_span_lines(s, len, o->pf, &o->npf);
    }
}

/* One output channel of one group: M (a*a vectors of 8 tiles at m + xi * mstride) back to
 * pixels, + bias, + residual, activation. */
static inline __attribute__((always_inline)) WG_AVX2 void
wg_output_channel(const int a, const float *mm, int64_t mstride, float bias, const vd_wg_out *go,
                  int64_t ow, float *yk, const float *rk, vd_act act) {
    const int m = a - 2;
    __m256 t[6][4]; /* t[j][py] = (A^T M)[py][j] */
    for (int j = 0; j < a; j++) {
        __m256 mc[6];
        for (int r = 0; r < a; r++) mc[r] = _mm256_loadu_ps(mm + (r * a + j) * mstride);
        at(a, mc, t[j]);
    }
    for (int py = 0; py < m; py++) {
        __m256 row[6], o[4];
        for (int j = 0; j < a; j++) row[j] = t[j][py];
        at(a, row, o);
        VD_WG_ROW_EPILOGUE(WG256, vd_avx2_act, 8, m, o, bias, act);
        if (m == 2) { /* 2 pixels per tile: through a buffer */
            float f[2][8];
            _mm256_storeu_ps(f[0], o[0]);
            _mm256_storeu_ps(f[1], o[1]);
            vd_wg_store2(f[0], f[1], go, py, ow, yk, rk, act);
            continue;
        }
        __m256 s[4];
        VD_WG_TRANSPOSE4(WG256, o, s);
        vd_wg_store4(s, go, py, ow, yk, rk, act);
    }
}

/* The tables of the groups of tiles [t0, t0 + nt) */
static void wg_tables(const wg_plan *p, int64_t t0, int64_t nt, vd_wg_rows *rows, vd_wg_out *go) {
    for (int64_t g = 0; g * 8 < nt; g++) {
        int nv = (int)VD_MIN(8, nt - g * 8);
        if (rows) wg_group_rows(p, t0 + g * 8, nv, &rows[g]);
        if (go) wg_group_out(p, t0 + g * 8, nv, &go[g]);
    }
}

/* V of input channels [c0, c1) of image n for the groups of a block. Channel by channel,
 * every group, so that the reads stay within one plane; 16 tiles a vector where j->k512. */
static inline __attribute__((always_inline)) WG_AVX2 void
wg_input(const int a, const wg_job *j, const float *xn, const vd_wg_rows *rows, int64_t groups,
         int64_t c0, int64_t c1, float *edge, float *v) {
    const wg_plan *p = j->p;
    int64_t plane = p->h * p->w;
    int any_edge = 0;
    for (int64_t g = 0; g < groups; g++) any_edge |= rows[g].n_edge;
    if (any_edge) memset(edge, 0, (size_t)groups * VD_WG_EDGE_FLOATS * sizeof(float));
    if (j->k512) {
        j->k512->wg_input(a, xn, plane, rows, groups, c0, c1, p->c, edge, v, p->vstride);
        return;
    }
    for (int64_t c = c0; c < c1; c++)
        for (int64_t g = 0; g < groups; g++) {
            if (c + 1 < c1) vd_wg_prefetch_rows(xn + (c + 1) * plane, &rows[g]);
            wg_input_channel(a, xn + c * plane, &rows[g], edge + g * VD_WG_EDGE_FLOATS,
                             v + (g / 2) * p->c * 16 + c * 16 + (g % 2) * 8, p->vstride);
        }
}

/* M[xi] (O x tiles) = U[xi] V[xi] for xi in [xi0, xi1), for the groups of a block */
static void wg_gemms(const wg_job *j, int64_t groups, const float *v, int xi0, int xi1,
                     float *m) {
    const wg_plan *p = j->p;
    for (int xi = xi0; xi < xi1; xi++) {
        const float *u = j->u + xi * p->ustride;
        if (p->packed)
            vd_mm_prepacked(u, v + xi * p->vstride, p->c, m + xi * p->mstride, p->tb, p->o,
                            groups * 8, NULL);
        else
            vd_mm(u, p->c, v + xi * p->vstride, p->c, m + xi * p->mstride, p->tb, p->o,
                  groups * 8, NULL);
    }
}

/* The output transform of output channels [k0, k0 + kn) of image n for the groups of a block,
 * m at row k0 of M; 16 tiles a vector where j->k512. */
static inline __attribute__((always_inline)) WG_AVX2 void
wg_outputs(const int a, const wg_job *j, int64_t n, const vd_wg_out *go, int64_t groups,
           int64_t k0, int64_t kn, const float *m) {
    const wg_plan *p = j->p;
    int64_t oplane = p->oh * p->ow;
    float *y = j->y + (n * p->o + k0) * oplane;
    const float *res = j->res ? j->res + (n * p->o + k0) * oplane : NULL;
    const float *bias = j->bias ? j->bias + k0 : NULL;
    if (j->k512) {
        j->k512->wg_output(a, m, p->tb, p->mstride, go, groups, kn, bias, y, res, oplane, p->ow,
                           j->act);
        return;
    }
    for (int64_t k = 0; k < kn; k++)
        for (int64_t g = 0; g < groups; g++) {
            if (k + 1 < kn) /* the next channel's output (and residual) */
                vd_wg_prefetch_out(y + (k + 1) * oplane, res ? res + (k + 1) * oplane : NULL,
                                   &go[g]);
            wg_output_channel(a, m + k * p->tb + g * 8, p->mstride, bias ? bias[k] : 0.0f,
                              &go[g], p->ow, y + k * oplane, res ? res + k * oplane : NULL,
                              j->act);
        }
}

/* A thread's slice: edge rows, then (a block each) M, V and the tables */
static float *wg_slice_edge(const wg_job *j, int thread) {
    return (float *)(j->threads + j->thread_bytes * (size_t)thread);
}
static float *wg_slice_m(const wg_job *j, int thread) {
    return (float *)((char *)wg_slice_edge(j, thread) + vd_cpu_slice_bytes(wg_edge_bytes(j->p)));
}
static char *wg_slice_rest(const wg_job *j, int thread) {
    return (char *)wg_slice_m(j, thread) + vd_cpu_slice_bytes(j->p->m_floats * 4);
}

/* shared blocks: V, rows, out, M */
static float *wg_shared_v(const wg_job *j) { return (float *)j->shared; }
static vd_wg_rows *wg_shared_rows(const wg_job *j) {
    return (vd_wg_rows *)(j->shared + vd_cpu_slice_bytes(j->p->v_floats * 4));
}
static vd_wg_out *wg_shared_out(const wg_job *j) {
    return (vd_wg_out *)((char *)wg_shared_rows(j) + vd_cpu_slice_bytes(wg_rows_bytes(j->p)));
}
static float *wg_shared_m(const wg_job *j) {
    return (float *)((char *)wg_shared_out(j) + vd_cpu_slice_bytes(wg_out_bytes(j->p)));
}

/* A block each: task = n * blocks + block */
static inline __attribute__((always_inline)) WG_AVX2 void wg_block_a(const int a, const wg_job *j,
                                                                     int task, int thread) {
    const wg_plan *p = j->p;
    int64_t n = task / p->blocks, t0, nt;
    wg_block(p, task % p->blocks, &t0, &nt);
    int64_t groups = ceil_div(nt, 8);
    float *v = (float *)wg_slice_rest(j, thread); // (a*a, tb/16, C, 16)
    void *tables = (char *)v + vd_cpu_slice_bytes(p->v_floats * 4);
    float *m = wg_slice_m(j, thread);
    wg_tables(p, t0, nt, tables, NULL);
    wg_input(a, j, j->x + n * p->c * p->h * p->w, tables, groups, 0, p->c,
             wg_slice_edge(j, thread), v);
    wg_tables(p, t0, nt, NULL, tables); /* the input's row tables are done with */
    wg_gemms(j, groups, v, 0, a * a, m);
    wg_outputs(a, j, n, tables, groups, 0, p->o, m);
}

/* Shared block (j->n, j->t0), first pass: task = a range of input channels */
static inline __attribute__((always_inline)) WG_AVX2 void wg_input_a(const int a, const wg_job *j,
                                                                     int task, int thread) {
    const wg_plan *p = j->p;
    int64_t c0, c1;
    vd_cpu_range(p->c, (int)p->cchunks, task, &c0, &c1);
    wg_input(a, j, j->x + j->n * p->c * p->h * p->w, wg_shared_rows(j), ceil_div(j->nt, 8), c0, c1,
             wg_slice_edge(j, thread), wg_shared_v(j));
}

/* Shared block, second pass: task = xi, the GEMM of U[xi] (every output channel) */
static void wg_gemm_task(void *arg, int task, int thread) {
    (void)thread;
    const wg_job *j = arg;
    wg_gemms(j, ceil_div(j->nt, 8), wg_shared_v(j), task, task + 1, wg_shared_m(j));
}

/* Shared block, third pass: task = a chunk of output channels */
static inline __attribute__((always_inline)) WG_AVX2 void wg_output_a(const int a, const wg_job *j,
                                                                      int task) {
    const wg_plan *p = j->p;
    int64_t k0 = task * p->kc;
    wg_outputs(a, j, j->n, wg_shared_out(j), ceil_div(j->nt, 8), k0, VD_MIN(p->kc, p->o - k0),
               wg_shared_m(j) + k0 * p->tb);
}

static WG_AVX2 void wg_block_task(void *arg, int task, int thread) {
    const wg_job *j = arg;
    if (j->p->a == 6) wg_block_a(6, j, task, thread);
    else wg_block_a(4, j, task, thread);
}

static WG_AVX2 void wg_input_task(void *arg, int task, int thread) {
    const wg_job *j = arg;
    if (j->p->a == 6) wg_input_a(6, j, task, thread);
    else wg_input_a(4, j, task, thread);
}

static WG_AVX2 void wg_output_task(void *arg, int task, int thread) {
    (void)thread;
    const wg_job *j = arg;
    if (j->p->a == 6) wg_output_a(6, j, task);
    else wg_output_a(4, j, task);
}

void vd_cpu_winograd_conv2d(const vd_cpu_ctx *ctx, vd_tensor *dst, const void *u) {
    wg_plan p;
    int variant = vd_cpu_winograd_variant(dst);
    wg_plan_init(dst, ctx->n_threads, variant, &p);
    char *sc = ctx->scratch;
    wg_job j = {&p, dst->src[0]->data, dst->src[2] ? dst->src[2]->data : NULL,
                dst->src[3] ? dst->src[3]->data : NULL, u, dst->data, dst->p.conv.act, sc,
                sc + wg_shared_bytes(&p), wg_thread_bytes(&p), vd_cpu_avx512_kernels(), 0, 0, 0};
    if (!p.shared) {
        vd_pool_run(ctx->pool, (int)(p.n * p.blocks), wg_block_task, &j);
        return;
    }
    for (j.n = 0; j.n < p.n; j.n++)
        for (int64_t b = 0; b < p.blocks; b++) {
            wg_block(&p, b, &j.t0, &j.nt);
            wg_tables(&p, j.t0, j.nt, wg_shared_rows(&j), wg_shared_out(&j));
            vd_pool_run(ctx->pool, (int)p.cchunks, wg_input_task, &j);
            vd_pool_run(ctx->pool, p.nxi, wg_gemm_task, &j);
            vd_pool_run(ctx->pool, (int)p.kchunks, wg_output_task, &j);
        }
}

/* 1 when the 16 floats from q hold e in the same cache line for this alignment of the plane */
static int wg_same_line(int64_t q, int64_t e, int64_t align) {
    return (q + align) / 16 == (e + align) / 16;
}

/* 1 when one of the n lines in pf holds e, whatever the plane's alignment (in floats) */
static int wg_listed(const int64_t *pf, int n, int64_t e) {
    for (int64_t align = 0; align < 16; align++) {
        int found = 0;
        for (int q = 0; q < n && !found; q++) found = wg_same_line(pf[q], e, align);
        if (!found) return 0;
    }
    return 1;
}

int vd_cpu_winograd_lines_ok(const vd_tensor *dst) {
    int variant = vd_cpu_winograd_variant(dst);
    if (!variant) return 0;
    wg_plan p; /* its geometry: groups start at multiples of 8 tiles on any thread count */
    wg_plan_init(dst, 1, variant, &p);
    vd_wg_rows rows;
    vd_wg_out go;
    for (int64_t t0 = 0; t0 < p.t; t0 += 8) {
        int nv = (int)VD_MIN(8, p.t - t0);
        wg_group_rows(&p, t0, nv, &rows);
        wg_group_out(&p, t0, nv, &go);
        for (int r = 0; r < p.a; r++)
            for (int i = 0; i < nv; i++) {
                int64_t s = rows.src[r][i], e0 = s, e1 = s + p.a; /* the a values used */
                if (s == -1) continue;
                if (s == -2) e0 = rows.off[r][i] + rows.lo[r][i], e1 = rows.off[r][i] + rows.hi[r][i];
                for (int64_t e = e0; e < e1; e++)
                    if (e < 0 || e >= p.h * p.w || !wg_listed(rows.pf, rows.npf, e)) return 0;
            }
        for (int i = 0; i < nv; i++)
            for (int py = 0; py < go.nr[i]; py++)
                for (int px = 0; px < go.ncol[i]; px++) {
                    int64_t e = go.base[i] + py * p.ow + px;
                    if (!wg_listed(go.pf, go.npf, e)) return 0;
                }
        for (int q = 0; q < rows.npf; q++)
            if (rows.pf[q] < 0 || rows.pf[q] >= p.h * p.w) return 0;
        for (int q = 0; q < go.npf; q++)
            if (go.pf[q] < 0 || go.pf[q] >= p.oh * p.ow) return 0;
    }
    return 1;
}

#else

int vd_cpu_winograd_lines_ok(const vd_tensor *dst) {
    (void)dst;
    return 0;
}

void vd_cpu_winograd_conv2d(const vd_cpu_ctx *ctx, vd_tensor *dst, const void *u) {
    (void)u;
    vd_cpu_fast_conv2d(ctx, dst); /* never reached: vd_cpu_winograd_variant is 0 */
}

#endif
