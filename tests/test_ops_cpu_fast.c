/* The packed-GEMM kernels (fast_mm.c, fast_conv.c) and Winograd F(4x4, 3x3)
 * (fast_winograd.c) against the reference kernels: the GEMM on ragged sizes with every
 * epilogue, every conv2d path (Winograd, pointwise, im2col, grouped fallback) on odd shapes,
 * linear with prepared weights, each on 1 and 2 threads, with vd_mm's AVX-512 kernel (native,
 * or on SIMDe where the CPU lacks AVX-512; it must also equal AVX2 bit for bit), the AVX2
 * kernels and the plain C ones (Winograd on 2 threads also with its blocks shared and not);
 * pool2d's fast paths; MSDA absorbing its value projection (on its own and in the executor,
 * which then skips the projection unless something else reads it); and the CPU backend's
 * weight cache shared by two sessions.
 *
 * Tolerances (|fast - ref| <= atol + rtol |ref|), inputs in [-1, 1], weights ~ 1/sqrt(K):
 *   GEMM, im2col / pointwise conv, linear   1e-4 abs, 1e-4 rel   f32 FMA sums vs double
 *   Winograd F(4x4, 3x3)                    5e-5 abs, 5e-5 rel   the transforms scale
 *     values by up to ~100 before the output transform cancels them; observed max error
 *     4e-6 .. 6e-6 (outputs ~1); a 0.05% error in one transform coefficient fails it
 *   backend sessions (Winograd conv, then linear)  3e-4 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/cpu/fast_mm.h"
#include "core/cpu/kernels.h"
#include "support/opcase.h"

#ifdef VD_TEST_AVX512_EMULATED /* fast_*_avx512.c on SIMDe (tests/CMakeLists.txt) */
vd_mm512_kernel vd_mm512_kern_emulated;
vd_wg512_input_fn vd_wg512_input_emulated;
vd_wg512_output_fn vd_wg512_output_emulated;

/* the emulated kernels, counting their calls: a test of the AVX-512 path checks that it ran
 * (the AVX2 path would give the same bits) */
static long mm512_calls, wg512_calls;

static void mm512_counted(int rows, int two, const float *ap, const float *b, int64_t kc,
                          float *c, int64_t ldc, int load_c, const vd_mm_tile_epi *e) {
    __atomic_add_fetch(&mm512_calls, 1, __ATOMIC_RELAXED);
    vd_mm512_kern_emulated(rows, two, ap, b, kc, c, ldc, load_c, e);
}

static void wg512_input_counted(int a, const float *xn, int64_t plane, const vd_wg_rows *rows,
                                int64_t groups, int64_t c0, int64_t c1, int64_t c_all,
                                float *edge, float *v, int64_t vstride) {
    __atomic_add_fetch(&wg512_calls, 1, __ATOMIC_RELAXED);
    vd_wg512_input_emulated(a, xn, plane, rows, groups, c0, c1, c_all, edge, v, vstride);
}

static void wg512_output_counted(int a, const float *m, int64_t tb, int64_t mstride,
                                 const vd_wg_out *go, int64_t groups, int64_t kn,
                                 const float *bias, float *y, const float *res, int64_t oplane,
                                 int64_t ow, vd_act act) {
    __atomic_add_fetch(&wg512_calls, 1, __ATOMIC_RELAXED);
    vd_wg512_output_emulated(a, m, tb, mstride, go, groups, kn, bias, y, res, oplane, ow, act);
}

static const vd_avx512_kernels emulated = {mm512_counted, wg512_input_counted,
                                           wg512_output_counted};
#define EXPECT_CALLS(counter, before) assert_true((counter) > (before))
#else
static long mm512_calls, wg512_calls; /* native kernels: not counted */
#define EXPECT_CALLS(counter, before) ((void)(before))
#endif

static vd_pool *pools[2]; /* 1 and 2 threads */
static int top_isa;       /* 2 when the AVX-512 kernels can run here (native or emulated) */

static int setup(void **state) {
    (void)state;
    pools[0] = vd_pool_create(1);
    pools[1] = vd_pool_create(2);
    const char *how = "native";
    if (!vd_cpu_has_avx512()) {
        how = "not run (no AVX-512, and no SIMDe or no AVX2 + FMA)";
#ifdef VD_TEST_AVX512_EMULATED
        if (vd_cpu_has_avx2()) {
            vd_cpu_avx512_emulate(&emulated);
            how = "emulated with SIMDe on AVX2 + FMA";
        }
#endif
    }
    vd_cpu_force_isa(2);
    top_isa = vd_cpu_has_avx512() ? 2 : vd_cpu_has_avx2();
    vd_cpu_force_isa(-1);
    fprintf(stderr, "AVX-512 kernels (vd_mm, Winograd transforms): %s\n", how);
    return pools[0] && pools[1] ? 0 : -1;
}

/* 1 when the AVX-512 kernels run here; else says that `test` is skipped (which fails where
 * they were built to run: forcing level 2 must then reach them) */
static int avx512_here(const char *test) {
    if (top_isa >= 2) return 1;
#ifdef VD_TEST_AVX512_EMULATED
    assert_false(vd_cpu_has_avx2());
#endif
    fprintf(stderr, "%s: no AVX-512 kernels here, skipped\n", test);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    vd_cpu_force_isa(-1);
    vd_cpu_avx512_emulate(NULL);
    vd_pool_free(pools[0]);
    vd_pool_free(pools[1]);
    return 0;
}

#define NE(...) ((const int64_t[]){__VA_ARGS__})

static int rnd(vd_rng *r, int lo, int hi) { return lo + (int)(vd_rng_u32(r) % (uint32_t)(hi - lo + 1)); }

/* ---- vd_mm ---------------------------------------------------------------------------------- */

