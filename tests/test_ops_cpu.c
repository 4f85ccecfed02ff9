/* CPU op tests: every op's fast kernel against its reference (1 and 2 threads), on fixed
 * shapes with odd sizes and a sweep of ~20 random shapes per op, and the reference kernels
 * against independent expectations (hand-computed values, PyTorch's exact pooling divisors,
 * sampling at pixel centres and outside the map, top-k ties). The PyTorch fixture comparison
 * is test_ops_torch.c.
 *
 * Tolerances, fast vs reference (|fast - ref| <= atol + rtol * |ref|; NaN/Inf checked first):
 *
 *   op                    atol    rtol    why
 *   conv2d, linear        1e-4    1e-4    f32 sgemm sums (K up to ~600 here) vs double sums;
 *                                         inputs in [-1, 1], weights ~ 1/sqrt(K)
 *   attention             2e-5    1e-4    f32 scores, expf, f32 sums vs double
 *   msda                  2e-5    1e-4    f32 vs double accumulation, same geometry
 *   layer_norm            2e-5    2e-5    f32 two-pass statistics vs double
 *   softmax               1e-6    1e-5    expf and f32 sum vs double
 *   pool2d avg            1e-6    1e-5    f32 vs double window sums
 *   unary                 1e-6    1e-6    relu, inverse_sigmoid: the same scalar code; silu,
 *                                         sigmoid: vd_cpu_expf (~1.5 ulp) vs libm expf; gelu:
 *                                         vd_cpu_erff (4e-7 abs, PyTorch's formula) vs libm
 *   box_refine            0       0       the same scalar code (vd_act_apply)
 *   binary, pool2d max,   exact           same float operation / data movement
 *   upsample, concat,
 *   slice, permute,
 *   reduce_max, topk,
 *   gather
 *
 * Reference vs hand-computed values: 1e-6 absolute (1e-5 relative for large values). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/cpu/kernels.h"
#include "support/opcase.h"

static vd_pool *pools[2]; /* 1 and 2 threads */

static int setup(void **state) {
    (void)state;
    pools[0] = vd_pool_create(1);
    pools[1] = vd_pool_create(2);
    return pools[0] && pools[1] ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    vd_pool_free(pools[0]);
    vd_pool_free(pools[1]);
    return 0;
}

#define CHECK_FAST(what, node, atol, rtol) \
    assert_true(vd_opcase_check(what, node, pools, 2, atol, rtol))

static int rnd(vd_rng *r, int lo, int hi) { return lo + (int)(vd_rng_u32(r) % (uint32_t)(hi - lo + 1)); }

/* Runs node with the reference kernels and compares with expected values. */
static void check_ref(const char *what, vd_tensor *node, const float *expect, double atol,
                      double rtol) {
    assert_non_null(node);
    float *y = vd_opcase_run(vd_cpu_ref_ops, NULL, node);
    assert_non_null(y);
    int ok = vd_check_close(what, y, expect, (size_t)vd_nelements(node), atol, rtol);
    free(y);
    assert_true(ok);
}

static void check_ref_i32(const char *what, vd_tensor *node, const int32_t *expect) {
    assert_non_null(node);
    int32_t *y = vd_opcase_run(vd_cpu_ref_ops, NULL, node);
    assert_non_null(y);
    int ok = vd_opcase_check_i32(what, y, expect, (size_t)vd_nelements(node));
    free(y);
    assert_true(ok);
}

#define NE(...) ((const int64_t[]){__VA_ARGS__})

/* ---- conv2d -------------------------------------------------------------------------------- */

typedef struct conv_case {
    int n, c, h, w, o, kh, kw, groups;
    vd_conv2d_params p;
    int bias, residual;
} conv_case;

static void conv_run_case(const conv_case *cc, uint64_t seed) {
    char what[256];
    snprintf(what, sizeof what,
             "conv2d seed %llu x[%d,%d,%d,%d] w[%d,%d,%d,%d] g%d s%dx%d pad t%d l%d b%d r%d "
             "bias %d res %d act %s",
             (unsigned long long)seed, cc->n, cc->c, cc->h, cc->w, cc->o, cc->c / cc->groups,
             cc->kh, cc->kw, cc->groups, cc->p.stride_h, cc->p.stride_w, cc->p.pad_t,
             cc->p.pad_l, cc->p.pad_b, cc->p.pad_r, cc->bias, cc->residual,
             vd_act_name(cc->p.act));
    vd_rng r;
    vd_rng_seed(&r, seed);
    vd_graph *g = vd_graph_create();
    assert_non_null(g);
    float ws = 1.0f / sqrtf((float)(cc->c / cc->groups * cc->kh * cc->kw));
    vd_tensor *x = vd_opcase_rand(g, &r, 4, NE(cc->n, cc->c, cc->h, cc->w), -1, 1);
    vd_tensor *w = vd_opcase_rand(g, &r, 4, NE(cc->o, cc->c / cc->groups, cc->kh, cc->kw), -ws, ws);
    vd_tensor *b = cc->bias ? vd_opcase_rand(g, &r, 1, NE(cc->o), -0.5f, 0.5f) : NULL;
    vd_conv2d_params p = cc->p;
    p.groups = cc->groups;
    vd_tensor *res = NULL;
    if (cc->residual) {
        int oh = vd_conv_out_size(cc->h, cc->kh, p.stride_h, p.pad_t, p.pad_b);
        int ow = vd_conv_out_size(cc->w, cc->kw, p.stride_w, p.pad_l, p.pad_r);
        res = vd_opcase_rand(g, &r, 4, NE(cc->n, cc->o, oh, ow), -1, 1);
    }
    vd_tensor *y = vd_op_conv2d(g, x, w, b, res, &p);
    if (!y) fprintf(stderr, "%s: %s\n", what, vkdetr_last_error());
    CHECK_FAST(what, y, 1e-4, 1e-4);
    vd_graph_free(g);
}

static conv_case conv_mk(int n, int c, int h, int w, int o, int kh, int kw, int groups, int sh,
                         int sw, int pt, int pl, int pb, int pr, vd_act act, int bias, int res) {
    conv_case cc = {n, c, h, w, o, kh, kw, groups, {sh, sw, pt, pl, pb, pr, groups, act}, bias, res};
    return cc;
}

static void test_conv2d_shapes(void **state) {
    (void)state;
    const conv_case cases[] = {
        /* 1x1 stride 1: direct GEMM, odd pixel counts, with and without split */
        conv_mk(1, 13, 7, 9, 17, 1, 1, 1, 1, 1, 0, 0, 0, 0, VD_ACT_NONE, 1, 0),
        conv_mk(2, 32, 23, 21, 40, 1, 1, 1, 1, 1, 0, 0, 0, 0, VD_ACT_SILU, 1, 1),
        conv_mk(1, 8, 1, 1, 5, 1, 1, 1, 1, 1, 0, 0, 0, 0, VD_ACT_RELU, 0, 0),
        /* 1x1 stride 2 (im2col path), 1x1 with padding */
        conv_mk(1, 9, 11, 13, 6, 1, 1, 1, 2, 2, 0, 0, 0, 0, VD_ACT_NONE, 1, 0),
        conv_mk(1, 5, 6, 7, 4, 1, 1, 1, 1, 1, 1, 0, 0, 2, VD_ACT_NONE, 0, 1),
        /* 3x3 s1 p1, s2 p1; stem-like 3->8 at odd size */
        conv_mk(1, 16, 19, 17, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, VD_ACT_RELU, 1, 1),
        conv_mk(2, 7, 15, 12, 9, 3, 3, 1, 2, 2, 1, 1, 1, 1, VD_ACT_SILU, 1, 0),
        conv_mk(1, 3, 33, 31, 8, 3, 3, 1, 2, 2, 1, 1, 1, 1, VD_ACT_RELU, 0, 0),
        /* K = 64*7*7 at 53x53: two im2col tiles (8 MB budget) even on one thread, the
         * second starting inside an output row */
        conv_mk(1, 64, 53, 53, 3, 7, 7, 1, 1, 1, 3, 3, 3, 3, VD_ACT_GELU, 1, 1),
        /* HGNetv2 stem: 2x2 with right/bottom padding; 7x7 s2 p3 */
        conv_mk(1, 6, 10, 9, 5, 2, 2, 1, 1, 1, 0, 0, 1, 1, VD_ACT_RELU, 1, 0),
        conv_mk(1, 3, 17, 20, 4, 7, 7, 1, 2, 2, 3, 3, 3, 3, VD_ACT_NONE, 1, 0),
        /* grouped, depthwise 3x3 / 5x5 s2, depthwise with channel multiplier */
        conv_mk(1, 12, 9, 11, 18, 3, 3, 3, 1, 1, 1, 1, 1, 1, VD_ACT_NONE, 1, 1),
        conv_mk(2, 10, 13, 9, 10, 3, 3, 10, 1, 1, 1, 1, 1, 1, VD_ACT_SIGMOID, 1, 1),
        conv_mk(1, 7, 14, 15, 7, 5, 5, 7, 2, 2, 2, 2, 2, 2, VD_ACT_RELU, 0, 0),
        conv_mk(1, 4, 8, 8, 8, 3, 3, 4, 1, 2, 0, 1, 2, 0, VD_ACT_NONE, 1, 0),
        /* kernel as large as the padded input; rectangular kernel, asymmetric stride */
        conv_mk(1, 2, 3, 4, 3, 5, 6, 1, 1, 1, 1, 1, 1, 1, VD_ACT_NONE, 1, 0),
        conv_mk(1, 5, 12, 10, 6, 3, 1, 1, 3, 1, 0, 2, 1, 0, VD_ACT_INV_SIGMOID, 1, 0),
    };
    for (size_t i = 0; i < VD_ARRAY_LEN(cases); i++) conv_run_case(&cases[i], 100 + i);
}

