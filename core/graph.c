#include "graph.h"

#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

char *vd_shape_str_ne(int ndim, const int64_t *ne, char *buf, size_t size) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, size - n, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)ne[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

char *vd_shape_str(const vd_tensor *t, char *buf, size_t size) {
    return vd_shape_str_ne(t->ndim, t->ne, buf, size);
}

vd_graph *vd_graph_create(void) {
    vd_graph *g = vd_calloc(1, sizeof *g);
    if (!g) return NULL;
    vd_arena_init(&g->arena, (size_t)1 << 20);
    return g;
}

void vd_graph_free(vd_graph *g) {
    if (!g) return;
    vd_arena_free(&g->arena);
    vd_free(g->nodes);
    vd_free(g);
}

vd_tensor *vd_graph_fail(vd_graph *g, vkdetr_status status, const char *fmt, ...) {
    if (g->status == VKDETR_OK) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        g->status = vd_error(status, "%s", msg);
    }
    return NULL;
}

static vd_tensor *new_tensor(vd_graph *g, vd_op op, vd_dtype type, int ndim, const int64_t *ne) {
    if (g->status != VKDETR_OK) return NULL;
    if (ndim < 1 || ndim > VD_MAX_DIMS)
        return vd_graph_fail(g, VKDETR_ERR_INTERNAL, "%s: tensor rank %d", vd_op_name(op), ndim);
    for (int i = 0; i < ndim; i++)
        if (ne[i] <= 0 || ne[i] > ((int64_t)1 << 31))
            return vd_graph_fail(g, VKDETR_ERR_SHAPE, "%s: dimension %d is %lld", vd_op_name(op), i,
                                 (long long)ne[i]);
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 256;
        vd_tensor **nodes = vd_realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return vd_graph_fail(g, VKDETR_ERR_NO_MEMORY, "out of memory building graph");
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    vd_tensor *t = vd_arena_calloc(&g->arena, 1, sizeof *t);
    if (!t) return vd_graph_fail(g, VKDETR_ERR_NO_MEMORY, "out of memory building graph");
    t->op = op;
    t->type = type;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->ne[i] = ne[i];
    t->stage = g->stage;
    t->id = g->n_nodes;
    g->nodes[g->n_nodes++] = t;
    return t;
}

vd_tensor *vd_graph_node(vd_graph *g, vd_op op, vd_dtype type, int ndim, const int64_t *ne,
                         int n_src, vd_tensor *const *src) {
    if (n_src > VD_MAX_SRC) return vd_graph_fail(g, VKDETR_ERR_INTERNAL, "too many sources");
    for (int i = 0; i < n_src; i++)
        if (!src[i]) return NULL;
    vd_tensor *t = new_tensor(g, op, type, ndim, ne);
    if (!t) return NULL;
    t->n_src = n_src;
    for (int i = 0; i < n_src; i++) t->src[i] = src[i];
    return t;
}

vd_tensor *vd_graph_input(vd_graph *g, const char *name, vd_dtype type, int ndim,
                          const int64_t *ne) {
    vd_tensor *t = new_tensor(g, VD_OP_LEAF, type, ndim, ne);
    if (!t) return NULL;
    t->flags = VD_TENSOR_INPUT;
    t->name = name ? vd_arena_strdup(&g->arena, name) : NULL;
    return t;
}

vd_tensor *vd_graph_const(vd_graph *g, const char *name, vd_dtype type, int ndim,
                          const int64_t *ne, const void *data) {
    vd_tensor *t = new_tensor(g, VD_OP_LEAF, type, ndim, ne);
    if (!t) return NULL;
    t->flags = VD_TENSOR_CONST;
    t->name = name ? vd_arena_strdup(&g->arena, name) : NULL;
    t->data = vd_arena_alloc(&g->arena, vd_nbytes(t));
    if (!t->data) return vd_graph_fail(g, VKDETR_ERR_NO_MEMORY, "out of memory building graph");
    memcpy(t->data, data, vd_nbytes(t));
    return t;
}

vd_tensor *vd_graph_output(vd_graph *g, vd_tensor *t, const char *name) {
    if (!t) return NULL;
    t->flags |= VD_TENSOR_OUTPUT;
    if (name) {
        t->name = vd_arena_strdup(&g->arena, name);
        if (!t->name) return vd_graph_fail(g, VKDETR_ERR_NO_MEMORY, "out of memory");
    }
    return t;
}

vd_tensor *vd_graph_find(const vd_graph *g, const char *name) {
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        vd_tensor *t = g->nodes[i];
        if (t->name && (t->flags & (VD_TENSOR_OUTPUT | VD_TENSOR_INPUT)) && !strcmp(t->name, name))
            return t;
    }
    return NULL;
}

