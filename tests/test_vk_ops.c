/* Every op of the Vulkan backend against the CPU reference kernels (vd_cpu_ref_ops), on
 * seeded random inputs of several shapes (odd sizes, not multiples of the workgroup sizes),
 * in fp32 and, when the device has 16-bit storage, in fp16 storage. Runs on lavapipe
 * (VKDETR_DEVICE=llvmpipe is set here); exits 77 (skipped) when no Vulkan device is usable.
 *
 * fp16 cases feed the op through an identity unary and read it back through another, so
 * the op's own loads and stores are fp16 (graph inputs and outputs are always fp32). The
 * reference runs on the unrounded fp32 inputs; the fp16 tolerances cover rounding the
 * inputs, weights and the output to fp16 (relative step 2^-11 = 4.9e-4).
 *
 * Comparison: non-finite values first, then |vk - ref| <= atol + rtol * |ref| everywhere
 * (vd_check_close); integer outputs (top-k indices, I32 copies) exactly.
 *
 * Tolerances (atol / rtol), and the largest errors measured on lavapipe (max |vk - ref|):
 *   op               fp32 tol        measured   fp16 tol        measured   why
 *   unary            1e-5 / 1e-5     4.8e-7     2e-3 / 2e-3     6.2e-3     exp/erf in fp32 vs libm;
 *     inverse_sigm.  1e-5 / 1e-5     4.8e-7     5e-2 / 2e-3     2.3e-2     log(x/(1-x)) near 0, 1
 *   binary           1e-6 / 1e-6     0          4e-3 / 2e-3     2.2e-3     fp16: inputs rounded
 *   box_refine       1e-5 / 1e-5     1.2e-7     2e-3 / 2e-3     1.5e-4     (delta rounded in fp16)
 *   conv2d           1e-4 / 1e-4     1.3e-5     3e-2 / 1e-2     4.8e-3     K up to 450, fp32 sums
 *   linear           1e-4 / 1e-4     1.7e-6     3e-2 / 1e-2     2.1e-3       vs double
 *   pool2d           1e-5 / 1e-5     1.2e-7     4e-3 / 2e-3     1.1e-3
 *   layer_norm       1e-4 / 1e-4     1.5e-6     2e-2 / 1e-2     3.7e-3     fp32 statistics vs double
 *   softmax          1e-6 / 1e-4     6.0e-8     2e-3 / 1e-2     3.9e-4
 *   attention        1e-5 / 1e-4     3.6e-7     1e-2 / 1e-2     6.0e-4     online softmax, fp32
 *   msda             1e-5 / 1e-4     1.8e-7     1e-2 / 1e-2     2.3e-3     fp32 locations, weights
 *   reduce_max       exact           0          1e-2 / 1e-3     3.8e-3     (input rounded in fp16)
 *   topk             exact indices   exact      exact indices   exact      keys fp32 in both modes
 *   copies: concat, slice, permute, upsample, gather
 *                    exact           0          4e-3 / 2e-3     2.0e-3     I32 exact in both modes
 * (VD_TEST_VERBOSE=1 prints every case's errors, 3 also timings.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/cpu/cpu.h"
#include "core/ops.h"
#include "core/vk/vk.h"
#include "support/testutil.h"
#include "support/vktest.h"

static vd_backend *backends[2]; /* fp32, fp16 storage (NULL when the device has none) */
static vd_arena weight_arena;   /* weights live as long as the backends, as in a model */
static int verbose;             /* VD_TEST_VERBOSE=1: print the error of every case */

/* ---- a test case: one op on random inputs -------------------------------------------- */

#define MAX_IN 8

typedef struct tcase {
    vd_graph *g;
    int fp16;
    int n_in;
    vd_tensor *leaf[MAX_IN]; /* the graph inputs */
    vd_tensor *feed[MAX_IN]; /* what the op reads: the leaf, or an identity of it (fp16) */
    void *host[MAX_IN];
} tcase;

static void tc_begin(tcase *c, int fp16) {
    memset(c, 0, sizeof *c);
    c->g = vd_graph_create();
    c->fp16 = fp16;
    assert_non_null(c->g);
}

static void tc_end(tcase *c) {
    for (int i = 0; i < c->n_in; i++) free(c->host[i]);
    vd_graph_free(c->g);
}

static vd_tensor *tc_input_data(tcase *c, vd_dtype type, int ndim, const int64_t *ne,
                                void *data /* taken */) {
    vd_tensor *t = vd_graph_input(c->g, NULL, type, ndim, ne);
    assert_non_null(t);
    int i = c->n_in++;
    c->leaf[i] = t;
    c->host[i] = data;
    c->feed[i] = c->fp16 && type == VD_F32 ? vd_op_unary(c->g, t, VD_ACT_NONE) : t;
    return c->feed[i];
}

