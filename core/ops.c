#include "ops.h"

#include <string.h>

static const char *op_names[VD_OP_COUNT] = {
    "leaf", "view", "conv2d", "linear", "unary", "binary", "pool2d", "upsample", "concat",
    "slice", "permute", "layer_norm", "softmax", "attention", "msda", "reduce_max", "topk",
    "gather", "box_refine",
};

const char *vd_op_name(vd_op op) { return (unsigned)op < VD_OP_COUNT ? op_names[op] : "?"; }

const char *vd_act_name(vd_act act) {
    static const char *names[VD_ACT_COUNT] = {"none", "relu", "silu", "gelu", "sigmoid",
                                              "inverse_sigmoid"};
    return (unsigned)act < VD_ACT_COUNT ? names[act] : "?";
}

/* Shapes for error messages: rotating thread-local buffers, so several can be formatted in
 * one call. */
static const char *shape_tmp(int ndim, const int64_t *ne) {
    static _Thread_local char bufs[8][96];
    static _Thread_local int next;
    char *b = bufs[next++ % 8];
    return vd_shape_str_ne(ndim, ne, b, sizeof bufs[0]);
}
#define SHAPE(t) shape_tmp((t)->ndim, (t)->ne)

static int same_shape(const vd_tensor *a, const vd_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->ne[i] != b->ne[i]) return 0;
    return 1;
}

int vd_conv_out_size(int in, int k, int stride, int pad_a, int pad_b) {
    int span = in + pad_a + pad_b - k;
    return span < 0 ? 0 : span / stride + 1;
}

int vd_pool_out_size(int in, int k, int stride, int pad, int ceil_mode) {
    int span = in + 2 * pad - k;
    if (span < 0) return 0;
    int out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    /* PyTorch: the last window must start inside the input or left padding */
    if (ceil_mode && (out - 1) * stride >= in + pad) out--;
    return out;
}

vd_tensor *vd_op_conv2d(vd_graph *g, vd_tensor *x, vd_tensor *w, vd_tensor *bias,
                        vd_tensor *residual, const vd_conv2d_params *p) {
    if (!x || !w) return NULL;
    if (x->ndim != 4 || w->ndim != 4 || p->groups < 1 || p->stride_h < 1 || p->stride_w < 1 ||
        x->ne[1] % p->groups || w->ne[0] % p->groups || w->ne[1] * p->groups != x->ne[1])
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "conv2d: input %s and weight %s (groups %d)",
                             SHAPE(x), SHAPE(w), p->groups);
    int oh = vd_conv_out_size((int)x->ne[2], (int)w->ne[2], p->stride_h, p->pad_t, p->pad_b);
    int ow = vd_conv_out_size((int)x->ne[3], (int)w->ne[3], p->stride_w, p->pad_l, p->pad_r);
    if (oh < 1 || ow < 1)
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "conv2d: input %s too small for kernel %s",
                             SHAPE(x), SHAPE(w));
    int64_t ne[4] = {x->ne[0], w->ne[0], oh, ow};
    if (bias && (bias->ndim != 1 || bias->ne[0] != w->ne[0]))
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "conv2d: bias %s for %lld outputs", SHAPE(bias),
                             (long long)w->ne[0]);
    vd_tensor *src[4] = {x, w, bias, residual};
    vd_tensor *t = vd_graph_node(g, VD_OP_CONV2D, VD_F32, 4, ne, 2, src);
    if (!t) return NULL;
    t->src[2] = bias;
    t->src[3] = residual;
    t->n_src = 4;
    if (residual && !same_shape(t, residual))
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "conv2d: residual %s for output %s",
                             SHAPE(residual), SHAPE(t));
    t->p.conv = *p;
    return t;
}

