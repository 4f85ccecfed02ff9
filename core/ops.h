/* The op set: one builder per op. Each checks its inputs' shapes, infers the output shape
 * and appends a node to the graph. On a bad shape the graph records the error (g->status,
 * message naming the op and shapes) and the builder returns NULL; builders given a NULL
 * input return NULL, so a forward pass is written without error checks and the status is
 * tested once at the end.
 *
 * Optional inputs are NULL. Every backend implements every op in graph.h's vd_op. */
#ifndef VD_OPS_H
#define VD_OPS_H

#include "graph.h"

/* act(conv2d(x, w) + bias + residual). x [N,C,H,W], w [O,C/groups,kh,kw]. */
vd_tensor *vd_op_conv2d(vd_graph *g, vd_tensor *x, vd_tensor *w, vd_tensor *bias,
                        vd_tensor *residual, const vd_conv2d_params *p);

/* act(x @ w^T + bias + residual). x [..., K], w [O, K], bias [O], residual like the output. */
vd_tensor *vd_op_linear(vd_graph *g, vd_tensor *x, vd_tensor *w, vd_tensor *bias,
                        vd_tensor *residual, vd_act act);

vd_tensor *vd_op_unary(vd_graph *g, vd_tensor *x, vd_act act);
vd_tensor *vd_op_add(vd_graph *g, vd_tensor *a, vd_tensor *b);
vd_tensor *vd_op_mul(vd_graph *g, vd_tensor *a, vd_tensor *b);
vd_tensor *vd_op_pool2d(vd_graph *g, vd_tensor *x, const vd_pool_params *p);
vd_tensor *vd_op_upsample(vd_graph *g, vd_tensor *x, int factor);
vd_tensor *vd_op_concat(vd_graph *g, int n, vd_tensor *const *xs, int axis);
vd_tensor *vd_op_slice(vd_graph *g, vd_tensor *x, int axis, int begin, int end);
vd_tensor *vd_op_permute(vd_graph *g, vd_tensor *x, int p0, int p1, int p2, int p3);
/* Same memory, new shape (element count must match). ndim 1..4. */
vd_tensor *vd_op_reshape(vd_graph *g, vd_tensor *x, int ndim, const int64_t *ne);
vd_tensor *vd_op_layer_norm(vd_graph *g, vd_tensor *x, vd_tensor *gamma, vd_tensor *beta,
                            float eps);
vd_tensor *vd_op_softmax(vd_graph *g, vd_tensor *x);
/* Multi-head scaled dot-product attention without masks; q, k, v already projected. 2D
 * inputs [L, D] are treated as batch 1. Scale 1/sqrt(D/n_heads). */
vd_tensor *vd_op_attention(vd_graph *g, vd_tensor *q, vd_tensor *k, vd_tensor *v, int n_heads);
/* See vd_msda_params. point_scale may be NULL when ref_dim is 2. */
vd_tensor *vd_op_msda(vd_graph *g, vd_tensor *value, vd_tensor *offsets, vd_tensor *weights,
                      vd_tensor *ref, vd_tensor *point_scale, const vd_msda_params *p);
vd_tensor *vd_op_reduce_max(vd_graph *g, vd_tensor *x);
/* Indices of the k largest elements of x (flattened), largest first; equal values in
 * increasing index order. */
vd_tensor *vd_op_topk(vd_graph *g, vd_tensor *x, int k);
/* Rows idx[i] / div of x (along the first dim). */
vd_tensor *vd_op_gather(vd_graph *g, vd_tensor *x, vd_tensor *idx, int div);
vd_tensor *vd_op_box_refine(vd_graph *g, vd_tensor *delta, vd_tensor *ref);

/* Output shape of a conv/pool spatial dim (PyTorch formulas, ceil_mode included). */
int vd_conv_out_size(int in, int k, int stride, int pad_a, int pad_b);
int vd_pool_out_size(int in, int k, int stride, int pad, int ceil_mode);

const char *vd_op_name(vd_op op);
const char *vd_act_name(vd_act act);

/* Multiply-accumulate count of a node times 2 (for GFLOP/s reports); 0 for data movement. */
double vd_op_flops(const vd_tensor *t);

#endif