static vd_tensor *tc_input(tcase *c, vd_rng *r, int ndim, const int64_t *ne, float lo, float hi) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= ne[i];
    float *x = malloc((size_t)n * sizeof *x);
    vd_rng_fill(r, x, (size_t)n, lo, hi);
    return tc_input_data(c, VD_F32, ndim, ne, x);
}

static vd_tensor *tc_weight(vd_rng *r, int ndim, const int64_t *ne, float lo, float hi) {
    vd_tensor *t = vd_arena_calloc(&weight_arena, 1, sizeof *t);
    assert_non_null(t);
    t->op = VD_OP_LEAF;
    t->type = VD_F32;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->ne[i] = ne[i];
    t->flags = VD_TENSOR_WEIGHT;
    t->id = -1;
    t->name = "w";
    t->data = vd_arena_alloc(&weight_arena, vd_nbytes(t));
    assert_non_null(t->data);
    vd_rng_fill(r, t->data, (size_t)vd_nelements(t), lo, hi);
    return t;
}

static int check_ints(const char *what, const int32_t *a, const int32_t *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i]) {
            fprintf(stderr, "FAIL %s: [%lld] = %d, expected %d\n", what, (long long)i, a[i], b[i]);
            return 0;
        }
    return 1;
}

/* Runs node on Vulkan and on the CPU reference and compares; 1 when they agree. */
static int tc_run(tcase *c, vd_tensor *node, const char *what, double atol, double rtol) {
    char label[256];
    snprintf(label, sizeof label, "%s [%s]", what, c->fp16 ? "fp16" : "fp32");
    vd_tensor *out = c->fp16 && node && node->type == VD_F32
                         ? vd_op_unary(c->g, node, VD_ACT_NONE)
                         : node;
    vd_graph_output(c->g, out, "out");
    if (c->g->status) {
        fprintf(stderr, "FAIL %s: graph: %s\n", label, vkdetr_last_error());
        return 0;
    }
    vd_backend *be = backends[c->fp16];
    vd_exec *ex = NULL;
    double t0 = vd_time_ms();
    vkdetr_status st = be->iface->exec_create(be, c->g, 1, &ex);
    double t1 = vd_time_ms();
    if (st) {
        fprintf(stderr, "FAIL %s: exec_create: %s\n", label, vkdetr_last_error());
        return 0;
    }
    for (int i = 0; i < c->n_in && !st; i++) st = be->iface->write(ex, c->leaf[i], c->host[i]);
    if (!st) st = be->iface->run(ex, NULL);
    double t2 = vd_time_ms();
    size_t n = (size_t)vd_nelements(node);
    void *vk = malloc(n * 4), *ref = malloc(n * 4);
    if (!st) st = be->iface->read(ex, out, vk);
    be->iface->exec_free(ex);
    int ok = 0;
    if (st) {
        fprintf(stderr, "FAIL %s: run: %s\n", label, vkdetr_last_error());
        goto done;
    }
    for (int i = 0; i < c->n_in; i++) c->feed[i]->data = c->host[i];
    node->data = ref;
    if (vd_cpu_run_node(vd_cpu_ref_ops, NULL, node)) {
        fprintf(stderr, "FAIL %s: CPU reference: %s\n", label, vkdetr_last_error());
        goto done;
    }
    if (verbose > 2)
        printf("%-50s create %.1f ms, run %.1f ms, reference %.1f ms\n", label, t1 - t0, t2 - t1,
               vd_time_ms() - t2);
    if (node->type == VD_I32 || (atol == 0 && rtol == 0 && node->type == VD_F32 && !c->fp16))
        ok = check_ints(label, vk, ref, (int64_t)n);
    else
        ok = vd_check_close(label, vk, ref, n, atol, rtol);
    if (verbose) {
        vd_cmp m = node->type == VD_F32 ? vd_compare(vk, ref, n) : (vd_cmp){0};
        printf("%-60s max_abs %.3g max_rel %.3g nmse %.3g\n", label, m.max_abs, m.max_rel, m.nmse);
    }
done:
    free(vk);
    free(ref);
    return ok;
}

/* Runs the case body once per available precision. */
#define FOR_PRECISIONS(fp16) for (int fp16 = 0; fp16 < 2; fp16++) if (backends[fp16])

#define TOL(fp16, a32, r32, a16, r16) (fp16) ? (a16) : (a32), (fp16) ? (r16) : (r32)

/* ---- elementwise ------------------------------------------------------------------------ */