static void test_conv2d_sweep(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 7);
    static const int ks[] = {1, 1, 2, 3, 3, 5, 7};
    for (int i = 0; i < 24; i++) {
        conv_case cc;
        memset(&cc, 0, sizeof cc);
        int kind = rnd(&r, 0, 4); /* 0-1 dense, 2 grouped, 3 depthwise */
        cc.n = rnd(&r, 1, 2);
        cc.groups = kind == 2 ? rnd(&r, 2, 3) : 1;
        int cg = rnd(&r, 1, 9), og = rnd(&r, 1, 11);
        if (kind == 3) {
            cc.groups = rnd(&r, 2, 12);
            cg = og = 1;
        }
        cc.c = cg * cc.groups;
        cc.o = og * cc.groups;
        cc.kh = ks[rnd(&r, 0, 6)];
        cc.kw = rnd(&r, 0, 3) ? cc.kh : ks[rnd(&r, 0, 6)];
        cc.p.stride_h = rnd(&r, 1, 3);
        cc.p.stride_w = rnd(&r, 0, 2) ? cc.p.stride_h : rnd(&r, 1, 3);
        cc.p.pad_t = rnd(&r, 0, cc.kh - 1);
        cc.p.pad_b = rnd(&r, 0, cc.kh - 1);
        cc.p.pad_l = rnd(&r, 0, cc.kw - 1);
        cc.p.pad_r = rnd(&r, 0, cc.kw - 1);
        cc.h = rnd(&r, VD_MAX(1, cc.kh - cc.p.pad_t - cc.p.pad_b), 26);
        cc.w = rnd(&r, VD_MAX(1, cc.kw - cc.p.pad_l - cc.p.pad_r), 26);
        cc.p.act = (vd_act)rnd(&r, 0, VD_ACT_SIGMOID);
        cc.bias = rnd(&r, 0, 1);
        cc.residual = rnd(&r, 0, 2) == 0;
        conv_run_case(&cc, 1000 + (uint64_t)i);
    }
}