static int check_mm(vd_rng *r, int m, int n, int k, int variant) {
    int64_t lda = k + rnd(r, 0, 3), ldc = n + rnd(r, 0, 3);
    float *a = malloc(sizeof(float) * (size_t)(m * lda + 1));
    float *b = malloc(sizeof(float) * (size_t)(k * n + 1));
    float *bias_r = malloc(sizeof(float) * (size_t)(m + 1)), *bias_c = malloc(sizeof(float) * (size_t)(n + 1));
    float *res = malloc(sizeof(float) * (size_t)(m * ldc + 1));
    float *c = malloc(sizeof(float) * (size_t)(m * ldc + 1)), *e = malloc(sizeof(float) * (size_t)(m * n + 1));
    float *got = malloc(sizeof(float) * (size_t)(m * n + 1));
    float *bp = vd_aligned_alloc(vd_mm_packed_floats(k, n) * sizeof(float) + 64);
    vd_rng_fill(r, a, (size_t)(m * lda), -1, 1);
    vd_rng_fill(r, b, (size_t)(k * n), -1, 1);
    vd_rng_fill(r, bias_r, (size_t)m, -1, 1);
    vd_rng_fill(r, bias_c, (size_t)n, -1, 1);
    vd_rng_fill(r, res, (size_t)(m * ldc), -1, 1);
    /* variant: 0 plain, 1 bias per row + relu, 2 bias per column + residual + silu,
     * 3 residual + gelu, 4 B given transposed; 5, 6: B unpacked (vd_mm_inplace), given as it
     * is (with bias per row) or transposed (with residual + relu) */
    float *bt = malloc(sizeof(float) * (size_t)(k * n + 1));
    for (int kk = 0; kk < k; kk++)
        for (int j = 0; j < n; j++) bt[j * k + kk] = b[kk * n + j];
    vd_mm_epilogue ep = {NULL, NULL, NULL, ldc, VD_ACT_NONE};
    if (variant == 1) ep.bias_row = bias_r, ep.act = VD_ACT_RELU;
    if (variant == 2) ep.bias_col = bias_c, ep.res = res, ep.act = VD_ACT_SILU;
    if (variant == 3) ep.res = res, ep.act = VD_ACT_GELU;
    if (variant == 5) ep.bias_row = bias_r;
    if (variant == 6) ep.res = res, ep.act = VD_ACT_RELU;
    if (variant == 4)
        vd_mm_pack_b(bt, k, 1, k, n, bp);
    else
        vd_mm_pack_b(b, n, 0, k, n, bp);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int kk = 0; kk < k; kk++) s += (double)a[i * lda + kk] * b[kk * n + j];
            if (ep.bias_row) s += ep.bias_row[i];
            if (ep.bias_col) s += ep.bias_col[j];
            if (ep.res) s += ep.res[i * ldc + j];
            e[i * n + j] = vd_act_apply(ep.act, (float)s);
        }
    for (int i = 0; i < m * ldc; i++) c[i] = NAN;
    if (variant == 5)
        vd_mm_inplace(a, lda, b, n, 0, k, c, ldc, m, n, &ep);
    else if (variant == 6)
        vd_mm_inplace(a, lda, bt, k, 1, k, c, ldc, m, n, &ep);
    else
        vd_mm(a, lda, bp, k, c, ldc, m, n, &ep);
    free(bt);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) got[i * n + j] = c[i * ldc + j];
    int ok = 1;
    for (int i = 0; i < m && ok; i++) /* the padding columns of c stay untouched */
        for (int j = n; j < ldc; j++) ok &= isnan(c[i * ldc + j]);
    char what[96];
    snprintf(what, sizeof what, "vd_mm m %d n %d k %d variant %d isa %d%s", m, n, k, variant,
             vd_cpu_has_avx2() + vd_cpu_has_avx512(), ok ? "" : " (wrote past n)");
    ok = ok && vd_check_close(what, got, e, (size_t)(m * n), 1e-4, 1e-4);
    if (!ok) fprintf(stderr, "FAIL %s\n", what);
    free(a), free(b), free(bias_r), free(bias_c), free(res), free(c), free(e), free(got);
    vd_aligned_free(bp);
    return ok;
}

static void test_mm(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 901);
    const int ms[] = {1, 5, 6, 7, 13, 16, 17, 121, 250, 300}, ns[] = {1, 7, 8, 9, 16, 17, 40},
              ks[] = {1, 3, 256, 257, 600};
    for (int isa = 0; isa <= top_isa; isa++) {
        vd_cpu_force_isa(isa);
        for (size_t i = 0; i < VD_ARRAY_LEN(ms); i++)
            for (size_t j = 0; j < VD_ARRAY_LEN(ns); j++)
                for (size_t l = 0; l < VD_ARRAY_LEN(ks); l++)
                    assert_true(check_mm(&r, ms[i], ns[j], ks[l], (int)((i + j + l) % 7)));
    }
    vd_cpu_force_isa(-1);
}

/* The AVX-512 kernel gives exactly AVX2's results: the same FMA chains, the same epilogue.
 * Random shapes (row blocks of 128 and more, depth blocks of 256), B packed, in place or
 * transposed, A packed as it goes or beforehand (vd_mm_prepacked, as Winograd's U), every
 * kind of epilogue; the output compared bit for bit, padding included. */
