/* Fast attention and multi-scale deformable attention on the packed GEMM (fast_mm.c).
 *
 * attention: one task per (batch, head, block of queries); K_h^T packed once per task into
 * the thread's scratch, S = Q_h K_h^T (vd_mm), a scaled softmax per row in place, then
 * O_h = S V_h with V_h read in place (vd_mm_inplace). Blocks of queries are as large as the
 * threads allow (all queries of a head when there are enough heads), so K_h is packed few
 * times.
 *
 * msda: tasks over (head, block of queries), head-major, so that the samples of one task come
 * from that head's Dh channels of value only (value is [S, M*Dh]: a head's slice of a row is
 * one or two cache lines), which stay in L2 for the whole task; each point's 4 taps are
 * gathered with the sampling weight folded into the tap weights. */
#include "core/cpu/fast_avx2.h"

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- attention --------------------------------------------------------------------------------- */

typedef struct mha_job {
    const vd_cpu_ctx *ctx;
    const float *q, *k, *v;
    float *out;
    int64_t nb, lq, lk, d, heads, dh, qb, q_tiles;
    size_t kt_bytes, scratch_per_thread;
} mha_job;

static void mha_dims(const vd_tensor *t, int64_t *b, int64_t *l, int64_t *d) {
    *b = t->ndim == 3 ? t->ne[0] : 1;
    *l = t->ne[t->ndim - 2];
    *d = t->ne[t->ndim - 1];
}

#define MHA_SCORE_BUDGET ((int64_t)1 << 20) /* bytes of scores per thread (soft) */

static void mha_plan(const vd_tensor *dst, int n_threads, mha_job *j) {
    mha_dims(dst->src[0], &j->nb, &j->lq, &j->d);
    mha_dims(dst->src[1], &j->nb, &j->lk, &j->d);
    j->heads = dst->p.attn.n_heads;
    j->dh = j->d / j->heads;
    int64_t units = j->nb * j->heads, want = n_threads > 1 ? 2 * (int64_t)n_threads : 1;
    int64_t qb = VD_MAX(6, MHA_SCORE_BUDGET / (j->lk * 4) / 6 * 6);
    if (units < want) qb = VD_MIN(qb, VD_MAX(6, ceil_div(j->lq * units, want)));
    j->qb = VD_MIN(qb, j->lq);
    j->q_tiles = ceil_div(j->lq, j->qb);
    j->kt_bytes = vd_cpu_slice_bytes(vd_mm_packed_floats(j->dh, j->lk) * sizeof(float));
    j->scratch_per_thread = j->kt_bytes + (size_t)(j->qb * j->lk) * sizeof(float);
}

size_t vd_cpu_mm_attention_scratch(const vd_tensor *dst, int n_threads) {
    mha_job j;
    mha_plan(dst, n_threads, &j);
    return vd_cpu_slice_bytes(j.scratch_per_thread) * (size_t)n_threads;
}

/* y = softmax(x * scale) in place (scale > 0, so the max of x scales too) */
static void softmax_scaled(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] *= scale;
    vd_cpu_softmax_row(x, x, n);
}

