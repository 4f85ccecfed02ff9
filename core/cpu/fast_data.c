/* Fast data-movement kernels: upsample, concat, permute (parallel, cache-blocked),
 * and top-k by partial selection with a min-heap of 64-bit keys. */
#include "core/cpu/fast_avx2.h"

typedef struct plane_job {
    const vd_tensor *dst;
    const float *x;
    float *y;
    int64_t planes;
    int tasks;
} plane_job;

/* ---- upsample: each input row widened once, then copied f times ----------------------------- */

static void upsample_task(void *arg, int task, int thread) {
    (void)thread;
    const plane_job *j = arg;
    const vd_tensor *dst = j->dst, *xt = dst->src[0];
    int64_t f = dst->p.upsample.factor, h = xt->ne[2], w = xt->ne[3], ow = dst->ne[3], b, e;
    vd_cpu_range(j->planes * h, j->tasks, task, &b, &e); /* input rows of all planes */
    for (int64_t r = b; r < e; r++) {
        const float *xr = j->x + r * w;
        float *yr = j->y + r * f * ow;
        for (int64_t ix = 0; ix < w; ix++)
            for (int64_t k = 0; k < f; k++) yr[ix * f + k] = xr[ix];
        for (int64_t k = 1; k < f; k++) memcpy(yr + k * ow, yr, (size_t)ow * sizeof(float));
    }
}

void vd_cpu_fast_upsample(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const vd_tensor *xt = dst->src[0];
    plane_job j = {dst, xt->data, dst->data, xt->ne[0] * xt->ne[1], 1};
    j.tasks = vd_cpu_tasks(ctx, j.planes * xt->ne[2], dst->ne[3] * dst->p.upsample.factor);
    vd_pool_run(ctx->pool, j.tasks, upsample_task, &j);
}

/* ---- concat: one memcpy per (outer index, source) ------------------------------------------ */

typedef struct concat_job {
    const vd_tensor *dst;
    int64_t outer, inner;
    int tasks;
} concat_job;

static void concat_task(void *arg, int task, int thread) {
    (void)thread;
    const concat_job *j = arg;
    const vd_tensor *dst = j->dst;
    int axis = dst->p.concat.axis, ns = dst->n_src;
    int64_t row = dst->ne[axis] * j->inner, b, e;
    vd_cpu_range(j->outer * ns, j->tasks, task, &b, &e);
    for (int64_t u = b; u < e; u++) {
        int64_t o = u / ns, s = u % ns, at = 0;
        for (int64_t i = 0; i < s; i++) at += dst->src[i]->ne[axis] * j->inner;
        int64_t n = dst->src[s]->ne[axis] * j->inner;
        memcpy((uint32_t *)dst->data + o * row + at, (const uint32_t *)dst->src[s]->data + o * n,
               (size_t)n * 4);
    }
}

void vd_cpu_fast_concat(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    concat_job j = {dst, 0, 0, 1};
    vd_cpu_split_axis(dst, dst->p.concat.axis, &j.outer, &j.inner);
    int64_t units = j.outer * dst->n_src;
    j.tasks = vd_cpu_tasks(ctx, units, vd_nelements(dst) / units / 4);
    vd_pool_run(ctx->pool, j.tasks, concat_task, &j);
}

/* ---- permute: dst padded to 4 dims, walked in 32x32 tiles of its last two dims, so that
 * reads and writes both stay within cache lines whichever of them is strided -------------- */

#define PERM_TILE 32

typedef struct perm_job {
    const uint32_t *x;
    uint32_t *y;
    int64_t ne[VD_MAX_DIMS];   /* dst shape, padded */
    int64_t xs[VD_MAX_DIMS];   /* stride in x of each dst dim */
    int64_t tiles2, tiles3, units;
    int tasks;
    int transpose; /* the last two dims swap: x's rows (xs[3] apart) are dst's columns */
    int avx2;      /* transpose with perm_tile_avx2 */
} perm_job;

/* One tile when dst's last dim is strided in x and the one before is not (a transpose of the
 * last two dims): blocks of 8x8 loaded 8 wide along x's rows, transposed in registers. */
#if VD_HAVE_AVX2_CODE
static VD_AVX2 void perm_tile_avx2(const uint32_t *xb, int64_t xs3, uint32_t *yb, int64_t ne3,
                                   int64_t a2, int64_t b2, int64_t a3, int64_t b3) {
    int64_t e2 = a2 + (b2 - a2) / 8 * 8, e3 = a3 + (b3 - a3) / 8 * 8;
    for (int64_t i3 = a3; i3 < e3; i3 += 8)
        for (int64_t i2 = a2; i2 < e2; i2 += 8) {
            __m256 r[8];
            for (int q = 0; q < 8; q++)
                r[q] = _mm256_loadu_ps((const float *)(xb + (i3 + q) * xs3 + i2));
            vd_avx2_transpose8(r);
            for (int q = 0; q < 8; q++) _mm256_storeu_ps((float *)(yb + (i2 + q) * ne3 + i3), r[q]);
        }
    for (int64_t i2 = a2; i2 < b2; i2++) /* the ragged edges */
        for (int64_t i3 = i2 < e2 ? e3 : a3; i3 < b3; i3++) yb[i2 * ne3 + i3] = xb[i2 + i3 * xs3];
}
#endif