static void test_mm512_identical(void **state) {
    (void)state;
    if (!avx512_here("test_mm512_identical")) return;
    vd_rng r;
    vd_rng_seed(&r, 908);
    const vd_act acts[] = {VD_ACT_NONE, VD_ACT_RELU, VD_ACT_SILU, VD_ACT_SIGMOID, VD_ACT_GELU};
    for (int it = 0; it < 80; it++) {
        int m = rnd(&r, 1, 300), n = rnd(&r, 1, 70), k = rnd(&r, 0, 3) ? rnd(&r, 1, 700) : 16;
        int how = rnd(&r, 0, 3); /* B packed, in place, transposed in place; A prepacked */
        int64_t lda = k + rnd(&r, 0, 5), ldb = (how == 2 ? k : n) + rnd(&r, 0, 5);
        int64_t ldc = n + rnd(&r, 0, 5);
        float *a = malloc(sizeof(float) * (size_t)(m * lda));
        float *b = malloc(sizeof(float) * (size_t)((how == 2 ? n : k) * ldb));
        float *bp = vd_aligned_alloc(vd_mm_packed_floats(k, n) * sizeof(float));
        float *pa = vd_aligned_alloc(vd_mm_packed_a_floats(m, k) * sizeof(float));
        float *bias_r = malloc(sizeof(float) * (size_t)m), *bias_c = malloc(sizeof(float) * (size_t)n);
        float *res = malloc(sizeof(float) * (size_t)(m * ldc));
        float *c[2] = {malloc(sizeof(float) * (size_t)(m * ldc)), malloc(sizeof(float) * (size_t)(m * ldc))};
        vd_rng_fill(&r, a, (size_t)(m * lda), -1, 1);
        vd_rng_fill(&r, b, (size_t)((how == 2 ? n : k) * ldb), -1, 1);
        vd_rng_fill(&r, bias_r, (size_t)m, -1, 1);
        vd_rng_fill(&r, bias_c, (size_t)n, -1, 1);
        vd_rng_fill(&r, res, (size_t)(m * ldc), -1, 1);
        if (how == 0 || how == 3) vd_mm_pack_b(b, ldb, 0, k, n, bp);
        if (how == 3) vd_mm_pack_a(a, lda, m, k, pa);
        vd_mm_epilogue ep = {rnd(&r, 0, 1) ? bias_r : NULL, rnd(&r, 0, 1) ? bias_c : NULL,
                             rnd(&r, 0, 1) ? res : NULL, ldc, acts[rnd(&r, 0, 4)]};
        long before = mm512_calls;
        for (int v = 0; v < 2; v++) {
            vd_cpu_force_isa(v + 1);
            for (int64_t i = 0; i < m * ldc; i++) c[v][i] = 12345.0f;
            if (how == 3 && v == 1) vd_mm_prepacked(pa, bp, k, c[v], ldc, m, n, &ep);
            else if (how == 0 || how == 3) vd_mm(a, lda, bp, k, c[v], ldc, m, n, &ep);
            else vd_mm_inplace(a, lda, b, ldb, how == 2, k, c[v], ldc, m, n, &ep);
        }
        vd_cpu_force_isa(-1);
        EXPECT_CALLS(mm512_calls, before); /* level 2 ran the AVX-512 kernel */
        if (memcmp(c[0], c[1], sizeof(float) * (size_t)(m * ldc)) != 0)
            fail_msg("AVX-512 and AVX2 differ: m %d n %d k %d B %s act %s", m, n, k,
                     how == 0 ? "packed" : how == 1 ? "in place" : how == 2 ? "transposed" : "packed, A prepacked",
                     vd_act_name(ep.act));
        free(a), free(b), free(bias_r), free(bias_c), free(res), free(c[0]), free(c[1]);
        vd_aligned_free(bp);
        vd_aligned_free(pa);
    }
}

/* ---- conv2d ----------------------------------------------------------------------------------- */

typedef struct conv_case {
    int n, c, o, h, w, k, stride, pad, groups;
    vd_act act;
    int bias, res;
} conv_case;

static vd_tensor *conv_node(vd_graph *g, vd_rng *r, const conv_case *cc, int weight_flag) {
    float ws = 1.0f / sqrtf((float)(cc->c / cc->groups * cc->k * cc->k));
    vd_tensor *x = vd_opcase_rand(g, r, 4, NE(cc->n, cc->c, cc->h, cc->w), -1, 1);
    vd_tensor *w = vd_opcase_rand(g, r, 4, NE(cc->o, cc->c / cc->groups, cc->k, cc->k), -ws, ws);
    if (w && weight_flag) w->flags = VD_TENSOR_WEIGHT;
    vd_tensor *b = cc->bias ? vd_opcase_rand(g, r, 1, NE(cc->o), -0.5f, 0.5f) : NULL;
    int oh = vd_conv_out_size(cc->h, cc->k, cc->stride, cc->pad, cc->pad);
    int ow = vd_conv_out_size(cc->w, cc->k, cc->stride, cc->pad, cc->pad);
    vd_tensor *res = cc->res ? vd_opcase_rand(g, r, 4, NE(cc->n, cc->o, oh, ow), -1, 1) : NULL;
    vd_conv2d_params p = {cc->stride, cc->stride, cc->pad, cc->pad, cc->pad, cc->pad, cc->groups,
                          cc->act};
    return vd_op_conv2d(g, x, w, b, res, &p);
}

static void check_conv(vd_rng *r, const conv_case *cc) {
    vd_graph *g = vd_graph_create();
    vd_tensor *y = conv_node(g, r, cc, 0);
    int wino = y ? vd_cpu_winograd_variant(y) : 0;
    double tol = wino ? 5e-5 : 1e-4;
    if (wino) { /* Winograd runs on its prepared U (without it: im2col) */
        int variant = 0;
        assert_ptr_equal(vd_cpu_packed_conv2d_prep_key(y, &variant), y->src[1]);
        assert_int_equal(variant, wino | (vd_cpu_has_avx512() ? VD_CPU_WINOGRAD_PACKED_U : 0));
    }
    /* the lines prefetched one channel ahead are those the transforms touch */
    if (wino) assert_int_equal(vd_cpu_winograd_lines_ok(y), 1);
    char what[160];
    snprintf(what, sizeof what, "conv2d n%d c%d o%d %dx%d k%d s%d p%d g%d act %s bias %d res %d%s isa %d",
             cc->n, cc->c, cc->o, cc->h, cc->w, cc->k, cc->stride, cc->pad, cc->groups,
             vd_act_name(cc->act), cc->bias, cc->res,
             wino == 4 ? " (winograd F4)" : wino == 2 ? " (winograd F2)" : "",
             vd_cpu_has_avx2() + vd_cpu_has_avx512());
    assert_true(vd_opcase_check(what, y, pools, 2, tol, tol));
    vd_graph_free(g);
}