static void test_unary(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 1);
    int ok = 1;
    /* 17M elements: more than 65535 workgroups, so the grid is split over x and y */
    {
        tcase c;
        tc_begin(&c, 0);
        int64_t ne[3] = {17, 1000, 1001};
        vd_tensor *x = tc_input(&c, &r, 3, ne, -9, 9);
        ok &= tc_run(&c, vd_op_unary(c.g, x, VD_ACT_SILU), "unary silu [17,1000,1001]", 1e-5, 1e-5);
        tc_end(&c);
    }
    FOR_PRECISIONS(fp16) {
        for (int act = 0; act < VD_ACT_COUNT; act++) {
            tcase c;
            tc_begin(&c, fp16);
            int64_t ne[3] = {3, 7, 33};
            float lo = act == VD_ACT_INV_SIGMOID ? -0.2f : -9.0f;
            float hi = act == VD_ACT_INV_SIGMOID ? 1.2f : 9.0f;
            vd_tensor *x = tc_input(&c, &r, 3, ne, lo, hi);
            char what[64];
            snprintf(what, sizeof what, "unary %s [3,7,33]", vd_act_name((vd_act)act));
            double a = act == VD_ACT_INV_SIGMOID ? 5e-2 : 2e-3; /* log near 0 and 1 */
            ok &= tc_run(&c, vd_op_unary(c.g, x, (vd_act)act), what, TOL(fp16, 1e-5, 1e-5, a, 2e-3));
            tc_end(&c);
        }
    }
    assert_true(ok);
}

static void test_binary(void **state) {
    (void)state;
    static const struct {
        int nb;
        int64_t b[4];
    } shapes[] = {{4, {2, 3, 5, 7}}, {2, {5, 7}}, {3, {3, 1, 7}}, {1, {1}}, {3, {1, 5, 1}},
                  {4, {2, 1, 1, 7}}};
    vd_rng r;
    vd_rng_seed(&r, 2);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        for (size_t s = 0; s < VD_ARRAY_LEN(shapes); s++)
            for (int op = 0; op < VD_BIN_COUNT; op++) {
                tcase c;
                tc_begin(&c, fp16);
                int64_t ne[4] = {2, 3, 5, 7};
                vd_tensor *a = tc_input(&c, &r, 4, ne, -2, 2);
                vd_tensor *b = tc_input(&c, &r, shapes[s].nb, shapes[s].b, -2, 2);
                char what[64];
                snprintf(what, sizeof what, "%s with b of rank %d (case %zu)",
                         op ? "mul" : "add", shapes[s].nb, s);
                vd_tensor *y = op ? vd_op_mul(c.g, a, b) : vd_op_add(c.g, a, b);
                ok &= tc_run(&c, y, what, TOL(fp16, 1e-6, 1e-6, 4e-3, 2e-3));
                tc_end(&c);
            }
    }
    assert_true(ok);
}

static void test_box_refine(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 3);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        tcase c;
        tc_begin(&c, fp16);
        int64_t ne[2] = {29, 4};
        vd_tensor *delta = tc_input(&c, &r, 2, ne, -3, 3);
        float *ref = malloc(29 * 4 * sizeof *ref);
        vd_rng_fill(&r, ref, 29 * 4, 0.0f, 1.0f);
        ref[0] = 0.0f; /* the clamps of inverse_sigmoid */
        ref[1] = 1.0f;
        ref[2] = 1e-7f;
        /* the reference boxes go straight to box_refine (kept fp32 in both modes) */
        vd_tensor *rt = vd_graph_input(c.g, NULL, VD_F32, 2, ne);
        c.leaf[c.n_in] = c.feed[c.n_in] = rt;
        c.host[c.n_in++] = ref;
        ok &= tc_run(&c, vd_op_box_refine(c.g, delta, rt), "box_refine [29,4]",
                     TOL(fp16, 1e-5, 1e-5, 2e-3, 2e-3));
        tc_end(&c);
    }
    assert_true(ok);
}

/* ---- convolution and GEMM --------------------------------------------------------------- */

typedef struct conv_case {
    int n, c, h, w, o, kh, kw;
    vd_conv2d_params p;
    int bias, residual;
} conv_case;

