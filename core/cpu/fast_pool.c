/* Fast pool2d: separable. Max and sum over a window both split into a pass along each row
 * (into a scratch plane of input rows x output columns) and a pass down the columns of that
 * plane, 6 and 3 taps per output of a 3x3 window instead of 9 window bounds computed per
 * output pixel. PyTorch's windows as in the reference (ref_conv.c): clipped to the padded
 * input (ceil_mode), then to the input; max skips padding and propagates NaN; avg divides by
 * the padded (count_include_pad) or the clipped size, a product of one factor per axis. */
#include "core/cpu/kernels.h"

typedef struct pool_axis {
    int32_t lo, hi; /* taps [lo, hi) inside the input */
    float inv;      /* 1 / divisor of this axis (avg) */
} pool_axis;

static void pool_axis_init(int64_t out, int64_t in, int k, int stride, int pad, int count_pad,
                           pool_axis *ax) {
    for (int64_t o = 0; o < out; o++) {
        int64_t a = o * stride - pad, b = VD_MIN(a + k, in + pad);
        int64_t padded = b - a;
        a = VD_MAX(a, 0);
        b = VD_MIN(b, in);
        int64_t div = count_pad ? padded : b - a;
        ax[o].lo = (int32_t)a;
        ax[o].hi = (int32_t)VD_MAX(a, b);
        ax[o].inv = div > 0 ? 1.0f / (float)div : 0.0f;
    }
}

/* the reference's max step: NaN wins and stays */
static inline float max_step(float acc, float v) { return (v > acc || v != v) ? v : acc; }

typedef struct pool_job {
    const vd_cpu_ctx *ctx;
    const vd_tensor *dst;
    const pool_axis *ay, *ax;
    int64_t planes;
    int tasks;
    size_t plane_bytes; /* scratch per thread: input rows x output columns */
} pool_job;

static void pool_rows(const pool_job *j, const float *x, float *hp) {
    const vd_tensor *xt = j->dst->src[0];
    const vd_pool_params *p = &j->dst->p.pool;
    int64_t h = xt->ne[2], w = xt->ne[3], ow = j->dst->ne[3];
    int is_max = p->kind == VD_POOL_MAX;
    for (int64_t y = 0; y < h; y++) {
        const float *xr = x + y * w;
        float *hr = hp + y * ow;
        if (is_max && p->k_w == 3 && p->stride_w == 2) {
            for (int64_t o = 0; o < ow; o++) {
                const pool_axis *a = &j->ax[o];
                if (a->hi - a->lo == 3) {
                    const float *s = xr + a->lo;
                    hr[o] = max_step(max_step(s[0], s[1]), s[2]);
                } else {
                    float m = -INFINITY;
                    for (int32_t i = a->lo; i < a->hi; i++) m = max_step(m, xr[i]);
                    hr[o] = m;
                }
            }
        } else if (!is_max && p->k_w == 2 && p->stride_w == 2) {
            for (int64_t o = 0; o < ow; o++) {
                const pool_axis *a = &j->ax[o];
                float s = 0.0f;
                for (int32_t i = a->lo; i < a->hi; i++) s += xr[i];
                hr[o] = s;
            }
        } else if (is_max) {
            for (int64_t o = 0; o < ow; o++) {
                float m = -INFINITY;
                for (int32_t i = j->ax[o].lo; i < j->ax[o].hi; i++) m = max_step(m, xr[i]);
                hr[o] = m;
            }
        } else {
            for (int64_t o = 0; o < ow; o++) {
                float s = 0.0f;
                for (int32_t i = j->ax[o].lo; i < j->ax[o].hi; i++) s += xr[i];
                hr[o] = s;
            }
        }
    }
}

static void pool_cols(const pool_job *j, const float *hp, float *y) {
    const vd_pool_params *p = &j->dst->p.pool;
    int64_t oh = j->dst->ne[2], ow = j->dst->ne[3];
    for (int64_t o = 0; o < oh; o++) {
        const pool_axis *a = &j->ay[o];
        float *yr = y + o * ow;
        if (p->kind == VD_POOL_MAX) {
            for (int64_t i = 0; i < ow; i++) yr[i] = -INFINITY;
            for (int32_t r = a->lo; r < a->hi; r++) {
                const float *hr = hp + r * ow;
                for (int64_t i = 0; i < ow; i++) yr[i] = max_step(yr[i], hr[i]);
            }
        } else {
            for (int64_t i = 0; i < ow; i++) yr[i] = 0.0f;
            for (int32_t r = a->lo; r < a->hi; r++) {
                const float *hr = hp + r * ow;
                for (int64_t i = 0; i < ow; i++) yr[i] += hr[i];
            }
            for (int64_t i = 0; i < ow; i++) yr[i] = yr[i] * a->inv * j->ax[i].inv;
        }
    }
}

