/* The CPU backend: runs a planned graph node by node on a thread pool. */
#include <stdio.h>
#include <string.h>

#include "core/backend.h"
#include "core/cpu/cpu.h"
#include "core/ops.h"

typedef struct cpu_backend {
    vd_backend base;
    const vd_cpu_op *table; /* fast or reference */
} cpu_backend;

struct vd_exec {
    cpu_backend *be;
    vd_graph *g;
    vd_pool *pool;
    void *act;      /* activations, g->act_bytes */
    void *scratch;
    size_t scratch_size;
};

static const vd_cpu_op *pick(const vd_cpu_op *table, vd_op op) {
    if (table[op].run) return &table[op];
    return &vd_cpu_ref_ops[op];
}

static vkdetr_status exec_create(vd_backend *bep, vd_graph *g, int n_threads, vd_exec **out) {
    cpu_backend *be = (cpu_backend *)bep;
    *out = NULL;
    vkdetr_status st = vd_graph_plan(g, 64);
    if (st) return st;
    vd_exec *ex = vd_calloc(1, sizeof *ex);
    if (!ex) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory creating a CPU session");
    ex->be = be;
    ex->g = g;
    ex->pool = vd_pool_create(n_threads);
    if (!ex->pool) goto oom;
    int nt = vd_pool_threads(ex->pool);
    ex->act = vd_aligned_alloc(g->act_bytes);
    if (!ex->act) goto oom;
    for (int i = 0; i < g->n_nodes; i++) {
        vd_tensor *t = g->nodes[i];
        if (t->op == VD_OP_LEAF && !(t->flags & VD_TENSOR_INPUT)) continue;
        if (t->op != VD_OP_LEAF && t->op != VD_OP_VIEW) {
            const vd_cpu_op *op = pick(be->table, t->op);
            if (!op->run) {
                st = vd_error(VKDETR_ERR_INTERNAL, "CPU backend has no kernel for %s",
                              vd_op_name(t->op));
                goto fail;
            }
            if (op->scratch) {
                size_t s = op->scratch(t, nt);
                if (s > ex->scratch_size) ex->scratch_size = s;
            }
        }
    }
    if (ex->scratch_size) {
        ex->scratch = vd_aligned_alloc(ex->scratch_size);
        if (!ex->scratch) goto oom;
    }
    /* bind host pointers: activations into the arena, views onto their storage */
    for (int i = 0; i < g->n_nodes; i++) {
        vd_tensor *t = g->nodes[i];
        if (t->op == VD_OP_LEAF && !(t->flags & VD_TENSOR_INPUT)) continue;
        if (t->op == VD_OP_VIEW) {
            t->data = t->src[0]->data;
            continue;
        }
        t->data = (char *)ex->act + t->offset;
    }
    *out = ex;
    return VKDETR_OK;
oom:
    st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory creating a CPU session (%zu MB of "
                  "activations)", g->act_bytes >> 20);
fail:
    vd_pool_free(ex->pool);
    vd_aligned_free(ex->act);
    vd_aligned_free(ex->scratch);
    vd_free(ex);
    return st;
}

static vkdetr_status exec_write(vd_exec *ex, const vd_tensor *t, const void *data) {
    (void)ex;
    memcpy(t->data, data, vd_nbytes(t));
    return VKDETR_OK;
}

static vkdetr_status exec_read(vd_exec *ex, const vd_tensor *t, void *data) {
    (void)ex;
    memcpy(data, t->data, vd_nbytes(t));
    return VKDETR_OK;
}

static vkdetr_status exec_run(vd_exec *ex, vd_profile *prof) {
    vd_graph *g = ex->g;
    vd_cpu_ctx ctx = {ex->pool, vd_pool_threads(ex->pool), ex->scratch, ex->scratch_size};
    double t_start = vd_time_ms();
    for (int i = 0; i < g->n_nodes; i++) {
        vd_tensor *t = g->nodes[i];
        if (t->op == VD_OP_LEAF || t->op == VD_OP_VIEW) {
            if (prof && i < prof->n_nodes) prof->node_ms[i] = 0;
            continue;
        }
        double t0 = prof ? vd_time_ms() : 0;
        pick(ex->be->table, t->op)->run(&ctx, t);
        if (prof && i < prof->n_nodes) prof->node_ms[i] = vd_time_ms() - t0;
    }
    if (prof) {
        prof->total_ms = vd_time_ms() - t_start;
        prof->submits = 0;
        prof->host_syncs = 0;
    }
    return VKDETR_OK;
}

static void exec_free(vd_exec *ex) {
    if (!ex) return;
    vd_pool_free(ex->pool);
    vd_aligned_free(ex->act);
    vd_aligned_free(ex->scratch);
    vd_free(ex);
}

static void backend_free(vd_backend *be) { vd_free(be); }

static const vd_backend_iface cpu_iface = {
    "cpu", exec_create, exec_write, exec_run, exec_read, exec_free, backend_free,
};

vd_backend *vd_cpu_backend_create(int reference_only) {
    cpu_backend *be = vd_calloc(1, sizeof *be);
    if (!be) return NULL;
    be->base.iface = &cpu_iface;
    be->table = reference_only ? vd_cpu_ref_ops : vd_cpu_fast_ops;
    snprintf(be->base.device_name, sizeof be->base.device_name, "CPU");
    return &be->base;
}

vkdetr_status vd_cpu_run_node(const vd_cpu_op *table, vd_pool *pool, vd_tensor *dst) {
    const vd_cpu_op *op = pick(table, dst->op);
    if (!op->run) return vd_error(VKDETR_ERR_INTERNAL, "no kernel for %s", vd_op_name(dst->op));
    vd_cpu_ctx ctx = {pool, vd_pool_threads(pool), NULL, 0};
    if (op->scratch) {
        ctx.scratch_size = op->scratch(dst, ctx.n_threads);
        if (ctx.scratch_size) {
            ctx.scratch = vd_aligned_alloc(ctx.scratch_size);
            if (!ctx.scratch) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
        }
    }
    op->run(&ctx, dst);
    vd_aligned_free(ctx.scratch);
    return VKDETR_OK;
}