static void test_conv2d(void **state) {
    (void)state;
    static const conv_case cases[] = {
        {2, 5, 11, 13, 7, 3, 3, {1, 1, 1, 1, 1, 1, 1, VD_ACT_SILU}, 1, 0},
        {1, 6, 9, 10, 9, 3, 3, {2, 2, 0, 1, 1, 0, 1, VD_ACT_RELU}, 1, 1},     /* asymmetric */
        {1, 19, 7, 9, 67, 1, 1, {1, 1, 0, 0, 0, 0, 1, VD_ACT_NONE}, 1, 0},    /* 2 tiles of O */
        {2, 6, 8, 7, 24, 3, 3, {1, 1, 1, 1, 1, 1, 3, VD_ACT_GELU}, 1, 1},     /* groups, GEMM */
        {1, 10, 9, 11, 10, 3, 3, {2, 2, 1, 1, 1, 1, 10, VD_ACT_SILU}, 1, 0},  /* depthwise */
        {1, 12, 6, 6, 8, 5, 5, {1, 1, 2, 2, 2, 2, 4, VD_ACT_NONE}, 0, 0},     /* direct, Og 2 */
        {1, 3, 23, 21, 16, 7, 7, {2, 2, 3, 3, 3, 3, 1, VD_ACT_RELU}, 1, 0},   /* stem-like */
        {1, 50, 5, 6, 70, 3, 3, {1, 1, 1, 1, 1, 1, 1, VD_ACT_NONE}, 1, 1},    /* K = 450 */
        {1, 4, 17, 70, 5, 1, 3, {1, 2, 0, 1, 0, 2, 1, VD_ACT_SIGMOID}, 0, 0}, /* P > 64 tiles */
    };
    vd_rng r;
    vd_rng_seed(&r, 4);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        for (size_t i = 0; i < VD_ARRAY_LEN(cases); i++) {
            const conv_case *k = &cases[i];
            tcase c;
            tc_begin(&c, fp16);
            int64_t xn[4] = {k->n, k->c, k->h, k->w};
            int64_t wn[4] = {k->o, k->c / k->p.groups, k->kh, k->kw}, bn[1] = {k->o};
            vd_tensor *x = tc_input(&c, &r, 4, xn, -1, 1);
            vd_tensor *w = tc_weight(&r, 4, wn, -0.5f, 0.5f);
            vd_tensor *b = k->bias ? tc_weight(&r, 1, bn, -1, 1) : NULL;
            vd_tensor *res = NULL;
            if (k->residual) {
                int oh = vd_conv_out_size(k->h, k->kh, k->p.stride_h, k->p.pad_t, k->p.pad_b);
                int ow = vd_conv_out_size(k->w, k->kw, k->p.stride_w, k->p.pad_l, k->p.pad_r);
                int64_t rn[4] = {k->n, k->o, oh, ow};
                res = tc_input(&c, &r, 4, rn, -1, 1);
            }
            char what[128];
            snprintf(what, sizeof what, "conv2d case %zu: x [%d,%d,%d,%d] w [%d,%d,%d,%d] g %d", i,
                     k->n, k->c, k->h, k->w, k->o, k->c / k->p.groups, k->kh, k->kw, k->p.groups);
            ok &= tc_run(&c, vd_op_conv2d(c.g, x, w, b, res, &k->p), what,
                         TOL(fp16, 1e-4, 1e-4, 3e-2, 1e-2));
            tc_end(&c);
        }
    }
    assert_true(ok);
}

static void test_linear(void **state) {
    (void)state;
    static const struct {
        int nd;
        int64_t x[3];
        int o, bias, residual;
        vd_act act;
    } cases[] = {
        {3, {3, 37, 70}, 67, 1, 1, VD_ACT_GELU},
        {2, {5, 9}, 3, 0, 0, VD_ACT_NONE},
        {2, {130, 33}, 129, 1, 0, VD_ACT_RELU},
        {1, {17}, 5, 1, 0, VD_ACT_SIGMOID},
    };
    vd_rng r;
    vd_rng_seed(&r, 5);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        for (size_t i = 0; i < VD_ARRAY_LEN(cases); i++) {
            tcase c;
            tc_begin(&c, fp16);
            int nd = cases[i].nd;
            int64_t kdim = cases[i].x[nd - 1];
            vd_tensor *x = tc_input(&c, &r, nd, cases[i].x, -1, 1);
            int64_t wn[2] = {cases[i].o, kdim}, bn[1] = {cases[i].o}, rn[3];
            vd_tensor *w = tc_weight(&r, 2, wn, -0.5f, 0.5f);
            vd_tensor *b = cases[i].bias ? tc_weight(&r, 1, bn, -1, 1) : NULL;
            memcpy(rn, cases[i].x, sizeof rn);
            rn[nd - 1] = cases[i].o;
            vd_tensor *res = cases[i].residual ? tc_input(&c, &r, nd, rn, -1, 1) : NULL;
            char what[64];
            snprintf(what, sizeof what, "linear case %zu (K %lld, O %d)", i, (long long)kdim,
                     cases[i].o);
            ok &= tc_run(&c, vd_op_linear(c.g, x, w, b, res, cases[i].act), what,
                         TOL(fp16, 1e-4, 1e-4, 3e-2, 1e-2));
            tc_end(&c);
        }
    }
    assert_true(ok);
}

/* ---- pooling and data movement ---------------------------------------------------------- */