static void test_conv2d_known(void **state) {
    (void)state;
    vd_graph *g = vd_graph_create();
    const float x9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    vd_tensor *x = vd_opcase_data(g, VD_F32, 4, NE(1, 1, 3, 3), x9);
    /* 3x3 box filter with zero padding 1 */
    vd_tensor *w = vd_opcase_data(g, VD_F32, 4, NE(1, 1, 3, 3), ones);
    vd_conv2d_params p = {1, 1, 1, 1, 1, 1, 1, VD_ACT_NONE};
    const float box[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
    check_ref("conv2d 3x3 box", vd_op_conv2d(g, x, w, NULL, NULL, &p), box, 1e-6, 0);
    /* 2x2 ones, stride 2, pad t0 l1 b1 r0, bias -6, residual, relu */
    vd_tensor *w2 = vd_opcase_data(g, VD_F32, 4, NE(1, 1, 2, 2), ones);
    vd_tensor *bias = vd_opcase_data(g, VD_F32, 1, NE(1), (const float[]){-6});
    vd_tensor *res = vd_opcase_data(g, VD_F32, 4, NE(1, 1, 2, 2), (const float[]){0, 1, 2, 3});
    vd_conv2d_params p2 = {2, 2, 0, 1, 1, 0, 1, VD_ACT_RELU};
    /* windows: 1+4, 2+3+5+6, 7, 8+9 */
    const float e2[4] = {0, 11, 3, 14};
    check_ref("conv2d 2x2 s2 asym", vd_op_conv2d(g, x, w2, bias, res, &p2), e2, 1e-6, 0);
    /* groups 2: channel 0 scaled by 2, channel 1 by 3 */
    vd_tensor *x2 = vd_opcase_data(g, VD_F32, 4, NE(1, 2, 2, 2),
                                   (const float[]){1, 2, 3, 4, 10, 20, 30, 40});
    vd_tensor *wg = vd_opcase_data(g, VD_F32, 4, NE(2, 1, 1, 1), (const float[]){2, 3});
    vd_conv2d_params pg = {1, 1, 0, 0, 0, 0, 2, VD_ACT_NONE};
    const float eg[8] = {2, 4, 6, 8, 30, 60, 90, 120};
    check_ref("conv2d groups 2", vd_op_conv2d(g, x2, wg, NULL, NULL, &pg), eg, 1e-6, 0);
    /* the fast kernels agree on the same cases */
    CHECK_FAST("conv2d 3x3 box", vd_op_conv2d(g, x, w, NULL, NULL, &p), 1e-5, 1e-6);
    CHECK_FAST("conv2d 2x2 s2 asym", vd_op_conv2d(g, x, w2, bias, res, &p2), 1e-5, 1e-6);
    CHECK_FAST("conv2d groups 2", vd_op_conv2d(g, x2, wg, NULL, NULL, &pg), 1e-5, 1e-6);
    vd_graph_free(g);
}

/* ---- linear -------------------------------------------------------------------------------- */

static void linear_case(int ndim, const int64_t *xne, int o, int bias, int res, vd_act act,
                        uint64_t seed) {
    char what[200];
    int k = (int)xne[ndim - 1];
    snprintf(what, sizeof what, "linear seed %llu ndim %d [%lld..., %d] -> %d bias %d res %d %s",
             (unsigned long long)seed, ndim, (long long)xne[0], k, o, bias, res,
             vd_act_name(act));
    vd_rng r;
    vd_rng_seed(&r, seed);
    vd_graph *g = vd_graph_create();
    float ws = 1.0f / sqrtf((float)k);
    vd_tensor *x = vd_opcase_rand(g, &r, ndim, xne, -1, 1);
    vd_tensor *w = vd_opcase_rand(g, &r, 2, NE(o, k), -ws, ws);
    vd_tensor *b = bias ? vd_opcase_rand(g, &r, 1, NE(o), -1, 1) : NULL;
    int64_t yne[VD_MAX_DIMS];
    memcpy(yne, xne, (size_t)ndim * sizeof *yne);
    yne[ndim - 1] = o;
    vd_tensor *rs = res ? vd_opcase_rand(g, &r, ndim, yne, -1, 1) : NULL;
    CHECK_FAST(what, vd_op_linear(g, x, w, b, rs, act), 1e-4, 1e-4);
    vd_graph_free(g);
}

static void test_linear(void **state) {
    (void)state;
    linear_case(2, NE(300, 256), 256, 1, 1, VD_ACT_RELU, 1);
    linear_case(2, NE(37, 65), 43, 1, 0, VD_ACT_GELU, 2);
    linear_case(3, NE(2, 7, 33), 5, 0, 1, VD_ACT_NONE, 3);
    linear_case(1, NE(19), 11, 1, 0, VD_ACT_SIGMOID, 4);
    linear_case(2, NE(3, 4), 300, 1, 0, VD_ACT_SILU, 5);  /* few rows: split over columns */
    linear_case(2, NE(1000, 12), 4, 1, 1, VD_ACT_NONE, 6); /* many rows, few columns */
    vd_rng r;
    vd_rng_seed(&r, 11);
    for (int i = 0; i < 20; i++) {
        int nd = rnd(&r, 1, 3);
        int64_t ne[3];
        for (int d = 0; d < nd; d++) ne[d] = rnd(&r, 1, d == nd - 1 ? 70 : 40);
        linear_case(nd, ne, rnd(&r, 1, 70), rnd(&r, 0, 1), rnd(&r, 0, 1),
                    (vd_act)rnd(&r, 0, VD_ACT_SIGMOID), 100 + (uint64_t)i);
    }
    /* known: [[1,2,3],[4,5,6]] x [[1,0,-1],[.5,.5,.5]]^T + [1,-1], relu */
    vd_graph *g = vd_graph_create();
    vd_tensor *x = vd_opcase_data(g, VD_F32, 2, NE(2, 3), (const float[]){1, 2, 3, 4, 5, 6});
    vd_tensor *w = vd_opcase_data(g, VD_F32, 2, NE(2, 3), (const float[]){1, 0, -1, .5f, .5f, .5f});
    vd_tensor *b = vd_opcase_data(g, VD_F32, 1, NE(2), (const float[]){1, -1});
    check_ref("linear known", vd_op_linear(g, x, w, b, NULL, VD_ACT_RELU),
              (const float[]){0, 2, 0, 6.5f}, 1e-6, 0);
    vd_graph_free(g);
}

/* ---- unary, binary, box_refine ----------------------------------------------------------- */

static void test_unary(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 21);
    for (int act = 0; act < VD_ACT_COUNT; act++) {
        for (int i = 0; i < 4; i++) {
            int64_t n = rnd(&r, 1, 5000);
            vd_graph *g = vd_graph_create();
            float lo = act == VD_ACT_INV_SIGMOID ? -0.2f : -12.0f;
            float hi = act == VD_ACT_INV_SIGMOID ? 1.2f : 12.0f;
            vd_tensor *x = vd_opcase_rand(g, &r, 2, NE(1, n), lo, hi);
            char what[96];
            snprintf(what, sizeof what, "unary %s n %lld", vd_act_name((vd_act)act), (long long)n);
            CHECK_FAST(what, vd_op_unary(g, x, (vd_act)act), 1e-6, 1e-6);
            vd_graph_free(g);
        }
    }
    /* known values (double-precision PyTorch) */
    vd_graph *g = vd_graph_create();
    const float xs[6] = {-3, -1, 0, 0.5f, 1, 3};
    vd_tensor *x = vd_opcase_data(g, VD_F32, 1, NE(6), xs);
    check_ref("gelu", vd_op_unary(g, x, VD_ACT_GELU),
              (const float[]){-0.00404969409489031f, -0.15865525393145702f, 0.0f,
                              0.34573123063700656f, 0.841344746068543f, 2.99595030590511f},
              1e-6, 1e-6);
    check_ref("silu", vd_op_unary(g, x, VD_ACT_SILU),
              (const float[]){-0.14227761953270035f, -0.2689414213699951f, 0.0f,
                              0.3112296656009273f, 0.7310585786300049f, 2.8577223804672998f},
              1e-6, 1e-6);
    check_ref("sigmoid", vd_op_unary(g, x, VD_ACT_SIGMOID),
              (const float[]){0.04742587317756678f, 0.2689414213699951f, 0.5f,
                              0.6224593312018546f, 0.7310585786300049f, 0.9525741268224334f},
              1e-6, 1e-6);
    check_ref("relu", vd_op_unary(g, x, VD_ACT_RELU), (const float[]){0, 0, 0, 0.5f, 1, 3}, 0, 0);
    const float ps[6] = {-3, 0, 0.25f, 0.5f, 1, 7};
    vd_tensor *pt = vd_opcase_data(g, VD_F32, 1, NE(6), ps);
    /* clamp to [0,1], then log(max(x,1e-5) / max(1-x,1e-5)) */
    check_ref("inverse_sigmoid", vd_op_unary(g, pt, VD_ACT_INV_SIGMOID),
              (const float[]){-11.512925464970229f, -11.512925464970229f, -1.0986122886681098f, 0,
                              11.512925464970229f, 11.512925464970229f},
              1e-5, 1e-6);
    /* NaN passes through; silu/gelu of huge values stay finite */
    const float sp[4] = {NAN, -200.0f, 200.0f, FLT_MAX};
    vd_tensor *s = vd_opcase_data(g, VD_F32, 1, NE(4), sp);
    float *y = vd_opcase_run(vd_cpu_ref_ops, NULL, vd_op_unary(g, s, VD_ACT_SILU));
    assert_true(isnan(y[0]) && fabsf(y[1]) < 1e-30f && y[2] == 200.0f && y[3] == FLT_MAX);
    free(y);
    y = vd_opcase_run(vd_cpu_ref_ops, NULL, vd_op_unary(g, s, VD_ACT_GELU));
    assert_true(isnan(y[0]) && y[1] == 0.0f && y[2] == 200.0f && y[3] == FLT_MAX);
    free(y);
    vd_graph_free(g);
}

/* vd_cpu_expf, the vectorisable exp of the fast sigmoid/SiLU/softmax: <= 2 ulp inside
 * [-87.33, 88], the bound's value outside, NaN kept; vd_cpu_erff for GELU */
static void test_expf(void **state) {
    (void)state;
    double worst = 0;
    float at = 0;
    for (float x = -87.3f; x < 88.0f; x += 0.000917f) {
        double e = exp((double)x), rel = fabs(vd_cpu_expf(x) - e) / e;
        if (rel > worst) {
            worst = rel;
            at = x;
        }
    }
    printf("  vd_cpu_expf: max rel error %.3g at %g\n", worst, at);
    assert_true(worst < 2.5e-7);
    assert_true(vd_cpu_expf(0.0f) == 1.0f);
    assert_true(isnan(vd_cpu_expf(NAN)));
    assert_true(vd_cpu_expf(-INFINITY) > 0 && vd_cpu_expf(-INFINITY) < 1.2e-38f);
    assert_true(vd_cpu_expf(INFINITY) > 1.6e38f && isfinite(vd_cpu_expf(INFINITY)));
    assert_true(fabs(vd_cpu_expf(88.0f) / exp(88.0) - 1) < 2.5e-7);
    double werf = 0;
    for (float x = -10.0f; x < 10.0f; x += 0.000613f) {
        double d = fabs(vd_cpu_erff(x) - erf((double)x));
        werf = d > werf ? d : werf;
    }
    printf("  vd_cpu_erff: max abs error %.3g\n", werf);
    assert_true(werf < 5e-7);
    assert_true(isnan(vd_cpu_erff(NAN)) && vd_cpu_erff(INFINITY) == 1.0f &&
                vd_cpu_erff(-INFINITY) == -1.0f && vd_cpu_erff(0.0f) == 0.0f);
}

static void binary_case(int an, const int64_t *ane, int bn, const int64_t *bne, vd_binop op,
                        uint64_t seed) {
    char what[200], sa[64], sb[64];
    snprintf(what, sizeof what, "%s seed %llu a %s b %s", op == VD_BIN_ADD ? "add" : "mul",
             (unsigned long long)seed, vd_shape_str_ne(an, ane, sa, sizeof sa),
             vd_shape_str_ne(bn, bne, sb, sizeof sb));
    vd_rng r;
    vd_rng_seed(&r, seed);
    vd_graph *g = vd_graph_create();
    vd_tensor *a = vd_opcase_rand(g, &r, an, ane, -2, 2);
    vd_tensor *b = vd_opcase_rand(g, &r, bn, bne, -2, 2);
    vd_tensor *y = op == VD_BIN_ADD ? vd_op_add(g, a, b) : vd_op_mul(g, a, b);
    CHECK_FAST(what, y, 0, 0);
    /* independent expectation: index b by hand */
    float *out = vd_opcase_run(vd_cpu_ref_ops, NULL, y);
    const float *ad = a->data, *bd = b->data;
    int64_t n = vd_nelements(a);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, bi = 0, bs = 1;
        for (int d = an - 1; d >= 0; d--) {
            int64_t c = rem % ane[d];
            rem /= ane[d];
            int bd_ = d - (an - bn);
            if (bd_ >= 0) {
                if (bne[bd_] != 1) bi += c * bs;
                bs *= bne[bd_];
            }
        }
        float e = op == VD_BIN_ADD ? ad[i] + bd[bi] : ad[i] * bd[bi];
        if (out[i] != e) {
            fprintf(stderr, "FAIL %s: [%lld] = %g, expected %g\n", what, (long long)i, out[i], e);
            fail();
        }
    }
    free(out);
    vd_graph_free(g);
}

