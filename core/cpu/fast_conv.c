/* Fast conv2d and linear on the packed GEMM of fast_mm.c, bias, residual and activation
 * fused into the GEMM's epilogue (no second pass over the output).
 *
 * conv2d takes one of four paths (conv_choose):
 *   - Winograd F(4x4, 3x3) or F(2x2, 3x3) for 3x3 stride-1 convolutions on maps large
 *     enough, with U prepared (fast_winograd.c);
 *   - pointwise (1x1, stride 1, no padding): y [O, P] = w [O, C] x [C, P], both read in
 *     place (no packing pass over the input);
 *   - im2col: the patches of a block of output pixels packed straight into the GEMM's panel
 *     layout (no im2col matrix), then w [O, C*kh*kw] times the panel;
 *   - grouped and depthwise convolutions: the sgemm/direct kernel of fast_gemm.c.
 * Tasks are blocks of output pixels (and Winograd tiles), each over every output channel
 * unless the blocks are too few for the threads, so the packed input is made once; the
 * weights stream through L2 in blocks (vd_mm).
 *
 * linear: y [M, O] = x [M, K] w^T with w^T packed once per model (prepared; without it w is
 * read in place), tasks over row blocks and, when rows are few, column blocks. */
#include "core/cpu/kernels.h"

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

/* Tasks wanted for n_threads: several per thread, since the pool hands tasks out dynamically
 * and a shared machine may slow one thread down. One when running alone. */
static int64_t want_tasks(int n_threads) { return n_threads > 1 ? 6 * (int64_t)n_threads : 1; }

#define PACK_BUDGET ((int64_t)1 << 20)     /* bytes of packed input per thread (soft) */
#define INPLACE_BUDGET ((int64_t)256 << 10) /* bytes of a pointwise conv's input per task */

typedef enum conv_path { PATH_WINOGRAD, PATH_POINTWISE, PATH_IM2COL, PATH_SGEMM } conv_path;

typedef struct conv_plan {
    int64_t n, c, h, w, o, oh, ow, p;
    int64_t kh, kw, sh, sw, pt, pl, k; /* k = c * kh * kw, the GEMM depth */
    conv_path path;
    int64_t nb, blocks;        /* pixels per block (at most; a multiple of 16), blocks per
                                * image: the image's panels of 16 pixels spread evenly */
    int64_t mb, msplit;        /* output channels per task, parts */
    int64_t tasks;
} conv_plan;

static conv_path conv_choose(const vd_tensor *dst, const void *prep) {
    const vd_tensor *w = dst->src[1];
    const vd_conv2d_params *p = &dst->p.conv;
    if (p->groups != 1) return PATH_SGEMM;
    if (prep && vd_cpu_winograd_variant(dst)) return PATH_WINOGRAD; /* prep: U */
    if (w->ne[2] == 1 && w->ne[3] == 1 && p->stride_h == 1 && p->stride_w == 1 && !p->pad_t &&
        !p->pad_l && !p->pad_b && !p->pad_r)
        return PATH_POINTWISE;
    return PATH_IM2COL;
}

static void conv_plan_init(const vd_tensor *dst, int n_threads, const void *prep,
                           conv_plan *cp) {
    const vd_tensor *x = dst->src[0], *w = dst->src[1];
    const vd_conv2d_params *p = &dst->p.conv;
    cp->n = x->ne[0], cp->c = x->ne[1], cp->h = x->ne[2], cp->w = x->ne[3];
    cp->o = w->ne[0], cp->oh = dst->ne[2], cp->ow = dst->ne[3], cp->p = cp->oh * cp->ow;
    cp->kh = w->ne[2], cp->kw = w->ne[3], cp->sh = p->stride_h, cp->sw = p->stride_w;
    cp->pt = p->pad_t, cp->pl = p->pad_l;
    cp->k = cp->c * cp->kh * cp->kw;
    cp->path = conv_choose(dst, prep);
    cp->nb = cp->blocks = cp->mb = cp->msplit = cp->tasks = 0;
    if (cp->path != PATH_POINTWISE && cp->path != PATH_IM2COL) return;
    /* pixel blocks: wide enough that each pass over the weights (A) serves at least 64
     * pixels, as wide as the packing budget allows (pointwise: the block read in place, sized
     * for L2); then, when the blocks are too few for the threads, the output channels are
     * split too (each part packs the block again) */
    int64_t want = want_tasks(n_threads);
    int64_t budget = cp->path == PATH_POINTWISE ? INPLACE_BUDGET : PACK_BUDGET;
    int64_t nb = (budget / (cp->k * 4)) / 16 * 16;
    nb = VD_MIN(VD_MAX(nb, 64), cp->path == PATH_POINTWISE ? 1024 : 512);
    nb = VD_MIN(nb, round_up(cp->p, 16));
    while (nb > 64 && cp->n * ceil_div(cp->p, nb) < want) nb = VD_MAX(64, round_up(nb / 2, 16));
    cp->nb = nb;
    cp->blocks = ceil_div(cp->p, nb);
    cp->msplit = 1;
    if (cp->n * cp->blocks < want)
        cp->msplit = VD_MIN(ceil_div(want, cp->n * cp->blocks), ceil_div(cp->o, 24));
    cp->mb = round_up(ceil_div(cp->o, cp->msplit), 6);
    cp->msplit = ceil_div(cp->o, cp->mb);
    int64_t panels = ceil_div(cp->p, 16);
    cp->blocks = vd_cpu_even_blocks(panels, cp->blocks, cp->n * cp->msplit, n_threads);
    cp->nb = ceil_div(panels, cp->blocks) * 16;
    cp->tasks = cp->n * cp->blocks * cp->msplit;
}

