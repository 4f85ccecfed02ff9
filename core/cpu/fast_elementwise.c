/* Fast elementwise and row kernels: unary, broadcast binary, layer norm, softmax, reduce-max,
 * box refinement. Parallel loops over the pool; inner loops written so the compiler can
 * vectorise them without -ffast-math (reductions keep 8 partial sums in explicit lanes). */
#include "core/cpu/kernels.h"

#define LANES 8

/* ---- activations -------------------------------------------------------------------------- */

void vd_cpu_act_row(vd_act act, float *y, int64_t n) {
    switch (act) {
    case VD_ACT_NONE: return;
    case VD_ACT_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = y[i] < 0.0f ? 0.0f : y[i];
        return;
    case VD_ACT_SILU:
        for (int64_t i = 0; i < n; i++) y[i] = y[i] / (1.0f + vd_cpu_expf(-y[i]));
        return;
    case VD_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + vd_cpu_expf(-y[i]));
        return;
    case VD_ACT_GELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = 0.5f * y[i] * (1.0f + vd_cpu_erff(y[i] * 0.70710678118654752440f));
        return;
    default:
        for (int64_t i = 0; i < n; i++) y[i] = vd_act_apply(act, y[i]);
        return;
    }
}

/* ---- unary ------------------------------------------------------------------------------- */

typedef struct ew_job {
    const float *a, *b;
    float *y;
    int64_t n;
    int tasks;
    vd_act act;
} ew_job;

static void unary_task(void *arg, int task, int thread) {
    (void)thread;
    const ew_job *j = arg;
    int64_t b, e;
    vd_cpu_range(j->n, j->tasks, task, &b, &e);
    /* blocks that stay in L1 between the copy and the activation */
    for (int64_t i = b; i < e; i += 2048) {
        int64_t n = VD_MIN(2048, e - i);
        memcpy(j->y + i, j->a + i, (size_t)n * sizeof(float));
        vd_cpu_act_row(j->act, j->y + i, n);
    }
}

void vd_cpu_fast_unary(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    ew_job j = {dst->src[0]->data, NULL, dst->data, vd_nelements(dst), 1, dst->p.unary.act};
    j.tasks = vd_cpu_tasks(ctx, j.n, j.act <= VD_ACT_RELU ? 1 : 8);
    vd_pool_run(ctx->pool, j.tasks, unary_task, &j);
}

/* ---- binary with broadcasting -------------------------------------------------------------
 * a's shape is collapsed with b's strides (0 along broadcast dims): adjacent dims merge when b
 * is contiguous across them or broadcast along both. What is left is at most 4 dims whose
 * innermost has b-stride 1 or 0, so the inner loop is a plain vector loop. */

typedef struct bin_job {
    const float *a, *b;
    float *y;
    int nd;                     /* collapsed dims */
    int64_t ne[VD_MAX_DIMS];    /* collapsed shape of a, outermost first */
    int64_t bs[VD_MAX_DIMS];    /* b's stride per collapsed dim */
    int64_t n;
    int tasks;
    vd_binop op;
} bin_job;

static void bin_collapse(const vd_tensor *at, const vd_tensor *bt, bin_job *j) {
    int64_t ne[VD_MAX_DIMS], bs[VD_MAX_DIMS], s = 1;
    int off = at->ndim - bt->ndim;
    for (int d = at->ndim - 1; d >= 0; d--) {
        ne[d] = at->ne[d];
        int64_t bn = d >= off ? bt->ne[d - off] : 1;
        bs[d] = bn == 1 ? 0 : s;
        s *= bn;
    }
    j->nd = 0;
    for (int d = 0; d < at->ndim; d++) {
        if (ne[d] == 1) continue;
        if (j->nd > 0 && j->bs[j->nd - 1] == bs[d] * ne[d]) {
            j->ne[j->nd - 1] *= ne[d];
            j->bs[j->nd - 1] = bs[d];
            continue;
        }
        j->ne[j->nd] = ne[d];
        j->bs[j->nd] = bs[d];
        j->nd++;
    }
    if (j->nd == 0) { /* a single element */
        j->ne[0] = 1;
        j->bs[0] = 0;
        j->nd = 1;
    }
}