static void test_binary(void **state) {
    (void)state;
    binary_case(4, NE(2, 3, 5, 7), 4, NE(2, 3, 5, 7), VD_BIN_ADD, 1);
    binary_case(4, NE(2, 3, 5, 7), 3, NE(3, 1, 1), VD_BIN_MUL, 2);   /* per channel */
    binary_case(3, NE(4, 300, 256), 1, NE(256), VD_BIN_ADD, 3);      /* per feature */
    binary_case(2, NE(8400, 256), 2, NE(8400, 1), VD_BIN_MUL, 4);    /* per token */
    binary_case(4, NE(1, 3, 1, 9), 2, NE(1, 9), VD_BIN_ADD, 5);
    binary_case(1, NE(1), 1, NE(1), VD_BIN_MUL, 6);
    binary_case(3, NE(5, 1, 6), 3, NE(1, 1, 6), VD_BIN_ADD, 7);
    vd_rng r;
    vd_rng_seed(&r, 31);
    for (int i = 0; i < 24; i++) {
        int an = rnd(&r, 1, 4), bn = rnd(&r, 1, an);
        int64_t ane[4], bne[4];
        for (int d = 0; d < an; d++) ane[d] = rnd(&r, 1, 9);
        for (int d = 0; d < bn; d++) bne[d] = rnd(&r, 0, 2) ? ane[an - bn + d] : 1;
        binary_case(an, ane, bn, bne, (vd_binop)rnd(&r, 0, 1), 100 + (uint64_t)i);
    }
}

static void test_box_refine(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 41);
    vd_graph *g = vd_graph_create();
    vd_tensor *d = vd_opcase_rand(g, &r, 2, NE(301, 4), -3, 3);
    vd_tensor *ref = vd_opcase_rand(g, &r, 2, NE(301, 4), -0.1f, 1.1f);
    CHECK_FAST("box_refine 301x4", vd_op_box_refine(g, d, ref), 0, 0);
    vd_tensor *d2 = vd_opcase_data(g, VD_F32, 2, NE(1, 4), (const float[]){0, 0.69314718f, 0, 1});
    vd_tensor *r2 = vd_opcase_data(g, VD_F32, 2, NE(1, 4), (const float[]){0.3f, 0.5f, 2.0f, -1});
    /* sigmoid(1 + log(1e-5)) for the clamped 0 */
    check_ref("box_refine known", vd_op_box_refine(g, d2, r2),
              (const float[]){0.3f, 2.0f / 3.0f, 0.99999f, 2.71820794e-05f}, 1e-6, 1e-4);
    vd_graph_free(g);
}

/* ---- pool2d, upsample ---------------------------------------------------------------------- */

static void pool_case(int n, int c, int h, int w, const vd_pool_params *p, uint64_t seed) {
    char what[200];
    snprintf(what, sizeof what,
             "pool2d seed %llu [%d,%d,%d,%d] %s k%dx%d s%dx%d p%dx%d ceil %d incl_pad %d",
             (unsigned long long)seed, n, c, h, w, p->kind == VD_POOL_MAX ? "max" : "avg", p->k_h,
             p->k_w, p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->ceil_mode,
             p->count_include_pad);
    vd_rng r;
    vd_rng_seed(&r, seed);
    vd_graph *g = vd_graph_create();
    vd_tensor *x = vd_opcase_rand(g, &r, 4, NE(n, c, h, w), -1, 1);
    vd_tensor *y = vd_op_pool2d(g, x, p);
    if (p->kind == VD_POOL_MAX)
        CHECK_FAST(what, y, 0, 0);
    else
        CHECK_FAST(what, y, 1e-6, 1e-5);
    vd_graph_free(g);
}

static void test_pool2d(void **state) {
    (void)state;
    vd_pool_params mp = {VD_POOL_MAX, 3, 3, 2, 2, 1, 1, 0, 0};    /* ResNet stem */
    vd_pool_params m2 = {VD_POOL_MAX, 2, 2, 1, 1, 0, 0, 1, 0};    /* HGNetv2 stem */
    vd_pool_params ap = {VD_POOL_AVG, 2, 2, 2, 2, 0, 0, 1, 1};    /* ResNet-vd shortcut */
    pool_case(1, 5, 33, 31, &mp, 1);
    pool_case(2, 3, 16, 17, &m2, 2);
    pool_case(1, 7, 13, 11, &ap, 3);
    vd_rng r;
    vd_rng_seed(&r, 51);
    for (int i = 0; i < 24; i++) {
        vd_pool_params p = {(vd_pool_kind)rnd(&r, 0, 1), rnd(&r, 1, 4), 0, rnd(&r, 1, 3), 0, 0,
                            0, rnd(&r, 0, 1), rnd(&r, 0, 1)};
        p.k_w = rnd(&r, 0, 2) ? p.k_h : rnd(&r, 1, 4);
        p.stride_w = rnd(&r, 0, 2) ? p.stride_h : rnd(&r, 1, 3);
        p.pad_h = rnd(&r, 0, p.k_h / 2);
        p.pad_w = rnd(&r, 0, p.k_w / 2);
        int h = rnd(&r, VD_MAX(1, p.k_h - 2 * p.pad_h), 15);
        int w = rnd(&r, VD_MAX(1, p.k_w - 2 * p.pad_w), 15);
        pool_case(rnd(&r, 1, 2), rnd(&r, 1, 4), h, w, &p, 100 + (uint64_t)i);
    }
    /* PyTorch's outputs (float64, computed once) on 1..9, 1..16 and 1..25 */
    vd_graph *g = vd_graph_create();
    float v[25];
    for (int i = 0; i < 25; i++) v[i] = (float)(i + 1);
    vd_tensor *x3 = vd_opcase_data(g, VD_F32, 4, NE(1, 1, 3, 3), v);
    vd_tensor *x4 = vd_opcase_data(g, VD_F32, 4, NE(1, 1, 4, 4), v);
    vd_tensor *x5 = vd_opcase_data(g, VD_F32, 4, NE(1, 1, 5, 5), v);
    vd_pool_params a22 = {VD_POOL_AVG, 2, 2, 2, 2, 0, 0, 1, 1};
    check_ref("avg 2x2 s2 ceil 3x3", vd_op_pool2d(g, x3, &a22), (const float[]){3, 4.5f, 7.5f, 9},
              1e-6, 0);
    check_ref("max 3x3 s2 p1 3x3", vd_op_pool2d(g, x3, &mp), (const float[]){5, 6, 8, 9}, 0, 0);
    vd_pool_params a33 = {VD_POOL_AVG, 3, 3, 2, 2, 1, 1, 1, 1};
    check_ref("avg 3x3 s2 p1 ceil incl 4x4", vd_op_pool2d(g, x4, &a33),
              (const float[]){1.5555555555555556f, 3.3333333333333335f, 2.0f, 6.333333333333333f,
                              11.0f, 6.0f, 4.5f, 7.5f, 4.0f},
              1e-6, 1e-6);
    a33.count_include_pad = 0;
    check_ref("avg 3x3 s2 p1 ceil excl 4x4", vd_op_pool2d(g, x4, &a33),
              (const float[]){3.5f, 5, 6, 9.5f, 11, 12, 13.5f, 15, 16}, 1e-6, 1e-6);
    /* 5x5, 2x2 s2 p1 ceil: 3 outputs per dim (a 4th would start in the right padding) */
    vd_pool_params a2p = {VD_POOL_AVG, 2, 2, 2, 2, 1, 1, 1, 1};
    check_ref("avg 2x2 s2 p1 ceil incl 5x5", vd_op_pool2d(g, x5, &a2p),
              (const float[]){0.25f, 1.25f, 2.25f, 4.25f, 10, 12, 9.25f, 20, 22}, 1e-6, 1e-6);
    a2p.count_include_pad = 0;
    check_ref("avg 2x2 s2 p1 ceil excl 5x5", vd_op_pool2d(g, x5, &a2p),
              (const float[]){1, 2.5f, 4.5f, 8.5f, 10, 12, 18.5f, 20, 22}, 1e-6, 1e-6);
    vd_graph_free(g);
}

