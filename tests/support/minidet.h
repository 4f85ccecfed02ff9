/* A tiny detector-shaped graph that uses every op of the op set once or more: a small CNN
 * (strided, depthwise, grouped and 1x1 convs with residuals, max and avg pooling, upsample,
 * concat), an attention block with layer norm, query selection (reduce_max, top-k, gather),
 * one deformable-attention decoder layer with box refinement, softmax, slice and permute.
 * For backend tests: run it on two backends and compare the outputs.
 *
 *     vd_minidet_weights w;
 *     vd_minidet_weights_init(&w, &arena, 42);   // weights live in the arena
 *     vd_minidet m;
 *     vd_minidet_build(&m, &w);                  // m.g owned by the caller
 *     ... write m.x ([1, 3, 32, 24]), run, read m.out[i] ...
 *     vd_graph_free(m.g);
 */
#ifndef VD_MINIDET_H
#define VD_MINIDET_H

#include "core/graph.h"

#define VD_MINIDET_MAX_W 32
#define VD_MINIDET_OUTS 5

typedef struct vd_minidet_weights {
    vd_tensor *w[VD_MINIDET_MAX_W];
    int n;
} vd_minidet_weights;

typedef struct vd_minidet {
    vd_graph *g;
    vd_tensor *x;                       /* input [1, 3, 32, 24] */
    vd_tensor *out[VD_MINIDET_OUTS];    /* boxes [10,4], logits [10,5], idx I32 [10],
                                           probs [10,7], features [10,4] */
    const char *out_name[VD_MINIDET_OUTS];
} vd_minidet;

/* Creates the weight leaves (VD_TENSOR_WEIGHT) in arena with seeded random data. */
int vd_minidet_weights_init(vd_minidet_weights *w, vd_arena *arena, uint64_t seed);

/* Builds the graph; returns 0 on success (m->g set), else the graph's status. */
int vd_minidet_build(vd_minidet *m, const vd_minidet_weights *w);

/* Elements of the input. */
#define VD_MINIDET_INPUT_N (1 * 3 * 32 * 24)

#endif
