/* Fast multi-head attention (two sgemm per (batch, head, query block) task, softmax between
 * them in the thread's scratch) and multi-scale deformable attention (tasks over query
 * blocks; the inner loop runs over a head's channels, contiguous in value). */
#include <cblas.h>

#include "core/cpu/kernels.h"

#define ATTN_QBLOCK 64                   /* query rows per task, at most */
#define ATTN_SCORE_BUDGET ((int64_t)1 << 20) /* bytes of scores per thread (soft) */

typedef struct attn_job {
    const vd_cpu_ctx *ctx;
    const float *q, *k, *v;
    float *out;
    int64_t nb, lq, lk, d, heads, dh, qb, q_tiles;
    size_t scratch_per_thread;
} attn_job;

static void attn_dims(const vd_tensor *t, int64_t *b, int64_t *l, int64_t *d) {
    *b = t->ndim == 3 ? t->ne[0] : 1;
    *l = t->ne[t->ndim - 2];
    *d = t->ne[t->ndim - 1];
}

static void attn_plan(const vd_tensor *dst, int n_threads, attn_job *j) {
    attn_dims(dst->src[0], &j->nb, &j->lq, &j->d);
    attn_dims(dst->src[1], &j->nb, &j->lk, &j->d);
    j->heads = dst->p.attn.n_heads;
    j->dh = j->d / j->heads;
    int64_t qb = VD_MIN(j->lq, ATTN_QBLOCK);
    qb = VD_MIN(qb, VD_MAX(1, ATTN_SCORE_BUDGET / (j->lk * 4)));
    /* more, smaller blocks when (batch x heads) alone cannot keep the threads busy */
    int64_t units = j->nb * j->heads, want = n_threads > 1 ? 4 * (int64_t)n_threads : 1;
    if (units < want) qb = VD_MIN(qb, VD_MAX(8, (j->lq * units + want - 1) / want));
    j->qb = VD_MAX(1, qb);
    j->q_tiles = (j->lq + j->qb - 1) / j->qb;
    j->scratch_per_thread = (size_t)(j->qb * j->lk) * sizeof(float);
}

size_t vd_cpu_fast_attention_scratch(const vd_tensor *dst, int n_threads) {
    attn_job j;
    attn_plan(dst, n_threads, &j);
    return vd_cpu_slice_bytes(j.scratch_per_thread) * (size_t)n_threads;
}

static void attn_task(void *arg, int task, int thread) {
    const attn_job *j = arg;
    int64_t qt = task % j->q_tiles, bh = task / j->q_tiles;
    int64_t h = bh % j->heads, b = bh / j->heads;
    int64_t i0 = qt * j->qb, nq = VD_MIN(j->qb, j->lq - i0);
    float *s = vd_cpu_thread_scratch(j->ctx, j->scratch_per_thread, thread); // (nq, Lk)
    const float *q = j->q + (b * j->lq + i0) * j->d + h * j->dh;              // (nq, Dh), ld D
    const float *k = j->k + b * j->lk * j->d + h * j->dh;                     // (Lk, Dh), ld D
    const float *v = j->v + b * j->lk * j->d + h * j->dh;                     // (Lk, Dh), ld D
    float *o = j->out + (b * j->lq + i0) * j->d + h * j->dh;                  // (nq, Dh), ld D
    float scale = (float)(1.0 / sqrt((double)j->dh));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)j->lk, (int)j->dh, scale, q,
                (int)j->d, k, (int)j->d, 0.0f, s, (int)j->lk);
    for (int64_t r = 0; r < nq; r++) vd_cpu_softmax_row(s + r * j->lk, s + r * j->lk, j->lk);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)j->dh, (int)j->lk, 1.0f,
                s, (int)j->lk, v, (int)j->d, 0.0f, o, (int)j->d);
}

void vd_cpu_fast_attention(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    attn_job j;
    attn_plan(dst, ctx->n_threads, &j);
    j.ctx = ctx;
    j.q = dst->src[0]->data;
    j.k = dst->src[1]->data;
    j.v = dst->src[2]->data;
    j.out = dst->data;
    vd_pool_run(ctx->pool, (int)(j.nb * j.heads * j.q_tiles), attn_task, &j);
}

/* ---- multi-scale deformable attention ------------------------------------------------------ */