static void test_upsample(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 61);
    for (int i = 0; i < 12; i++) {
        vd_graph *g = vd_graph_create();
        int n = rnd(&r, 1, 2), c = rnd(&r, 1, 5), h = rnd(&r, 1, 9), w = rnd(&r, 1, 9);
        int f = rnd(&r, 1, 3);
        vd_tensor *x = vd_opcase_rand(g, &r, 4, NE(n, c, h, w), -1, 1);
        char what[96];
        snprintf(what, sizeof what, "upsample [%d,%d,%d,%d] x%d", n, c, h, w, f);
        CHECK_FAST(what, vd_op_upsample(g, x, f), 0, 0);
        vd_graph_free(g);
    }
    vd_graph *g = vd_graph_create();
    vd_tensor *x = vd_opcase_data(g, VD_F32, 4, NE(1, 1, 2, 2), (const float[]){1, 2, 3, 4});
    check_ref("upsample 2x2 x2", vd_op_upsample(g, x, 2),
              (const float[]){1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 0, 0);
    vd_graph_free(g);
}

/* ---- concat, slice, permute, gather ---------------------------------------------------------- */

static void test_concat(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 71);
    for (int i = 0; i < 24; i++) {
        vd_graph *g = vd_graph_create();
        int nd = rnd(&r, 1, 4), axis = rnd(&r, 0, nd - 1), ns = rnd(&r, 1, 4);
        vd_dtype type = rnd(&r, 0, 3) ? VD_F32 : VD_I32;
        int64_t ne[4];
        for (int d = 0; d < nd; d++) ne[d] = rnd(&r, 1, 7);
        vd_tensor *xs[4];
        for (int s = 0; s < ns; s++) {
            ne[axis] = rnd(&r, 1, 6);
            xs[s] = vd_opcase_rand(g, &r, nd, ne, -100, 100);
            if (type == VD_I32) xs[s]->type = VD_I32; /* any 4-byte pattern will do */
        }
        char what[96];
        snprintf(what, sizeof what, "concat seed %d ndim %d axis %d n %d %s", i, nd, axis, ns,
                 type == VD_I32 ? "i32" : "f32");
        vd_tensor *y = vd_op_concat(g, ns, xs, axis);
        assert_non_null(y);
        assert_int_equal(y->type, type);
        CHECK_FAST(what, y, 0, 0);
        vd_graph_free(g);
    }
    vd_graph *g = vd_graph_create();
    vd_tensor *a = vd_opcase_data(g, VD_I32, 2, NE(2, 2), (const int32_t[]){1, 2, 3, 4});
    vd_tensor *b = vd_opcase_data(g, VD_I32, 2, NE(2, 1), (const int32_t[]){5, 6});
    check_ref_i32("concat i32 axis 1", vd_op_concat(g, 2, (vd_tensor *[]){a, b}, 1),
                  (const int32_t[]){1, 2, 5, 3, 4, 6});
    vd_tensor *c = vd_opcase_data(g, VD_I32, 2, NE(1, 2), (const int32_t[]){7, 8});
    check_ref_i32("concat i32 axis 0", vd_op_concat(g, 2, (vd_tensor *[]){a, c}, 0),
                  (const int32_t[]){1, 2, 3, 4, 7, 8});
    vd_graph_free(g);
}

static void test_slice(void **state) {
    (void)state;
    vd_graph *g = vd_graph_create();
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)i;
    vd_tensor *x = vd_opcase_data(g, VD_F32, 3, NE(2, 3, 4), v);
    check_ref("slice axis 1 [1,3)", vd_op_slice(g, x, 1, 1, 3),
              (const float[]){4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23}, 0, 0);
    check_ref("slice axis 2 [3,4)", vd_op_slice(g, x, -1, 3, 4), (const float[]){3, 7, 11, 15, 19, 23},
              0, 0);
    check_ref("slice axis 0 [1,2)", vd_op_slice(g, x, 0, 1, 2), v + 12, 0, 0);
    CHECK_FAST("slice", vd_op_slice(g, x, 2, 1, 3), 0, 0);
    vd_graph_free(g);
}

static void test_permute(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 81);
    /* every permutation of ranks 2, 3 and 4 */
    for (int nd = 2; nd <= 4; nd++) {
        int perm[4] = {0, 1, 2, 3};
        int count = nd == 2 ? 2 : nd == 3 ? 6 : 24;
        for (int pi = 0; pi < count; pi++) {
            /* pi-th permutation in lexicographic order (factorial number system) */
            int avail[4] = {0, 1, 2, 3}, rem = pi, na = nd;
            int fact[5] = {1, 1, 2, 6, 24};
            for (int i = 0; i < nd; i++) {
                int f = fact[nd - 1 - i], sel = rem / f;
                rem %= f;
                perm[i] = avail[sel];
                for (int j = sel; j < na - 1; j++) avail[j] = avail[j + 1];
                na--;
            }
            int64_t ne[4];
            for (int d = 0; d < nd; d++) ne[d] = rnd(&r, 1, nd == 4 ? 9 : 40);
            vd_graph *g = vd_graph_create();
            vd_tensor *x = vd_opcase_rand(g, &r, nd, ne, -1, 1);
            vd_tensor *y = vd_op_permute(g, x, perm[0], perm[1], perm[2], perm[3]);
            char what[128];
            snprintf(what, sizeof what, "permute ndim %d perm %d%d%d%d", nd, perm[0], perm[1],
                     nd > 2 ? perm[2] : 0, nd > 3 ? perm[3] : 0);
            CHECK_FAST(what, y, 0, 0);
            /* independent expectation: dst coordinate i maps to src dim perm[i] */
            float *out = vd_opcase_run(vd_cpu_ref_ops, NULL, y);
            const float *xd = x->data;
            int64_t n = vd_nelements(y);
            for (int64_t j = 0; j < n; j++) {
                int64_t rem2 = j, coord[4] = {0}, si = 0;
                for (int d = nd - 1; d >= 0; d--) {
                    coord[perm[d]] = rem2 % y->ne[d];
                    rem2 /= y->ne[d];
                }
                for (int d = 0; d < nd; d++) si = si * ne[d] + coord[d];
                if (out[j] != xd[si]) {
                    fprintf(stderr, "FAIL %s: [%lld]\n", what, (long long)j);
                    fail();
                }
            }
            free(out);
            vd_graph_free(g);
        }
    }
    /* a large NCHW -> NHWC flatten */
    vd_graph *g = vd_graph_create();
    vd_tensor *x = vd_opcase_rand(g, &r, 4, NE(1, 67, 29, 31), -1, 1);
    CHECK_FAST("permute 0231 [1,67,29,31]", vd_op_permute(g, x, 0, 2, 3, 1), 0, 0);
    vd_graph_free(g);
}

