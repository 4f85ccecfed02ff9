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
 * one or two cache lines); each point's 4 taps are gathered with the sampling weight folded
 * into the tap weights, their rows prefetched first. It can also absorb the value projection
 * (below). */
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

/* ---- multi-scale deformable attention ------------------------------------------------------
 *
 * With value = linear(memory) computed nowhere else (the decoder's value_proj), the CPU
 * executor lets this kernel absorb that linear (VD_CPU_PREP_ABSORBS_SRC0): sampling is linear,
 * so per query and head
 *     out_h = sum_taps a * (memory[tap] W_h^T + b_h) = (sum_taps a * memory[tap]) W_h^T + b_h * sum_taps a
 * (a: softmax weight x bilinear weight; taps outside the map contribute nothing, bias
 * included). The sampled rows are full memory rows (C_in floats, not Dh), but the projection
 * then costs Q*M*C_in*Dh instead of S*C_in*C: 15x fewer flops at 640x640. The weight is
 * prepared as [W | b]^T packed, so one vd_mm per head adds the bias term through an extra
 * column of the sampled rows that holds sum a. */

typedef struct msda_job {
    const vd_cpu_ctx *ctx;
    const vd_msda_params *p;
    const float *value, *offsets, *logits, *ref, *pscale;
    const float *mem, *wp; /* absorbed value projection: memory (S, Cin), [W | b]^T packed */
    float *out;
    int64_t nq, c, dh, cin, start[VD_MAX_LEVELS];
    int lp, qblocks;
    int64_t qb;
    size_t tap_bytes, scratch_per_thread;
} msda_job;

/* the value projection an MSDA node can absorb: a linear with no residual nor activation on
 * 2D rows, output channels in whole panels per head */
static const vd_tensor *msda_value_linear(const vd_tensor *dst) {
    const vd_tensor *v = dst->src[0];
    if (v->op != VD_OP_LINEAR || v->src[3] || v->p.linear.act != VD_ACT_NONE) return NULL;
    if (v->src[0]->ndim != 2 || !vd_cpu_has_avx2()) return NULL;
    int64_t dh = dst->ne[1] / dst->p.msda.n_heads;
    return dh % VD_MM_NR == 0 ? v : NULL;
}

const vd_tensor *vd_cpu_hm_msda_prep_key(const vd_tensor *dst, int *variant) {
    const vd_tensor *v = msda_value_linear(dst);
    *variant = VD_CPU_PREP_ABSORBS_SRC0;
    return v ? v->src[1] : NULL;
}

/* [W | b]^T packed: depth C_in + 1 (the last row the bias, or zeros), C columns */
void *vd_cpu_hm_msda_prep_make(const vd_tensor *dst, int variant, size_t *bytes) {
    (void)variant;
    const vd_tensor *v = msda_value_linear(dst);
    const vd_tensor *wt = v->src[1], *bt = v->src[2];
    int64_t c = wt->ne[0], cin = wt->ne[1];
    *bytes = vd_mm_packed_floats(cin + 1, c) * sizeof(float);
    float *wb = vd_malloc((size_t)(c * (cin + 1)) * sizeof(float)); // (C, Cin + 1)
    float *bp = vd_aligned_alloc(*bytes);
    if (wb && bp) {
        const float *w = wt->data, *b = bt ? bt->data : NULL;
        for (int64_t o = 0; o < c; o++) {
            memcpy(wb + o * (cin + 1), w + o * cin, (size_t)cin * sizeof(float));
            wb[o * (cin + 1) + cin] = b ? b[o] : 0.0f;
        }
        vd_mm_pack_b(wb, cin + 1, 1, cin + 1, c, bp);
    } else {
        vd_aligned_free(bp);
        bp = NULL;
    }
    vd_free(wb);
    return bp;
}

/* per thread: LP softmax weights (padded to 8 bytes), 4 LP tap rows and 4 LP tap weights;
 * absorbing the projection, the sampled rows of a block of queries, (qb, C_in + 1) */