/* The residual (source 3) where dst may be written over it: Winograd's output transform and
 * vd_mm's epilogue in one pass (k <= VD_MM_KC) read each residual value just before writing
 * the output's value at its place. OpenBLAS (grouped convolutions) and deeper GEMMs, whose
 * earlier passes store partial sums, may not. */
int vd_cpu_packed_conv2d_overwrites(const vd_tensor *dst) {
    if (!dst->src[3]) return -1;
    int variant; /* the executor prepares U exactly when prep_key names a weight */
    conv_path path = conv_choose(dst, vd_cpu_packed_conv2d_prep_key(dst, &variant));
    const vd_tensor *w = dst->src[1];
    int one_pass = w->ne[1] * w->ne[2] * w->ne[3] <= VD_MM_KC;
    return path == PATH_WINOGRAD || (path != PATH_SGEMM && one_pass) ? 3 : -1;
}

size_t vd_cpu_packed_conv2d_scratch(const vd_tensor *dst, int n_threads) {
    conv_plan cp;
    /* the scratch must serve the path the kernel will take: without prep the plan is the
     * one a run without prepared U takes, and Winograd's is 0 when it does not apply */
    conv_plan_init(dst, n_threads, NULL, &cp);
    size_t s = 0;
    if (cp.path == PATH_SGEMM) s = vd_cpu_fast_conv2d_scratch(dst, n_threads);
    else if (cp.path == PATH_IM2COL)
        s = vd_cpu_slice_bytes(vd_mm_packed_floats(cp.k, cp.nb) * sizeof(float)) * (size_t)n_threads;
    s = VD_MAX(s, vd_cpu_winograd_scratch(dst, n_threads));
    return s;
}

typedef struct conv_job {
    const vd_cpu_ctx *ctx;
    const conv_plan *cp;
    const float *x, *w, *bias, *res;
    float *y;
    vd_act act;
    size_t scratch_per_thread;
} conv_job;

/* Pixels are packed 8 at a time, a half-panel (VD_MM_NR is 16): group g of a block goes to
 * panel g / 2, at offset 8 (g % 2) of each row. */
#define GROUP 8

/* Where the 8 pixels of one group read: top-left input tap of each (iy0, ix0), and whether
 * they lie in one output row (taps ix0[0] + q * sw). */
typedef struct group_geom {
    int32_t iy0[GROUP], ix0[GROUP];
    int row;
} group_geom;

#define MAX_GROUPS (512 / GROUP)

/* 4 floats: SSE on any x86-64 (GCC and clang vector extension) */
typedef float f4 __attribute__((vector_size(16)));

/* One row (c, ky, kx) of a group: 8 values, zeros outside the map. */
static inline void pack_tap(const conv_plan *cp, const float *xc, const group_geom *pg,
                            int64_t ky, int64_t kx, float *d) {
    int64_t iy = pg->iy0[0] + ky, ixa = pg->ix0[0] + kx;
    if (pg->row && iy >= 0 && iy < cp->h && ixa >= 0 && ixa + (GROUP - 1) * cp->sw < cp->w) {
        const float *xr = xc + iy * cp->w + ixa;
        if (cp->sw == 1) {
            memcpy(d, xr, GROUP * sizeof(float));
        } else if (cp->sw == 2) { /* xr[0, 2, .. 14]: four loads and two shuffles */
            f4 v[4], e[2];
            memcpy(v, xr, 3 * sizeof(f4));
            memcpy(v + 3, xr + 11, sizeof(f4)); /* xr[11 .. 14]: nothing past xr[14] */
            e[0] = __builtin_shufflevector(v[0], v[1], 0, 2, 4, 6);
            e[1] = __builtin_shufflevector(v[2], v[3], 0, 2, 5, 7);
            memcpy(d, e, sizeof e);
        } else
            for (int q = 0; q < GROUP; q++) d[q] = xr[q * cp->sw];
        return;
    }
    for (int q = 0; q < GROUP; q++) {
        int64_t yy = pg->iy0[q] + ky, xx = pg->ix0[q] + kx;
        d[q] = yy >= 0 && yy < cp->h && xx >= 0 && xx < cp->w ? xc[yy * cp->w + xx] : 0.0f;
    }
}

