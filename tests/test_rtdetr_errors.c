/* Bad checkpoints and inputs for RT-DETR: each gives one line naming the problem and a
 * failure status, never a crash (issue 3, item 8). Each case copies the tiny v1 fixture to a
 * temporary folder and breaks one thing. Also the anchors and valid mask, whose invalid
 * (+FLT_MAX) path the committed fixtures do not reach. */
#include "support/testutil.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"
#include "decoder/rtdetr_decoder.h"
#include "vkdetr.h"

#define FIXTURE "tests/data/rtdetr_v1_tiny"

static char dir[512];

static void copy_file(const char *name) {
    char dst[1024];
    size_t n;
    char src[1024];
    snprintf(src, sizeof src, "%s/%s", vd_test_path(FIXTURE), name);
    void *data = vd_test_read_file(src, &n);
    assert_non_null(data);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    assert_int_equal(vd_test_write_file(dst, data, n), 0);
    free(data);
}

/* A fresh copy of the fixture; returns its folder. */
static const char *fresh(void) {
    snprintf(dir, sizeof dir, "%s", vd_test_tmpdir());
    copy_file("config.json");
    copy_file("model.safetensors");
    copy_file("preprocessor_config.json");
    copy_file("input.png");
    return dir;
}

static void write_text(const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(vd_test_write_file(path, text, strlen(text)), 0);
}

/* Loads dir and expects failure with status and a message containing every needle. */
static void expect_load_error(vkdetr_status want, const char *needle1, const char *needle2) {
    vkdetr_model_params mp = vkdetr_model_default_params();
    mp.backend = VKDETR_BACKEND_CPU;
    vkdetr_model *m = (vkdetr_model *)1;
    vkdetr_status st = vkdetr_model_load(dir, &mp, &m);
    const char *msg = vkdetr_last_error();
    printf("  -> %s: %s\n", vkdetr_status_string(st), msg);
    assert_int_equal(st, want);
    assert_null(m);
    assert_null(strchr(msg, '\n'));
    if (needle1) assert_non_null(strstr(msg, needle1));
    if (needle2) assert_non_null(strstr(msg, needle2));
}

/* Rewrites model.safetensors through edit(entry) for every tensor: edit may change the entry
 * or return 0 to drop it. */
static void rewrite_weights(int (*edit)(vd_st_write_entry *e)) {
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    vd_safetensors *st;
    assert_int_equal(vd_st_open(path, &st), VKDETR_OK);
    int n = vd_st_count(st), k = 0;
    vd_st_write_entry *e = calloc((size_t)n, sizeof *e);
    void **bufs = calloc((size_t)n, sizeof *bufs);
    for (int i = 0; i < n; i++) {
        const vd_st_tensor *t = vd_st_at(st, i);
        bufs[i] = malloc(t->nbytes + 1);
        memcpy(bufs[i], t->data, t->nbytes);
        vd_st_write_entry w = {t->name, t->dtype, t->ndim, {0}, bufs[i]};
        memcpy(w.shape, t->shape, sizeof w.shape);
        if (edit(&w)) e[k++] = w;
    }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    assert_int_equal(vd_st_write(tmp, k, e), VKDETR_OK);
    vd_st_close(st);
    assert_int_equal(rename(tmp, path), 0);
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(e);
}

static const char *target = "model.decoder.layers.1.fc1.weight";

static int drop_target(vd_st_write_entry *e) { return strcmp(e->name, target) != 0; }

static int reshape_target(vd_st_write_entry *e) {
    if (!strcmp(e->name, target)) { /* [64, 32] -> [32, 64]: same bytes, wrong shape */
        int64_t t = e->shape[0];
        e->shape[0] = e->shape[1];
        e->shape[1] = t;
    }
    return 1;
}

static void missing_tensor(void **state) {
    (void)state;
    fresh();
    rewrite_weights(drop_target);
    expect_load_error(VKDETR_ERR_SHAPE, "missing tensor", target);
}

static void wrong_shape(void **state) {
    (void)state;
    fresh();
    rewrite_weights(reshape_target);
    expect_load_error(VKDETR_ERR_SHAPE, target, "expected");
}

static void truncated_weights(void **state) {
    (void)state;
    fresh();
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t n;
    void *data = vd_test_read_file(path, &n);
    assert_int_equal(vd_test_write_file(path, data, n / 2), 0);
    free(data);
    expect_load_error(VKDETR_ERR_FORMAT, "model.safetensors", NULL);
}

static void missing_files(void **state) {
    (void)state;
    fresh();
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    expect_load_error(VKDETR_ERR_IO, "model.safetensors", NULL);
    fresh();
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    expect_load_error(VKDETR_ERR_IO, "config.json", NULL);
}

