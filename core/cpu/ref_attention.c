/* Reference kernels: multi-head attention and multi-scale deformable attention. */
#include "core/cpu/kernels.h"

/* Shapes of an attention node viewed as 3D (2D inputs are batch 1). */
static void attn_dims(const vd_tensor *t, int64_t *b, int64_t *l, int64_t *d) {
    *b = t->ndim == 3 ? t->ne[0] : 1;
    *l = t->ne[t->ndim - 2];
    *d = t->ne[t->ndim - 1];
}

size_t vd_cpu_ref_attention_scratch(const vd_tensor *dst, int n_threads) {
    (void)n_threads;
    const vd_tensor *k = dst->src[1];
    return (size_t)k->ne[k->ndim - 2] * sizeof(double);
}

/* out[b, i, h*Dh + d] = sum_j softmax_j(q_h[i] . k_h[j] / sqrt(Dh)) v_h[j][d] */
void vd_cpu_ref_attention(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const float *q = dst->src[0]->data, *k = dst->src[1]->data, *v = dst->src[2]->data;
    float *out = dst->data;
    int64_t nb, lq, lk, d;
    attn_dims(dst->src[0], &nb, &lq, &d);
    attn_dims(dst->src[1], &nb, &lk, &d);
    int64_t heads = dst->p.attn.n_heads, dh = d / heads;
    double scale = 1.0 / sqrt((double)dh);
    double *s = ctx->scratch; // (Lk)
    for (int64_t b = 0; b < nb; b++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t i = 0; i < lq; i++) {
                const float *qi = q + (b * lq + i) * d + h * dh;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < lk; j++) {
                    const float *kj = k + (b * lk + j) * d + h * dh;
                    double dot = 0;
                    for (int64_t c = 0; c < dh; c++) dot += (double)qi[c] * kj[c];
                    s[j] = dot * scale;
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int64_t j = 0; j < lk; j++) {
                    s[j] = exp(s[j] - mx);
                    sum += s[j];
                }
                for (int64_t c = 0; c < dh; c++) {
                    double acc = 0;
                    for (int64_t j = 0; j < lk; j++) acc += s[j] * v[(b * lk + j) * d + h * dh + c];
                    out[(b * lq + i) * d + h * dh + c] = (float)(acc / sum);
                }
            }
}

size_t vd_cpu_ref_msda_scratch(const vd_tensor *dst, int n_threads) {
    (void)n_threads;
    return (size_t)vd_cpu_msda_points(&dst->p.msda) * sizeof(double);
}

/* See vd_msda_params (graph.h). For every query and head: softmax of the head's LP weight
 * logits; each point k of level l samples the head's channels of level l bilinearly at its
 * location (vd_cpu_msda_loc, vd_cpu_bilinear_taps) and adds weight * sample. */
void vd_cpu_ref_msda(const vd_cpu_ctx *ctx, vd_tensor *dst) {
    const vd_msda_params *p = &dst->p.msda;
    const float *value = dst->src[0]->data;   // (S, M*Dh)
    const float *offsets = dst->src[1]->data; // (Q, M*LP*2)
    const float *logits = dst->src[2]->data;  // (Q, M*LP)
    const float *ref = dst->src[3]->data;     // (Q, ref_dim)
    const float *pscale = p->ref_dim == 4 ? dst->src[4]->data : NULL; // (LP)
    float *out = dst->data;                   // (Q, M*Dh)
    int64_t nq = dst->ne[0], c = dst->ne[1], m_heads = p->n_heads, dh = c / m_heads;
    int lp = vd_cpu_msda_points(p);
    double *wt = ctx->scratch; // (LP)
    for (int64_t q = 0; q < nq; q++)
        for (int64_t m = 0; m < m_heads; m++) {
            const float *lg = logits + (q * m_heads + m) * lp;
            double mx = -INFINITY, sum = 0;
            for (int k = 0; k < lp; k++) mx = lg[k] > mx ? lg[k] : mx;
            for (int k = 0; k < lp; k++) sum += wt[k] = exp(lg[k] - mx);
            for (int k = 0; k < lp; k++) wt[k] /= sum;
            for (int64_t d = 0; d < dh; d++) {
                double acc = 0;
                int k = 0;
                int64_t start = 0; /* first token of level l */
                for (int l = 0; l < p->n_levels; l++) {
                    for (int pt = 0; pt < p->points[l]; pt++, k++) {
                        const float *off = offsets + ((q * m_heads + m) * lp + k) * 2;
                        float lx, ly;
                        vd_cpu_msda_loc(p, ref + q * p->ref_dim, off, pscale, l, k, &lx, &ly);
                        vd_cpu_taps t;
                        vd_cpu_bilinear_taps(lx, ly, p->h[l], p->w[l], &t);
                        double sample = 0;
                        for (int i = 0; i < 4; i++)
                            if (t.idx[i] >= 0)
                                sample += (double)t.w[i] * value[(start + t.idx[i]) * c + m * dh + d];
                        acc += wt[k] * sample;
                    }
                    start += (int64_t)p->h[l] * p->w[l];
                }
                out[q * c + m * dh + d] = (float)acc;
            }
        }
}