static void test_gather(void **state) {
    (void)state;
    vd_graph *g = vd_graph_create();
    vd_tensor *x = vd_opcase_data(g, VD_F32, 2, NE(3, 2), (const float[]){1, 2, 3, 4, 5, 6});
    vd_tensor *idx = vd_opcase_data(g, VD_I32, 1, NE(5), (const int32_t[]){2, 0, 3, -1, 1});
    check_ref("gather invalid rows", vd_op_gather(g, x, idx, 1),
              (const float[]){5, 6, 1, 2, 0, 0, 0, 0, 3, 4}, 0, 0);
    vd_tensor *idx80 =
        vd_opcase_data(g, VD_I32, 1, NE(4), (const int32_t[]){239, 0, 80, 159});
    check_ref("gather div 80", vd_op_gather(g, x, idx80, 80), (const float[]){5, 6, 1, 2, 3, 4, 3, 4},
              0, 0);
    vd_tensor *xi = vd_opcase_data(g, VD_I32, 1, NE(3), (const int32_t[]){10, 20, 30});
    vd_tensor *gi = vd_op_gather(g, xi, idx, 1);
    assert_int_equal(gi->type, VD_I32);
    check_ref_i32("gather i32", gi, (const int32_t[]){30, 10, 0, 0, 20});
    vd_rng r;
    vd_rng_seed(&r, 91);
    vd_tensor *big = vd_opcase_rand(g, &r, 3, NE(8400, 4, 3), -1, 1);
    int32_t ids[300];
    for (int i = 0; i < 300; i++) ids[i] = (int32_t)(vd_rng_u32(&r) % 8400);
    vd_tensor *bi = vd_opcase_data(g, VD_I32, 1, NE(300), ids);
    CHECK_FAST("gather [8400,4,3] by 300", vd_op_gather(g, big, bi, 1), 0, 0);
    vd_graph_free(g);
}

/* ---- layer_norm, softmax, reduce_max ------------------------------------------------------- */

static void test_layer_norm(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 101);
    for (int i = 0; i < 20; i++) {
        int rows = rnd(&r, 1, 60), d = i < 2 ? 256 : rnd(&r, 1, 300);
        float offset = (float)rnd(&r, -1, 1) * 50.0f;
        vd_graph *g = vd_graph_create();
        vd_tensor *x = vd_opcase_rand(g, &r, 2, NE(rows, d), offset - 2, offset + 2);
        vd_tensor *gm = vd_opcase_rand(g, &r, 1, NE(d), 0.5f, 1.5f);
        vd_tensor *bt = vd_opcase_rand(g, &r, 1, NE(d), -1, 1);
        char what[96];
        snprintf(what, sizeof what, "layer_norm seed %d [%d, %d] offset %g", i, rows, d, offset);
        CHECK_FAST(what, vd_op_layer_norm(g, x, gm, bt, i % 2 ? 1e-6f : 1e-5f), 2e-5, 2e-5);
        vd_graph_free(g);
    }
    vd_graph *g = vd_graph_create();
    /* constant rows give beta; [1,2,3,4] with eps 0 gives (x - 2.5) / sqrt(1.25) */
    vd_tensor *x = vd_opcase_data(g, VD_F32, 2, NE(2, 4), (const float[]){7, 7, 7, 7, 1, 2, 3, 4});
    vd_tensor *gm = vd_opcase_data(g, VD_F32, 1, NE(4), (const float[]){1, 1, 1, 1});
    vd_tensor *bt = vd_opcase_data(g, VD_F32, 1, NE(4), (const float[]){0.5f, -1, 0, 2});
    vd_tensor *b0 = vd_opcase_data(g, VD_F32, 1, NE(4), (const float[]){0, 0, 0, 0});
    check_ref("layer_norm constant", vd_op_layer_norm(g, x, gm, bt, 1e-5f),
              (const float[]){0.5f, -1, 0, 2, -1.3416407865f + 0.5f, -0.4472135955f - 1,
                              0.4472135955f, 1.3416407865f + 2},
              1e-5, 1e-5);
    vd_tensor *x1 = vd_opcase_data(g, VD_F32, 1, NE(4), (const float[]){1, 2, 3, 4});
    check_ref("layer_norm eps 0", vd_op_layer_norm(g, x1, gm, b0, 0.0f),
              (const float[]){-1.3416407865f, -0.4472135955f, 0.4472135955f, 1.3416407865f},
              1e-6, 1e-6);
    CHECK_FAST("layer_norm constant", vd_op_layer_norm(g, x, gm, bt, 1e-5f), 2e-5, 2e-5);
    vd_graph_free(g);
}

static void test_softmax(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 111);
    for (int i = 0; i < 20; i++) {
        int rows = rnd(&r, 1, 50), d = rnd(&r, 1, 500);
        vd_graph *g = vd_graph_create();
        vd_tensor *x = vd_opcase_rand(g, &r, 3, NE(1, rows, d), -20, 20);
        char what[64];
        snprintf(what, sizeof what, "softmax seed %d [%d, %d]", i, rows, d);
        CHECK_FAST(what, vd_op_softmax(g, x), 1e-6, 1e-5);
        vd_graph_free(g);
    }
    vd_graph *g = vd_graph_create();
    vd_tensor *x = vd_opcase_data(g, VD_F32, 2, NE(2, 3),
                                  (const float[]){0, 0.69314718056f, 1.60943791243f, 1000, 1000, -INFINITY});
    check_ref("softmax known", vd_op_softmax(g, x),
              (const float[]){0.125f, 0.25f, 0.625f, 0.5f, 0.5f, 0}, 1e-6, 1e-6);
    CHECK_FAST("softmax known", vd_op_softmax(g, x), 1e-6, 1e-5);
    vd_graph_free(g);
}

static void test_reduce_max(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 121);
    for (int i = 0; i < 16; i++) {
        int rows = rnd(&r, 1, 400), d = rnd(&r, 1, 100);
        vd_graph *g = vd_graph_create();
        vd_tensor *x = vd_opcase_rand(g, &r, 2, NE(rows, d), -5, 5);
        char what[64];
        snprintf(what, sizeof what, "reduce_max [%d, %d]", rows, d);
        CHECK_FAST(what, vd_op_reduce_max(g, x), 0, 0);
        vd_graph_free(g);
    }
    vd_graph *g = vd_graph_create();
    vd_tensor *x = vd_opcase_data(
        g, VD_F32, 2, NE(4, 3),
        (const float[]){1, 3, 2, -INFINITY, -INFINITY, -INFINITY, 1, NAN, 5, FLT_MAX, INFINITY, 0});
    vd_tensor *y = vd_op_reduce_max(g, x);
    assert_int_equal(y->ndim, 1);
    const float e[4] = {3, -INFINITY, NAN, INFINITY};
    check_ref("reduce_max known", y, e, 0, 0);
    float *f = vd_opcase_run(vd_cpu_fast_ops, pools[1], y);
    assert_true(f[0] == 3 && f[1] == -INFINITY && isnan(f[2]) && f[3] == INFINITY);
    free(f);
    vd_graph_free(g);
}

/* ---- topk ---------------------------------------------------------------------------------- */

static void test_topk_known(void **state) {
    (void)state;
    vd_graph *g = vd_graph_create();
    const float v[10] = {1, 3, 3, -INFINITY, NAN, INFINITY, FLT_MAX, 3, 0, -0.0f};
    vd_tensor *x = vd_opcase_data(g, VD_F32, 2, NE(2, 5), v);
    /* inf, FLT_MAX, the three 3s by index, 1, 0 and -0 (equal, by index), -inf, NaN last */
    const int32_t e[10] = {5, 6, 1, 2, 7, 0, 8, 9, 3, 4};
    check_ref_i32("topk ties/inf/nan", vd_op_topk(g, x, 10), e);
    CHECK_FAST("topk ties/inf/nan", vd_op_topk(g, x, 10), 0, 0);
    check_ref_i32("topk k 3", vd_op_topk(g, x, 3), e);
    CHECK_FAST("topk k 1", vd_op_topk(g, x, 1), 0, 0);
    vd_graph_free(g);
}

static void test_topk_sweep(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 131);
    for (int i = 0; i < 22; i++) {
        int n = i == 0 ? 24000 : rnd(&r, 1, 3000);
        int k = i == 0 ? 300 : rnd(&r, 1, VD_MIN(n, 300));
        int levels = rnd(&r, 0, 2) ? 0 : rnd(&r, 1, 20); /* few distinct values: many ties */
        float *v = malloc((size_t)n * sizeof *v);
        for (int j = 0; j < n; j++) {
            v[j] = levels ? (float)rnd(&r, 0, levels) : vd_rng_uniform(&r, -10, 10);
            uint32_t s = vd_rng_u32(&r) % 200;
            if (s == 0) v[j] = INFINITY;
            if (s == 1) v[j] = -INFINITY;
            if (s == 2) v[j] = FLT_MAX;
            if (s == 3) v[j] = NAN;
            if (s == 4) v[j] = -0.0f;
        }
        vd_graph *g = vd_graph_create();
        vd_tensor *x = vd_opcase_data(g, VD_F32, 1, NE(n), v);
        char what[96];
        snprintf(what, sizeof what, "topk seed %d n %d k %d levels %d", i, n, k, levels);
        CHECK_FAST(what, vd_op_topk(g, x, k), 0, 0);
        vd_graph_free(g);
        free(v);
    }
}

