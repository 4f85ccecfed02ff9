/* Grouped and depthwise conv2d (the packed kernels of fast_conv.c take every other one):
 * OpenBLAS sgemm called single-threaded from tasks on the pool, bias, residual and activation
 * fused into a per-tile epilogue (applied while the tile is still in cache).
 *
 * It takes one of three paths:
 *   - 1x1, stride 1, no padding: a direct GEMM on the NCHW input, w [O,C] x x [C,H*W];
 *   - depthwise (groups == C == O): direct loops, one task per (image, channel) plane;
 *   - anything else: im2col of a tile of output pixels into the thread's scratch, then
 *     w [Og, Cg*kh*kw] x col [Cg*kh*kw, tile]. Tiles are bounded so the scratch per thread
 *     stays near IM2COL_BUDGET bytes. */
#include <cblas.h>

#include "core/cpu/kernels.h"

#define IM2COL_BUDGET ((int64_t)8 << 20) /* bytes of im2col scratch per thread (soft) */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* floor(a / b) for b > 0 and any a */
static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

typedef enum conv_path { PATH_1X1, PATH_DEPTHWISE, PATH_IM2COL } conv_path;

typedef struct conv_plan {
    int64_t n, c, h, w;           /* input */
    int64_t o, oh, ow, p;         /* output; p = oh * ow pixels per plane */
    int64_t kh, kw, sh, sw, pt, pl;
    int64_t groups, cg, og, k;    /* k = cg * kh * kw, the GEMM depth */
    conv_path path;
    int64_t mb, nb;               /* GEMM tile: output channels x pixels */
    int64_t m_tiles, n_tiles, tasks;
} conv_plan;

/* Tasks wanted for n_threads: a few per thread for balance; one when running alone. */
static int64_t want_tasks(int n_threads) { return n_threads > 1 ? 4 * (int64_t)n_threads : 1; }

static void conv_plan_init(const vd_tensor *dst, int n_threads, conv_plan *cp) {
    const vd_tensor *x = dst->src[0], *w = dst->src[1];
    const vd_conv2d_params *p = &dst->p.conv;
    cp->n = x->ne[0], cp->c = x->ne[1], cp->h = x->ne[2], cp->w = x->ne[3];
    cp->o = w->ne[0], cp->oh = dst->ne[2], cp->ow = dst->ne[3], cp->p = cp->oh * cp->ow;
    cp->kh = w->ne[2], cp->kw = w->ne[3], cp->sh = p->stride_h, cp->sw = p->stride_w;
    cp->pt = p->pad_t, cp->pl = p->pad_l;
    cp->groups = p->groups, cp->cg = w->ne[1], cp->og = cp->o / p->groups;
    cp->k = cp->cg * cp->kh * cp->kw;
    int64_t units = cp->n * cp->groups, want = want_tasks(n_threads);
    cp->mb = cp->og;
    cp->nb = cp->p;
    if (cp->groups > 1 && cp->groups == cp->c && cp->o == cp->c) {
        cp->path = PATH_DEPTHWISE;
        cp->tasks = cp->n * cp->c;
        return;
    }
    if (cp->kh == 1 && cp->kw == 1 && cp->sh == 1 && cp->sw == 1 && !p->pad_t && !p->pad_l &&
        !p->pad_b && !p->pad_r) {
        cp->path = PATH_1X1;
        cp->nb = VD_MIN(cp->p, 1024);
        while (units * ceil_div(cp->p, cp->nb) * ceil_div(cp->og, cp->mb) < want && cp->nb > 64)
            cp->nb = ceil_div(cp->nb, 2);
        while (units * ceil_div(cp->p, cp->nb) * ceil_div(cp->og, cp->mb) < want && cp->mb > 32)
            cp->mb = ceil_div(cp->mb, 2);
    } else {
        /* pixel tiles only: splitting output channels would repeat the im2col */
        cp->path = PATH_IM2COL;
        int64_t budget = VD_MAX(8, IM2COL_BUDGET / (cp->k * 4));
        int64_t per_unit = ceil_div(want, units);
        cp->nb = VD_MIN(cp->p, VD_MIN(budget, ceil_div(cp->p, per_unit)));
    }
    cp->m_tiles = ceil_div(cp->og, cp->mb);
    cp->n_tiles = ceil_div(cp->p, cp->nb);
    cp->tasks = units * cp->m_tiles * cp->n_tiles;
}

