#include "opcase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vd_tensor *vd_opcase_rand(vd_graph *g, vd_rng *r, int ndim, const int64_t *ne, float lo,
                          float hi) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= ne[i];
    float *data = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!data) return NULL;
    vd_rng_fill(r, data, (size_t)n, lo, hi);
    vd_tensor *t = vd_graph_const(g, NULL, VD_F32, ndim, ne, data);
    free(data);
    return t;
}

vd_tensor *vd_opcase_data(vd_graph *g, vd_dtype type, int ndim, const int64_t *ne,
                          const void *data) {
    return vd_graph_const(g, NULL, type, ndim, ne, data);
}

void *vd_opcase_run(const vd_cpu_op *table, vd_pool *pool, vd_tensor *node) {
    if (!node) return NULL;
    for (int i = 0; i < node->n_src; i++) {
        vd_tensor *s = node->src[i];
        if (s && s->op == VD_OP_VIEW) s->data = vd_tensor_storage(s)->data;
    }
    size_t bytes = vd_nbytes(node);
    void *out = malloc(bytes ? bytes : 1);
    if (!out) return NULL;
    memset(out, 0xFF, bytes);
    node->data = out;
    vkdetr_status st = vd_cpu_run_node(table, pool, node);
    node->data = NULL;
    if (st != VKDETR_OK) {
        fprintf(stderr, "vd_cpu_run_node(%s): %s\n", vd_op_name(node->op), vkdetr_last_error());
        free(out);
        return NULL;
    }
    return out;
}

int vd_opcase_check_i32(const char *what, const int32_t *a, const int32_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) {
            fprintf(stderr, "FAIL %s: [%zu] = %d, expected %d (n %zu)\n", what, i, a[i], b[i], n);
            return 0;
        }
    return 1;
}

int vd_opcase_check(const char *what, vd_tensor *node, vd_pool *const *pools, int n_pools,
                    double atol, double rtol) {
    if (!node) {
        fprintf(stderr, "FAIL %s: graph build failed: %s\n", what, vkdetr_last_error());
        return 0;
    }
    void *ref = vd_opcase_run(vd_cpu_ref_ops, NULL, node);
    if (!ref) return 0;
    int ok = 1;
    size_t n = (size_t)vd_nelements(node);
    for (int i = 0; i < n_pools && ok; i++) {
        void *fast = vd_opcase_run(vd_cpu_fast_ops, pools[i], node);
        char msg[512];
        snprintf(msg, sizeof msg, "%s [fast, %d threads]", what, vd_pool_threads(pools[i]));
        if (!fast)
            ok = 0;
        else if (node->type == VD_I32)
            ok = vd_opcase_check_i32(msg, fast, ref, n);
        else
            ok = vd_check_close(msg, fast, ref, n, atol, rtol);
        free(fast);
    }
    free(ref);
    return ok;
}