#if VD_HAVE_AVX2_CODE
/* The same, 8 lanes: max (NaN-propagating like vd_cpu_softmax_row), exp, sum, scale. */
static VD_AVX2 void softmax_scaled_avx2(float *x, int64_t n, float scale) {
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vm = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
        _mm256_storeu_ps(x + i, v);
        vm = _mm256_max_ps(vm, v);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    float m[8], mx = -INFINITY;
    int any_nan = _mm256_movemask_ps(nan) != 0;
    _mm256_storeu_ps(m, vm);
    for (int l = 0; l < 8; l++) mx = m[l] > mx ? m[l] : mx;
    for (; i < n; i++) {
        x[i] *= scale;
        mx = x[i] > mx ? x[i] : mx;
        any_nan |= x[i] != x[i];
    }
    if (any_nan) mx = NAN;
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = vd_avx2_expf(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
        _mm256_storeu_ps(x + i, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sv[8], sum = 0;
    _mm256_storeu_ps(sv, vsum);
    for (int l = 0; l < 8; l++) sum += sv[l];
    for (; i < n; i++) sum += x[i] = vd_cpu_expf(x[i] - mx);
    const __m256 vinv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
    for (; i < n; i++) x[i] *= 1.0f / sum;
}
#endif

static void mha_task(void *arg, int task, int thread) {
    const mha_job *j = arg;
    int64_t qt = task % j->q_tiles, bh = task / j->q_tiles;
    int64_t h = bh % j->heads, b = bh / j->heads;
    int64_t i0 = qt * j->qb, nq = VD_MIN(j->qb, j->lq - i0);
    char *sc = vd_cpu_thread_scratch(j->ctx, j->scratch_per_thread, thread);
    float *kt = (float *)sc;                  // K_h^T packed: (Dh, Lk)
    float *s = (float *)(sc + j->kt_bytes);   // (nq, Lk)
    const float *q = j->q + (b * j->lq + i0) * j->d + h * j->dh; // (nq, Dh), ld D
    const float *k = j->k + b * j->lk * j->d + h * j->dh;        // (Lk, Dh), ld D
    const float *v = j->v + b * j->lk * j->d + h * j->dh;        // (Lk, Dh), ld D
    float *o = j->out + (b * j->lq + i0) * j->d + h * j->dh;     // (nq, Dh), ld D
    float scale = (float)(1.0 / sqrt((double)j->dh));
    vd_mm_pack_b(k, j->d, 1, j->dh, j->lk, kt);
    vd_mm(q, j->d, kt, j->dh, s, j->lk, nq, j->lk, NULL);
    for (int64_t r = 0; r < nq; r++) {
#if VD_HAVE_AVX2_CODE
        if (vd_cpu_has_avx2()) {
            softmax_scaled_avx2(s + r * j->lk, j->lk, scale);
            continue;
        }
#endif
        softmax_scaled(s + r * j->lk, j->lk, scale);
    }
    vd_mm_inplace(s, j->lk, v, j->d, 0, j->lk, o, j->d, nq, j->dh, NULL);
}

void vd_cpu_mm_attention(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    mha_job j;
    mha_plan(dst, ctx->n_threads, &j);
    j.ctx = ctx;
    j.q = dst->src[0]->data;
    j.k = dst->src[1]->data;
    j.v = dst->src[2]->data;
    j.out = dst->data;
    vd_pool_run(ctx->pool, (int)(j.nb * j.heads * j.q_tiles), mha_task, &j);
}

/* ---- multi-scale deformable attention ------------------------------------------------------ */

typedef struct msda_job {
    const vd_cpu_ctx *ctx;
    const vd_msda_params *p;
    const float *value, *offsets, *logits, *ref, *pscale;
    float *out;
    int64_t nq, c, dh, start[VD_MAX_LEVELS];
    int lp, qblocks;
    int64_t qb;
    size_t scratch_per_thread;
} msda_job;

/* per thread: LP softmax weights (padded to 8 bytes), 4 LP tap rows and 4 LP tap weights */
static size_t msda_thread_bytes(const vd_tensor *dst) {
    size_t lp = (size_t)vd_cpu_msda_points(&dst->p.msda);
    return (lp + (lp & 1)) * sizeof(float) + 4 * lp * (sizeof(float *) + sizeof(float));
}

size_t vd_cpu_hm_msda_scratch(const vd_tensor *dst, int n_threads) {
    return vd_cpu_slice_bytes(msda_thread_bytes(dst)) * (size_t)n_threads;
}

/* out_h = sum over points and taps of (softmax weight * tap weight) * value row. First the
 * taps of every point (rows prefetched: they are scattered over the whole map), then the sums;
 * taps outside the map are skipped. */
static void msda_query_head(const msda_job *j, int64_t q, int64_t m, float *wt) {
    const vd_msda_params *p = j->p;
    int lp = j->lp;
    const float *lg = j->logits + (q * p->n_heads + m) * lp;
    float mx = -INFINITY, sum = 0;
    for (int k = 0; k < lp; k++) mx = lg[k] > mx ? lg[k] : mx;
    for (int k = 0; k < lp; k++) sum += wt[k] = vd_cpu_expf(lg[k] - mx);
    float inv = 1.0f / sum;
    const float *off = j->offsets + (q * p->n_heads + m) * lp * 2;
    const float *ref = j->ref + q * p->ref_dim;
    const float **rows = (const float **)(wt + lp + (lp & 1)); /* (4 * LP) tap rows */
    float *tw = (float *)(rows + 4 * lp);                       /* (4 * LP) tap weights */
    int nt = 0, k = 0;
    for (int l = 0; l < p->n_levels; l++) {
        const float *base = j->value + j->start[l] * j->c + m * j->dh;
        for (int pt = 0; pt < p->points[l]; pt++, k++) {
            float lx, ly;
            vd_cpu_msda_loc(p, ref, off + 2 * k, j->pscale, l, k, &lx, &ly);
            vd_cpu_taps t;
            vd_cpu_bilinear_taps(lx, ly, p->h[l], p->w[l], &t);
            for (int i = 0; i < 4; i++) {
                if (t.idx[i] < 0) continue;
                rows[nt] = base + t.idx[i] * j->c;
                __builtin_prefetch(rows[nt], 0, 3);
                __builtin_prefetch(rows[nt] + j->dh - 1, 0, 3);
                tw[nt++] = wt[k] * inv * t.w[i];
            }
        }
    }
    float *out = j->out + q * j->c + m * j->dh;
    for (int64_t d = 0; d < j->dh; d++) out[d] = 0;
    for (int i = 0; i < nt; i++) {
        const float *r = rows[i];
        float w = tw[i];
        for (int64_t d = 0; d < j->dh; d++) out[d] += w * r[d];
    }
}

static void msda_task(void *arg, int task, int thread) {
    const msda_job *j = arg;
    float *wt = vd_cpu_thread_scratch(j->ctx, j->scratch_per_thread, thread);
    int64_t m = task / j->qblocks, q0 = (task % j->qblocks) * j->qb;
    int64_t q1 = VD_MIN(j->nq, q0 + j->qb);
    for (int64_t q = q0; q < q1; q++) msda_query_head(j, q, m, wt);
}

void vd_cpu_hm_msda(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const vd_msda_params *p = &dst->p.msda;
    msda_job j = {ctx, p, dst->src[0]->data, dst->src[1]->data, dst->src[2]->data,
                  dst->src[3]->data, p->ref_dim == 4 ? dst->src[4]->data : NULL, dst->data,
                  dst->ne[0], dst->ne[1], dst->ne[1] / p->n_heads, {0}, vd_cpu_msda_points(p),
                  1, 0, msda_thread_bytes(dst)};
    for (int l = 1; l < p->n_levels; l++)
        j.start[l] = j.start[l - 1] + (int64_t)p->h[l - 1] * p->w[l - 1];
    /* every head alone when that makes enough tasks, else blocks of queries too */
    int64_t want = ctx->n_threads > 1 ? 4 * (int64_t)ctx->n_threads : 1;
    j.qblocks = (int)VD_MAX(1, ceil_div(want, p->n_heads));
    if (j.nq < j.qblocks) j.qblocks = (int)VD_MAX(1, j.nq);
    j.qb = ceil_div(j.nq, j.qblocks);
    vd_pool_run(ctx->pool, (int)(p->n_heads * j.qblocks), msda_task, &j);
}