static void test_pool2d(void **state) {
    (void)state;
    static const struct {
        int64_t x[4];
        vd_pool_params p;
    } cases[] = {
        {{2, 3, 13, 11}, {VD_POOL_MAX, 3, 3, 2, 2, 1, 1, 0, 0}},  /* ResNet stem */
        {{1, 4, 9, 7}, {VD_POOL_AVG, 2, 2, 2, 2, 0, 0, 1, 0}},    /* ResNet-vd shortcut */
        {{1, 3, 10, 9}, {VD_POOL_AVG, 3, 3, 2, 2, 1, 1, 1, 1}},   /* ceil, include pad */
        {{1, 2, 8, 11}, {VD_POOL_AVG, 3, 2, 2, 3, 1, 1, 1, 0}},   /* ceil, exclude pad */
        {{1, 2, 12, 12}, {VD_POOL_MAX, 2, 2, 3, 3, 0, 0, 1, 0}},  /* ceil max */
    };
    vd_rng r;
    vd_rng_seed(&r, 6);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        for (size_t i = 0; i < VD_ARRAY_LEN(cases); i++) {
            tcase c;
            tc_begin(&c, fp16);
            vd_tensor *x = tc_input(&c, &r, 4, cases[i].x, -3, 3);
            char what[64];
            snprintf(what, sizeof what, "pool2d case %zu", i);
            ok &= tc_run(&c, vd_op_pool2d(c.g, x, &cases[i].p), what,
                         TOL(fp16, 1e-5, 1e-5, 4e-3, 2e-3));
            tc_end(&c);
        }
    }
    assert_true(ok);
}

/* An I32 input with values in [0, 1000). */
static vd_tensor *int_input(tcase *c, vd_rng *r, int ndim, const int64_t *ne) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= ne[i];
    int32_t *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (int32_t)(vd_rng_u32(r) % 1000);
    return tc_input_data(c, VD_I32, ndim, ne, v);
}

static void test_copies(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 7);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        for (int ints = 0; ints < 2; ints++) {
            double a = fp16 && !ints ? 4e-3 : 0, rt = fp16 && !ints ? 2e-3 : 0;
            tcase c;
            int64_t ne3[3] = {3, 7, 5}, ne4[4] = {2, 3, 4, 5};
#define IN(nd, ne) (ints ? int_input(&c, &r, nd, ne) : tc_input(&c, &r, nd, ne, -5, 5))
            /* slice along each axis */
            for (int axis = 0; axis < 3; axis++) {
                tc_begin(&c, fp16);
                vd_tensor *x = IN(3, ne3);
                int b = axis == 1 ? 2 : 1, e = (int)ne3[axis] - (axis == 2 ? 1 : 0);
                char what[64];
                snprintf(what, sizeof what, "slice axis %d [%d,%d) %s", axis, b, e,
                         ints ? "i32" : "f32");
                ok &= tc_run(&c, vd_op_slice(c.g, x, axis, b, e), what, a, rt);
                tc_end(&c);
            }
            /* permutes */
            static const int perms[][4] = {{0, 2, 3, 1}, {3, 1, 0, 2}, {2, 0, 1, -1}, {1, 0, -1, -1}};
            for (int pi = 0; pi < 4; pi++) {
                tc_begin(&c, fp16);
                int nd = pi < 2 ? 4 : pi == 2 ? 3 : 2;
                int64_t ne2[2] = {13, 9};
                vd_tensor *x = nd == 4 ? IN(4, ne4) : nd == 3 ? IN(3, ne3) : IN(2, ne2);
                char what[64];
                snprintf(what, sizeof what, "permute case %d %s", pi, ints ? "i32" : "f32");
                ok &= tc_run(&c, vd_op_permute(c.g, x, perms[pi][0], perms[pi][1], perms[pi][2],
                                               perms[pi][3]),
                             what, a, rt);
                tc_end(&c);
            }
            /* concat along each axis, 3 sources of different sizes */
            for (int axis = -1; axis < 3; axis++) {
                tc_begin(&c, fp16);
                int ax = axis < 0 ? 2 : axis;
                vd_tensor *xs[3];
                for (int s = 0; s < 3; s++) {
                    int64_t ne[3] = {3, 7, 5};
                    ne[ax] = 1 + s * 2;
                    xs[s] = IN(3, ne);
                }
                char what[64];
                snprintf(what, sizeof what, "concat axis %d %s", axis, ints ? "i32" : "f32");
                ok &= tc_run(&c, vd_op_concat(c.g, 3, xs, axis), what, a, rt);
                tc_end(&c);
            }
#undef IN
        }
        for (int f = 2; f <= 3; f++) {
            tcase c;
            tc_begin(&c, fp16);
            int64_t ne[4] = {2, 3, 5, 7};
            vd_tensor *x = tc_input(&c, &r, 4, ne, -5, 5);
            char what[64];
            snprintf(what, sizeof what, "upsample x%d", f);
            ok &= tc_run(&c, vd_op_upsample(c.g, x, f), what, TOL(fp16, 0, 0, 4e-3, 2e-3));
            tc_end(&c);
        }
    }
    assert_true(ok);
}