/* The patches of output pixels [p0, p0 + np) of one image (x: [C, H, W]) in the GEMM's panel
 * layout: panel q holds pixels p0 + 16q .. +16 as k rows of 16 (row = (c, ky, kx)). Row by
 * row of the patch matrix, so that consecutive groups read consecutive input. */
static void pack_im2col(const conv_plan *cp, const float *x, int64_t p0, int64_t np,
                        float *bp) {
    group_geom pg[MAX_GROUPS];
    int64_t groups = (np + GROUP - 1) / GROUP;
    for (int64_t j = 0; j < groups; j++) {
        for (int q = 0; q < GROUP; q++) {
            int64_t pp = p0 + j * GROUP + q;
            if (j * GROUP + q < np) {
                pg[j].iy0[q] = (int32_t)((pp / cp->ow) * cp->sh - cp->pt);
                pg[j].ix0[q] = (int32_t)((pp % cp->ow) * cp->sw - cp->pl);
            } else { /* past the block: a row no tap reaches, so zeros */
                pg[j].iy0[q] = (int32_t)-(cp->kh + 1);
                pg[j].ix0[q] = 0;
            }
        }
        pg[j].row = pg[j].iy0[GROUP - 1] == pg[j].iy0[0] &&
                    pg[j].ix0[GROUP - 1] == pg[j].ix0[0] + (GROUP - 1) * cp->sw;
    }
    /* the input rows the block reads, [lo, hi) of each channel plane: those of the next
     * channel are asked for while packing this one, a share per tap (as many streams as rows
     * times channels: too many for the hardware prefetcher) */
    int64_t oy0 = p0 / cp->ow, oy1 = (p0 + np - 1) / cp->ow;
    int64_t lo = VD_MAX(0, oy0 * cp->sh - cp->pt) * cp->w;
    int64_t hi = VD_MIN(cp->h, oy1 * cp->sh - cp->pt + cp->kh) * cp->w;
    int64_t taps = cp->kh * cp->kw;
    for (int64_t c = 0; c < cp->c; c++) {
        const float *xc = x + c * cp->h * cp->w;
        /* the next plane's lines, from the one holding lo (planes need not start on a line) */
        const float *nx = xc;
        int64_t lines = 0;
        if (c + 1 < cp->c && hi > lo) {
            nx = xc + cp->h * cp->w + lo;
            int64_t skew = (int64_t)((uintptr_t)nx & 63) / (int64_t)sizeof(float);
            lines = (hi - lo + skew + 15) / 16;
            nx -= skew;
        }
        for (int64_t ky = 0; ky < cp->kh; ky++)
            for (int64_t kx = 0; kx < cp->kw; kx++) {
                float *d = bp + ((c * cp->kh + ky) * cp->kw + kx) * VD_MM_NR;
                int64_t t = ky * cp->kw + kx;
                for (int64_t l = t * lines / taps; l < (t + 1) * lines / taps; l++)
                    __builtin_prefetch(nx + l * 16, 0, 3);
                for (int64_t j = 0; j < groups; j++) /* panel j / 2, half j % 2 */
                    pack_tap(cp, xc, &pg[j], ky, kx,
                             d + (j / 2) * VD_MM_NR * cp->k + (j % 2) * GROUP);
            }
    }
}

static void conv_block_task(void *arg, int task, int thread) {
    const conv_job *j = arg;
    const conv_plan *cp = j->cp;
    int64_t m0 = (task % cp->msplit) * cp->mb, mr = VD_MIN(cp->mb, cp->o - m0);
    task /= (int)cp->msplit;
    int64_t n = task / cp->blocks, p0, p1;
    vd_cpu_unit_range(cp->p, 16, (int)cp->blocks, (int)(task % cp->blocks), &p0, &p1);
    int64_t np = p1 - p0;
    const float *xn = j->x + n * cp->c * cp->h * cp->w;
    int64_t yoff = (n * cp->o + m0) * cp->p + p0;
    vd_mm_epilogue e = {j->bias ? j->bias + m0 : NULL, NULL, j->res ? j->res + yoff : NULL,
                        cp->p, j->act};
    if (cp->path == PATH_POINTWISE) { /* x [C, P] is B as it is */
        vd_mm_inplace(j->w + m0 * cp->k, cp->k, xn + p0, cp->p, 0, cp->c, j->y + yoff, cp->p,
                      mr, np, &e);
        return;
    }
    float *bp = vd_cpu_thread_scratch(j->ctx, j->scratch_per_thread, thread);
    pack_im2col(cp, xn, p0, np, bp);
    vd_mm(j->w + m0 * cp->k, cp->k, bp, cp->k, j->y + yoff, cp->p, mr, np, &e);
}