static size_t msda_tap_bytes(const vd_tensor *dst) {
    size_t lp = (size_t)vd_cpu_msda_points(&dst->p.msda);
    return vd_cpu_slice_bytes((lp + (lp & 1)) * sizeof(float) +
                              4 * lp * (sizeof(int64_t) + sizeof(float)));
}

#define MSDA_QB_ABSORB 64 /* queries per block when absorbing the projection */

size_t vd_cpu_hm_msda_scratch(const vd_tensor *dst, int n_threads) {
    size_t per = msda_tap_bytes(dst);
    const vd_tensor *v = msda_value_linear(dst);
    if (v) per += vd_cpu_slice_bytes((size_t)(MSDA_QB_ABSORB * (v->src[0]->ne[1] + 1)) * 4);
    return per * (size_t)n_threads;
}

/* The taps of query q, head m: rows (token index over all levels) and weights (softmax weight
 * x bilinear weight), those outside the map left out; returns their count. Each row is
 * prefetched at base + row * stride: they are scattered over the whole map. */
static int msda_taps(const msda_job *j, int64_t q, int64_t m, float *wt, int64_t *rows,
                     float *tw, const float *base, int64_t stride) {
    const vd_msda_params *p = j->p;
    int lp = j->lp;
    const float *lg = j->logits + (q * p->n_heads + m) * lp;
    float mx = -INFINITY, sum = 0;
    for (int k = 0; k < lp; k++) mx = lg[k] > mx ? lg[k] : mx;
    for (int k = 0; k < lp; k++) sum += wt[k] = vd_cpu_expf(lg[k] - mx);
    float inv = 1.0f / sum;
    const float *off = j->offsets + (q * p->n_heads + m) * lp * 2;
    const float *ref = j->ref + q * p->ref_dim;
    int nt = 0, k = 0;
    for (int l = 0; l < p->n_levels; l++)
        for (int pt = 0; pt < p->points[l]; pt++, k++) {
            float lx, ly;
            vd_cpu_msda_loc(p, ref, off + 2 * k, j->pscale, l, k, &lx, &ly);
            vd_cpu_taps t;
            vd_cpu_bilinear_taps(lx, ly, p->h[l], p->w[l], &t);
            for (int i = 0; i < 4; i++) {
                if (t.idx[i] < 0) continue;
                rows[nt] = j->start[l] + t.idx[i];
                __builtin_prefetch(base + rows[nt] * stride, 0, 3);
                tw[nt++] = wt[k] * inv * t.w[i];
            }
        }
    return nt;
}

