/* The CPU backend: runs a planned graph node by node on a thread pool. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/backend.h"
#include "core/cpu/cpu.h"
#include "core/cpu/kernels.h"
#include "core/ops.h"

/* Prepared weight data of the model's weights (vd_cpu_op.prep_key), shared by sessions. */
typedef struct prep_entry {
    const vd_tensor *key;
    int variant;
    void *data;
} prep_entry;

typedef struct cpu_backend {
    vd_backend base;
    const vd_cpu_op *table; /* fast or reference */
    pthread_mutex_t prep_lock; /* sessions may be created from several threads at once */
    prep_entry *prep;
    int n_prep, cap_prep;
    size_t prep_bytes;
} cpu_backend;

struct vd_exec {
    cpu_backend *be;
    vd_graph *g;
    vd_pool *pool;
    void *act;      /* activations, g->act_bytes */
    void *scratch;
    size_t scratch_size;
    const void **prep; /* [n_nodes] prepared data by node id, borrowed or in owned */
    unsigned char *skip; /* [n_nodes] nodes whose result a consumer computes itself */
    void **owned;      /* prepared data of non-weight leaves, this session's own */
    int n_owned;
};

static const vd_cpu_op *pick(const vd_cpu_op *table, vd_op op) {
    if (table[op].run) return &table[op];
    return &vd_cpu_ref_ops[op];
}

static void exec_free(vd_exec *ex);

/* The cached data for (key, variant), made on first use; NULL when out of memory. */
static void *prep_cached(cpu_backend *be, const vd_cpu_op *op, const vd_tensor *t,
                         const vd_tensor *key, int variant) {
    void *data = NULL;
    pthread_mutex_lock(&be->prep_lock);
    for (int i = 0; i < be->n_prep; i++)
        if (be->prep[i].key == key && be->prep[i].variant == variant) {
            data = be->prep[i].data;
            goto done;
        }
    if (be->n_prep == be->cap_prep) {
        int cap = be->cap_prep ? 2 * be->cap_prep : 64;
        prep_entry *p = vd_realloc(be->prep, (size_t)cap * sizeof *p);
        if (!p) goto done;
        be->prep = p;
        be->cap_prep = cap;
    }
    size_t bytes = 0;
    data = op->prep_make(t, variant, &bytes);
    if (!data) goto done;
    be->prep[be->n_prep++] = (prep_entry){key, variant, data};
    be->prep_bytes += bytes;
done:
    pthread_mutex_unlock(&be->prep_lock);
    return data;
}

/* Number of nodes of g reading t (directly; a view of t counts as a reader). */
static int count_readers(const vd_graph *g, const vd_tensor *t) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int s = 0; s < g->nodes[i]->n_src; s++) n += g->nodes[i]->src[s] == t;
    return n;
}

/* Sets ex->prep[t->id] when t's kernel wants prepared data. A kernel that absorbs its first
 * source (VD_CPU_PREP_ABSORBS_SRC0) reads that source's inputs when t runs (the plan keeps
 * them: absorbed_readers), and the source is skipped when nothing else reads it. */
static vkdetr_status prepare_node(vd_exec *ex, const vd_cpu_op *op, vd_tensor *t) {
    int variant = 0;
    const vd_tensor *key = op->prep_key ? op->prep_key(t, &variant) : NULL;
    if (!key) return VKDETR_OK;
    if (variant & VD_CPU_PREP_ABSORBS_SRC0) {
        const vd_tensor *s = t->src[0];
        if (s->id >= 0 && s->op != VD_OP_LEAF && !(s->flags & VD_TENSOR_OUTPUT) &&
            count_readers(ex->g, s) == 1)
            ex->skip[s->id] = 1;
    }
    void *data;
    if (key->flags & VD_TENSOR_WEIGHT) {
        data = prep_cached(ex->be, op, t, key, variant);
    } else {
        size_t bytes = 0;
        data = op->prep_make(t, variant, &bytes);
        if (data) ex->owned[ex->n_owned++] = data;
    }
    if (!data)
        return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory preparing the weights of %s",
                        vd_op_name(t->op));
    ex->prep[t->id] = data;
    return VKDETR_OK;
}

/* Per node, the last node that reads its memory without the graph showing it (-1: none): a
 * kernel that absorbs its first source reads that source's inputs when it runs. */
static int *absorbed_readers(const cpu_backend *be, const vd_graph *g) {
    int *keep = vd_malloc((size_t)VD_MAX(g->n_nodes, 1) * sizeof *keep);
    if (!keep) return NULL;
    for (int i = 0; i < g->n_nodes; i++) keep[i] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const vd_tensor *t = g->nodes[i];
        if (t->op == VD_OP_LEAF || t->op == VD_OP_VIEW) continue;
        const vd_cpu_op *op = pick(be->table, t->op);
        int variant = 0;
        if (!op->prep_key || !op->prep_key(t, &variant) || !(variant & VD_CPU_PREP_ABSORBS_SRC0))
            continue;
        const vd_tensor *s = t->src[0];
        for (int k = 0; k < s->n_src; k++) {
            const vd_tensor *st = s->src[k] ? vd_tensor_storage(s->src[k]) : NULL;
            if (st && st->id >= 0 && keep[st->id] < t->id) keep[st->id] = t->id;
        }
    }
    return keep;
}