static const conv_case conv_cases[] = {
    /* Winograd: map sizes not multiples of 4, channels not multiples of 8, every epilogue */
    {1, 13, 21, 37, 35, 3, 1, 1, 1, VD_ACT_RELU, 1, 1},
    {1, 32, 16, 33, 47, 3, 1, 1, 1, VD_ACT_SILU, 1, 0},
    {2, 8, 24, 40, 40, 3, 1, 1, 1, VD_ACT_NONE, 0, 1},
    {1, 300, 17, 34, 30, 3, 1, 1, 1, VD_ACT_GELU, 1, 0},
    {1, 5, 9, 64, 31, 3, 1, 0, 1, VD_ACT_RELU, 1, 0},   /* no padding */
    {1, 7, 6, 29, 41, 3, 1, 2, 1, VD_ACT_NONE, 1, 1},   /* padding 2 */
    {1, 24, 40, 12, 13, 3, 1, 1, 1, VD_ACT_RELU, 1, 1}, /* few tiles: im2col */
    /* F(2x2, 3x3): maps of 16x16 .. 31x31 */
    {1, 45, 33, 20, 20, 3, 1, 1, 1, VD_ACT_RELU, 1, 1},
    {1, 9, 17, 17, 19, 3, 1, 1, 1, VD_ACT_SILU, 1, 0},
    {1, 300, 40, 22, 21, 3, 1, 1, 1, VD_ACT_GELU, 0, 0},
    {2, 16, 8, 29, 30, 3, 1, 0, 1, VD_ACT_NONE, 1, 1},
    /* pointwise */
    {1, 37, 29, 17, 23, 1, 1, 0, 1, VD_ACT_SILU, 1, 1},
    {2, 600, 40, 9, 11, 1, 1, 0, 1, VD_ACT_NONE, 1, 0},
    /* im2col: strides, the stem, padded 1x1 */
    {1, 3, 32, 67, 61, 3, 2, 1, 1, VD_ACT_RELU, 1, 0},
    {1, 19, 26, 40, 38, 3, 2, 1, 1, VD_ACT_SILU, 1, 1},
    {1, 70, 33, 21, 20, 3, 2, 1, 1, VD_ACT_NONE, 0, 0},
    {1, 11, 13, 15, 14, 1, 2, 0, 1, VD_ACT_NONE, 1, 0},
    {1, 10, 12, 9, 10, 5, 1, 2, 1, VD_ACT_RELU, 1, 1},
    /* grouped and depthwise: the sgemm / direct kernels */
    {1, 16, 16, 19, 17, 3, 1, 1, 16, VD_ACT_RELU, 1, 1},
    {1, 12, 18, 13, 11, 3, 2, 1, 3, VD_ACT_NONE, 1, 0},
};

static void test_conv_paths(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 902);
    for (int isa = top_isa; isa >= 0; isa--) {
        vd_cpu_force_isa(isa);
        for (size_t i = 0; i < VD_ARRAY_LEN(conv_cases); i++) check_conv(&r, &conv_cases[i]);
    }
    vd_cpu_force_isa(-1);
    /* Winograd on 2 threads both ways: blocks shared by the threads (input channels, then
     * the GEMMs one xi a task, then output channels, in separate passes), and a block each */
    for (int isa = top_isa; isa >= 1; isa--)
        for (int shared = 0; shared < 2; shared++) {
            vd_cpu_force_isa(isa);
            vd_cpu_force_winograd_shared(shared);
            for (size_t i = 0; i < VD_ARRAY_LEN(conv_cases); i++)
                if (conv_cases[i].k == 3 && conv_cases[i].stride == 1)
                    check_conv(&r, &conv_cases[i]);
        }
    vd_cpu_force_isa(-1);
    vd_cpu_force_winograd_shared(-1);
}

static void test_conv_random(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 903);
    for (int i = 0; i < 24; i++) {
        conv_case cc = {1, rnd(&r, 1, 40), rnd(&r, 1, 40), rnd(&r, 1, 45), rnd(&r, 1, 45),
                        rnd(&r, 0, 1) ? 3 : 1, rnd(&r, 1, 2), 0, 1,
                        (vd_act)rnd(&r, 0, 2), rnd(&r, 0, 1), rnd(&r, 0, 1)};
        cc.pad = cc.k == 3 ? rnd(&r, 0, 1) : 0;
        if (cc.h + 2 * cc.pad < cc.k) cc.h = cc.k;
        if (cc.w + 2 * cc.pad < cc.k) cc.w = cc.k;
        check_conv(&r, &cc);
    }
}

/* Winograd with the AVX-512 transforms (16 tiles a vector, pairs of groups of 8) gives the
 * same bits as with the AVX2 ones: F4 and F2, odd and even group counts per block (a half
 * pair at the end), maps whose edges cut tiles, padding 0 to 2, every epilogue, a block per
 * thread and blocks shared by the threads. */
