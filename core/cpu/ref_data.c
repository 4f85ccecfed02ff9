/* Reference kernels that move data: concat, slice, permute, top-k, gather. Elements are 4
 * bytes of either type (F32 or I32), so they are copied as uint32_t. */
#include "core/cpu/kernels.h"

void vd_cpu_ref_concat(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    int axis = dst->p.concat.axis;
    int64_t outer, inner;
    vd_cpu_split_axis(dst, axis, &outer, &inner);
    uint32_t *y = dst->data;
    int64_t row = dst->ne[axis] * inner; /* elements of dst per outer index */
    int64_t at = 0;                      /* offset of the current source inside a dst row */
    for (int s = 0; s < dst->n_src; s++) {
        const uint32_t *x = dst->src[s]->data;
        int64_t n = dst->src[s]->ne[axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < n; i++) y[o * row + at + i] = x[o * n + i];
        at += n;
    }
}

void vd_cpu_ref_slice(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const vd_tensor *xt = dst->src[0];
    int axis = dst->p.slice.axis;
    int64_t outer, inner;
    vd_cpu_split_axis(xt, axis, &outer, &inner);
    const uint32_t *x = xt->data;
    uint32_t *y = dst->data;
    int64_t n = dst->ne[axis] * inner, src_row = xt->ne[axis] * inner;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < n; i++)
            y[o * n + i] = x[o * src_row + dst->p.slice.begin * inner + i];
}

/* dst dim i = src dim perm[i]; both padded to 4 dims with leading 1s */
void vd_cpu_ref_permute(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const vd_tensor *xt = dst->src[0];
    const uint32_t *x = xt->data;
    uint32_t *y = dst->data;
    int nd = xt->ndim, pad = VD_MAX_DIMS - nd;
    int64_t sstride[VD_MAX_DIMS], dne[VD_MAX_DIMS] = {1, 1, 1, 1}, dstride[VD_MAX_DIMS];
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        sstride[i] = s;
        s *= xt->ne[i];
    }
    /* stride in x of each padded dst dim */
    for (int i = 0; i < VD_MAX_DIMS; i++) dstride[i] = 0;
    for (int i = 0; i < nd; i++) {
        dne[pad + i] = dst->ne[i];
        dstride[pad + i] = sstride[dst->p.permute.perm[i]];
    }
    int64_t j = 0;
    for (int64_t i0 = 0; i0 < dne[0]; i0++)
        for (int64_t i1 = 0; i1 < dne[1]; i1++)
            for (int64_t i2 = 0; i2 < dne[2]; i2++)
                for (int64_t i3 = 0; i3 < dne[3]; i3++)
                    y[j++] = x[i0 * dstride[0] + i1 * dstride[1] + i2 * dstride[2] +
                               i3 * dstride[3]];
}

/* The top-k order: larger value first, equal values by lower index; NaN ranks below every
 * number (-inf included), NaNs among themselves by index. -0 and +0 are equal. */
static int ranks_before(float a, int64_t ia, float b, int64_t ib) {
    int na = isnan(a), nb = isnan(b);
    if (na || nb) return na == nb ? ia < ib : nb;
    if (a != b) return a > b;
    return ia < ib;
}

/* Selection by repeated scans, O(N k): pick r is the best element that ranks after pick r-1
 * (the order is strict and total, so nothing needs marking). */
void vd_cpu_ref_topk(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const float *x = dst->src[0]->data;
    int32_t *idx = dst->data;
    int64_t n = vd_nelements(dst->src[0]);
    int k = dst->p.topk.k;
    for (int r = 0; r < k; r++) {
        int64_t best = -1;
        for (int64_t i = 0; i < n; i++) {
            if (r > 0 && !ranks_before(x[idx[r - 1]], idx[r - 1], x[i], i)) continue;
            if (best < 0 || ranks_before(x[i], i, x[best], best)) best = i;
        }
        idx[r] = (int32_t)best;
    }
}

/* y[i] = x[idx[i] / div]; an index outside x gives a row of zeros */
void vd_cpu_ref_gather(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const vd_tensor *xt = dst->src[0];
    const uint32_t *x = xt->data;
    const int32_t *idx = dst->src[1]->data;
    uint32_t *y = dst->data;
    int64_t row = vd_nelements(xt) / xt->ne[0], k = dst->ne[0];
    int64_t div = dst->p.gather.div;
    for (int64_t i = 0; i < k; i++) {
        int64_t r = idx[i] < 0 ? -1 : idx[i] / div;
        for (int64_t j = 0; j < row; j++) y[i * row + j] = (r >= 0 && r < xt->ne[0]) ? x[r * row + j] : 0;
    }
}