/* 2x2 windows, stride 2, tiling the input exactly (ResNet-vd's shortcut): one pass, the
 * divisor 4 whatever the padding rule */
static int avg2x2_exact(const vd_tensor *dst) {
    const vd_pool_params *p = &dst->p.pool;
    const vd_tensor *xt = dst->src[0];
    return p->kind == VD_POOL_AVG && p->k_h == 2 && p->k_w == 2 && p->stride_h == 2 &&
           p->stride_w == 2 && p->pad_h == 0 && p->pad_w == 0 && xt->ne[2] == 2 * dst->ne[2] &&
           xt->ne[3] == 2 * dst->ne[3];
}

static void avg2x2_plane(const float *x, int64_t w, float *y, int64_t oh, int64_t ow) {
    for (int64_t o = 0; o < oh; o++) {
        const float *r0 = x + 2 * o * w, *r1 = r0 + w;
        float *yr = y + o * ow;
        for (int64_t i = 0; i < ow; i++)
            yr[i] = ((r0[2 * i] + r0[2 * i + 1]) + (r1[2 * i] + r1[2 * i + 1])) * 0.25f;
    }
}

static void pool_task(void *arg, int task, int thread) {
    const pool_job *j = arg;
    const vd_tensor *xt = j->dst->src[0];
    int64_t hw = xt->ne[2] * xt->ne[3], ohw = j->dst->ne[2] * j->dst->ne[3], b, e;
    float *hp = vd_cpu_thread_scratch(j->ctx, j->plane_bytes, thread);
    vd_cpu_range(j->planes, j->tasks, task, &b, &e);
    if (avg2x2_exact(j->dst)) {
        for (int64_t pl = b; pl < e; pl++)
            avg2x2_plane((const float *)xt->data + pl * hw, xt->ne[3],
                         (float *)j->dst->data + pl * ohw, j->dst->ne[2], j->dst->ne[3]);
        return;
    }
    for (int64_t pl = b; pl < e; pl++) {
        pool_rows(j, (const float *)xt->data + pl * hw, hp);
        pool_cols(j, hp, (float *)j->dst->data + pl * ohw);
    }
}

/* per thread: the row pass of one plane, then the axes' windows (shared, in slice 0's tail) */
static size_t pool_plane_bytes(const vd_tensor *dst) {
    return (size_t)(dst->src[0]->ne[2] * dst->ne[3]) * sizeof(float);
}

size_t vd_cpu_sep_pool2d_scratch(const vd_tensor *dst, int n_threads) {
    return vd_cpu_slice_bytes(pool_plane_bytes(dst)) * (size_t)n_threads +
           (size_t)(dst->ne[2] + dst->ne[3]) * sizeof(pool_axis);
}

void vd_cpu_sep_pool2d(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const vd_tensor *xt = dst->src[0];
    const vd_pool_params *p = &dst->p.pool;
    pool_job j = {ctx, dst, NULL, NULL, xt->ne[0] * xt->ne[1], 1, pool_plane_bytes(dst)};
    pool_axis *axes = (pool_axis *)((char *)ctx->scratch +
                                    vd_cpu_slice_bytes(j.plane_bytes) * (size_t)ctx->n_threads);
    int cp = p->kind == VD_POOL_AVG && p->count_include_pad;
    pool_axis_init(dst->ne[2], xt->ne[2], p->k_h, p->stride_h, p->pad_h, cp, axes);
    pool_axis_init(dst->ne[3], xt->ne[3], p->k_w, p->stride_w, p->pad_w, cp, axes + dst->ne[2]);
    j.ay = axes;
    j.ax = axes + dst->ne[2];
    j.tasks = vd_cpu_tasks(ctx, j.planes, xt->ne[2] * xt->ne[3] * 2);
    vd_pool_run(ctx->pool, j.tasks, pool_task, &j);
}