vd_tensor *vd_op_linear(vd_graph *g, vd_tensor *x, vd_tensor *w, vd_tensor *bias,
                        vd_tensor *residual, vd_act act) {
    if (!x || !w) return NULL;
    if (w->ndim != 2 || x->ne[x->ndim - 1] != w->ne[1])
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "linear: input %s and weight %s", SHAPE(x),
                             SHAPE(w));
    if (bias && (bias->ndim != 1 || bias->ne[0] != w->ne[0]))
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "linear: bias %s and weight %s", SHAPE(bias),
                             SHAPE(w));
    int64_t ne[VD_MAX_DIMS];
    memcpy(ne, x->ne, sizeof ne);
    ne[x->ndim - 1] = w->ne[0];
    vd_tensor *src[4] = {x, w, bias, residual};
    vd_tensor *t = vd_graph_node(g, VD_OP_LINEAR, VD_F32, x->ndim, ne, 2, src);
    if (!t) return NULL;
    t->src[2] = bias;
    t->src[3] = residual;
    t->n_src = 4;
    if (residual && !same_shape(t, residual))
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "linear: residual %s for output %s",
                             SHAPE(residual), SHAPE(t));
    t->p.linear.act = act;
    return t;
}

vd_tensor *vd_op_unary(vd_graph *g, vd_tensor *x, vd_act act) {
    if (!x) return NULL;
    vd_tensor *t = vd_graph_node(g, VD_OP_UNARY, VD_F32, x->ndim, x->ne, 1, &x);
    if (t) t->p.unary.act = act;
    return t;
}

static vd_tensor *binary(vd_graph *g, vd_tensor *a, vd_tensor *b, vd_binop op) {
    if (!a || !b) return NULL;
    int ok = b->ndim <= a->ndim;
    for (int i = 0; ok && i < b->ndim; i++) {
        int64_t nb = b->ne[b->ndim - 1 - i], na = a->ne[a->ndim - 1 - i];
        ok = nb == na || nb == 1;
    }
    if (!ok)
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "%s: %s does not broadcast to %s",
                             op == VD_BIN_ADD ? "add" : "mul", SHAPE(b), SHAPE(a));
    vd_tensor *src[2] = {a, b};
    vd_tensor *t = vd_graph_node(g, VD_OP_BINARY, VD_F32, a->ndim, a->ne, 2, src);
    if (t) t->p.binary.op = op;
    return t;
}

vd_tensor *vd_op_add(vd_graph *g, vd_tensor *a, vd_tensor *b) { return binary(g, a, b, VD_BIN_ADD); }
vd_tensor *vd_op_mul(vd_graph *g, vd_tensor *a, vd_tensor *b) { return binary(g, a, b, VD_BIN_MUL); }

vd_tensor *vd_op_pool2d(vd_graph *g, vd_tensor *x, const vd_pool_params *p) {
    if (!x) return NULL;
    if (x->ndim != 4 || p->k_h < 1 || p->k_w < 1 || p->stride_h < 1 || p->stride_w < 1 ||
        p->pad_h * 2 > p->k_h || p->pad_w * 2 > p->k_w)
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "pool2d: input %s, kernel %dx%d pad %dx%d",
                             SHAPE(x), p->k_h, p->k_w, p->pad_h, p->pad_w);
    int oh = vd_pool_out_size((int)x->ne[2], p->k_h, p->stride_h, p->pad_h, p->ceil_mode);
    int ow = vd_pool_out_size((int)x->ne[3], p->k_w, p->stride_w, p->pad_w, p->ceil_mode);
    if (oh < 1 || ow < 1)
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "pool2d: input %s too small", SHAPE(x));
    int64_t ne[4] = {x->ne[0], x->ne[1], oh, ow};
    vd_tensor *t = vd_graph_node(g, VD_OP_POOL2D, VD_F32, 4, ne, 1, &x);
    if (t) t->p.pool = *p;
    return t;
}

