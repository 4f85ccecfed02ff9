/* Fast pool2d: separable. Max and sum over a window both split into a pass along one axis
 * and a pass along the other, 6 and 3 taps per output of a 3x3 window instead of 9 window
 * bounds computed per output pixel. PyTorch's windows as in the reference (ref_conv.c):
 * clipped to the padded input (ceil_mode), then to the input; max skips padding and
 * propagates NaN; avg divides by the padded (count_include_pad) or the clipped size, a product
 * of one factor per axis.
 *
 * Max pools go down the columns first, one output row at a time (the window's input rows,
 * 8 columns per AVX2 step) into a row buffer in L1, then along that row into the output
 * (the ResNet stem's 3-wide stride-2 windows 8 outputs per step: even and odd columns split
 * by two shuffles). Sums go along the rows first, into a plane of input rows x output
 * columns, then down its columns. */
#include "core/cpu/fast_avx2.h"

#define POOL_X86 VD_HAVE_AVX2_CODE

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

#if POOL_X86
/* max_step on 8 lanes: maxps(v, acc) is v > acc ? v : acc, acc when either is NaN; then v
 * where v is NaN */
VD_AVX2_INLINE __m256 max_step8(__m256 acc, __m256 v) {
    __m256 m = _mm256_max_ps(v, acc);
    return _mm256_blendv_ps(m, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

/* row[i] = max over n rows (at stride w) of x, i in [0, w) */
static VD_AVX2 void vmax_rows_avx2(const float *x, int64_t n, int64_t w, float *row) {
    int64_t i = 0;
    for (; i + 8 <= w; i += 8) {
        __m256 m = _mm256_set1_ps(-INFINITY);
        for (int64_t r = 0; r < n; r++) m = max_step8(m, _mm256_loadu_ps(x + r * w + i));
        _mm256_storeu_ps(row + i, m);
    }
    for (; i < w; i++) {
        float m = -INFINITY;
        for (int64_t r = 0; r < n; r++) m = max_step(m, x[r * w + i]);
        row[i] = m;
    }
}

/* the even (e) and odd (o) elements of the 16 at p */
VD_AVX2_INLINE void split_even_odd(const float *p, __m256 *e, __m256 *o) {
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 ev = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 a4 a6 b4 b6 */
    __m256 od = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), _MM_SHUFFLE(3, 1, 2, 0)));
    *o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* outputs [o0, o1) of 3-wide stride-2 windows whose taps lie inside the row: taps
 * 2o + off, +1, +2 (off = -pad); row readable 16 floats past its end */
static VD_AVX2 int64_t hmax3s2_avx2(const float *row, int64_t off, int64_t o0, int64_t o1,
                                    float *y) {
    int64_t o = o0;
    for (; o + 8 <= o1; o += 8) {
        __m256 s0, s1, s2, unused;
        split_even_odd(row + 2 * o + off, &s0, &s1);
        split_even_odd(row + 2 * o + off + 2, &s2, &unused);
        _mm256_storeu_ps(y + o, max_step8(max_step8(s0, s1), s2));
    }
    return o;
}
#endif

/* row[i] = max over n rows (at stride w) of x */
static void vmax_rows(const float *x, int64_t n, int64_t w, float *row) {
#if POOL_X86
    if (vd_cpu_has_avx2()) {
        vmax_rows_avx2(x, n, w, row);
        return;
    }
#endif
    for (int64_t i = 0; i < w; i++) row[i] = -INFINITY;
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < w; i++) row[i] = max_step(row[i], x[r * w + i]);
}

typedef struct pool_job {
    const vd_cpu_ctx *ctx;
    const vd_tensor *dst;
    const pool_axis *ay, *ax;
    int64_t planes;
    int tasks;
    size_t plane_bytes; /* scratch per thread (pool_plane_bytes) */
} pool_job;

