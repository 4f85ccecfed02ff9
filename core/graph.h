/* Tensors and compute graphs.
 *
 * Model code builds a graph once per session (for one input size) with the op builders of
 * ops.h; a backend then plans memory for it and runs it for every image. Leaves are inputs,
 * weights (owned by the model, shared by all its sessions) and constants (anchors, position
 * embeddings, computed when the graph is built). Nodes are kept in creation order, which is
 * a valid execution order.
 *
 * Layout: every tensor is dense and row-major, shape ne[0..ndim-1] outermost first, the
 * PyTorch order ([N, C, H, W] for feature maps, [tokens, channels] for sequences). */
#ifndef VD_GRAPH_H
#define VD_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "base.h"

#define VD_MAX_DIMS 4
#define VD_MAX_SRC 8
#define VD_MAX_LEVELS 4

typedef enum vd_dtype { VD_F32 = 0, VD_I32 = 1 } vd_dtype;

typedef enum vd_op {
    VD_OP_LEAF = 0,   /* input, weight or constant: nothing to compute */
    VD_OP_VIEW,       /* src0 with another shape, same memory */
    VD_OP_CONV2D,     /* x [N,C,H,W], w [O,C/g,kh,kw], bias [O]?, residual [N,O,OH,OW]? */
    VD_OP_LINEAR,     /* x [..., K], w [O, K], bias [O]?, residual [..., O]? -> [..., O] */
    VD_OP_UNARY,      /* elementwise, p.unary */
    VD_OP_BINARY,     /* a op b, b broadcast to a's shape (numpy rules), p.binary */
    VD_OP_POOL2D,     /* [N,C,H,W] -> [N,C,OH,OW], p.pool */
    VD_OP_UPSAMPLE,   /* nearest, integer factor: [N,C,H,W] -> [N,C,H*f,W*f] */
    VD_OP_CONCAT,     /* n_src tensors along p.concat.axis */
    VD_OP_SLICE,      /* [begin, end) along p.slice.axis */
    VD_OP_PERMUTE,    /* dst dim i = src dim p.permute.perm[i] */
    VD_OP_LAYER_NORM, /* over the last dim: x, gamma [D], beta [D] */
    VD_OP_SOFTMAX,    /* over the last dim */
    VD_OP_ATTENTION,  /* q [B,Lq,D], k [B,Lk,D], v [B,Lk,D] -> [B,Lq,D], p.attn */
    VD_OP_MSDA,       /* multi-scale deformable attention, p.msda (below) */
    VD_OP_REDUCE_MAX, /* max over the last dim: [..., D] -> [...] */
    VD_OP_TOPK,       /* x [..., N] flattened -> indices I32 [k], p.topk */
    VD_OP_GATHER,     /* x [N, D...], idx I32 [K] -> [K, D...]; row = idx / p.gather.div */
    VD_OP_BOX_REFINE, /* delta [Q,4], ref [Q,4] -> sigmoid(delta + inverse_sigmoid(ref)) */
    VD_OP_COUNT
} vd_op;

typedef enum vd_act {
    VD_ACT_NONE = 0,
    VD_ACT_RELU,
    VD_ACT_SILU,
    VD_ACT_GELU,    /* exact: x/2 * (1 + erf(x/sqrt(2))) */
    VD_ACT_SIGMOID,
    VD_ACT_INV_SIGMOID, /* log(max(x,1e-5) / max(1-x,1e-5)) with x clamped to [0,1] */
    VD_ACT_COUNT
} vd_act;

typedef enum vd_binop { VD_BIN_ADD = 0, VD_BIN_MUL, VD_BIN_COUNT } vd_binop;
typedef enum vd_pool_kind { VD_POOL_MAX = 0, VD_POOL_AVG } vd_pool_kind;

typedef struct vd_conv2d_params {
    int stride_h, stride_w;
    int pad_t, pad_l, pad_b, pad_r; /* zero padding, may be asymmetric */
    int groups;
    vd_act act; /* applied after bias and residual: act(conv + bias + residual) */
} vd_conv2d_params;

typedef struct vd_pool_params {
    vd_pool_kind kind;
    int k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int ceil_mode;
    /* avg only: PyTorch's count_include_pad; windows are clipped to the padded input either
     * way, as PyTorch does with ceil_mode */
    int count_include_pad;
} vd_pool_params;

/* Multi-scale deformable attention.
 * srcs: value [S, M*Dh] (tokens of all levels, level-major, row-major inside a level;
 *       channel = head*Dh + d), offsets [Q, M*LP*2] (per head, per point: x, y), weights
 *       [Q, M*LP] (logits: softmax over the LP points of each head is part of the op),
 *       ref [Q, ref_dim] (normalised cx, cy[, w, h]), point_scale [LP] (only for
 *       ref_dim 4). LP = sum of points[l]; points of a head are level-major, point-minor.
 * ref_dim 4: loc = ref_xy + off * point_scale[k] * ref_wh * offset_scale
 * ref_dim 2: loc = ref_xy + off / (W_l, H_l)
 * Sampling: bilinear, zero padding, align_corners false: pixel = loc * size - 0.5.
 * out [Q, M*Dh] = per head sum over points of softmax weight * sample. */
typedef struct vd_msda_params {
    int n_heads, n_levels;
    int h[VD_MAX_LEVELS], w[VD_MAX_LEVELS];
    int points[VD_MAX_LEVELS];
    int ref_dim;
    float offset_scale;
} vd_msda_params;