vd_tensor *vd_op_upsample(vd_graph *g, vd_tensor *x, int factor) {
    if (!x) return NULL;
    if (x->ndim != 4 || factor < 1)
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "upsample: input %s factor %d", SHAPE(x), factor);
    int64_t ne[4] = {x->ne[0], x->ne[1], x->ne[2] * factor, x->ne[3] * factor};
    vd_tensor *t = vd_graph_node(g, VD_OP_UPSAMPLE, VD_F32, 4, ne, 1, &x);
    if (t) t->p.upsample.factor = factor;
    return t;
}

vd_tensor *vd_op_concat(vd_graph *g, int n, vd_tensor *const *xs, int axis) {
    if (n < 1 || n > VD_MAX_SRC) return vd_graph_fail(g, VKDETR_ERR_INTERNAL, "concat of %d", n);
    for (int i = 0; i < n; i++)
        if (!xs[i]) return NULL;
    const vd_tensor *x0 = xs[0];
    if (axis < 0) axis += x0->ndim;
    if (axis < 0 || axis >= x0->ndim)
        return vd_graph_fail(g, VKDETR_ERR_INTERNAL, "concat: axis %d of %s", axis, SHAPE(x0));
    int64_t ne[VD_MAX_DIMS];
    memcpy(ne, x0->ne, sizeof ne);
    for (int i = 1; i < n; i++) {
        const vd_tensor *x = xs[i];
        int ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++) ok = d == axis || x->ne[d] == x0->ne[d];
        if (!ok)
            return vd_graph_fail(g, VKDETR_ERR_SHAPE, "concat: %s and %s along axis %d",
                                 SHAPE(x0), SHAPE(x), axis);
        ne[axis] += x->ne[axis];
    }
    vd_tensor *t = vd_graph_node(g, VD_OP_CONCAT, x0->type, x0->ndim, ne, n, xs);
    if (t) t->p.concat.axis = axis;
    return t;
}

vd_tensor *vd_op_slice(vd_graph *g, vd_tensor *x, int axis, int begin, int end) {
    if (!x) return NULL;
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis >= x->ndim || begin < 0 || end > x->ne[axis] || begin >= end)
        return vd_graph_fail(g, VKDETR_ERR_INTERNAL, "slice: [%d, %d) on axis %d of %s", begin,
                             end, axis, SHAPE(x));
    int64_t ne[VD_MAX_DIMS];
    memcpy(ne, x->ne, sizeof ne);
    ne[axis] = end - begin;
    vd_tensor *t = vd_graph_node(g, VD_OP_SLICE, x->type, x->ndim, ne, 1, &x);
    if (!t) return NULL;
    t->p.slice.axis = axis;
    t->p.slice.begin = begin;
    t->p.slice.end = end;
    return t;
}

vd_tensor *vd_op_permute(vd_graph *g, vd_tensor *x, int p0, int p1, int p2, int p3) {
    if (!x) return NULL;
    int perm[4] = {p0, p1, p2, p3}, seen = 0;
    int64_t ne[VD_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= x->ndim || (seen >> perm[i] & 1))
            return vd_graph_fail(g, VKDETR_ERR_INTERNAL, "permute: bad permutation of %s",
                                 SHAPE(x));
        seen |= 1 << perm[i];
        ne[i] = x->ne[perm[i]];
    }
    vd_tensor *t = vd_graph_node(g, VD_OP_PERMUTE, x->type, x->ndim, ne, 1, &x);
    if (t) memcpy(t->p.permute.perm, perm, sizeof perm);
    return t;
}

vd_tensor *vd_op_reshape(vd_graph *g, vd_tensor *x, int ndim, const int64_t *ne) {
    if (!x) return NULL;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= ne[i];
    if (ndim < 1 || ndim > VD_MAX_DIMS || n != vd_nelements(x))
        return vd_graph_fail(g, VKDETR_ERR_INTERNAL, "reshape: %s to %s", SHAPE(x),
                             shape_tmp(ndim, ne));
    return vd_graph_node(g, VD_OP_VIEW, x->type, ndim, ne, 1, &x);
}