static void test_gather(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 8);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        for (int cs = 0; cs < 3; cs++) {
            tcase c;
            tc_begin(&c, fp16);
            int64_t xn[3] = {50, 6, 7}, in[1] = {13};
            int div = cs == 1 ? 80 : 1;
            if (cs == 1) xn[1] = 3;
            vd_tensor *x = cs == 2 ? int_input(&c, &r, 3, xn) : tc_input(&c, &r, 3, xn, -5, 5);
            int32_t *idx = malloc(13 * sizeof *idx);
            for (int i = 0; i < 13; i++) idx[i] = (int32_t)(vd_rng_u32(&r) % (uint32_t)(50 * div));
            idx[3] = -1;      /* outside: a row of zeros */
            idx[7] = 50 * div; /* outside */
            vd_tensor *it = tc_input_data(&c, VD_I32, 1, in, idx);
            char what[64];
            snprintf(what, sizeof what, "gather case %d (div %d)", cs, div);
            int exact = cs == 2 || !fp16;
            ok &= tc_run(&c, vd_op_gather(c.g, x, it, div), what, exact ? 0 : 4e-3,
                         exact ? 0 : 2e-3);
            tc_end(&c);
        }
    }
    assert_true(ok);
}

/* ---- normalisation and attention -------------------------------------------------------- */

static void test_layer_norm_softmax(void **state) {
    (void)state;
    static const struct {
        int nd;
        int64_t ne[3];
    } shapes[] = {{2, {37, 96}}, {3, {3, 5, 257}}, {2, {4, 1000}}, {2, {9, 3}}};
    vd_rng r;
    vd_rng_seed(&r, 9);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        for (size_t i = 0; i < VD_ARRAY_LEN(shapes); i++) {
            tcase c;
            tc_begin(&c, fp16);
            int nd = shapes[i].nd;
            int64_t dn[1] = {shapes[i].ne[nd - 1]};
            vd_tensor *x = tc_input(&c, &r, nd, shapes[i].ne, 2, 4); /* mean 3: two-pass stats */
            vd_tensor *gm = tc_weight(&r, 1, dn, 0.5f, 1.5f), *bt = tc_weight(&r, 1, dn, -1, 1);
            char what[64];
            snprintf(what, sizeof what, "layer_norm shape %zu (D %lld)", i, (long long)dn[0]);
            ok &= tc_run(&c, vd_op_layer_norm(c.g, x, gm, bt, 1e-5f), what,
                         TOL(fp16, 1e-4, 1e-4, 2e-2, 1e-2));
            tc_end(&c);

            tc_begin(&c, fp16);
            x = tc_input(&c, &r, nd, shapes[i].ne, -8, 8);
            snprintf(what, sizeof what, "softmax shape %zu (D %lld)", i, (long long)dn[0]);
            ok &= tc_run(&c, vd_op_softmax(c.g, x), what, TOL(fp16, 1e-6, 1e-4, 2e-3, 1e-2));
            tc_end(&c);
        }
    }
    /* one workgroup per row and more than 65535 rows: the grid is split over x and y (slow
     * on lavapipe, ~5 s: fp32 only) */
    tcase c;
    tc_begin(&c, 0);
    int64_t ne[2] = {65600, 2};
    vd_tensor *x = tc_input(&c, &r, 2, ne, -8, 8);
    ok &= tc_run(&c, vd_op_softmax(c.g, x), "softmax [65600,2]", 1e-6, 1e-4);
    tc_end(&c);
    assert_true(ok);
}

static void test_attention(void **state) {
    (void)state;
    static const struct {
        int nd;
        int64_t b, lq, lk, d;
        int heads;
    } cases[] = {
        {3, 2, 17, 23, 64, 4},  /* dh 16 */
        {2, 1, 30, 150, 32, 1}, /* 2-D, three key chunks */
        {3, 1, 5, 70, 192, 2},  /* dh 96: two channels per invocation */
        {2, 1, 9, 9, 256, 1},   /* dh 256, the largest */
    };
    vd_rng r;
    vd_rng_seed(&r, 10);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        for (size_t i = 0; i < VD_ARRAY_LEN(cases); i++) {
            tcase c;
            tc_begin(&c, fp16);
            int nd = cases[i].nd;
            int64_t qn[3], kn[3];
            if (nd == 3) {
                int64_t q3[3] = {cases[i].b, cases[i].lq, cases[i].d};
                int64_t k3[3] = {cases[i].b, cases[i].lk, cases[i].d};
                memcpy(qn, q3, sizeof qn);
                memcpy(kn, k3, sizeof kn);
            } else {
                int64_t q2[3] = {cases[i].lq, cases[i].d, 0}, k2[3] = {cases[i].lk, cases[i].d, 0};
                memcpy(qn, q2, sizeof qn);
                memcpy(kn, k2, sizeof kn);
            }
            vd_tensor *q = tc_input(&c, &r, nd, qn, -1, 1);
            vd_tensor *k = tc_input(&c, &r, nd, kn, -1, 1);
            vd_tensor *v = tc_input(&c, &r, nd, kn, -2, 2);
            char what[64];
            snprintf(what, sizeof what, "attention case %zu", i);
            ok &= tc_run(&c, vd_op_attention(c.g, q, k, v, cases[i].heads), what,
                         TOL(fp16, 1e-5, 1e-4, 1e-2, 1e-2));
            tc_end(&c);
        }
    }
    assert_true(ok);
}