/* ---- attention ----------------------------------------------------------------------------- */

static void attention_case(int b, int lq, int lk, int heads, int dh, uint64_t seed) {
    char what[128];
    snprintf(what, sizeof what, "attention seed %llu b %d lq %d lk %d heads %d dh %d",
             (unsigned long long)seed, b, lq, lk, heads, dh);
    vd_rng r;
    vd_rng_seed(&r, seed);
    vd_graph *g = vd_graph_create();
    int nd = b ? 3 : 2, d = heads * dh;
    int64_t qn[3] = {b, lq, d}, kn[3] = {b, lk, d};
    vd_tensor *q = vd_opcase_rand(g, &r, nd, b ? qn : qn + 1, -2, 2);
    vd_tensor *k = vd_opcase_rand(g, &r, nd, b ? kn : kn + 1, -2, 2);
    vd_tensor *v = vd_opcase_rand(g, &r, nd, b ? kn : kn + 1, -1, 1);
    CHECK_FAST(what, vd_op_attention(g, q, k, v, heads), 2e-5, 1e-4);
    vd_graph_free(g);
}

static void test_attention(void **state) {
    (void)state;
    attention_case(1, 400, 400, 8, 32, 1); /* AIFI at 640 */
    attention_case(0, 300, 300, 8, 32, 2); /* decoder self-attention, 2D */
    attention_case(2, 7, 13, 3, 5, 3);
    attention_case(1, 1, 1, 1, 1, 4);
    vd_rng r;
    vd_rng_seed(&r, 141);
    for (int i = 0; i < 20; i++)
        attention_case(rnd(&r, 0, 2), rnd(&r, 1, 70), rnd(&r, 1, 70), rnd(&r, 1, 4),
                       rnd(&r, 1, 12), 100 + (uint64_t)i);
    /* known: q.k / sqrt(2) = [ln 3, 0] gives weights [0.75, 0.25] */
    vd_graph *g = vd_graph_create();
    float a = 1.0986122886681098f * 1.4142135623730951f;
    vd_tensor *q = vd_opcase_data(g, VD_F32, 2, NE(2, 2), (const float[]){a, 0, 0, 0});
    vd_tensor *k = vd_opcase_data(g, VD_F32, 2, NE(2, 2), (const float[]){1, 0, 0, 0});
    vd_tensor *v = vd_opcase_data(g, VD_F32, 2, NE(2, 2), (const float[]){4, 8, 0, -4});
    check_ref("attention known", vd_op_attention(g, q, k, v, 1),
              (const float[]){3, 5, 2, 2}, 1e-6, 1e-6);
    vd_graph_free(g);
}

/* ---- msda ---------------------------------------------------------------------------------- */

typedef struct msda_case {
    int q, heads, dh, levels, ref_dim;
    int h[VD_MAX_LEVELS], w[VD_MAX_LEVELS], points[VD_MAX_LEVELS];
} msda_case;

static void msda_run(const msda_case *mc, uint64_t seed) {
    char what[256];
    int n = snprintf(what, sizeof what, "msda seed %llu q %d heads %d dh %d ref_dim %d levels",
                     (unsigned long long)seed, mc->q, mc->heads, mc->dh, mc->ref_dim);
    for (int l = 0; l < mc->levels; l++)
        n += snprintf(what + n, sizeof what - (size_t)n, " %dx%d:%d", mc->h[l], mc->w[l],
                      mc->points[l]);
    vd_rng r;
    vd_rng_seed(&r, seed);
    vd_msda_params p;
    memset(&p, 0, sizeof p);
    p.n_heads = mc->heads;
    p.n_levels = mc->levels;
    p.ref_dim = mc->ref_dim;
    p.offset_scale = 0.5f;
    int64_t s = 0;
    int lp = 0;
    for (int l = 0; l < mc->levels; l++) {
        p.h[l] = mc->h[l];
        p.w[l] = mc->w[l];
        p.points[l] = mc->points[l];
        s += (int64_t)mc->h[l] * mc->w[l];
        lp += mc->points[l];
    }
    vd_graph *g = vd_graph_create();
    int c = mc->heads * mc->dh;
    vd_tensor *value = vd_opcase_rand(g, &r, 2, NE(s, c), -1, 1);
    vd_tensor *off = vd_opcase_rand(g, &r, 2, NE(mc->q, mc->heads * lp * 2), -3, 3);
    vd_tensor *wts = vd_opcase_rand(g, &r, 2, NE(mc->q, mc->heads * lp), -3, 3);
    float *refd = malloc((size_t)mc->q * (size_t)mc->ref_dim * sizeof *refd);
    for (int i = 0; i < mc->q; i++)
        for (int j = 0; j < mc->ref_dim; j++)
            refd[i * mc->ref_dim + j] =
                j < 2 ? vd_rng_uniform(&r, -0.1f, 1.1f) : vd_rng_uniform(&r, 0.0f, 1.0f);
    vd_tensor *ref = vd_opcase_data(g, VD_F32, 2, NE(mc->q, mc->ref_dim), refd);
    free(refd);
    vd_tensor *ps = NULL;
    if (mc->ref_dim == 4) {
        float psd[64];
        int k = 0;
        for (int l = 0; l < mc->levels; l++)
            for (int i = 0; i < mc->points[l]; i++) psd[k++] = 1.0f / (float)mc->points[l];
        ps = vd_opcase_data(g, VD_F32, 1, NE(lp), psd);
    }
    vd_tensor *y = vd_op_msda(g, value, off, wts, ref, ps, &p);
    if (!y) fprintf(stderr, "%s: %s\n", what, vkdetr_last_error());
    CHECK_FAST(what, y, 2e-5, 1e-4);
    vd_graph_free(g);
}

static void test_msda(void **state) {
    (void)state;
    /* RT-DETR decoder at 640 (value 8400 tokens), fewer queries to stay quick */
    msda_case rt = {60, 8, 32, 3, 4, {80, 40, 20}, {80, 40, 20}, {4, 4, 4}};
    msda_run(&rt, 1);
    msda_case v1 = {33, 8, 32, 3, 2, {20, 10, 5}, {20, 10, 5}, {4, 4, 4}};
    msda_run(&v1, 2);
    msda_case odd = {7, 3, 5, 4, 4, {7, 4, 2, 1}, {9, 5, 3, 1}, {3, 1, 2, 4}};
    msda_run(&odd, 3);
    vd_rng r;
    vd_rng_seed(&r, 151);
    for (int i = 0; i < 20; i++) {
        msda_case mc;
        memset(&mc, 0, sizeof mc);
        mc.q = rnd(&r, 1, 25);
        mc.heads = rnd(&r, 1, 3);
        mc.dh = rnd(&r, 1, 9);
        mc.levels = rnd(&r, 1, 4);
        mc.ref_dim = rnd(&r, 0, 1) ? 4 : 2;
        for (int l = 0; l < mc.levels; l++) {
            mc.h[l] = rnd(&r, 1, 9);
            mc.w[l] = rnd(&r, 1, 9);
            mc.points[l] = rnd(&r, 1, 4);
        }
        msda_run(&mc, 100 + (uint64_t)i);
    }
}