vd_tensor *vd_op_layer_norm(vd_graph *g, vd_tensor *x, vd_tensor *gamma, vd_tensor *beta,
                            float eps) {
    if (!x || !gamma || !beta) return NULL;
    int64_t d = x->ne[x->ndim - 1];
    if (gamma->ndim != 1 || gamma->ne[0] != d || beta->ndim != 1 || beta->ne[0] != d)
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "layer_norm: input %s, weight %s, bias %s",
                             SHAPE(x), SHAPE(gamma), SHAPE(beta));
    vd_tensor *src[3] = {x, gamma, beta};
    vd_tensor *t = vd_graph_node(g, VD_OP_LAYER_NORM, VD_F32, x->ndim, x->ne, 3, src);
    if (t) t->p.norm.eps = eps;
    return t;
}

vd_tensor *vd_op_softmax(vd_graph *g, vd_tensor *x) {
    if (!x) return NULL;
    return vd_graph_node(g, VD_OP_SOFTMAX, VD_F32, x->ndim, x->ne, 1, &x);
}

vd_tensor *vd_op_attention(vd_graph *g, vd_tensor *q, vd_tensor *k, vd_tensor *v, int n_heads) {
    if (!q || !k || !v) return NULL;
    int64_t qn[3], kn[3], vn[3];
    const vd_tensor *ts[3] = {q, k, v};
    int64_t *ns[3] = {qn, kn, vn};
    for (int i = 0; i < 3; i++) {
        const vd_tensor *t = ts[i];
        if (t->ndim != 2 && t->ndim != 3)
            return vd_graph_fail(g, VKDETR_ERR_SHAPE, "attention: input %s", SHAPE(t));
        ns[i][0] = t->ndim == 3 ? t->ne[0] : 1;
        ns[i][1] = t->ne[t->ndim - 2];
        ns[i][2] = t->ne[t->ndim - 1];
    }
    if (qn[0] != kn[0] || qn[0] != vn[0] || qn[2] != kn[2] || kn[1] != vn[1] || qn[2] != vn[2] ||
        n_heads < 1 || qn[2] % n_heads)
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "attention: q %s, k %s, v %s, %d heads",
                             SHAPE(q), SHAPE(k), SHAPE(v), n_heads);
    vd_tensor *src[3] = {q, k, v};
    vd_tensor *t = vd_graph_node(g, VD_OP_ATTENTION, VD_F32, q->ndim, q->ne, 3, src);
    if (t) t->p.attn.n_heads = n_heads;
    return t;
}

vd_tensor *vd_op_msda(vd_graph *g, vd_tensor *value, vd_tensor *offsets, vd_tensor *weights,
                      vd_tensor *ref, vd_tensor *point_scale, const vd_msda_params *p) {
    if (!value || !offsets || !weights || !ref || (p->ref_dim == 4 && !point_scale)) return NULL;
    int64_t s = 0, lp = 0;
    int ok = p->n_heads >= 1 && p->n_levels >= 1 && p->n_levels <= VD_MAX_LEVELS &&
             (p->ref_dim == 2 || p->ref_dim == 4);
    for (int l = 0; ok && l < p->n_levels; l++) {
        ok = p->h[l] >= 1 && p->w[l] >= 1 && p->points[l] >= 1;
        s += (int64_t)p->h[l] * p->w[l];
        lp += p->points[l];
    }
    int64_t q = ref->ne[0], c = value->ne[value->ndim - 1];
    ok = ok && value->ndim == 2 && value->ne[0] == s && c % p->n_heads == 0 && ref->ndim == 2 &&
         ref->ne[1] == p->ref_dim && offsets->ndim == 2 && offsets->ne[0] == q &&
         offsets->ne[1] == p->n_heads * lp * 2 && weights->ndim == 2 && weights->ne[0] == q &&
         weights->ne[1] == p->n_heads * lp &&
         (p->ref_dim == 2 || (point_scale->ndim == 1 && point_scale->ne[0] == lp));
    if (!ok)
        return vd_graph_fail(g, VKDETR_ERR_SHAPE,
                             "msda: value %s, offsets %s, weights %s, reference %s for %d heads, "
                             "%d levels, %lld tokens, %lld points",
                             SHAPE(value), SHAPE(offsets), SHAPE(weights), SHAPE(ref), p->n_heads,
                             p->n_levels, (long long)s, (long long)lp);
    vd_tensor *src[5] = {value, offsets, weights, ref, point_scale};
    int64_t ne[2] = {q, c};
    vd_tensor *t = vd_graph_node(g, VD_OP_MSDA, VD_F32, 2, ne, p->ref_dim == 4 ? 5 : 4, src);
    if (t) t->p.msda = *p;
    return t;
}