static void bad_configs(void **state) {
    (void)state;
    fresh();
    write_text("config.json", "{}");
    expect_load_error(VKDETR_ERR_UNSUPPORTED, "model_type", "missing");
    write_text("config.json", "{\"model_type\": \"yolos\"}");
    expect_load_error(VKDETR_ERR_UNSUPPORTED, "yolos", NULL);
    write_text("config.json", "{\"model_type\": \"rt_detr\", \"d_model\": ");
    expect_load_error(VKDETR_ERR_FORMAT, "config.json", "line 1");
    write_text("config.json", "{\"model_type\": \"rt_detr\", \"d_model\": \"wide\"}");
    expect_load_error(VKDETR_ERR_FORMAT, "d_model", NULL);
    write_text("config.json", "{\"model_type\": \"rt_detr_v2\", \"decoder_method\": \"discrete\"}");
    expect_load_error(VKDETR_ERR_UNSUPPORTED, "decoder_method", "discrete");
    write_text("config.json", "{\"model_type\": \"rt_detr\", \"eval_idx\": 2}");
    expect_load_error(VKDETR_ERR_UNSUPPORTED, "eval_idx", NULL);
    write_text("config.json", "{\"model_type\": \"rt_detr\", \"use_timm_backbone\": true, "
                              "\"backbone\": \"resnet50d\", \"backbone_config\": null}");
    expect_load_error(VKDETR_ERR_UNSUPPORTED, "timm", "resnet50d");
    write_text("config.json", "{\"model_type\": \"rt_detr\", \"encoder_activation_function\": \"mish\"}");
    expect_load_error(VKDETR_ERR_UNSUPPORTED, "mish", NULL);
    /* a well-formed config whose shapes do not match the weights */
    fresh();
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t n;
    char *cfg = vd_test_read_file(path, &n);
    cfg = realloc(cfg, n + 1);
    cfg[n] = 0;
    char *p = strstr(cfg, "\"decoder_ffn_dim\": 64");
    assert_non_null(p);
    memcpy(p, "\"decoder_ffn_dim\": 48", 21);
    write_text("config.json", cfg);
    free(cfg);
    expect_load_error(VKDETR_ERR_SHAPE, "fc1.weight", "expected [48, 32]");
}

static void bad_inputs(void **state) {
    (void)state;
    fresh();
    vkdetr_model_params mp = vkdetr_model_default_params();
    mp.backend = VKDETR_BACKEND_CPU;
    vkdetr_model *m;
    assert_int_equal(vkdetr_model_load(dir, &mp, &m), VKDETR_OK);
    vkdetr_session_params sp = vkdetr_session_default_params();
    vkdetr_session *s;
    sp.input_width = 100; /* not a multiple of 32 */
    assert_int_equal(vkdetr_session_create(m, &sp, &s), VKDETR_ERR_INVALID_ARG);
    assert_non_null(strstr(vkdetr_last_error(), "multiples of 32"));
    sp.input_width = 0;
    assert_int_equal(vkdetr_session_create(m, &sp, &s), VKDETR_OK);
    write_text("notes.png", "this is not an image\n");
    char path[1024];
    snprintf(path, sizeof path, "%s/notes.png", dir);
    vkdetr_result *r = (vkdetr_result *)1;
    assert_int_equal(vkdetr_session_detect_file(s, path, &r), VKDETR_ERR_FORMAT);
    assert_null(r);
    assert_non_null(strstr(vkdetr_session_last_error(s), "notes.png"));
    snprintf(path, sizeof path, "%s/absent.jpg", dir);
    assert_int_equal(vkdetr_session_detect_file(s, path, &r), VKDETR_ERR_IO);
    /* forward with the wrong pixel size */
    float px[3 * 4 * 4] = {0};
    assert_int_equal(vkdetr_session_forward(s, px, 4, 4), VKDETR_ERR_SHAPE);
    /* and it still works afterwards */
    snprintf(path, sizeof path, "%s/input.png", dir);
    assert_int_equal(vkdetr_session_detect_file(s, path, &r), VKDETR_OK);
    assert_true(r->count > 0);
    assert_string_equal(vkdetr_session_last_error(s), "");
    vkdetr_result_free(r);
    vkdetr_session_free(s);
    vkdetr_model_free(m);
}

/* transformers' _generate_anchors: invalid anchors (any coordinate outside (0.01, 0.99)) are
 * +FLT_MAX, valid ones log(a / (1 - a)). A 416-wide map has cells of 0.5/52 < 0.01. */
static void anchors(void **state) {
    (void)state;
    int h[3] = {4, 2, 1}, w[3] = {52, 26, 13};
    int s = 4 * 52 + 2 * 26 + 13;
    float *a = malloc((size_t)s * 4 * sizeof *a), *v = malloc((size_t)s * sizeof *v);
    vd_rtdetr_anchors(3, h, w, a, v);
    /* level 0, row 0, column 0: cx = 0.5/52 = 0.0096 <= 0.01: invalid */
    assert_true(v[0] == 0.0f);
    for (int k = 0; k < 4; k++) assert_true(a[k] == FLT_MAX);
    /* level 0, row 0, column 1: cx = 1.5/52, cy = 0.5/4, w = h = 0.05 */
    assert_true(v[1] == 1.0f);
    assert_true(fabsf(a[4] - logf((1.5f / 52) / (1 - 1.5f / 52))) < 1e-6f);
    assert_true(fabsf(a[6] - logf(0.05f / 0.95f)) < 1e-6f);
    /* level 2: w = h = 0.2; row 0 of height 1: cy = 0.5 */
    int l2 = 4 * 52 + 2 * 26;
    assert_true(v[l2 + 6] == 1.0f);
    assert_true(fabsf(a[(l2 + 6) * 4 + 2] - logf(0.2f / 0.8f)) < 1e-6f);
    int invalid = 0;
    for (int i = 0; i < s; i++) invalid += v[i] == 0.0f;
    assert_int_equal(invalid, 2 * 4); /* the first and last column of level 0 */
    free(a);
    free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(missing_tensor), cmocka_unit_test(wrong_shape),
        cmocka_unit_test(truncated_weights), cmocka_unit_test(missing_files),
        cmocka_unit_test(bad_configs), cmocka_unit_test(bad_inputs),
        cmocka_unit_test(anchors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
