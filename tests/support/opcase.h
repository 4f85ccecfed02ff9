/* Single-op test cases: build a one-node graph on constant leaves with seeded random data, run
 * the node with a CPU kernel table, and compare kernel tables against the reference.
 *
 *     vd_graph *g = vd_graph_create();
 *     vd_tensor *x = vd_opcase_rand(g, &rng, 2, (int64_t[]){7, 33}, -1, 1);
 *     vd_tensor *y = vd_op_softmax(g, x);
 *     assert_true(vd_opcase_check("softmax 7x33", y, pools, 2, 1e-6, 1e-5));
 *     vd_graph_free(g);
 *
 * Include after cmocka's prerequisites (testutil.h includes cmocka.h). */
#ifndef VD_OPCASE_H
#define VD_OPCASE_H

#include "core/cpu/cpu.h"
#include "core/graph.h"
#include "core/ops.h"
#include "testutil.h"

/* A constant F32 leaf filled with uniform values in [lo, hi). NULL when g failed. */
vd_tensor *vd_opcase_rand(vd_graph *g, vd_rng *r, int ndim, const int64_t *ne, float lo,
                          float hi);

/* A constant leaf holding a copy of data (F32 or I32). */
vd_tensor *vd_opcase_data(vd_graph *g, vd_dtype type, int ndim, const int64_t *ne,
                          const void *data);

/* Runs node with the table on pool (NULL: inline) into a fresh buffer pre-filled with NaN
 * bytes (0xFF), so unwritten outputs show up as non-finite. Returns the buffer (caller frees
 * with free()), or NULL on failure. Sources that are views get their storage's data. */
void *vd_opcase_run(const vd_cpu_op *table, vd_pool *pool, vd_tensor *node);

/* Runs node with the reference table (inline), then with the fast table on each of pools,
 * and compares each fast output with the reference: vd_check_close(atol, rtol) for F32,
 * equality for I32. `what` names the case in failure messages. Returns 1 when all agree. */
int vd_opcase_check(const char *what, vd_tensor *node, vd_pool *const *pools, int n_pools,
                    double atol, double rtol);

/* Compares n I32 values exactly, printing the first mismatch with `what`. Returns 1 if equal. */
int vd_opcase_check_i32(const char *what, const int32_t *a, const int32_t *b, size_t n);

#endif