static void test_winograd512_identical(void **state) {
    (void)state;
    if (!avx512_here("test_winograd512_identical")) return;
    vd_rng r;
    vd_rng_seed(&r, 909);
    const vd_act acts[] = {VD_ACT_NONE, VD_ACT_RELU, VD_ACT_SILU, VD_ACT_GELU};
    int variants[5] = {0};
    for (int it = 0; it < 40; it++) {
        conv_case cc = {rnd(&r, 1, 2), rnd(&r, 1, 40), rnd(&r, 1, 40), rnd(&r, 8, 70),
                        rnd(&r, 8, 70), 3, 1, rnd(&r, 0, 2), 1, acts[rnd(&r, 0, 3)],
                        rnd(&r, 0, 1), 0};
        cc.res = cc.act == VD_ACT_NONE || cc.act == VD_ACT_RELU ? rnd(&r, 0, 1) : 0;
        vd_graph *g = vd_graph_create();
        vd_tensor *y = conv_node(g, &r, &cc, 0);
        int wino = vd_cpu_winograd_variant(y);
        variants[wino]++;
        if (!wino) { /* too few tiles: im2col */
            vd_graph_free(g);
            continue;
        }
        float *out[2][2] = {{NULL}};
        for (int shared = 0; shared < 2; shared++) {
            vd_cpu_force_winograd_shared(shared);
            long before = wg512_calls;
            for (int v = 0; v < 2; v++) {
                vd_cpu_force_isa(v + 1);
                out[shared][v] = vd_opcase_run(vd_cpu_fast_ops, pools[it % 2 || shared], y);
                assert_non_null(out[shared][v]);
            }
            EXPECT_CALLS(wg512_calls, before); /* level 2 ran the AVX-512 transforms */
            if (memcmp(out[shared][0], out[shared][1], vd_nbytes(y)) != 0)
                fail_msg("Winograd F%d: AVX-512 and AVX2 transforms differ: n%d c%d o%d %dx%d "
                         "p%d act %s bias %d res %d shared %d", wino, cc.n, cc.c, cc.o, cc.h,
                         cc.w, cc.pad, vd_act_name(cc.act), cc.bias, cc.res, shared);
        }
        vd_cpu_force_isa(-1);
        vd_cpu_force_winograd_shared(-1);
        free(out[0][0]), free(out[0][1]), free(out[1][0]), free(out[1][1]);
        vd_graph_free(g);
    }
    /* the cases reach both variants (sizes 8..70: F2 from 16x16, F4 from 32x32) */
    assert_true(variants[4] >= 5 && variants[2] >= 5);
}

/* ---- linear ----------------------------------------------------------------------------------- */

static void test_linear(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 904);
    const int shapes[][3] = {{1, 1, 1}, {7, 33, 9}, {300, 256, 80}, {121, 64, 17}, {13, 600, 40}, {2, 5, 300}};
    const vd_act acts[] = {VD_ACT_NONE, VD_ACT_RELU, VD_ACT_GELU, VD_ACT_SILU};
    /* AVX-512 and AVX2: w^T prepared (packed); plain C: w read in place */
    for (size_t c = 0; c < 3 * VD_ARRAY_LEN(shapes); c++) {
        size_t i = c % VD_ARRAY_LEN(shapes);
        int isa = 2 - (int)(c / VD_ARRAY_LEN(shapes));
        if (isa > top_isa) continue;
        vd_cpu_force_isa(isa);
        int m = shapes[i][0], k = shapes[i][1], o = shapes[i][2];
        vd_graph *g = vd_graph_create();
        float ws = 1.0f / sqrtf((float)k);
        vd_tensor *x = vd_opcase_rand(g, &r, 2, NE(m, k), -1, 1);
        vd_tensor *w = vd_opcase_rand(g, &r, 2, NE(o, k), -ws, ws);
        vd_tensor *b = i % 2 ? vd_opcase_rand(g, &r, 1, NE(o), -1, 1) : NULL;
        vd_tensor *res = i % 3 ? vd_opcase_rand(g, &r, 2, NE(m, o), -1, 1) : NULL;
        char what[96];
        snprintf(what, sizeof what, "linear [%d, %d] x [%d, %d]^T act %s isa %d", m, k, o, k,
                 vd_act_name(acts[i % 4]), vd_cpu_has_avx2() + vd_cpu_has_avx512());
        assert_true(vd_opcase_check(what, vd_op_linear(g, x, w, b, res, acts[i % 4]), pools, 2,
                                    1e-4, 1e-4));
        vd_graph_free(g);
    }
    vd_cpu_force_isa(-1);
}

/* ---- pool2d (fast_pool.c): the exact 2x2 average path, the separable sum, the max (AVX2 and
 * plain C), with NaNs in the input ------------------------------------------------------------ */