typedef struct msda_job {
    const vd_cpu_ctx *ctx;
    const vd_msda_params *p;
    const float *value, *offsets, *logits, *ref, *pscale;
    float *out;
    int64_t nq, c, dh, start[VD_MAX_LEVELS];
    int lp, tasks;
    size_t scratch_per_thread;
} msda_job;

/* per thread: LP softmax weights, then Dh zeros that stand in for taps outside the map */
static size_t msda_thread_bytes(const vd_tensor *dst) {
    int64_t dh = dst->ne[1] / dst->p.msda.n_heads;
    return (size_t)(vd_cpu_msda_points(&dst->p.msda) + dh) * sizeof(float);
}

size_t vd_cpu_fast_msda_scratch(const vd_tensor *dst, int n_threads) {
    return vd_cpu_slice_bytes(msda_thread_bytes(dst)) * (size_t)n_threads;
}

/* out_h += weight * bilinear sample of head h's channels; taps outside read zeros */
static void msda_point(const msda_job *j, const float *base, const vd_cpu_taps *t, float wk,
                       const float *zeros, float *out) {
    const float *r[4];
    float w[4];
    for (int i = 0; i < 4; i++) {
        r[i] = t->idx[i] >= 0 ? base + t->idx[i] * j->c : zeros;
        w[i] = wk * t->w[i];
    }
    const float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];
    for (int64_t d = 0; d < j->dh; d++)
        out[d] += w[0] * r0[d] + w[1] * r1[d] + w[2] * r2[d] + w[3] * r3[d];
}

static void msda_query(const msda_job *j, int64_t q, float *wt, const float *zeros) {
    const vd_msda_params *p = j->p;
    int lp = j->lp;
    for (int64_t m = 0; m < p->n_heads; m++) {
        const float *lg = j->logits + (q * p->n_heads + m) * lp;
        float mx = -INFINITY, sum = 0;
        for (int k = 0; k < lp; k++) mx = lg[k] > mx ? lg[k] : mx;
        for (int k = 0; k < lp; k++) sum += wt[k] = expf(lg[k] - mx);
        float inv = 1.0f / sum;
        float *out = j->out + q * j->c + m * j->dh;
        for (int64_t d = 0; d < j->dh; d++) out[d] = 0;
        const float *off = j->offsets + (q * p->n_heads + m) * lp * 2;
        const float *ref = j->ref + q * p->ref_dim;
        int k = 0;
        for (int l = 0; l < p->n_levels; l++) {
            const float *base = j->value + j->start[l] * j->c + m * j->dh;
            for (int pt = 0; pt < p->points[l]; pt++, k++) {
                float lx, ly;
                vd_cpu_msda_loc(p, ref, off + 2 * k, j->pscale, l, k, &lx, &ly);
                vd_cpu_taps t;
                vd_cpu_bilinear_taps(lx, ly, p->h[l], p->w[l], &t);
                msda_point(j, base, &t, wt[k] * inv, zeros, out);
            }
        }
    }
}

static void msda_task(void *arg, int task, int thread) {
    const msda_job *j = arg;
    float *wt = vd_cpu_thread_scratch(j->ctx, j->scratch_per_thread, thread);
    float *zeros = wt + j->lp;
    for (int64_t d = 0; d < j->dh; d++) zeros[d] = 0;
    int64_t b, e;
    vd_cpu_range(j->nq, j->tasks, task, &b, &e);
    for (int64_t q = b; q < e; q++) msda_query(j, q, wt, zeros);
}

void vd_cpu_fast_msda(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const vd_msda_params *p = &dst->p.msda;
    msda_job j = {ctx, p, dst->src[0]->data, dst->src[1]->data, dst->src[2]->data,
                  dst->src[3]->data, p->ref_dim == 4 ? dst->src[4]->data : NULL, dst->data,
                  dst->ne[0], dst->ne[1], dst->ne[1] / p->n_heads, {0}, vd_cpu_msda_points(p),
                  1, msda_thread_bytes(dst)};
    for (int l = 1; l < p->n_levels; l++)
        j.start[l] = j.start[l - 1] + (int64_t)p->h[l - 1] * p->w[l - 1];
    j.tasks = vd_cpu_tasks(ctx, j.nq, (int64_t)p->n_heads * j.lp * j.dh * 8);
    vd_pool_run(ctx->pool, j.tasks, msda_task, &j);
}