static void bin_task(void *arg, int task, int thread) {
    (void)thread;
    const bin_job *j = arg;
    int64_t b, e;
    vd_cpu_range(j->n, j->tasks, task, &b, &e);
    int64_t len = j->ne[j->nd - 1], bin = j->bs[j->nd - 1];
    for (int64_t i = b; i < e;) {
        int64_t row = i / len, col = i % len, seg = VD_MIN(len - col, e - i);
        int64_t boff = 0, r = row;
        for (int d = j->nd - 2; d >= 0; d--) {
            boff += (r % j->ne[d]) * j->bs[d];
            r /= j->ne[d];
        }
        const float *a = j->a + i;
        float *y = j->y + i;
        if (bin) {
            const float *bv = j->b + boff + col;
            if (j->op == VD_BIN_ADD)
                for (int64_t k = 0; k < seg; k++) y[k] = a[k] + bv[k];
            else
                for (int64_t k = 0; k < seg; k++) y[k] = a[k] * bv[k];
        } else {
            float s = j->b[boff];
            if (j->op == VD_BIN_ADD)
                for (int64_t k = 0; k < seg; k++) y[k] = a[k] + s;
            else
                for (int64_t k = 0; k < seg; k++) y[k] = a[k] * s;
        }
        i += seg;
    }
}

void vd_cpu_fast_binary(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    bin_job j;
    memset(&j, 0, sizeof j);
    j.a = dst->src[0]->data;
    j.b = dst->src[1]->data;
    j.y = dst->data;
    j.op = dst->p.binary.op;
    j.n = vd_nelements(dst);
    bin_collapse(dst->src[0], dst->src[1], &j);
    j.tasks = vd_cpu_tasks(ctx, j.n, 1);
    vd_pool_run(ctx->pool, j.tasks, bin_task, &j);
}

/* ---- row kernels ------------------------------------------------------------------------- */

typedef struct row_job {
    const float *x, *gamma, *beta;
    float *y;
    int64_t rows, d;
    int tasks;
    float eps;
} row_job;