size_t vd_cpu_fast_conv2d_scratch(const vd_tensor *dst, int n_threads) {
    conv_plan cp;
    conv_plan_init(dst, n_threads, &cp);
    if (cp.path != PATH_IM2COL) return 0;
    return vd_cpu_slice_bytes((size_t)(cp.k * cp.nb) * sizeof(float)) * (size_t)n_threads;
}

/* y[r][j] = act(y[r][j] + bias[r] + res[r][j]) over a tile; y and res share ld. */
static void epilogue_rows(float *y, int64_t ld, int64_t rows, int64_t cols, const float *bias,
                          const float *res, vd_act act) {
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * ld;
        if (bias) {
            float b = bias[r];
            for (int64_t j = 0; j < cols; j++) yr[j] += b;
        }
        if (res) {
            const float *rr = res + r * ld;
            for (int64_t j = 0; j < cols; j++) yr[j] += rr[j];
        }
        vd_cpu_act_row(act, yr, cols);
    }
}

typedef struct conv_job {
    const vd_cpu_ctx *ctx;
    const conv_plan *cp;
    const float *x, *w, *bias, *res;
    float *y;
    vd_act act;
    size_t scratch_per_thread;
} conv_job;

/* col [k, np] for output pixels [p0, p0 + np) of image n, group g */
static void im2col(const conv_plan *cp, const float *x, int64_t n, int64_t g, int64_t p0,
                   int64_t np, float *col) {
    for (int64_t c = 0; c < cp->cg; c++) {
        const float *xc = x + ((n * cp->c + g * cp->cg + c) * cp->h) * cp->w;
        for (int64_t ky = 0; ky < cp->kh; ky++)
            for (int64_t kx = 0; kx < cp->kw; kx++) {
                float *dr = col + ((c * cp->kh + ky) * cp->kw + kx) * np;
                /* output columns whose input column is inside the map */
                int64_t lo = VD_MAX(0, -floor_div(kx - cp->pl, cp->sw));
                int64_t hi = VD_MIN(cp->ow, floor_div(cp->w - 1 + cp->pl - kx, cp->sw) + 1);
                for (int64_t pp = p0; pp < p0 + np;) {
                    int64_t oy = pp / cp->ow, ox0 = pp % cp->ow;
                    int64_t ox1 = VD_MIN(cp->ow, ox0 + (p0 + np - pp));
                    float *seg = dr + (pp - p0); /* seg[ox - ox0] for ox in [ox0, ox1) */
                    int64_t iy = oy * cp->sh - cp->pt + ky;
                    int64_t a = VD_MAX(ox0, lo), b = VD_MIN(ox1, hi);
                    if (iy < 0 || iy >= cp->h || a >= b) {
                        for (int64_t ox = ox0; ox < ox1; ox++) seg[ox - ox0] = 0;
                    } else {
                        /* input column of ox: ox * sw + xoff, inside the map for ox in [a, b) */
                        const float *xr = xc + iy * cp->w;
                        int64_t xoff = kx - cp->pl;
                        for (int64_t ox = ox0; ox < a; ox++) seg[ox - ox0] = 0;
                        if (cp->sw == 1) {
                            const float *xs = xr + (a + xoff);
                            float *ds = seg + (a - ox0);
                            for (int64_t i = 0; i < b - a; i++) ds[i] = xs[i];
                        } else {
                            for (int64_t ox = a; ox < b; ox++)
                                seg[ox - ox0] = xr[ox * cp->sw + xoff];
                        }
                        for (int64_t ox = b; ox < ox1; ox++) seg[ox - ox0] = 0;
                    }
                    pp += ox1 - ox0;
                }
            }
    }
}