void vd_cpu_packed_conv2d(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const void *prep = ctx->prep ? ctx->prep[dst->id] : NULL;
    conv_plan cp;
    conv_plan_init(dst, ctx->n_threads, prep, &cp);
    if (cp.path == PATH_SGEMM) {
        vd_cpu_fast_conv2d(ctx, dst);
        return;
    }
    if (cp.path == PATH_WINOGRAD) {
        vd_cpu_winograd_conv2d(ctx, dst, prep);
        return;
    }
    conv_job j = {ctx, &cp, dst->src[0]->data, dst->src[1]->data,
                  dst->src[2] ? dst->src[2]->data : NULL, dst->src[3] ? dst->src[3]->data : NULL,
                  dst->data, dst->p.conv.act,
                  vd_mm_packed_floats(cp.k, cp.nb) * sizeof(float)};
    vd_pool_run(ctx->pool, (int)cp.tasks, conv_block_task, &j);
}

/* ---- linear ---------------------------------------------------------------------------------- */

/* The prepared weight of a linear node: w^T packed for vd_mm (the size of w), so that no run
 * repacks strips of it (an 8400-row linear would copy w^T 70 times). */
const vd_tensor *vd_cpu_packed_linear_prep_key(const vd_tensor *dst, int *variant) {
    *variant = 0;
    return vd_cpu_has_avx2() ? dst->src[1] : NULL;
}

void *vd_cpu_packed_linear_prep_make(const vd_tensor *dst, int variant, size_t *bytes) {
    (void)variant;
    const vd_tensor *w = dst->src[1]; /* (O, K) */
    int64_t o = w->ne[0], k = w->ne[1];
    *bytes = vd_mm_packed_floats(k, o) * sizeof(float);
    float *bp = vd_aligned_alloc(*bytes);
    if (bp) vd_mm_pack_b(w->data, k, 1, k, o, bp);
    return bp;
}

typedef struct linear_job {
    const float *x, *w, *bp, *bias, *res;
    float *y;
    int64_t m, k, o, m_tiles, nb, n_tiles; /* row tiles: the rows' blocks of 6 spread evenly */
    vd_act act;
} linear_job;

static void linear_task(void *arg, int task, int thread) {
    (void)thread;
    const linear_job *j = arg;
    int64_t m0, m1, o0 = (task % j->n_tiles) * j->nb;
    vd_cpu_unit_range(j->m, 6, (int)j->m_tiles, task / (int)j->n_tiles, &m0, &m1);
    int64_t mr = m1 - m0, nr = VD_MIN(j->nb, j->o - o0);
    int64_t yoff = m0 * j->o + o0;
    vd_mm_epilogue e = {NULL, j->bias ? j->bias + o0 : NULL, j->res ? j->res + yoff : NULL,
                        j->o, j->act};
    if (j->bp) /* w^T packed: panel o0 / 8 starts at o0 * K */
        vd_mm(j->x + m0 * j->k, j->k, j->bp + o0 * j->k, j->k, j->y + yoff, j->o, mr, nr, &e);
    else /* w read in place, 16 rows at a time transposed into L1 */
        vd_mm_inplace(j->x + m0 * j->k, j->k, j->w + o0 * j->k, j->k, 1, j->k, j->y + yoff,
                      j->o, mr, nr, &e);
}

void vd_cpu_packed_linear(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const vd_tensor *xt = dst->src[0], *wt = dst->src[1];
    linear_job j = {xt->data, wt->data, ctx->prep ? ctx->prep[dst->id] : NULL,
                    dst->src[2] ? dst->src[2]->data : NULL,
                    dst->src[3] ? dst->src[3]->data : NULL, dst->data, vd_cpu_rows(xt),
                    wt->ne[1], wt->ne[0], 0, 0, 0, dst->p.linear.act};
    int64_t want = want_tasks(ctx->n_threads);
    /* row blocks of a multiple of 6 rows, at most 240; column blocks (multiples of 16) only
     * when the rows alone give too few tasks */
    int64_t mb = VD_MAX(6, VD_MIN(240, round_up(ceil_div(j.m, want), 6)));
    int64_t m_tiles = ceil_div(j.m, mb);
    j.nb = j.o;
    if (m_tiles < want && j.o > 16)
        j.nb = VD_MAX(16, round_up(ceil_div(j.o, ceil_div(want, m_tiles)), 16));
    j.n_tiles = ceil_div(j.o, j.nb);
    j.m_tiles = vd_cpu_even_blocks(ceil_div(j.m, 6), m_tiles, j.n_tiles, ctx->n_threads);
    vd_pool_run(ctx->pool, (int)(j.m_tiles * j.n_tiles), linear_task, &j);
}
