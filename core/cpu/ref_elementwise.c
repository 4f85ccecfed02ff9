/* Reference kernels: activations, broadcast binary ops, layer norm, softmax, reduce-max, box
 * refinement; and vd_act_apply, the scalar activations every CPU kernel shares. */
#include "core/cpu/kernels.h"

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* inverse_sigmoid as the DETR family defines it: x clamped to [0, 1], both sides to 1e-5 */
static float inv_sigmoidf(float x) {
    x = x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
    float a = x < 1e-5f ? 1e-5f : x;
    float b = 1.0f - x;
    b = b < 1e-5f ? 1e-5f : b;
    return logf(a / b);
}

/* NaN passes through every activation, as in PyTorch. */
float vd_act_apply(vd_act act, float x) {
    switch (act) {
    case VD_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case VD_ACT_SILU: return x * sigmoidf(x);
    case VD_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
    case VD_ACT_SIGMOID: return sigmoidf(x);
    case VD_ACT_INV_SIGMOID: return isnan(x) ? x : inv_sigmoidf(x);
    default: return x;
    }
}

void vd_cpu_ref_unary(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const float *x = dst->src[0]->data;
    float *y = dst->data;
    int64_t n = vd_nelements(dst);
    for (int64_t i = 0; i < n; i++) y[i] = vd_act_apply(dst->p.unary.act, x[i]);
}

/* b's element for a's element i: numpy broadcasting, shapes right-aligned, b's dims 1 or
 * equal to a's. */
static int64_t broadcast_index(const vd_tensor *a, const vd_tensor *b, int64_t i) {
    int64_t bi = 0, bstride = 1;
    for (int d = 0; d < b->ndim; d++) {
        int ad = a->ndim - 1 - d, bd = b->ndim - 1 - d;
        int64_t coord = i % a->ne[ad];
        i /= a->ne[ad];
        if (b->ne[bd] != 1) bi += coord * bstride;
        bstride *= b->ne[bd];
    }
    return bi;
}

void vd_cpu_ref_binary(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const vd_tensor *at = dst->src[0], *bt = dst->src[1];
    const float *a = at->data, *b = bt->data;
    float *y = dst->data;
    int64_t n = vd_nelements(dst);
    for (int64_t i = 0; i < n; i++) {
        float bv = b[broadcast_index(at, bt, i)];
        y[i] = dst->p.binary.op == VD_BIN_ADD ? a[i] + bv : a[i] * bv;
    }
}

/* y = (x - mean) / sqrt(var + eps) * gamma + beta over the last dim, biased variance;
 * statistics in double, two passes. */
void vd_cpu_ref_layer_norm(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const float *x = dst->src[0]->data, *gamma = dst->src[1]->data, *beta = dst->src[2]->data;
    float *y = dst->data;
    int64_t d = dst->ne[dst->ndim - 1], rows = vd_cpu_rows(dst);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < d; i++) mean += xr[i];
        mean /= (double)d;
        for (int64_t i = 0; i < d; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= (double)d;
        double inv = 1.0 / sqrt(var + (double)dst->p.norm.eps);
        for (int64_t i = 0; i < d; i++)
            y[r * d + i] = (float)((xr[i] - mean) * inv * gamma[i] + beta[i]);
    }
}

/* softmax over the last dim, max subtracted, in double */
void vd_cpu_ref_softmax(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const float *x = dst->src[0]->data;
    float *y = dst->data;
    int64_t d = dst->ne[dst->ndim - 1], rows = vd_cpu_rows(dst);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < d; i++) mx = xr[i] > mx ? xr[i] : mx;
        for (int64_t i = 0; i < d; i++) sum += exp(xr[i] - mx);
        for (int64_t i = 0; i < d; i++) y[r * d + i] = (float)(exp(xr[i] - mx) / sum);
    }
}

/* max over the last dim; a NaN anywhere in the row gives NaN (torch.max) */
void vd_cpu_ref_reduce_max(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const vd_tensor *xt = dst->src[0];
    const float *x = xt->data;
    float *y = dst->data;
    int64_t d = xt->ne[xt->ndim - 1], rows = vd_cpu_rows(xt);
    for (int64_t r = 0; r < rows; r++) {
        float mx = -INFINITY;
        for (int64_t i = 0; i < d; i++) {
            float v = x[r * d + i];
            if (v > mx || isnan(v)) mx = v;
            if (isnan(mx)) break;
        }
        y[r] = mx;
    }
}

/* sigmoid(delta + inverse_sigmoid(ref)) elementwise */
void vd_cpu_ref_box_refine(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const float *delta = dst->src[0]->data, *ref = dst->src[1]->data;
    float *y = dst->data;
    int64_t n = vd_nelements(dst);
    for (int64_t i = 0; i < n; i++)
        y[i] = vd_act_apply(VD_ACT_SIGMOID, delta[i] + vd_act_apply(VD_ACT_INV_SIGMOID, ref[i]));
}