static void test_pool(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 906);
    const vd_pool_params ps[] = {
        {VD_POOL_AVG, 2, 2, 2, 2, 0, 0, 1, 1}, /* ResNet-vd shortcut: exact on even maps */
        {VD_POOL_AVG, 2, 2, 2, 2, 0, 0, 0, 0},
        {VD_POOL_MAX, 3, 3, 2, 2, 1, 1, 0, 0}, /* ResNet stem */
        {VD_POOL_MAX, 3, 3, 2, 2, 0, 0, 1, 0}, /* no padding, ceil_mode: windows cut at the end */
        {VD_POOL_AVG, 3, 3, 2, 2, 1, 1, 1, 1},
    };
    /* widths 16 and 17 end an 8-wide step of the 3x3/2 max pool exactly at its last whole
     * window (p0 and p1) */
    const int sizes[][2] = {{16, 22}, {40, 40}, {15, 22}, {2, 2}, {17, 9}, {9, 67}, {6, 3},
                            {5, 17}, {3, 16}};
    /* max pools three ways: values in [-1, 1]; with NaNs placed in it (NaN wins wherever it
     * is in the window, and stays); all negative (padding or a tap past the row would show
     * as a 0) */
    const char *const inputs[] = {"", " NaNs", " negative"};
    for (int isa = 1; isa >= 0; isa--) {
        vd_cpu_force_isa(isa);
        for (size_t i = 0; i < VD_ARRAY_LEN(ps); i++)
            for (size_t k = 0; k < VD_ARRAY_LEN(sizes); k++)
                for (int in = 0; in < (ps[i].kind == VD_POOL_MAX ? 3 : 1); in++) {
                    int h = sizes[k][0], w = sizes[k][1];
                    if (h + 2 * ps[i].pad_h < ps[i].k_h || w + 2 * ps[i].pad_w < ps[i].k_w)
                        continue; /* no window fits */
                    vd_graph *g = vd_graph_create();
                    vd_tensor *x = vd_opcase_rand(g, &r, 4, NE(2, 5, h, w), in == 2 ? -2 : -1,
                                                  in == 2 ? -1 : 1);
                    for (int q = 0; in == 1 && q < 7; q++)
                        ((float *)x->data)[(q * 131 + 17) % (10 * h * w)] = NAN;
                    char what[112];
                    snprintf(what, sizeof what, "pool2d %s k%d s%d p%d [2, 5, %d, %d]%s avx2 %d",
                             ps[i].kind == VD_POOL_MAX ? "max" : "avg", ps[i].k_h,
                             ps[i].stride_h, ps[i].pad_h, h, w, inputs[in], vd_cpu_has_avx2());
                    double tol = ps[i].kind == VD_POOL_MAX ? 0 : 1e-6;
                    assert_true(vd_opcase_check(what, vd_op_pool2d(g, x, &ps[i]), pools, 2, tol,
                                                10 * tol));
                    vd_graph_free(g);
                }
    }
    vd_cpu_force_isa(-1);
}

/* ---- MSDA absorbing its value projection (fast_attn.c) -------------------------------------- */

typedef struct msda_graph {
    vd_tensor *mem, *value, *y; /* memory (S, Cin), value = linear(memory), msda output */
} msda_graph;

/* An RT-DETR-like deformable attention on a linear value projection of memory. */
/* as_input 1: memory is the graph's input; 2: memory = relu(input), an activation whose
 * buffer the planner may reuse after its last reader, and offsets and weights are computed
 * (copies) after the projection, candidates for that buffer. */
static msda_graph msda_build(vd_graph *g, vd_rng *r, int q, int heads, int dh, int cin,
                             int bias, int ref_dim, int as_input) {
    vd_msda_params p;
    memset(&p, 0, sizeof p);
    p.n_heads = heads;
    p.n_levels = 3;
    const int hs[3] = {12, 6, 3}, ws[3] = {13, 7, 3};
    int64_t s = 0;
    for (int l = 0; l < 3; l++) {
        p.h[l] = hs[l];
        p.w[l] = ws[l];
        p.points[l] = 4;
        s += hs[l] * ws[l];
    }
    p.ref_dim = ref_dim;
    p.offset_scale = 0.5f;
    int c = heads * dh, lp = 12;
    msda_graph m;
    m.mem = as_input ? vd_graph_input(g, "memory", VD_F32, 2, NE(s, cin))
                     : vd_opcase_rand(g, r, 2, NE(s, cin), -1, 1);
    vd_tensor *mem = as_input == 2 ? vd_op_unary(g, m.mem, VD_ACT_RELU) : m.mem;
    float ws_ = 1.0f / sqrtf((float)cin);
    vd_tensor *w = vd_opcase_rand(g, r, 2, NE(c, cin), -ws_, ws_);
    vd_tensor *b = bias ? vd_opcase_rand(g, r, 1, NE(c), -0.5f, 0.5f) : NULL;
    m.value = vd_op_linear(g, mem, w, b, NULL, VD_ACT_NONE);
    vd_tensor *off = vd_opcase_rand(g, r, 2, NE(q, heads * lp * 2), -3, 3);
    vd_tensor *wts = vd_opcase_rand(g, r, 2, NE(q, heads * lp), -3, 3);
    if (as_input == 2) {
        off = vd_op_unary(g, off, VD_ACT_NONE);
        wts = vd_op_unary(g, wts, VD_ACT_NONE);
    }
    vd_tensor *ref = vd_opcase_rand(g, r, 2, NE(q, ref_dim), -0.1f, 1.1f);
    float psd[12];
    for (int k = 0; k < lp; k++) psd[k] = 0.25f;
    vd_tensor *ps = ref_dim == 4 ? vd_opcase_data(g, VD_F32, 1, NE(lp), psd) : NULL;
    m.y = vd_op_msda(g, m.value, off, wts, ref, ps, &p);
    return m;
}

static void test_msda_absorbed(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 907);
    /* cin: whole blocks of 64 channels, none, both (the AVX2 gather works 64 at a time) */
    const int cases[][5] = {
        {70, 8, 32, 64, 1}, {9, 2, 16, 13, 0}, {130, 4, 16, 40, 1}, {33, 2, 16, 139, 1}};
    for (size_t i = 0; i < VD_ARRAY_LEN(cases); i++) {
        vd_graph *g = vd_graph_create();
        msda_graph m = msda_build(g, &r, cases[i][0], cases[i][1], cases[i][2], cases[i][3],
                                  cases[i][4], i % 2 ? 2 : 4, 0);
        /* the reference reads value: compute it first (the fast kernel reads memory) */
        m.value->data = vd_opcase_run(vd_cpu_ref_ops, NULL, m.value);
        assert_non_null(m.value->data);
        assert_non_null(vd_cpu_hm_msda_prep_key(m.y, &(int){0}));
        char what[96];
        snprintf(what, sizeof what, "msda absorbing value_proj q %d heads %d dh %d cin %d bias %d",
                 cases[i][0], cases[i][1], cases[i][2], cases[i][3], cases[i][4]);
        assert_true(vd_opcase_check(what, m.y, pools, 2, 2e-5, 1e-4));
        free(m.value->data);
        m.value->data = NULL;
        vd_graph_free(g);
    }
}

