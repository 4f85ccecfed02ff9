/* Layers shared by the families, on top of ops.h and weights.h: each is a small struct of
 * weight tensors, a loader that reads it by name (errors accumulate in W, see weights.h)
 * and an apply function that adds its nodes to a graph.
 *
 * Names are passed as already formatted prefixes ("model.encoder.lateral_convs.0"); use
 * vd_nn_name to format them. */
#ifndef VD_NN_H
#define VD_NN_H

#include "ops.h"
#include "weights.h"

/* snprintf into buf (VD_NN_NAME_LEN bytes), returns buf. */
#define VD_NN_NAME_LEN 256
const char *vd_nn_name(char *buf, const char *fmt, ...) VD_PRINTF(2, 3);

/* A convolution with its BatchNorm folded in: act(conv(x) + b). */
typedef struct vd_conv {
    vd_tensor *w; /* (out, in/groups, k, k) */
    vd_tensor *b; /* (out) */
    vd_conv2d_params p;
} vd_conv;

/* Reads <conv>.weight [out, in, k, k] (no bias) and the BatchNorm at <bn>, folds them.
 * Padding (k-1)/2 on every side. */
void vd_nn_conv_bn(vd_weights *W, vd_conv *c, const char *conv, const char *bn, int in, int out,
                   int k, int stride, vd_act act, float eps);

/* act(conv(x) + b + residual); residual may be NULL. */
vd_tensor *vd_nn_conv(vd_graph *g, const vd_conv *c, vd_tensor *x, vd_tensor *residual);

typedef struct vd_linear {
    vd_tensor *w; /* (out, in) */
    vd_tensor *b; /* (out), NULL when the layer has no bias */
} vd_linear;

/* Reads <prefix>.weight [out, in] and <prefix>.bias [out]. in or out may be -1 (any). */
void vd_nn_linear_load(vd_weights *W, vd_linear *l, const char *prefix, int in, int out);
vd_tensor *vd_nn_linear(vd_graph *g, const vd_linear *l, vd_tensor *x, vd_tensor *residual,
                        vd_act act);

typedef struct vd_norm {
    vd_tensor *w, *b; /* (dim) */
    float eps;
} vd_norm;

void vd_nn_norm_load(vd_weights *W, vd_norm *n, const char *prefix, int dim, float eps);
vd_tensor *vd_nn_norm(vd_graph *g, const vd_norm *n, vd_tensor *x);

/* An MLP of n_layers linears with act between them and none after the last
 * (RTDetrMLPPredictionHead: <prefix>.layers.<i>). */
#define VD_MLP_MAX 4
typedef struct vd_mlp {
    int n_layers;
    vd_linear layers[VD_MLP_MAX];
    vd_act act;
} vd_mlp;

void vd_nn_mlp_load(vd_weights *W, vd_mlp *m, const char *prefix, int n_layers, int in,
                    int hidden, int out, vd_act act);
/* residual is added after the last layer (e.g. anchors). */
vd_tensor *vd_nn_mlp(vd_graph *g, const vd_mlp *m, vd_tensor *x, vd_tensor *residual);

/* Multi-head attention with separate q/k/v/o projections (<prefix>.{q,k,v,o}_proj; the
 * legacy out_proj spelling resolves through the weight aliases). */
typedef struct vd_mha {
    vd_linear q, k, v, o;
    int n_heads;
} vd_mha;

void vd_nn_mha_load(vd_weights *W, vd_mha *m, const char *prefix, int dim, int n_heads);
/* o(attention(q(qk), k(qk), v(v_in))) + residual, with qk = v_in + pos when pos is given
 * (position embedding on queries and keys, never on values). x (L, D). */
vd_tensor *vd_nn_self_attention(vd_graph *g, const vd_mha *m, vd_tensor *x, vd_tensor *pos,
                                vd_tensor *residual);

/* [1, C, H, W] feature map <-> (H*W, C) tokens, row-major (y outer, x inner). */
vd_tensor *vd_nn_map_to_tokens(vd_graph *g, vd_tensor *map);
vd_tensor *vd_nn_tokens_to_map(vd_graph *g, vd_tensor *tokens, int h, int w);

/* Parses an activation name of transformers' ACT2FN ("relu", "silu"/"swish", "gelu"); returns
 * -1 for names we do not support. */
int vd_nn_act_parse(const char *name);

#endif
