/* CPU kernels. Every op has a reference kernel (ref_*.c), written to be obviously right, and
 * may have a fast kernel (fast_*.c) with the same signature; the op tests compare the two.
 *
 * A kernel computes dst from dst->src[i]->data (host pointers set by the executor; views
 * already resolved) into dst->data. It may split work over ctx->pool and use ctx->scratch,
 * which holds at least what its scratch function asked for. */
#ifndef VD_CPU_H
#define VD_CPU_H

#include "core/graph.h"
#include "core/pool.h"

typedef struct vd_cpu_ctx {
    vd_pool *pool;  /* may be NULL: run inline */
    int n_threads;  /* vd_pool_threads(pool) */
    void *scratch;  /* 64-byte aligned */
    size_t scratch_size;
    /* Prepared weight data per node, indexed by node id (see vd_cpu_op.prep_key); NULL, or
     * NULL entries, when there is none: kernels then take a path without it. */
    const void *const *prep;
} vd_cpu_ctx;

typedef void (*vd_cpu_kernel)(const vd_cpu_ctx *ctx, vd_tensor *dst);
/* Scratch bytes the kernel needs for dst with n_threads threads. */
typedef size_t (*vd_cpu_scratch_fn)(const vd_tensor *dst, int n_threads);

/* Weight preparation (optional): data derived from a node's weights alone, such as a packed
 * or Winograd-transformed copy, made when a session is created and passed to the kernel in
 * ctx->prep[dst->id]. prep_key returns the weight the data derives from (NULL: nothing to
 * prepare for this node) and a variant number; the backend caches the data of model weights
 * (VD_TENSOR_WEIGHT) under (weight, variant), so every session of a model shares one copy,
 * made once. prep_make returns the data (vd_aligned_alloc; NULL when out of memory) and its
 * size. */
typedef const vd_tensor *(*vd_cpu_prep_key_fn)(const vd_tensor *dst, int *variant);
/* A variant with this bit set says: with its prepared data the kernel computes dst->src[0]'s
 * result itself from src[0]'s own inputs (the MSDA kernel absorbing the value projection), so
 * the executor need not run src[0] when dst is its only consumer and it is not an output. */
#define VD_CPU_PREP_ABSORBS_SRC0 (1 << 16)
typedef void *(*vd_cpu_prep_make_fn)(const vd_tensor *dst, int variant, size_t *bytes);

/* Optional: the source whose memory the kernel may write dst over (vd_graph_plan's
 * overwrite), or -1. */
typedef int (*vd_cpu_overwrite_fn)(const vd_tensor *dst);

typedef struct vd_cpu_op {
    vd_cpu_kernel run;
    vd_cpu_scratch_fn scratch; /* NULL: none */
    vd_cpu_prep_key_fn prep_key;   /* NULL: none */
    vd_cpu_prep_make_fn prep_make;
    vd_cpu_overwrite_fn overwrites; /* NULL: none */
} vd_cpu_op;

/* Indexed by vd_op. Every entry of the reference table but LEAF and VIEW is set; entries of
 * the fast table may be empty, and the executor then uses the reference. */
extern const vd_cpu_op vd_cpu_ref_ops[VD_OP_COUNT];
extern const vd_cpu_op vd_cpu_fast_ops[VD_OP_COUNT];

/* Which table the executor uses: 1 (default) fast where available, 0 reference only.
 * VKDETR_CPU_REFERENCE=1 in the environment selects the reference kernels (read once in
 * model config). */
typedef enum vd_cpu_kernels { VD_CPU_REFERENCE = 0, VD_CPU_FAST = 1 } vd_cpu_kernels;

/* Runs one node with the given table (for tests): allocates scratch and prepared data itself
 * (nothing is cached). */
vkdetr_status vd_cpu_run_node(const vd_cpu_op *table, vd_pool *pool, vd_tensor *dst);

/* Scalar helpers shared by kernels. */
float vd_act_apply(vd_act act, float x);

#endif