/* Through the backend: the value projection is not run when the MSDA is its only reader, and
 * is when something else reads it (mode 1: it is also an output). Mode 2: memory is an
 * activation whose last graph reader is the projection, and copies made between the
 * projection and the MSDA are candidates for its buffer; the plan must keep memory for the
 * MSDA (the output check fails if a copy overwrote it). */
static void test_msda_absorbed_backend(void **state) {
    (void)state;
    vd_rng r;
    for (int mode = 0; mode < 3; mode++) {
        int value_out = mode == 1;
        vd_rng_seed(&r, 908);
        vd_graph *g = vd_graph_create();
        msda_graph m = msda_build(g, &r, 50, 8, 32, 48, 1, 4, mode == 2 ? 2 : 1);
        vd_graph_output(g, m.y, "y");
        if (value_out) vd_graph_output(g, m.value, "value");
        float *mem = malloc(vd_nbytes(m.mem));
        vd_rng_fill(&r, mem, (size_t)vd_nelements(m.mem), -1, 1);
        float *out[2], *val[2];
        for (int fast = 0; fast < 2; fast++) {
            vd_backend *be = vd_cpu_backend_create(!fast);
            vd_exec *ex;
            assert_int_equal(be->iface->exec_create(be, g, 2, &ex), VKDETR_OK);
            assert_int_equal(be->iface->write(ex, m.mem, mem), VKDETR_OK);
            vd_profile prof;
            memset(&prof, 0, sizeof prof);
            prof.n_nodes = g->n_nodes;
            prof.node_ms = calloc((size_t)g->n_nodes, sizeof *prof.node_ms);
            assert_int_equal(be->iface->run(ex, &prof), VKDETR_OK);
            /* the projection ran (took time) unless absorbed */
            if (fast && mode != 1)
                assert_true(prof.node_ms[m.value->id] == 0.0);
            else
                assert_true(prof.node_ms[m.value->id] > 0.0);
            free(prof.node_ms);
            out[fast] = malloc(vd_nbytes(m.y));
            val[fast] = malloc(vd_nbytes(m.value));
            assert_int_equal(be->iface->read(ex, m.y, out[fast]), VKDETR_OK);
            if (value_out) assert_int_equal(be->iface->read(ex, m.value, val[fast]), VKDETR_OK);
            be->iface->exec_free(ex);
            be->iface->free(be);
        }
        assert_true(vd_check_close("msda absorbed, backend", out[1], out[0],
                                   (size_t)vd_nelements(m.y), 2e-5, 1e-4));
        if (value_out)
            assert_true(vd_check_close("value_proj still run when read elsewhere", val[1], val[0],
                                       (size_t)vd_nelements(m.value), 1e-4, 1e-4));
        for (int f = 0; f < 2; f++) {
            free(out[f]);
            free(val[f]);
        }
        free(mem);
        vd_graph_free(g);
    }
}

/* ---- the backend's cache of prepared weights ----------------------------------------------- */

/* Two sessions of one backend on graphs sharing weights (flagged as model weights, so the
 * prepared data is cached and shared): both match the reference. */
static void test_backend_prepared(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 905);
    vd_backend *be = vd_cpu_backend_create(0);
    assert_non_null(be);
    /* the weights live in their own graph, like a model's */
    vd_graph *wg = vd_graph_create();
    float ws = 1.0f / sqrtf(16.0f * 9);
    vd_tensor *w3 = vd_opcase_rand(wg, &r, 4, NE(24, 16, 3, 3), -ws, ws);
    vd_tensor *wl = vd_opcase_rand(wg, &r, 2, NE(10, 24), -0.2f, 0.2f);
    w3->flags = wl->flags = VD_TENSOR_WEIGHT; /* and no node of any graph, like a model's */
    w3->id = wl->id = -1;
    float *xin = malloc(sizeof(float) * 16 * 40 * 36);
    vd_rng_fill(&r, xin, 16 * 40 * 36, -1, 1);
    float *out[2] = {NULL, NULL};
    for (int s = 0; s < 2; s++) {
        vd_graph *g = vd_graph_create();
        vd_tensor *x = vd_graph_input(g, "x", VD_F32, 4, NE(1, 16, 40, 36));
        vd_conv2d_params p = {1, 1, 1, 1, 1, 1, 1, VD_ACT_RELU};
        vd_tensor *y = vd_op_conv2d(g, x, w3, NULL, NULL, &p);                     /* [1,24,40,36] */
        vd_tensor *t = vd_op_permute(g, vd_op_reshape(g, y, 2, NE(24, 40 * 36)), 1, 0, 0, 0);
        vd_tensor *z = vd_graph_output(g, vd_op_linear(g, t, wl, NULL, NULL, VD_ACT_NONE), "z");
        vd_exec *ex;
        assert_int_equal(be->iface->exec_create(be, g, s + 1, &ex), VKDETR_OK);
        assert_int_equal(be->iface->write(ex, x, xin), VKDETR_OK);
        assert_int_equal(be->iface->run(ex, NULL), VKDETR_OK);
        out[s] = malloc(vd_nbytes(z));
        assert_int_equal(be->iface->read(ex, z, out[s]), VKDETR_OK);
        /* the reference on the same graph */
        vd_backend *ref = vd_cpu_backend_create(1);
        vd_exec *rex;
        assert_int_equal(ref->iface->exec_create(ref, g, 1, &rex), VKDETR_OK);
        assert_int_equal(ref->iface->write(rex, x, xin), VKDETR_OK);
        assert_int_equal(ref->iface->run(rex, NULL), VKDETR_OK);
        float *e = malloc(vd_nbytes(z));
        assert_int_equal(ref->iface->read(rex, z, e), VKDETR_OK);
        assert_true(vd_check_close("backend session", out[s], e, (size_t)vd_nelements(z), 3e-4, 3e-4));
        free(e);
        ref->iface->exec_free(rex);
        ref->iface->free(ref);
        be->iface->exec_free(ex);
        vd_graph_free(g);
    }
    assert_true(vd_check_close("two sessions", out[0], out[1], 40 * 36 * 10, 1e-5, 1e-5));
    free(out[0]);
    free(out[1]);
    free(xin);
    be->iface->free(be);
    vd_graph_free(wg);
}

