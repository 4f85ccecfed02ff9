/* Reference kernels: conv2d, linear, pool2d, upsample. Plain loops with double accumulators,
 * written to be read against PyTorch's definitions, not to be fast. */
#include "core/cpu/kernels.h"

/* One output plane (image n, channel o):
 * out[n,o,oy,ox] = act(sum_{c,ky,kx} x[n, g*Cg+c, oy*sh-pt+ky, ox*sw-pl+kx] * w[o,c,ky,kx]
 *                      + bias[o] + residual[n,o,oy,ox]),  g = o / (O/groups) */
static void conv_plane(const vd_tensor *dst, int64_t n, int64_t o) {
    const vd_tensor *xt = dst->src[0], *wt = dst->src[1];
    const float *x = xt->data, *w = wt->data;                   // (N, C, H, W), (O, Cg, kh, kw)
    const float *bias = dst->src[2] ? dst->src[2]->data : NULL; // (O)
    const float *res = dst->src[3] ? dst->src[3]->data : NULL;  // like dst
    float *y = dst->data;                                       // (N, O, OH, OW)
    const vd_conv2d_params *p = &dst->p.conv;
    int64_t c_in = xt->ne[1], h = xt->ne[2], wd = xt->ne[3];
    int64_t c_out = wt->ne[0], cg = wt->ne[1], kh = wt->ne[2], kw = wt->ne[3];
    int64_t oh = dst->ne[2], ow = dst->ne[3], og = c_out / p->groups;
    int64_t c0 = (o / og) * cg;
    for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox++) {
            double acc = 0;
            for (int64_t c = 0; c < cg; c++)
                for (int64_t ky = 0; ky < kh; ky++) {
                    int64_t iy = oy * p->stride_h - p->pad_t + ky;
                    if (iy < 0 || iy >= h) continue;
                    for (int64_t kx = 0; kx < kw; kx++) {
                        int64_t ix = ox * p->stride_w - p->pad_l + kx;
                        if (ix < 0 || ix >= wd) continue;
                        acc += (double)x[((n * c_in + c0 + c) * h + iy) * wd + ix] *
                               w[((o * cg + c) * kh + ky) * kw + kx];
                    }
                }
            int64_t i = ((n * c_out + o) * oh + oy) * ow + ox;
            if (bias) acc += bias[o];
            if (res) acc += res[i];
            y[i] = vd_act_apply(p->act, (float)acc);
        }
}

/* The reference kernels for the heavy ops still use the pool, one task per output plane
 * (conv) or row (linear), so that a whole model can be run in reference mode. */
static void conv_task(void *arg, int task, int thread) {
    (void)thread;
    const vd_tensor *dst = arg;
    conv_plane(dst, task / dst->ne[1], task % dst->ne[1]);
}

void vd_cpu_ref_conv2d(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    vd_pool_run(ctx->pool, (int)(dst->ne[0] * dst->ne[1]), conv_task, dst);
}

/* y[m,o] = act(sum_k x[m,k] * w[o,k] + bias[o] + residual[m,o]) for one row m */
static void linear_task(void *arg, int task, int thread) {
    (void)thread;
    const vd_tensor *dst = arg, *xt = dst->src[0], *wt = dst->src[1];
    const float *x = xt->data, *w = wt->data;                   // (M, K), (O, K)
    const float *bias = dst->src[2] ? dst->src[2]->data : NULL; // (O)
    const float *res = dst->src[3] ? dst->src[3]->data : NULL;  // (M, O)
    float *y = dst->data;                                       // (M, O)
    int64_t k_dim = wt->ne[1], n_out = wt->ne[0], m = task;
    for (int64_t o = 0; o < n_out; o++) {
        double acc = 0;
        for (int64_t k = 0; k < k_dim; k++) acc += (double)x[m * k_dim + k] * w[o * k_dim + k];
        if (bias) acc += bias[o];
        if (res) acc += res[m * n_out + o];
        y[m * n_out + o] = vd_act_apply(dst->p.linear.act, (float)acc);
    }
}

void vd_cpu_ref_linear(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    vd_pool_run(ctx->pool, (int)vd_cpu_rows(dst->src[0]), linear_task, dst);
}

/* PyTorch's pooling windows: start = o*stride - pad, end = min(start + k, in + pad) (the
 * window clipped to the padded input, which matters with ceil_mode), then clipped again to
 * the real input [0, in). Max ignores padding (-inf) and propagates NaN as PyTorch does; avg
 * divides by the padded-clipped size with count_include_pad, else by the real-clipped size. */
void vd_cpu_ref_pool2d(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const vd_tensor *xt = dst->src[0];
    const float *x = xt->data; // (N, C, H, W)
    float *y = dst->data;      // (N, C, OH, OW)
    const vd_pool_params *p = &dst->p.pool;
    int64_t planes = xt->ne[0] * xt->ne[1], h = xt->ne[2], w = xt->ne[3];
    int64_t oh = dst->ne[2], ow = dst->ne[3];
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * h * w;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
                int64_t y1 = VD_MIN(y0 + p->k_h, h + p->pad_h);
                int64_t x1 = VD_MIN(x0 + p->k_w, w + p->pad_w);
                int64_t padded = (y1 - y0) * (x1 - x0);
                y0 = VD_MAX(y0, 0);
                x0 = VD_MAX(x0, 0);
                y1 = VD_MIN(y1, h);
                x1 = VD_MIN(x1, w);
                double acc = p->kind == VD_POOL_MAX ? -INFINITY : 0.0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) {
                        float v = xp[iy * w + ix];
                        if (p->kind == VD_POOL_AVG)
                            acc += v;
                        else if (v > acc || isnan(v))
                            acc = v;
                    }
                if (p->kind == VD_POOL_AVG) {
                    int64_t div = p->count_include_pad ? padded : (y1 - y0) * (x1 - x0);
                    acc = div > 0 ? acc / (double)div : 0.0;
                }
                y[(pl * oh + oy) * ow + ox] = (float)acc;
            }
    }
}

/* out[n,c,y,x] = in[n,c,y/f,x/f] */
void vd_cpu_ref_upsample(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    (void)ctx;
    const vd_tensor *xt = dst->src[0];
    const float *x = xt->data;
    float *y = dst->data;
    int64_t f = dst->p.upsample.factor, planes = xt->ne[0] * xt->ne[1];
    int64_t h = xt->ne[2], w = xt->ne[3], oh = dst->ne[2], ow = dst->ne[3];
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                y[(pl * oh + oy) * ow + ox] = x[(pl * h + oy / f) * w + ox / f];
}