/* ---- memory planning -------------------------------------------------------------------
 * Greedy first fit over a list of live blocks sorted by offset: each activation gets the
 * lowest offset where it fits between blocks alive at its creation; a block dies after
 * its last reader. Outputs and inputs never die. */

typedef struct {
    size_t offset, size;
    int tensor; /* node id */
} live_block;

/* The source of node i whose memory i may take (overwrite[i], checked), or NULL. */
static const vd_tensor *overwritten(const vd_graph *g, int i, const int *overwrite,
                                    const int *last_use) {
    const vd_tensor *t = g->nodes[i];
    int k = overwrite ? overwrite[i] : -1;
    if (k < 0 || k >= t->n_src || !t->src[k]) return NULL;
    const vd_tensor *s = t->src[k];
    /* leaves (weights, inputs) have no block; an output's last use is past every node */
    if (s->op == VD_OP_VIEW || s->op == VD_OP_LEAF || last_use[s->id] != i ||
        vd_nbytes(s) != vd_nbytes(t))
        return NULL;
    for (int j = 0; j < t->n_src; j++)
        if (j != k && t->src[j] && vd_tensor_storage(t->src[j]) == s) return NULL;
    return s;
}

vkdetr_status vd_graph_plan(vd_graph *g, size_t align, const int *keep, const int *overwrite) {
    if (g->status != VKDETR_OK) return g->status;
    int n = g->n_nodes;
    int *last_use = vd_malloc((size_t)n * sizeof *last_use);
    live_block *live = vd_malloc((size_t)n * sizeof *live);
    if (!last_use || !live) {
        vd_free(last_use);
        vd_free(live);
        return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory planning graph");
    }
    for (int i = 0; i < n; i++) last_use[i] = i;
    for (int i = 0; i < n; i++) {
        vd_tensor *t = g->nodes[i];
        for (int s = 0; s < t->n_src; s++) {
            if (!t->src[s]) continue;
            const vd_tensor *st = vd_tensor_storage(t->src[s]);
            if (st->id >= 0 && (st->flags & VD_TENSOR_WEIGHT) == 0) last_use[st->id] = i;
        }
    }
    /* a view keeps its storage alive as long as the view itself is used */
    for (int i = n - 1; i >= 0; i--) {
        vd_tensor *t = g->nodes[i];
        if (t->op == VD_OP_VIEW) {
            const vd_tensor *st = vd_tensor_storage(t);
            int lu = (t->flags & VD_TENSOR_OUTPUT) ? n : last_use[i];
            if (st->id >= 0 && lu > last_use[st->id]) last_use[st->id] = lu;
        }
    }
    if (keep) /* readers the graph does not show (keep is given for storage nodes) */
        for (int i = 0; i < n; i++)
            if (keep[i] > last_use[i]) last_use[i] = keep[i];
    for (int i = 0; i < n; i++)
        if (g->nodes[i]->flags & (VD_TENSOR_OUTPUT | VD_TENSOR_INPUT)) last_use[i] = n;

    int n_live = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        vd_tensor *t = g->nodes[i];
        /* free blocks whose last reader was before this node */
        int w = 0;
        for (int j = 0; j < n_live; j++)
            if (last_use[live[j].tensor] >= i) live[w++] = live[j];
        n_live = w;
        if (t->op == VD_OP_VIEW || (t->op == VD_OP_LEAF && !(t->flags & VD_TENSOR_INPUT))) continue;
        const vd_tensor *over = overwritten(g, i, overwrite, last_use);
        if (over) { /* its block (alive: its last reader is t) passes to t */
            int j = 0;
            while (live[j].tensor != over->id) j++;
            live[j].tensor = i;
            t->offset = over->offset;
            continue;
        }
        size_t size = (vd_nbytes(t) + align - 1) / align * align;
        /* live is sorted by offset: find the first gap */
        size_t off = 0;
        int pos = 0;
        for (; pos < n_live; pos++) {
            if (live[pos].offset >= off + size) break;
            size_t end = live[pos].offset + live[pos].size;
            if (end > off) off = end;
        }
        memmove(&live[pos + 1], &live[pos], (size_t)(n_live - pos) * sizeof *live);
        live[pos] = (live_block){off, size, i};
        n_live++;
        t->offset = off;
        if (off + size > total) total = off + size;
    }
    for (int i = 0; i < n; i++) {
        vd_tensor *t = g->nodes[i];
        if (t->op == VD_OP_VIEW) t->offset = vd_tensor_storage(t)->offset;
    }
    g->act_bytes = total;
    vd_free(last_use);
    vd_free(live);
    return VKDETR_OK;
}