static void conv_gemm_task(void *arg, int task, int thread) {
    const conv_job *j = arg;
    const conv_plan *cp = j->cp;
    int64_t t = task;
    int64_t nt = t % cp->n_tiles;
    t /= cp->n_tiles;
    int64_t mt = t % cp->m_tiles;
    t /= cp->m_tiles;
    int64_t g = t % cp->groups, n = t / cp->groups;
    int64_t p0 = nt * cp->nb, np = VD_MIN(cp->nb, cp->p - p0);
    int64_t m0 = g * cp->og + mt * cp->mb, mr = VD_MIN(cp->mb, (g + 1) * cp->og - m0);
    const float *b;
    int64_t ldb;
    if (cp->path == PATH_1X1) {
        b = j->x + (n * cp->c + g * cp->cg) * cp->p + p0;
        ldb = cp->p;
    } else {
        float *col = vd_cpu_thread_scratch(j->ctx, j->scratch_per_thread, thread);
        im2col(cp, j->x, n, g, p0, np, col);
        b = col;
        ldb = np;
    }
    int64_t yoff = (n * cp->o + m0) * cp->p + p0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mr, (int)np, (int)cp->k, 1.0f,
                j->w + m0 * cp->k, (int)cp->k, b, (int)ldb, 0.0f, j->y + yoff, (int)cp->p);
    epilogue_rows(j->y + yoff, cp->p, mr, np, j->bias ? j->bias + m0 : NULL,
                  j->res ? j->res + yoff : NULL, j->act);
}

/* One (image, channel) plane of a depthwise conv, accumulated row by row. */
static void conv_depthwise_task(void *arg, int task, int thread) {
    (void)thread;
    const conv_job *j = arg;
    const conv_plan *cp = j->cp;
    int64_t ch = task % cp->c;
    const float *xp = j->x + (int64_t)task * cp->h * cp->w;
    const float *wc = j->w + ch * cp->kh * cp->kw;
    float *yp = j->y + (int64_t)task * cp->p;
    for (int64_t oy = 0; oy < cp->oh; oy++) {
        float *yr = yp + oy * cp->ow;
        float b0 = j->bias ? j->bias[ch] : 0.0f;
        for (int64_t ox = 0; ox < cp->ow; ox++) yr[ox] = b0;
        for (int64_t ky = 0; ky < cp->kh; ky++) {
            int64_t iy = oy * cp->sh - cp->pt + ky;
            if (iy < 0 || iy >= cp->h) continue;
            for (int64_t kx = 0; kx < cp->kw; kx++) {
                float wv = wc[ky * cp->kw + kx];
                int64_t lo = VD_MAX(0, -floor_div(kx - cp->pl, cp->sw));
                int64_t hi = VD_MIN(cp->ow, floor_div(cp->w - 1 + cp->pl - kx, cp->sw) + 1);
                if (lo >= hi) continue;
                const float *xr = xp + iy * cp->w;
                int64_t xoff = kx - cp->pl; /* input column of ox: ox * sw + xoff */
                if (cp->sw == 1) {
                    const float *xs = xr + (lo + xoff);
                    float *ys = yr + lo;
                    for (int64_t i = 0; i < hi - lo; i++) ys[i] += wv * xs[i];
                } else {
                    for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * cp->sw + xoff];
                }
            }
        }
        if (j->res) {
            const float *rr = j->res + (int64_t)task * cp->p + oy * cp->ow;
            for (int64_t ox = 0; ox < cp->ow; ox++) yr[ox] += rr[ox];
        }
        vd_cpu_act_row(j->act, yr, cp->ow);
    }
}

void vd_cpu_fast_conv2d(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    conv_plan cp;
    conv_plan_init(dst, ctx->n_threads, &cp);
    conv_job j = {ctx, &cp, dst->src[0]->data, dst->src[1]->data,
                  dst->src[2] ? dst->src[2]->data : NULL, dst->src[3] ? dst->src[3]->data : NULL,
                  dst->data, dst->p.conv.act, (size_t)(cp.k * cp.nb) * sizeof(float)};
    if (cp.path == PATH_DEPTHWISE) {
        vd_pool_run(ctx->pool, (int)cp.tasks, conv_depthwise_task, &j);
        return;
    }
    vd_pool_run(ctx->pool, (int)cp.tasks, conv_gemm_task, &j);
}