static void perm_task(void *arg, int task, int thread) {
    (void)thread;
    const perm_job *j = arg;
    int64_t b, e;
    vd_cpu_range(j->units, j->tasks, task, &b, &e);
    for (int64_t u = b; u < e; u++) {
        int64_t t3 = u % j->tiles3, r = u / j->tiles3;
        int64_t t2 = r % j->tiles2;
        r /= j->tiles2;
        int64_t i1 = r % j->ne[1], i0 = r / j->ne[1];
        int64_t a2 = t2 * PERM_TILE, b2 = VD_MIN(a2 + PERM_TILE, j->ne[2]);
        int64_t a3 = t3 * PERM_TILE, b3 = VD_MIN(a3 + PERM_TILE, j->ne[3]);
        const uint32_t *xb = j->x + i0 * j->xs[0] + i1 * j->xs[1];
        uint32_t *yb = j->y + (i0 * j->ne[1] + i1) * j->ne[2] * j->ne[3];
        if (j->transpose) /* the next tile's rows of x, each on its own page: its lines */
            for (int64_t i3 = b3; i3 < VD_MIN(b3 + PERM_TILE, j->ne[3]); i3++) {
                const uint32_t *row = xb + i3 * j->xs[3];
                for (int64_t i2 = a2; i2 < b2; i2 += 16) __builtin_prefetch(row + i2, 0, 3);
                __builtin_prefetch(row + b2 - 1, 0, 3);
            }
#if VD_HAVE_AVX2_CODE
        if (j->avx2) {
            perm_tile_avx2(xb, j->xs[3], yb, j->ne[3], a2, b2, a3, b3);
            continue;
        }
#endif
        for (int64_t i2 = a2; i2 < b2; i2++)
            for (int64_t i3 = a3; i3 < b3; i3++)
                yb[i2 * j->ne[3] + i3] = xb[i2 * j->xs[2] + i3 * j->xs[3]];
    }
}

void vd_cpu_fast_permute(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const vd_tensor *xt = dst->src[0];
    perm_job j;
    memset(&j, 0, sizeof j);
    j.x = xt->data;
    j.y = dst->data;
    int nd = xt->ndim, pad = VD_MAX_DIMS - nd;
    int64_t stride[VD_MAX_DIMS], s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        stride[i] = s;
        s *= xt->ne[i];
    }
    for (int i = 0; i < VD_MAX_DIMS; i++) j.ne[i] = 1;
    for (int i = 0; i < nd; i++) {
        j.ne[pad + i] = dst->ne[i];
        j.xs[pad + i] = stride[dst->p.permute.perm[i]];
    }
    j.transpose = j.xs[2] == 1 && j.xs[3] != 1;
    j.avx2 = VD_HAVE_AVX2_CODE && vd_cpu_has_avx2() && j.transpose;
    j.tiles2 = (j.ne[2] + PERM_TILE - 1) / PERM_TILE;
    j.tiles3 = (j.ne[3] + PERM_TILE - 1) / PERM_TILE;
    j.units = j.ne[0] * j.ne[1] * j.tiles2 * j.tiles3;
    j.tasks = vd_cpu_tasks(ctx, j.units, PERM_TILE * PERM_TILE);
    vd_pool_run(ctx->pool, j.tasks, perm_task, &j);
}

/* ---- top-k ----------------------------------------------------------------------------------
 * Each element becomes a 64-bit key that orders like the reference's ranks_before: the high
 * half maps the float to an unsigned integer in value order (NaN to 0, below -inf; -0 as +0),
 * the low half is ~index, so equal values rank lower index first. A min-heap of the k best
 * keys rejects most elements with one comparison against its root; the heap is then sorted. */

static uint64_t topk_key(float v, int64_t i) {
    uint32_t u;
    if (v == 0.0f) v = 0.0f; /* -0 ranks as +0 */
    memcpy(&u, &v, 4);
    uint32_t k = v != v ? 0u : ((u & 0x80000000u) ? ~u : (u | 0x80000000u));
    return (uint64_t)k << 32 | (uint32_t)~(uint32_t)i;
}

static void sift_down(uint64_t *h, int n, int i) {
    uint64_t v = h[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

size_t vd_cpu_fast_topk_scratch(const vd_tensor *dst, int n_threads) {
    (void)n_threads;
    return (size_t)dst->p.topk.k * sizeof(uint64_t);
}

void vd_cpu_fast_topk(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const float *x = dst->src[0]->data;
    int32_t *out = dst->data;
    int64_t n = vd_nelements(dst->src[0]);
    int k = dst->p.topk.k;
    uint64_t *h = ctx->scratch; // (k) min-heap: h[0] is the worst of the best k so far
    for (int i = 0; i < k; i++) h[i] = topk_key(x[i], i);
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(h, k, i);
    for (int64_t i = k; i < n; i++) {
        uint64_t key = topk_key(x[i], i);
        if (key > h[0]) {
            h[0] = key;
            sift_down(h, k, 0);
        }
    }
    /* heap sort: pop the smallest to the back, leaving the keys in descending order */
    for (int m = k - 1; m > 0; m--) {
        uint64_t t = h[0];
        h[0] = h[m];
        h[m] = t;
        sift_down(h, m, 0);
    }
    for (int i = 0; i < k; i++) out[i] = (int32_t)~(uint32_t)h[i];
}