/* Per node, the source its kernel may write it over (vd_cpu_op.overwrites; -1: none). */
static int *overwrites(const cpu_backend *be, const vd_graph *g) {
    int *over = vd_malloc((size_t)VD_MAX(g->n_nodes, 1) * sizeof *over);
    if (!over) return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const vd_tensor *t = g->nodes[i];
        const vd_cpu_op *op = t->op == VD_OP_LEAF || t->op == VD_OP_VIEW ? NULL : pick(be->table, t->op);
        over[i] = op && op->overwrites ? op->overwrites(t) : -1;
    }
    return over;
}

static vkdetr_status exec_create(vd_backend *bep, vd_graph *g, int n_threads, vd_exec **out) {
    cpu_backend *be = (cpu_backend *)bep;
    *out = NULL;
    int *keep = absorbed_readers(be, g), *over = overwrites(be, g);
    vkdetr_status st = keep && over ? vd_graph_plan(g, 64, keep, over)
                                    : vd_error(VKDETR_ERR_NO_MEMORY,
                                               "out of memory creating a CPU session");
    vd_free(keep);
    vd_free(over);
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
    ex->prep = vd_calloc((size_t)VD_MAX(g->n_nodes, 1), sizeof *ex->prep);
    ex->owned = vd_calloc((size_t)VD_MAX(g->n_nodes, 1), sizeof *ex->owned);
    ex->skip = vd_calloc((size_t)VD_MAX(g->n_nodes, 1), 1);
    if (!ex->prep || !ex->owned || !ex->skip) goto oom;
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
            if ((st = prepare_node(ex, op, t))) goto fail;
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
    exec_free(ex);
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
    vd_cpu_ctx ctx = {ex->pool, vd_pool_threads(ex->pool), ex->scratch, ex->scratch_size,
                      ex->prep};
    double t_start = vd_time_ms();
    for (int i = 0; i < g->n_nodes; i++) {
        vd_tensor *t = g->nodes[i];
        if (t->op == VD_OP_LEAF || t->op == VD_OP_VIEW || ex->skip[i]) {
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
    for (int i = 0; i < ex->n_owned; i++) vd_aligned_free(ex->owned[i]);
    vd_free(ex->owned);
    vd_free(ex->prep);
    vd_free(ex->skip);
    vd_free(ex);
}

static void backend_free(vd_backend *bep) {
    cpu_backend *be = (cpu_backend *)bep;
    if (!be) return;
    for (int i = 0; i < be->n_prep; i++) vd_aligned_free(be->prep[i].data);
    vd_free(be->prep);
    pthread_mutex_destroy(&be->prep_lock);
    vd_free(be);
}

static const vd_backend_iface cpu_iface = {
    "cpu", exec_create, exec_write, exec_run, exec_read, exec_free, backend_free,
};

vd_backend *vd_cpu_backend_create(int reference_only) {
    cpu_backend *be = vd_calloc(1, sizeof *be);
    if (!be) return NULL;
    be->base.iface = &cpu_iface;
    be->table = reference_only ? vd_cpu_ref_ops : vd_cpu_fast_ops;
    pthread_mutex_init(&be->prep_lock, NULL);
    /* which kernels run: users comparing machines need to know */
    const char *isa = reference_only        ? "reference kernels"
                      : vd_cpu_has_avx512() ? "AVX-512F GEMM and Winograd, AVX2 + FMA kernels"
                      : vd_cpu_has_avx2()   ? "AVX2 + FMA kernels"
                                            : "plain C kernels";
    snprintf(be->base.device_name, sizeof be->base.device_name, "CPU (%s)", isa);
    return &be->base;
}

vkdetr_status vd_cpu_run_node(const vd_cpu_op *table, vd_pool *pool, vd_tensor *dst) {
    const vd_cpu_op *op = pick(table, dst->op);
    if (!op->run) return vd_error(VKDETR_ERR_INTERNAL, "no kernel for %s", vd_op_name(dst->op));
    vd_cpu_ctx ctx = {pool, vd_pool_threads(pool), NULL, 0, NULL};
    const void **prep = NULL;
    void *data = NULL;
    int variant = 0;
    if (op->prep_key && op->prep_key(dst, &variant)) {
        size_t bytes = 0;
        prep = vd_calloc((size_t)dst->id + 1, sizeof *prep);
        data = prep ? op->prep_make(dst, variant, &bytes) : NULL;
        if (!data) {
            vd_free(prep);
            return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
        }
        prep[dst->id] = data;
        ctx.prep = prep;
    }
    if (op->scratch) {
        ctx.scratch_size = op->scratch(dst, ctx.n_threads);
        if (ctx.scratch_size) {
            ctx.scratch = vd_aligned_alloc(ctx.scratch_size);
            if (!ctx.scratch) {
                vd_aligned_free(data);
                vd_free(prep);
                return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
            }
        }
    }
    op->run(&ctx, dst);
    vd_aligned_free(ctx.scratch);
    vd_aligned_free(data);
    vd_free(prep);
    return VKDETR_OK;
}