static void test_msda(void **state) {
    (void)state;
    static const struct {
        int q, heads, dh, levels, ref_dim;
        int h[4], w[4], pts[4];
    } cases[] = {
        {23, 2, 40, 3, 4, {8, 4, 2}, {8, 5, 3}, {4, 4, 4}},   /* C 80: two channel blocks */
        {17, 4, 8, 3, 4, {7, 5, 3}, {9, 4, 2}, {2, 3, 4}},    /* v2: points per level */
        {11, 3, 16, 2, 2, {6, 3}, {7, 4}, {3, 2}},            /* 2-d references */
        {5, 1, 32, 4, 4, {10, 5, 3, 2}, {10, 5, 3, 1}, {1, 1, 1, 1}},
    };
    vd_rng r;
    vd_rng_seed(&r, 11);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        for (size_t i = 0; i < VD_ARRAY_LEN(cases); i++) {
            tcase c;
            tc_begin(&c, fp16);
            vd_msda_params p = {0};
            p.n_heads = cases[i].heads;
            p.n_levels = cases[i].levels;
            p.ref_dim = cases[i].ref_dim;
            p.offset_scale = 0.5f;
            int64_t s = 0, lp = 0;
            for (int l = 0; l < p.n_levels; l++) {
                p.h[l] = cases[i].h[l];
                p.w[l] = cases[i].w[l];
                p.points[l] = cases[i].pts[l];
                s += p.h[l] * p.w[l];
                lp += p.points[l];
            }
            int64_t q = cases[i].q, cdim = (int64_t)p.n_heads * cases[i].dh;
            int64_t vn[2] = {s, cdim}, on[2] = {q, p.n_heads * lp * 2}, wn[2] = {q, p.n_heads * lp};
            int64_t rn[2] = {q, p.ref_dim}, pn[1] = {lp};
            vd_tensor *value = tc_input(&c, &r, 2, vn, -1, 1);
            /* offsets wide enough that some points fall outside the maps */
            vd_tensor *off = tc_input(&c, &r, 2, on, p.ref_dim == 4 ? -4 : -3, p.ref_dim == 4 ? 4 : 3);
            vd_tensor *wt = tc_input(&c, &r, 2, wn, -3, 3);
            float *ref = malloc((size_t)(q * p.ref_dim) * sizeof *ref);
            vd_rng_fill(&r, ref, (size_t)(q * p.ref_dim), 0.05f, 0.95f);
            vd_tensor *rt = vd_graph_input(c.g, NULL, VD_F32, 2, rn);
            c.leaf[c.n_in] = c.feed[c.n_in] = rt; /* references are fp32 in both modes */
            c.host[c.n_in++] = ref;
            vd_tensor *ps = NULL;
            if (p.ref_dim == 4) {
                float *psd = malloc((size_t)lp * sizeof *psd);
                for (int64_t k = 0, at = 0; k < p.n_levels; k++)
                    for (int j = 0; j < p.points[k]; j++) psd[at++] = 1.0f / (float)p.points[k];
                ps = tc_input_data(&c, VD_F32, 1, pn, psd);
            }
            char what[64];
            snprintf(what, sizeof what, "msda case %zu (Q %lld, C %lld, ref %d)", i,
                     (long long)q, (long long)cdim, p.ref_dim);
            ok &= tc_run(&c, vd_op_msda(c.g, value, off, wt, rt, ps, &p), what,
                         TOL(fp16, 1e-5, 1e-4, 1e-2, 1e-2));
            tc_end(&c);
        }
    }
    assert_true(ok);
}

/* ---- reductions, top-k ------------------------------------------------------------------ */

static void test_reduce_max(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 12);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        int64_t shapes[2][3] = {{37, 80, 0}, {5, 3, 11}};
        for (int i = 0; i < 2; i++) {
            tcase c;
            tc_begin(&c, fp16);
            vd_tensor *x = tc_input(&c, &r, i ? 3 : 2, shapes[i], -10, 10);
            char what[64];
            snprintf(what, sizeof what, "reduce_max case %d", i);
            ok &= tc_run(&c, vd_op_reduce_max(c.g, x), what, TOL(fp16, 0, 0, 1e-2, 1e-3));
            tc_end(&c);
        }
    }
    assert_true(ok);
}