static void hmax(const pool_axis *ax, const float *row, int64_t o0, int64_t o1, float *y) {
    for (int64_t o = o0; o < o1; o++) {
        float m = -INFINITY;
        for (int32_t i = ax[o].lo; i < ax[o].hi; i++) m = max_step(m, row[i]);
        y[o] = m;
    }
}

/* Max: output row by output row, the window's input rows into row (w floats + 16), then
 * along it */
static void max_plane(const pool_job *j, const float *x, float *row, float *y) {
    const vd_tensor *xt = j->dst->src[0];
    const vd_pool_params *p = &j->dst->p.pool;
    int64_t w = xt->ne[3], oh = j->dst->ne[2], ow = j->dst->ne[3];
    /* the outputs whose 3-wide stride-2 window lies inside the row: [o0, o1) */
    int64_t o0 = 0, o1 = 0;
    if (p->k_w == 3 && p->stride_w == 2 && w + p->pad_w >= 3) {
        o0 = VD_MIN(ow, (p->pad_w + 1) / 2);
        o1 = VD_MAX(o0, VD_MIN(ow, (w - 3 + p->pad_w) / 2 + 1));
    }
    for (int i = 0; i < 16; i++) row[w + i] = 0.0f; /* read past the row, never used */
    for (int64_t oy = 0; oy < oh; oy++) {
        const pool_axis *a = &j->ay[oy];
        vmax_rows(x + (int64_t)a->lo * w, a->hi - a->lo, w, row);
        float *yr = y + oy * ow;
        int64_t v1 = o0; /* [o0, v1) done 8 at a time */
#if POOL_X86
        if (o0 < o1 && vd_cpu_has_avx2()) v1 = hmax3s2_avx2(row, -p->pad_w, o0, o1, yr);
#endif
        hmax(j->ax, row, 0, o0, yr);
        hmax(j->ax, row, v1, ow, yr);
    }
}

/* Sum: along the rows into hp (input rows x output columns), then down its columns */
static void sum_rows(const pool_job *j, const float *x, float *hp) {
    const vd_tensor *xt = j->dst->src[0];
    int64_t h = xt->ne[2], w = xt->ne[3], ow = j->dst->ne[3];
    for (int64_t y = 0; y < h; y++) {
        const float *xr = x + y * w;
        float *hr = hp + y * ow;
        for (int64_t o = 0; o < ow; o++) {
            float s = 0.0f;
            for (int32_t i = j->ax[o].lo; i < j->ax[o].hi; i++) s += xr[i];
            hr[o] = s;
        }
    }
}

static void sum_cols(const pool_job *j, const float *hp, float *y) {
    int64_t oh = j->dst->ne[2], ow = j->dst->ne[3];
    for (int64_t o = 0; o < oh; o++) {
        const pool_axis *a = &j->ay[o];
        float *yr = y + o * ow;
        for (int64_t i = 0; i < ow; i++) yr[i] = 0.0f;
        for (int32_t r = a->lo; r < a->hi; r++) {
            const float *hr = hp + r * ow;
            for (int64_t i = 0; i < ow; i++) yr[i] += hr[i];
        }
        for (int64_t i = 0; i < ow; i++) yr[i] = yr[i] * a->inv * j->ax[i].inv;
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
        const float *x = (const float *)xt->data + pl * hw;
        float *y = (float *)j->dst->data + pl * ohw;
        if (j->dst->p.pool.kind == VD_POOL_MAX) {
            max_plane(j, x, hp, y);
        } else {
            sum_rows(j, x, hp);
            sum_cols(j, hp, y);
        }
    }
}

/* per thread: max, one input-wide row and 16 floats past it; sum, the row pass of one
 * plane. Then the axes' windows (shared, after the threads' slices). */
static size_t pool_plane_bytes(const vd_tensor *dst) {
    const vd_tensor *xt = dst->src[0];
    if (dst->p.pool.kind == VD_POOL_MAX) return (size_t)(xt->ne[3] + 16) * sizeof(float);
    return (size_t)(xt->ne[2] * dst->ne[3]) * sizeof(float);
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
