/* The CPU kernels against PyTorch: fixtures written by tools/gen_op_fixtures.py
 * (tests/data/ops/ops.json + ops.bin: conv2d with groups/stride/asymmetric padding, pooling
 * with ceil_mode and both count_include_pad settings, activations, layer_norm, softmax,
 * attention, grid_sample-based MSDA in the RT-DETR v1/v2 forms, top-k, ...).
 *
 * Tolerances (|ours - torch| <= atol + rtol * |torch|):
 *   reference kernels   1e-5 abs, 1e-5 rel   (torch computes in f32; we sum in double)
 *   fast kernels        3e-5 abs, 3e-5 rel   (f32 sums in a different order)
 *   i32 outputs (top-k) exact */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/opcase.h"

static vd_pool *pools[2];
static cJSON *index_json;
static unsigned char *blob;
static size_t blob_size;

static int setup(void **state) {
    (void)state;
    pools[0] = vd_pool_create(1);
    pools[1] = vd_pool_create(2);
    size_t n = 0;
    char *text = vd_test_read_file(vd_test_path("tests/data/ops/ops.json"), &n);
    blob = vd_test_read_file(vd_test_path("tests/data/ops/ops.bin"), &blob_size);
    if (!text || !blob) {
        fprintf(stderr, "cannot read tests/data/ops/ops.{json,bin}\n");
        free(text);
        return -1;
    }
    index_json = cJSON_ParseWithLength(text, n);
    free(text);
    return index_json && pools[0] && pools[1] ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    cJSON_Delete(index_json);
    free(blob);
    vd_pool_free(pools[0]);
    vd_pool_free(pools[1]);
    return 0;
}

static int json_int(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    assert_true(cJSON_IsNumber(v));
    return v->valueint;
}

static int json_int_at(const cJSON *obj, const char *key, int i) {
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(obj, key), i);
    assert_true(cJSON_IsNumber(v));
    return v->valueint;
}