#if VD_HAVE_AVX2_CODE
static VD_AVX2 void axpy_avx2(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* sr[d] = sum_i tw[i] * mem[rows[i] * cin + d] for d < cin, the same products and sums in
 * the same order as axpy tap by tap, but 64 channels at a time in registers: each tap row is
 * read once, and sr is not loaded and stored for every tap */
static VD_AVX2 void gather_avx2(const float *mem, int64_t cin, const int64_t *rows,
                                const float *tw, int nt, float *sr) {
    int64_t d0 = 0;
    for (; d0 + 64 <= cin; d0 += 64) {
        __m256 acc[8];
        for (int u = 0; u < 8; u++) acc[u] = _mm256_setzero_ps();
        for (int i = 0; i < nt; i++) {
            const float *x = mem + rows[i] * cin + d0;
            __m256 w = _mm256_set1_ps(tw[i]);
            for (int u = 0; u < 8; u++)
                acc[u] = _mm256_add_ps(acc[u], _mm256_mul_ps(w, _mm256_loadu_ps(x + 8 * u)));
        }
        for (int u = 0; u < 8; u++) _mm256_storeu_ps(sr + d0 + 8 * u, acc[u]);
    }
    for (int64_t d = d0; d < cin; d++) sr[d] = 0;
    for (int i = 0; i < nt && d0 < cin; i++)
        for (int64_t d = d0; d < cin; d++) sr[d] += tw[i] * mem[rows[i] * cin + d];
}
#endif

static void axpy(int avx2, float a, const float *x, float *y, int64_t n) {
#if VD_HAVE_AVX2_CODE
    if (avx2) {
        axpy_avx2(a, x, y, n);
        return;
    }
#endif
    (void)avx2;
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void msda_task(void *arg, int task, int thread) {
    const msda_job *j = arg;
    char *sc = vd_cpu_thread_scratch(j->ctx, j->scratch_per_thread, thread);
    int lp = j->lp, avx2 = vd_cpu_has_avx2();
    float *wt = (float *)sc;                             /* (LP) */
    int64_t *rows = (int64_t *)(wt + lp + (lp & 1));     /* (4 LP) */
    float *tw = (float *)(rows + 4 * lp);                /* (4 LP) */
    int64_t m = task / j->qblocks, q0 = (task % j->qblocks) * j->qb;
    int64_t q1 = VD_MIN(j->nq, q0 + j->qb);
    if (!j->wp) { /* sum of value rows, head m's Dh channels */
        const float *base = j->value + m * j->dh;
        for (int64_t q = q0; q < q1; q++) {
            int nt = msda_taps(j, q, m, wt, rows, tw, base, j->c);
            float *out = j->out + q * j->c + m * j->dh;
            for (int64_t d = 0; d < j->dh; d++) out[d] = 0;
            for (int i = 0; i < nt; i++) axpy(avx2, tw[i], base + rows[i] * j->c, out, j->dh);
        }
        return;
    }
    /* absorbed projection: sampled memory rows and sum a, then (rows, C_in + 1) x W_h^T */
    int64_t ld = j->cin + 1;
    float *srows = (float *)(sc + j->tap_bytes); /* (qb, C_in + 1) */
    for (int64_t q = q0; q < q1; q++) {
        int nt = msda_taps(j, q, m, wt, rows, tw, j->mem, j->cin);
        float *sr = srows + (q - q0) * ld, asum = 0;
        for (int i = 0; i < nt; i++) asum += tw[i];
        sr[j->cin] = asum;
#if VD_HAVE_AVX2_CODE
        if (avx2) {
            gather_avx2(j->mem, j->cin, rows, tw, nt, sr);
            continue;
        }
#endif
        for (int64_t d = 0; d < j->cin; d++) sr[d] = 0;
        for (int i = 0; i < nt; i++) axpy(avx2, tw[i], j->mem + rows[i] * j->cin, sr, j->cin);
    }
    vd_mm(srows, ld, j->wp + m * j->dh * ld, ld, j->out + q0 * j->c + m * j->dh, j->c, q1 - q0,
          j->dh, NULL);
}

void vd_cpu_hm_msda(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const vd_msda_params *p = &dst->p.msda;
    const float *wp = ctx->prep ? ctx->prep[dst->id] : NULL;
    msda_job j = {ctx, p, dst->src[0]->data, dst->src[1]->data, dst->src[2]->data,
                  dst->src[3]->data, p->ref_dim == 4 ? dst->src[4]->data : NULL, NULL, wp,
                  dst->data, dst->ne[0], dst->ne[1], dst->ne[1] / p->n_heads, 0, {0},
                  vd_cpu_msda_points(p), 1, 0, msda_tap_bytes(dst), 0};
    for (int l = 1; l < p->n_levels; l++)
        j.start[l] = j.start[l - 1] + (int64_t)p->h[l - 1] * p->w[l - 1];
    j.scratch_per_thread = vd_cpu_hm_msda_scratch(dst, 1);
    /* every head alone when that makes enough tasks, else blocks of queries too; absorbing the
     * projection, blocks of at most MSDA_QB_ABSORB queries */
    int64_t want = ctx->n_threads > 1 ? 4 * (int64_t)ctx->n_threads : 1;
    int64_t qblocks = VD_MAX(1, ceil_div(want, p->n_heads));
    if (wp) {
        const vd_tensor *v = dst->src[0];
        j.mem = v->src[0]->data;
        j.cin = v->src[0]->ne[1];
        qblocks = VD_MAX(qblocks, ceil_div(j.nq, MSDA_QB_ABSORB));
    }
    j.qblocks = (int)VD_MAX(1, VD_MIN(qblocks, j.nq));
    j.qb = ceil_div(j.nq, j.qblocks);
    vd_pool_run(ctx->pool, (int)(p->n_heads * j.qblocks), msda_task, &j);
}