typedef union vd_op_params {
    vd_conv2d_params conv;
    struct { vd_act act; } linear;
    struct { vd_act act; } unary;
    struct { vd_binop op; } binary;
    vd_pool_params pool;
    struct { int factor; } upsample;
    struct { int axis; } concat;
    struct { int axis, begin, end; } slice;
    struct { int perm[VD_MAX_DIMS]; } permute;
    struct { float eps; } norm;
    struct { int n_heads; } attn;
    vd_msda_params msda;
    struct { int k; } topk;
    struct { int div; } gather;
} vd_op_params;

/* Pipeline stages, for per-stage timing. */
typedef enum vd_stage {
    VD_STAGE_PREPROCESS = 0,
    VD_STAGE_BACKBONE,
    VD_STAGE_ENCODER,
    VD_STAGE_DECODER,
    VD_STAGE_POSTPROCESS,
    VD_STAGE_COUNT
} vd_stage;

enum {
    VD_TENSOR_INPUT = 1 << 0,  /* written by the caller before each run */
    VD_TENSOR_OUTPUT = 1 << 1, /* kept alive and readable after a run */
    VD_TENSOR_WEIGHT = 1 << 2, /* model-owned leaf with data */
    VD_TENSOR_CONST = 1 << 3   /* graph-owned leaf with data */
};

typedef struct vd_tensor vd_tensor;
struct vd_tensor {
    vd_op op;
    vd_dtype type;
    int ndim;
    int64_t ne[VD_MAX_DIMS]; /* shape, outermost first */
    int n_src;
    vd_tensor *src[VD_MAX_SRC]; /* optional inputs are NULL: check before use */
    vd_op_params p;
    int flags;
    int stage;        /* vd_stage */
    int id;           /* index in the graph's node list; -1 for weights */
    const char *name; /* for outputs and debugging; may be NULL */
    /* Host memory: weights and constants always; CPU activations once planned. */
    void *data;
    /* Placement chosen by vd_graph_plan (activations only). */
    size_t offset;
    void *extra; /* backend data (the Vulkan buffer of a weight) */
};

static inline int64_t vd_nelements(const vd_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->ne[i];
    return n;
}

static inline size_t vd_nbytes(const vd_tensor *t) { return (size_t)vd_nelements(t) * 4; }

/* Formats a shape as "[1, 3, 640, 640]" into buf; returns buf. */
char *vd_shape_str(const vd_tensor *t, char *buf, size_t size);
char *vd_shape_str_ne(int ndim, const int64_t *ne, char *buf, size_t size);

typedef struct vd_graph {
    vd_arena arena;    /* nodes, constants' data, names */
    vd_tensor **nodes; /* creation order */
    int n_nodes, cap_nodes;
    int stage;         /* stage given to new nodes */
    vkdetr_status status; /* first build error; later builders return NULL */
    /* planning results */
    size_t act_bytes;  /* activation memory needed */
} vd_graph;

vd_graph *vd_graph_create(void);
void vd_graph_free(vd_graph *g);

/* Records a build error (first one wins) and returns NULL, for builders. */
vd_tensor *vd_graph_fail(vd_graph *g, vkdetr_status status, const char *fmt, ...) VD_PRINTF(3, 4);

/* A new node with the given op and shape, sources copied; NULL if any source is NULL or on
 * allocation failure (g->status set). */
vd_tensor *vd_graph_node(vd_graph *g, vd_op op, vd_dtype type, int ndim, const int64_t *ne,
                         int n_src, vd_tensor *const *src);

/* An input leaf (VD_TENSOR_INPUT), written before each run. */
vd_tensor *vd_graph_input(vd_graph *g, const char *name, vd_dtype type, int ndim,
                          const int64_t *ne);

/* A constant leaf; data (nelements * 4 bytes) is copied into the graph. */
vd_tensor *vd_graph_const(vd_graph *g, const char *name, vd_dtype type, int ndim,
                          const int64_t *ne, const void *data);

/* Marks t as an output: its memory is not reused, and it can be read after a run. Returns t.
 * A NULL t is passed through. */
vd_tensor *vd_graph_output(vd_graph *g, vd_tensor *t, const char *name);

/* Finds an output by name; NULL if none. */
vd_tensor *vd_graph_find(const vd_graph *g, const char *name);

/* Assigns offsets to every activation (non-leaf, non-view) node so that tensors whose
 * lifetimes overlap do not share memory, each aligned to `align` bytes; views take their
 * source's placement. Outputs and inputs live for the whole run. Sets g->act_bytes.
 * keep: NULL, or per node id the last node that reads it besides its graph readers (-1:
 * none), for a backend whose kernel reads a source's inputs itself (the CPU MSDA absorbing
 * its value projection reads the projection's input).
 * overwrite: NULL, or per node id the source its kernel may write its result over (-1:
 * none), for kernels that read each value of that source just before writing the result's
 * value at the same place (a convolution's residual). The node then takes that source's
 * memory when the source is an activation of the same size, not a view, input or output,
 * whose last reader is this node, and no other source of the node shares its memory. */
vkdetr_status vd_graph_plan(vd_graph *g, size_t align, const int *keep, const int *overwrite);

/* The tensor whose memory t uses (follows views). */
static inline const vd_tensor *vd_tensor_storage(const vd_tensor *t) {
    while (t->op == VD_OP_VIEW) t = t->src[0];
    return t;
}

#endif