static const char *json_str(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static vd_act act_from(const char *s) {
    for (int a = 0; a < VD_ACT_COUNT; a++)
        if (!strcmp(s, vd_act_name((vd_act)a))) return (vd_act)a;
    fail_msg("unknown activation %s", s);
    return VD_ACT_NONE;
}

/* A tensor description {"shape", "dtype", "offset"}; NULL for JSON null. *data points into
 * the blob. */
static vd_tensor *fx_tensor(vd_graph *g, const cJSON *d, const void **data) {
    if (cJSON_IsNull(d)) return NULL;
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(d, "shape");
    int nd = cJSON_GetArraySize(shape);
    int64_t ne[VD_MAX_DIMS], n = 1;
    assert_true(nd >= 0 && nd <= VD_MAX_DIMS);
    for (int i = 0; i < nd; i++) n *= ne[i] = cJSON_GetArrayItem(shape, i)->valueint;
    if (nd == 0) { /* a torch scalar */
        ne[0] = 1;
        nd = 1;
    }
    size_t off = (size_t)json_int(d, "offset") * 4;
    assert_true(off + (size_t)n * 4 <= blob_size);
    vd_dtype type = !strcmp(json_str(d, "dtype"), "i32") ? VD_I32 : VD_F32;
    *data = blob + off;
    return vd_opcase_data(g, type, nd, ne, blob + off);
}

static vd_tensor *build(vd_graph *g, const char *op, const cJSON *p, vd_tensor **in) {
    if (!strcmp(op, "conv2d")) {
        vd_conv2d_params cp = {json_int_at(p, "stride", 0), json_int_at(p, "stride", 1),
                               json_int_at(p, "pad", 0),    json_int_at(p, "pad", 1),
                               json_int_at(p, "pad", 2),    json_int_at(p, "pad", 3),
                               json_int(p, "groups"),       act_from(json_str(p, "act"))};
        return vd_op_conv2d(g, in[0], in[1], in[2], in[3], &cp);
    }
    if (!strcmp(op, "linear"))
        return vd_op_linear(g, in[0], in[1], in[2], in[3], act_from(json_str(p, "act")));
    if (!strcmp(op, "pool2d")) {
        vd_pool_params pp = {!strcmp(json_str(p, "kind"), "max") ? VD_POOL_MAX : VD_POOL_AVG,
                             json_int_at(p, "k", 0),      json_int_at(p, "k", 1),
                             json_int_at(p, "stride", 0), json_int_at(p, "stride", 1),
                             json_int_at(p, "pad", 0),    json_int_at(p, "pad", 1),
                             json_int(p, "ceil_mode"),    json_int(p, "count_include_pad")};
        return vd_op_pool2d(g, in[0], &pp);
    }
    if (!strcmp(op, "unary")) return vd_op_unary(g, in[0], act_from(json_str(p, "act")));
    if (!strcmp(op, "binary"))
        return !strcmp(json_str(p, "op"), "add") ? vd_op_add(g, in[0], in[1])
                                                 : vd_op_mul(g, in[0], in[1]);
    if (!strcmp(op, "box_refine")) return vd_op_box_refine(g, in[0], in[1]);
    if (!strcmp(op, "layer_norm"))
        return vd_op_layer_norm(g, in[0], in[1], in[2],
                                (float)cJSON_GetObjectItemCaseSensitive(p, "eps")->valuedouble);
    if (!strcmp(op, "softmax")) return vd_op_softmax(g, in[0]);
    if (!strcmp(op, "reduce_max")) return vd_op_reduce_max(g, in[0]);
    if (!strcmp(op, "upsample")) return vd_op_upsample(g, in[0], json_int(p, "factor"));
    if (!strcmp(op, "permute"))
        return vd_op_permute(g, in[0], json_int_at(p, "perm", 0), json_int_at(p, "perm", 1),
                             json_int_at(p, "perm", 2), json_int_at(p, "perm", 3));
    if (!strcmp(op, "concat")) return vd_op_concat(g, 2, in, json_int(p, "axis"));
    if (!strcmp(op, "topk")) return vd_op_topk(g, in[0], json_int(p, "k"));
    if (!strcmp(op, "attention")) return vd_op_attention(g, in[0], in[1], in[2], json_int(p, "n_heads"));
    if (!strcmp(op, "msda")) {
        vd_msda_params mp;
        memset(&mp, 0, sizeof mp);
        mp.n_heads = json_int(p, "n_heads");
        mp.ref_dim = json_int(p, "ref_dim");
        mp.offset_scale = (float)cJSON_GetObjectItemCaseSensitive(p, "offset_scale")->valuedouble;
        const cJSON *levels = cJSON_GetObjectItemCaseSensitive(p, "levels");
        mp.n_levels = cJSON_GetArraySize(levels);
        assert_true(mp.n_levels <= VD_MAX_LEVELS);
        for (int l = 0; l < mp.n_levels; l++) {
            mp.h[l] = cJSON_GetArrayItem(cJSON_GetArrayItem(levels, l), 0)->valueint;
            mp.w[l] = cJSON_GetArrayItem(cJSON_GetArrayItem(levels, l), 1)->valueint;
            mp.points[l] = json_int_at(p, "points", l);
        }
        return vd_op_msda(g, in[0], in[1], in[2], in[3], in[4], &mp);
    }
    fail_msg("fixture op %s unknown to this test", op);
    return NULL;
}

static int compare(const char *what, const vd_tensor *y, const void *got, const void *expect,
                   double tol) {
    size_t n = (size_t)vd_nelements(y);
    if (y->type == VD_I32) return vd_opcase_check_i32(what, got, expect, n);
    vd_cmp c = vd_compare(got, expect, n);
    printf("  %-32s max_abs %.2e max_rel %.2e\n", what, c.max_abs, c.max_rel);
    return vd_check_close(what, got, expect, n, tol, tol);
}

static void test_torch_fixtures(void **state) {
    (void)state;
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(index_json, "cases");
    int n_cases = cJSON_GetArraySize(cases), failed = 0;
    assert_true(n_cases > 0);
    for (int ci = 0; ci < n_cases; ci++) {
        const cJSON *c = cJSON_GetArrayItem(cases, ci);
        const char *name = json_str(c, "name");
        vd_graph *g = vd_graph_create();
        assert_non_null(g);
        const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(c, "inputs");
        vd_tensor *in[VD_MAX_SRC] = {0};
        const void *data;
        int n_in = cJSON_GetArraySize(inputs);
        assert_true(n_in <= VD_MAX_SRC);
        for (int i = 0; i < n_in; i++) in[i] = fx_tensor(g, cJSON_GetArrayItem(inputs, i), &data);
        vd_tensor *y = build(g, json_str(c, "op"),
                             cJSON_GetObjectItemCaseSensitive(c, "params"), in);
        if (!y) fprintf(stderr, "%s: %s\n", name, vkdetr_last_error());
        assert_non_null(y);
        vd_graph *eg = vd_graph_create(); /* holds the expected output */
        vd_tensor *e = fx_tensor(eg, cJSON_GetObjectItemCaseSensitive(c, "output"), &data);
        assert_int_equal(vd_nelements(e), vd_nelements(y));
        assert_int_equal(e->type, y->type);
        char what[160];
        /* the reference on 2 threads: conv2d and linear split their work over the pool */
        void *got = vd_opcase_run(vd_cpu_ref_ops, pools[1], y);
        snprintf(what, sizeof what, "%s ref", name);
        failed += !compare(what, y, got, data, 1e-5);
        free(got);
        for (int t = 0; t < 2; t++) {
            got = vd_opcase_run(vd_cpu_fast_ops, pools[t], y);
            snprintf(what, sizeof what, "%s fast/%d", name, t + 1);
            failed += !compare(what, y, got, data, 3e-5);
            free(got);
        }
        vd_graph_free(eg);
        vd_graph_free(g);
    }
    assert_int_equal(failed, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch_fixtures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