/* Values with many ties, infinities and both zeros. */
static float *topk_values(vd_rng *r, int64_t n, int pattern) {
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        float u = vd_rng_uniform(r, -1, 1);
        x[i] = pattern == 0 ? u : floorf(u * 20) / 20; /* pattern 1: 40 distinct values */
    }
    if (pattern == 1 && n > 100) {
        x[3] = INFINITY;
        x[n - 1] = INFINITY;
        x[10] = -INFINITY;
        x[11] = -0.0f;
        x[12] = 0.0f;
        x[13] = 1e-42f; /* a denormal ranks above zero */
    }
    return x;
}

static void test_topk(void **state) {
    (void)state;
    static const struct {
        int64_t n;
        int k, pattern;
    } cases[] = {
        {1000, 300, 0}, {1000, 300, 1}, {30000, 300, 1}, {30000, 300, 0}, {5000, 7, 1},
        {2048, 1024, 1}, {2049, 1, 0}, {9000, 1000, 1}, {7, 7, 0},
    };
    vd_rng r;
    vd_rng_seed(&r, 13);
    int ok = 1;
    FOR_PRECISIONS(fp16) {
        for (size_t i = 0; i < VD_ARRAY_LEN(cases); i++) {
            tcase c;
            tc_begin(&c, fp16);
            int64_t ne[1] = {cases[i].n};
            /* fed straight: top-k keys are fp32 in both modes */
            vd_tensor *x = vd_graph_input(c.g, NULL, VD_F32, 1, ne);
            c.leaf[c.n_in] = c.feed[c.n_in] = x;
            c.host[c.n_in++] = topk_values(&r, cases[i].n, cases[i].pattern);
            char what[64];
            snprintf(what, sizeof what, "topk n %lld k %d pattern %d", (long long)cases[i].n,
                     cases[i].k, cases[i].pattern);
            ok &= tc_run(&c, vd_op_topk(c.g, x, cases[i].k), what, 0, 0);
            tc_end(&c);
        }
        /* fp16-stored scores: top-k of the rounded values, as the reference sees them */
        if (fp16) {
            tcase c;
            tc_begin(&c, fp16);
            int64_t ne[2] = {300, 80};
            float *v = topk_values(&r, 300 * 80, 0);
            vd_tensor *x = tc_input_data(&c, VD_F32, 2, ne, v);
            vd_tensor *y = vd_op_unary(c.g, x, VD_ACT_SIGMOID); /* kept fp32: feeds topk */
            vd_tensor *t = vd_op_topk(c.g, y, 300);
            /* reference: sigmoid of the fp32 value is computed on the CPU below */
            vd_graph_output(c.g, t, "out");
            vd_exec *ex;
            assert_int_equal(backends[1]->iface->exec_create(backends[1], c.g, 1, &ex), 0);
            assert_int_equal(backends[1]->iface->write(ex, c.leaf[0], v), 0);
            assert_int_equal(backends[1]->iface->run(ex, NULL), 0);
            int32_t got[300];
            assert_int_equal(backends[1]->iface->read(ex, t, got), 0);
            backends[1]->iface->exec_free(ex);
            for (int j = 1; j < 300; j++) {
                float a = 1.0f / (1.0f + expf(-v[got[j - 1]])), b = 1.0f / (1.0f + expf(-v[got[j]]));
                if (a < b - 1e-3f) {
                    fprintf(stderr, "FAIL topk of fp16 sigmoid: order at %d\n", j);
                    ok = 0;
                    break;
                }
            }
            tc_end(&c);
        }
    }
    assert_true(ok);
}

/* ---- main ----------------------------------------------------------------------------- */

int main(void) {
    vd_vk_test_setup();
    verbose = getenv("VD_TEST_VERBOSE") ? atoi(getenv("VD_TEST_VERBOSE")) : 0;
    if (verbose > 1) vkdetr_log_set(NULL, NULL, VKDETR_LOG_DEBUG);
    vkdetr_status st;
    backends[0] = vd_vk_backend_create(NULL, VKDETR_PRECISION_FP32, &st);
    if (!backends[0]) {
        fprintf(stderr, "skipped: %s\n", vkdetr_last_error());
        return 77;
    }
    backends[1] = vd_vk_backend_create(NULL, VKDETR_PRECISION_FP16, &st);
    if (!backends[1])
        fprintf(stderr, "note: no fp16 storage on this device (%s); fp32 only\n",
                vkdetr_last_error());
    vd_arena_init(&weight_arena, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary),       cmocka_unit_test(test_binary),
        cmocka_unit_test(test_box_refine),  cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_linear),      cmocka_unit_test(test_pool2d),
        cmocka_unit_test(test_copies),      cmocka_unit_test(test_gather),
        cmocka_unit_test(test_layer_norm_softmax), cmocka_unit_test(test_attention),
        cmocka_unit_test(test_msda),        cmocka_unit_test(test_reduce_max),
        cmocka_unit_test(test_topk),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    for (int i = 0; i < 2; i++)
        if (backends[i]) backends[i]->iface->free(backends[i]);
    vd_arena_free(&weight_arena);
    return failed;
}
