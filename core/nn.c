#include "nn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *vd_nn_name(char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, VD_NN_NAME_LEN, fmt, ap);
    va_end(ap);
    return buf;
}

void vd_nn_conv_bn(vd_weights *W, vd_conv *c, const char *conv, const char *bn, int in, int out,
                   int k, int stride, vd_act act, float eps) {
    memset(c, 0, sizeof *c);
    vd_tensor *w = vd_weights_get(W, "%s.weight", VD_SHAPE(out, in, k, k), conv);
    vd_weights_fold_bn(W, w, "%s", eps, &c->w, &c->b, bn);
    int pad = (k - 1) / 2;
    c->p = (vd_conv2d_params){stride, stride, pad, pad, pad, pad, 1, act};
}

vd_tensor *vd_nn_conv(vd_graph *g, const vd_conv *c, vd_tensor *x, vd_tensor *residual) {
    return vd_op_conv2d(g, x, c->w, c->b, residual, &c->p);
}

void vd_nn_linear_load(vd_weights *W, vd_linear *l, const char *prefix, int in, int out) {
    l->w = vd_weights_get(W, "%s.weight", VD_SHAPE(out, in), prefix);
    int o = l->w ? (int)l->w->ne[0] : out;
    l->b = vd_weights_get(W, "%s.bias", VD_SHAPE(o), prefix);
}

vd_tensor *vd_nn_linear(vd_graph *g, const vd_linear *l, vd_tensor *x, vd_tensor *residual,
                        vd_act act) {
    return vd_op_linear(g, x, l->w, l->b, residual, act);
}

void vd_nn_norm_load(vd_weights *W, vd_norm *n, const char *prefix, int dim, float eps) {
    n->w = vd_weights_get(W, "%s.weight", VD_SHAPE(dim), prefix);
    n->b = vd_weights_get(W, "%s.bias", VD_SHAPE(dim), prefix);
    n->eps = eps;
}

vd_tensor *vd_nn_norm(vd_graph *g, const vd_norm *n, vd_tensor *x) {
    return vd_op_layer_norm(g, x, n->w, n->b, n->eps);
}

void vd_nn_mlp_load(vd_weights *W, vd_mlp *m, const char *prefix, int n_layers, int in,
                    int hidden, int out, vd_act act) {
    char name[VD_NN_NAME_LEN];
    memset(m, 0, sizeof *m);
    m->n_layers = n_layers;
    m->act = act;
    for (int i = 0; i < n_layers && i < VD_MLP_MAX; i++) {
        int li = i == 0 ? in : hidden, lo = i == n_layers - 1 ? out : hidden;
        vd_nn_linear_load(W, &m->layers[i], vd_nn_name(name, "%s.layers.%d", prefix, i), li, lo);
    }
}

vd_tensor *vd_nn_mlp(vd_graph *g, const vd_mlp *m, vd_tensor *x, vd_tensor *residual) {
    for (int i = 0; i < m->n_layers; i++) {
        int last = i == m->n_layers - 1;
        x = vd_nn_linear(g, &m->layers[i], x, last ? residual : NULL, last ? VD_ACT_NONE : m->act);
    }
    return x;
}

void vd_nn_mha_load(vd_weights *W, vd_mha *m, const char *prefix, int dim, int n_heads) {
    char name[VD_NN_NAME_LEN];
    vd_nn_linear_load(W, &m->q, vd_nn_name(name, "%s.q_proj", prefix), dim, dim);
    vd_nn_linear_load(W, &m->k, vd_nn_name(name, "%s.k_proj", prefix), dim, dim);
    vd_nn_linear_load(W, &m->v, vd_nn_name(name, "%s.v_proj", prefix), dim, dim);
    vd_nn_linear_load(W, &m->o, vd_nn_name(name, "%s.o_proj", prefix), dim, dim);
    m->n_heads = n_heads;
}

vd_tensor *vd_nn_self_attention(vd_graph *g, const vd_mha *m, vd_tensor *x, vd_tensor *pos,
                                vd_tensor *residual) {
    vd_tensor *qk = pos ? vd_op_add(g, x, pos) : x;
    vd_tensor *q = vd_nn_linear(g, &m->q, qk, NULL, VD_ACT_NONE);
    vd_tensor *k = vd_nn_linear(g, &m->k, qk, NULL, VD_ACT_NONE);
    vd_tensor *v = vd_nn_linear(g, &m->v, x, NULL, VD_ACT_NONE);
    vd_tensor *a = vd_op_attention(g, q, k, v, m->n_heads);
    return vd_nn_linear(g, &m->o, a, residual, VD_ACT_NONE);
}

vd_tensor *vd_nn_map_to_tokens(vd_graph *g, vd_tensor *map) {
    if (!map) return NULL;
    int64_t ne[2] = {map->ne[1], map->ne[2] * map->ne[3]};
    vd_tensor *flat = vd_op_reshape(g, map, 2, ne); /* (C, H*W) */
    return vd_op_permute(g, flat, 1, 0, 0, 0);    /* (H*W, C) */
}

vd_tensor *vd_nn_tokens_to_map(vd_graph *g, vd_tensor *tokens, int h, int w) {
    if (!tokens) return NULL;
    vd_tensor *t = vd_op_permute(g, tokens, 1, 0, 0, 0); /* (C, H*W) */
    int64_t ne[4] = {1, tokens->ne[1], h, w};
    return vd_op_reshape(g, t, 4, ne);
}

int vd_nn_act_parse(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "relu")) return VD_ACT_RELU;
    if (!strcmp(name, "silu") || !strcmp(name, "swish")) return VD_ACT_SILU;
    if (!strcmp(name, "gelu")) return VD_ACT_GELU;
    if (!strcmp(name, "sigmoid")) return VD_ACT_SIGMOID;
    return -1;
}