/* value on a 2x3 map, 1 head, 2 channels: token s = y*3 + x holds (s, 10 s) */
static void test_msda_known(void **state) {
    (void)state;
    vd_graph *g = vd_graph_create();
    float val[12];
    for (int s = 0; s < 6; s++) {
        val[2 * s] = (float)s;
        val[2 * s + 1] = 10.0f * s;
    }
    vd_tensor *value = vd_opcase_data(g, VD_F32, 2, NE(6, 2), val);
    vd_msda_params p = {1, 1, {2}, {3}, {2}, 2, 0.5f};
    /* two points per query; logits [0, ln 3] give weights [0.25, 0.75] */
    const float lg[8] = {0, 1.0986122886681098f, 0, 1.0986122886681098f,
                         0, 1.0986122886681098f, 0, 1.0986122886681098f};
    vd_tensor *w = vd_opcase_data(g, VD_F32, 2, NE(4, 2), lg);
    /* every query's reference (0.5/3, 0.25) is the centre of pixel (x=0, y=0) */
    const float refd[8] = {0.5f / 3.0f, 0.25f, 0.5f / 3.0f, 0.25f, 0.5f / 3.0f, 0.25f,
                           0.5f / 3.0f, 0.25f};
    vd_tensor *ref = vd_opcase_data(g, VD_F32, 2, NE(4, 2), refd);
    /* offsets are in pixels of the level (ref_dim 2: loc = ref + off / (W, H)):
     *  q0: point 0 at pixel (0,0) centre, point 1 at (x=2, y=1) centre  -> .25*0 + .75*5
     *  q1: point 0 at (x=4, y=0): outside (zero); point 1 halfway (0,0)-(0,1) -> .75*0.5
     *  q2: point 0 at x = -0.5 (left edge), y = 1: half of token 3; point 1 above the map
     *  q3: point 0 at x = 2.5 (right edge), y = 1: half of token 5; point 1 at a corner
     *      x = -0.5, y = -0.5: a quarter of token 0 */
    const float offd[16] = {0, 0, 2, 1, 4, 0, 0.5f, 0, -0.5f, 1, 0, -1.5f, 2.5f, 1, -0.5f, -0.5f};
    vd_tensor *off = vd_opcase_data(g, VD_F32, 2, NE(4, 4), offd);
    vd_tensor *y = vd_op_msda(g, value, off, w, ref, NULL, &p);
    const float e[8] = {3.75f, 37.5f, 0.375f, 3.75f, 0.375f, 3.75f, 0.625f, 6.25f};
    check_ref("msda known ref_dim 2", y, e, 1e-6, 1e-6);
    CHECK_FAST("msda known ref_dim 2", y, 1e-6, 1e-6);
    /* ref_dim 4: loc = (0.5, 0.5) + (1, -1) * 0.5 * (0.4, 0.2) * 0.5 = (0.6, 0.45), pixel
     * (1.3, 0.4): inside, and value is linear in (x, y), so the sample is 0.4*3 + 1.3 */
    vd_msda_params p4 = {1, 1, {2}, {3}, {1}, 4, 0.5f};
    vd_tensor *ref4 = vd_opcase_data(g, VD_F32, 2, NE(1, 4), (const float[]){0.5f, 0.5f, 0.4f, 0.2f});
    vd_tensor *off4 = vd_opcase_data(g, VD_F32, 2, NE(1, 2), (const float[]){1, -1});
    vd_tensor *w4 = vd_opcase_data(g, VD_F32, 2, NE(1, 1), (const float[]){7});
    vd_tensor *ps4 = vd_opcase_data(g, VD_F32, 1, NE(1), (const float[]){0.5f});
    vd_tensor *y4 = vd_op_msda(g, value, off4, w4, ref4, ps4, &p4);
    check_ref("msda known ref_dim 4", y4, (const float[]){2.5f, 25.0f}, 1e-5, 1e-5);
    CHECK_FAST("msda known ref_dim 4", y4, 1e-6, 1e-6);
    vd_graph_free(g);
}

/* ---- a small graph through the CPU backend ------------------------------------------------
 * The executor plans one scratch buffer for all nodes from the kernels' scratch functions;
 * this runs conv (im2col scratch), attention, msda and top-k (scratch) in one graph with the
 * fast and the reference tables and compares the outputs. */

static void run_backend(vd_graph *g, int reference, const float *input, float *out_f,
                        int32_t *out_i) {
    vd_backend *be = vd_cpu_backend_create(reference);
    assert_non_null(be);
    vd_exec *ex = NULL;
    assert_int_equal(be->iface->exec_create(be, g, 2, &ex), VKDETR_OK);
    assert_int_equal(be->iface->write(ex, vd_graph_find(g, "x"), input), VKDETR_OK);
    assert_int_equal(be->iface->run(ex, NULL), VKDETR_OK);
    assert_int_equal(be->iface->read(ex, vd_graph_find(g, "rows"), out_f), VKDETR_OK);
    assert_int_equal(be->iface->read(ex, vd_graph_find(g, "idx"), out_i), VKDETR_OK);
    be->iface->exec_free(ex);
    be->iface->free(be);
}

static void test_backend_graph(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 161);
    vd_graph *g = vd_graph_create();
    vd_tensor *x = vd_graph_input(g, "x", VD_F32, 4, NE(1, 8, 12, 10));
    vd_tensor *w = vd_opcase_rand(g, &r, 4, NE(16, 8, 3, 3), -0.2f, 0.2f);
    vd_tensor *b = vd_opcase_rand(g, &r, 1, NE(16), -0.1f, 0.1f);
    vd_conv2d_params cp = {1, 1, 1, 1, 1, 1, 1, VD_ACT_SILU};
    vd_tensor *c = vd_op_conv2d(g, x, w, b, NULL, &cp);                       // (1, 16, 12, 10)
    vd_tensor *t = vd_op_permute(g, vd_op_reshape(g, c, 2, NE(16, 120)), 1, 0, 0, 0); // (120, 16)
    vd_tensor *a = vd_op_attention(g, t, t, t, 4);                            // (120, 16)
    vd_tensor *gm = vd_opcase_rand(g, &r, 1, NE(16), 0.5f, 1.5f);
    vd_tensor *bt = vd_opcase_rand(g, &r, 1, NE(16), -0.5f, 0.5f);
    vd_tensor *n = vd_op_layer_norm(g, vd_op_add(g, a, t), gm, bt, 1e-5f);
    vd_msda_params mp = {2, 2, {12, 6}, {10, 5}, {2, 2}, 2, 0.5f};
    vd_tensor *value = vd_op_concat(g, 2, (vd_tensor *[]){t, vd_op_slice(g, n, 0, 0, 30)}, 0);
    vd_tensor *off = vd_op_linear(g, n, vd_opcase_rand(g, &r, 2, NE(16, 16), -0.3f, 0.3f),
                                  NULL, NULL, VD_ACT_NONE);                   // (120, 2*4*2)
    vd_tensor *lg = vd_op_linear(g, n, vd_opcase_rand(g, &r, 2, NE(8, 16), -0.3f, 0.3f), NULL,
                                 NULL, VD_ACT_NONE);                          // (120, 2*4)
    vd_tensor *ref = vd_op_unary(g, vd_op_slice(g, n, 1, 0, 2), VD_ACT_SIGMOID); // (120, 2)
    vd_tensor *m = vd_op_msda(g, value, off, lg, ref, NULL, &mp);             // (120, 16)
    vd_tensor *idx = vd_graph_output(g, vd_op_topk(g, vd_op_reduce_max(g, m), 10), "idx");
    vd_graph_output(g, vd_op_gather(g, m, idx, 1), "rows");
    assert_int_equal(g->status, VKDETR_OK);
    float input[8 * 12 * 10], rows_ref[10 * 16], rows_fast[10 * 16];
    int32_t idx_ref[10], idx_fast[10];
    vd_rng_fill(&r, input, VD_ARRAY_LEN(input), -1, 1);
    run_backend(g, 1, input, rows_ref, idx_ref);
    run_backend(g, 0, input, rows_fast, idx_fast);
    assert_true(vd_opcase_check_i32("backend graph top-k", idx_fast, idx_ref, 10));
    assert_true(vd_check_close("backend graph rows", rows_fast, rows_ref, 160, 1e-4, 1e-4));
    vd_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_known),
        cmocka_unit_test(test_conv2d_shapes),
        cmocka_unit_test(test_conv2d_sweep),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_expf),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_box_refine),
        cmocka_unit_test(test_pool2d),
        cmocka_unit_test(test_upsample),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_permute),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_reduce_max),
        cmocka_unit_test(test_topk_known),
        cmocka_unit_test(test_topk_sweep),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_msda),
        cmocka_unit_test(test_msda_known),
        cmocka_unit_test(test_backend_graph),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