vd_tensor *vd_op_reduce_max(vd_graph *g, vd_tensor *x) {
    if (!x) return NULL;
    int64_t ne[VD_MAX_DIMS] = {1};
    int nd = x->ndim > 1 ? x->ndim - 1 : 1;
    for (int i = 0; i < x->ndim - 1; i++) ne[i] = x->ne[i];
    return vd_graph_node(g, VD_OP_REDUCE_MAX, VD_F32, nd, ne, 1, &x);
}

vd_tensor *vd_op_topk(vd_graph *g, vd_tensor *x, int k) {
    if (!x) return NULL;
    if (k < 1 || k > vd_nelements(x))
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "topk: k = %d of %s", k, SHAPE(x));
    int64_t ne[1] = {k};
    vd_tensor *t = vd_graph_node(g, VD_OP_TOPK, VD_I32, 1, ne, 1, &x);
    if (t) t->p.topk.k = k;
    return t;
}

vd_tensor *vd_op_gather(vd_graph *g, vd_tensor *x, vd_tensor *idx, int div) {
    if (!x || !idx) return NULL;
    if (idx->type != VD_I32 || idx->ndim != 1 || div < 1)
        return vd_graph_fail(g, VKDETR_ERR_INTERNAL, "gather: index %s", SHAPE(idx));
    int64_t ne[VD_MAX_DIMS];
    memcpy(ne, x->ne, sizeof ne);
    ne[0] = idx->ne[0];
    vd_tensor *src[2] = {x, idx};
    vd_tensor *t = vd_graph_node(g, VD_OP_GATHER, x->type, x->ndim, ne, 2, src);
    if (t) t->p.gather.div = div;
    return t;
}

vd_tensor *vd_op_box_refine(vd_graph *g, vd_tensor *delta, vd_tensor *ref) {
    if (!delta || !ref) return NULL;
    if (!same_shape(delta, ref) || delta->ne[delta->ndim - 1] != 4)
        return vd_graph_fail(g, VKDETR_ERR_SHAPE, "box_refine: delta %s, reference %s",
                             SHAPE(delta), SHAPE(ref));
    vd_tensor *src[2] = {delta, ref};
    return vd_graph_node(g, VD_OP_BOX_REFINE, VD_F32, delta->ndim, delta->ne, 2, src);
}

double vd_op_flops(const vd_tensor *t) {
    switch (t->op) {
    case VD_OP_CONV2D: {
        const vd_tensor *w = t->src[1];
        return 2.0 * (double)vd_nelements(t) * (double)(w->ne[1] * w->ne[2] * w->ne[3]);
    }
    case VD_OP_LINEAR: return 2.0 * (double)vd_nelements(t) * (double)t->src[1]->ne[1];
    case VD_OP_ATTENTION: {
        const vd_tensor *k = t->src[1];
        double lk = (double)k->ne[k->ndim - 2];
        return 4.0 * (double)vd_nelements(t) * lk;
    }
    case VD_OP_MSDA: {
        int lp = 0;
        for (int l = 0; l < t->p.msda.n_levels; l++) lp += t->p.msda.points[l];
        return 8.0 * (double)vd_nelements(t) * lp; /* 4 taps, multiply-add each */
    }
    default: return 0;
    }
}