static float lane_sum(const float *acc) {
    float s = 0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

/* Two passes in f32 with 8 partial sums: mean, then the mean of squared deviations (exact
 * enough for rows with a large common offset, unlike E[x^2] - E[x]^2). */
static void layer_norm_row(const row_job *j, const float *x, float *y) {
    int64_t d = j->d, i;
    float acc[LANES] = {0};
    for (i = 0; i + LANES <= d; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += x[i + l];
    float mean = lane_sum(acc);
    for (; i < d; i++) mean += x[i];
    mean /= (float)d;
    float acc2[LANES] = {0};
    for (i = 0; i + LANES <= d; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float t = x[i + l] - mean;
            acc2[l] += t * t;
        }
    float var = lane_sum(acc2);
    for (; i < d; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= (float)d;
    float inv = 1.0f / sqrtf(var + j->eps);
    for (i = 0; i < d; i++) y[i] = (x[i] - mean) * inv * j->gamma[i] + j->beta[i];
}

static void layer_norm_task(void *arg, int task, int thread) {
    (void)thread;
    const row_job *j = arg;
    int64_t b, e;
    vd_cpu_range(j->rows, j->tasks, task, &b, &e);
    for (int64_t r = b; r < e; r++) layer_norm_row(j, j->x + r * j->d, j->y + r * j->d);
}

void vd_cpu_fast_layer_norm(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    row_job j = {dst->src[0]->data, dst->src[1]->data, dst->src[2]->data, dst->data,
                 vd_cpu_rows(dst), dst->ne[dst->ndim - 1], 1, dst->p.norm.eps};
    j.tasks = vd_cpu_tasks(ctx, j.rows, j.d * 4);
    vd_pool_run(ctx->pool, j.tasks, layer_norm_task, &j);
}

/* max of a row, NaN if the row holds one (as torch.max); 8 lanes so it vectorises */
static float row_max(const float *x, int64_t n) {
    float m[LANES];
    int nan[LANES];
    for (int l = 0; l < LANES; l++) {
        m[l] = -INFINITY;
        nan[l] = 0;
    }
    int64_t i;
    for (i = 0; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float v = x[i + l];
            m[l] = v > m[l] ? v : m[l];
            nan[l] |= v != v;
        }
    for (; i < n; i++) {
        m[0] = x[i] > m[0] ? x[i] : m[0];
        nan[0] |= x[i] != x[i];
    }
    float r = m[0];
    int any = nan[0];
    for (int l = 1; l < LANES; l++) {
        r = m[l] > r ? m[l] : r;
        any |= nan[l];
    }
    return any ? NAN : r;
}

void vd_cpu_softmax_row(const float *x, float *y, int64_t n) {
    float mx = row_max(x, n), acc[LANES] = {0};
    int64_t i;
    for (i = 0; i < n; i++) y[i] = vd_cpu_expf(x[i] - mx);
    for (i = 0; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += y[i + l];
    float sum = lane_sum(acc);
    for (; i < n; i++) sum += y[i];
    float inv = 1.0f / sum;
    for (i = 0; i < n; i++) y[i] *= inv;
}

static void softmax_task(void *arg, int task, int thread) {
    (void)thread;
    const row_job *j = arg;
    int64_t b, e;
    vd_cpu_range(j->rows, j->tasks, task, &b, &e);
    for (int64_t r = b; r < e; r++) vd_cpu_softmax_row(j->x + r * j->d, j->y + r * j->d, j->d);
}

void vd_cpu_fast_softmax(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    row_job j = {dst->src[0]->data, NULL, NULL, dst->data, vd_cpu_rows(dst),
                 dst->ne[dst->ndim - 1], 1, 0};
    j.tasks = vd_cpu_tasks(ctx, j.rows, j.d * 8);
    vd_pool_run(ctx->pool, j.tasks, softmax_task, &j);
}

static void reduce_max_task(void *arg, int task, int thread) {
    (void)thread;
    const row_job *j = arg;
    int64_t b, e;
    vd_cpu_range(j->rows, j->tasks, task, &b, &e);
    for (int64_t r = b; r < e; r++) j->y[r] = row_max(j->x + r * j->d, j->d);
}

void vd_cpu_fast_reduce_max(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const vd_tensor *xt = dst->src[0];
    row_job j = {xt->data, NULL, NULL, dst->data, vd_cpu_rows(xt), xt->ne[xt->ndim - 1], 1, 0};
    j.tasks = vd_cpu_tasks(ctx, j.rows, j.d);
    vd_pool_run(ctx->pool, j.tasks, reduce_max_task, &j);
}

static void box_refine_task(void *arg, int task, int thread) {
    (void)thread;
    const ew_job *j = arg;
    int64_t b, e;
    vd_cpu_range(j->n, j->tasks, task, &b, &e);
    for (int64_t i = b; i < e; i++)
        j->y[i] = vd_act_apply(VD_ACT_SIGMOID,
                               j->a[i] + vd_act_apply(VD_ACT_INV_SIGMOID, j->b[i]));
}

void vd_cpu_fast_box_refine(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    ew_job j = {dst->src[0]->data, dst->src[1]->data, dst->data, vd_nelements(dst), 1,
                VD_ACT_NONE};
    j.tasks = vd_cpu_tasks(ctx, j.n, 16);
    vd_pool_run(ctx->pool, j.tasks, box_refine_task, &j);
}