/* A convolution whose residual dies with it writes its result over the residual where its
 * kernel reads each residual value just before writing that place (Winograd, one-pass GEMMs),
 * and nowhere else; the results equal the reference's (which never writes over a source). */
static void test_conv_overwrites_residual(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 23);
    vd_graph *wg = vd_graph_create();
    const int64_t *shapes[] = {NE(32, 16, 3, 3), NE(32, 16, 3, 3), NE(32, 32, 3, 3), NE(32, 32, 1, 1),
                               NE(320, 32, 1, 1), NE(32, 320, 1, 1), NE(32, 32, 3, 3)};
    vd_tensor *w[7];
    for (int i = 0; i < 7; i++) {
        float ws = 1.0f / sqrtf((float)(shapes[i][1] * shapes[i][2] * shapes[i][3]));
        w[i] = vd_opcase_rand(wg, &r, 4, shapes[i], -ws, ws);
        w[i]->flags = VD_TENSOR_WEIGHT;
        w[i]->id = -1;
    }
    float *xin = malloc(sizeof(float) * 16 * 24 * 24);
    vd_rng_fill(&r, xin, 16 * 24 * 24, -1, 1);
    vd_backend *be = vd_cpu_backend_create(0), *ref = vd_cpu_backend_create(1);
    for (int th = 1; th <= 2; th++) {
        vd_graph *g = vd_graph_create();
        vd_tensor *x = vd_graph_input(g, "x", VD_F32, 4, NE(1, 16, 24, 24));
        vd_conv2d_params p3 = {1, 1, 1, 1, 1, 1, 1, VD_ACT_RELU}, p1 = {1, 1, 0, 0, 0, 0, 1, VD_ACT_NONE};
        vd_tensor *res = vd_op_conv2d(g, x, w[0], NULL, NULL, &p3);   /* [1,32,24,24] */
        vd_tensor *h = vd_op_conv2d(g, x, w[1], NULL, NULL, &p3);     /* [1,32,24,24] */
        vd_tensor *y1 = vd_op_conv2d(g, h, w[2], NULL, res, &p3);     /* Winograd: over res */
        vd_tensor *y2 = vd_op_conv2d(g, y1, w[3], NULL, h, &p1);      /* k 32: over h */
        vd_tensor *big = vd_op_conv2d(g, y2, w[4], NULL, NULL, &p1);  /* [1,320,24,24] */
        vd_tensor *z = vd_op_conv2d(g, big, w[5], NULL, y2, &p1);     /* k 320: two passes */
        vd_tensor *v = vd_op_conv2d(g, z, w[3], NULL, y1, &p1);       /* y1 is read later */
        vd_tensor *u = vd_op_conv2d(g, v, w[6], NULL, v, &p3);        /* v is also the input */
        vd_tensor *o = vd_graph_output(g, vd_op_add(g, u, y1), "o");
        int over = vd_cpu_has_avx2(); /* without AVX2, no Winograd: y1 is im2col with k 288 */
        assert_int_equal(vd_cpu_winograd_variant(y1), over ? 2 : 0);
        vd_exec *ex, *rex;
        assert_int_equal(be->iface->exec_create(be, g, th, &ex), VKDETR_OK);
        assert_int_equal(y1->offset == res->offset, over);
        assert_true(y2->offset == h->offset);
        assert_true(z->offset != y2->offset);
        assert_true(v->offset != y1->offset);
        assert_true(u->offset != v->offset);
        assert_int_equal(be->iface->write(ex, x, xin), VKDETR_OK);
        assert_int_equal(be->iface->run(ex, NULL), VKDETR_OK);
        float *out = malloc(vd_nbytes(o)), *e = malloc(vd_nbytes(o));
        assert_int_equal(be->iface->read(ex, o, out), VKDETR_OK);
        be->iface->exec_free(ex);
        assert_int_equal(ref->iface->exec_create(ref, g, 1, &rex), VKDETR_OK);
        assert_true(y1->offset != res->offset && y2->offset != h->offset);
        assert_int_equal(ref->iface->write(rex, x, xin), VKDETR_OK);
        assert_int_equal(ref->iface->run(rex, NULL), VKDETR_OK);
        assert_int_equal(ref->iface->read(rex, o, e), VKDETR_OK);
        assert_true(vd_check_close("conv over its residual", out, e, (size_t)vd_nelements(o), 3e-4, 3e-4));
        ref->iface->exec_free(rex);
        free(out);
        free(e);
        vd_graph_free(g);
    }
    be->iface->free(be);
    ref->iface->free(ref);
    free(xin);
    vd_graph_free(wg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mm),
        cmocka_unit_test(test_mm512_identical),
        cmocka_unit_test(test_conv_paths),
        cmocka_unit_test(test_conv_random),
        cmocka_unit_test(test_winograd512_identical),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_msda_absorbed),
        cmocka_unit_test(test_msda_absorbed_backend),
        cmocka_unit_test(test_backend_prepared),
        cmocka_unit_test(test_conv_overwrites_residual),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
