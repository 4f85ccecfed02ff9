/* The public C API as an embedding program sees it (issue 6): versions and status strings,
 * NULL and out-of-range arguments, the three ways to load a model giving the same results,
 * every pixel layout and row padding giving the results of the file, result fields, session
 * errors, and mask run-length encodings. CPU backend, tiny RT-DETR v1 fixture. */
#include "support/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base.h"
#include "core/cpu/kernels.h"
#include "postprocess/mask.h"
#include "support/apitest.h"
#include "support/vktest.h"
#include "vkdetr.h"

#define FIXTURE "rtdetr_v1_tiny"
#define FIXTURE_INPUT "tests/data/" FIXTURE "/input.png"

static vkdetr_model *model; /* loaded once for the tests that only read it */

static int setup(void **state) {
    (void)state;
    vkdetr_log_set(NULL, NULL, VKDETR_LOG_ERROR);
    model = vd_api_load(FIXTURE, VKDETR_BACKEND_CPU, NULL);
    return model ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    vkdetr_model_free(model);
    return 0;
}

static void test_version_and_status(void **state) {
    (void)state;
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", VKDETR_VERSION_MAJOR, VKDETR_VERSION_MINOR,
             VKDETR_VERSION_PATCH);
    assert_string_equal(vkdetr_version(), want);
    for (int s = VKDETR_ERR_INTERNAL; s <= VKDETR_OK; s++) {
        const char *str = vkdetr_status_string((vkdetr_status)s);
        assert_non_null(str);
        assert_true(strlen(str) > 1);
        assert_string_not_equal(str, "unknown status");
    }
    assert_string_equal(vkdetr_status_string((vkdetr_status)-1000), "unknown status");
    assert_non_null(vkdetr_last_error());
}

static void test_null_arguments(void **state) {
    (void)state;
    vkdetr_model *m = (vkdetr_model *)1;
    assert_int_equal(vkdetr_model_load(NULL, NULL, &m), VKDETR_ERR_INVALID_ARG);
    assert_null(m);
    assert_int_equal(vkdetr_model_load("x", NULL, NULL), VKDETR_ERR_INVALID_ARG);
    m = (vkdetr_model *)1;
    assert_int_equal(vkdetr_model_load_files(NULL, "w", NULL, NULL, &m), VKDETR_ERR_INVALID_ARG);
    assert_null(m);
    m = (vkdetr_model *)1;
    assert_int_equal(vkdetr_model_load_memory(NULL, 0, "w", 1, NULL, 0, NULL, &m), VKDETR_ERR_INVALID_ARG);
    assert_null(m);
    m = (vkdetr_model *)1;
    assert_int_equal(vkdetr_model_load("/nonexistent/vkdetr", NULL, &m), VKDETR_ERR_IO);
    assert_null(m);
    assert_non_null(strstr(vkdetr_last_error(), "/nonexistent/vkdetr"));

    vkdetr_model_info info;
    assert_int_equal(vkdetr_model_get_info(NULL, &info), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_model_get_info(model, NULL), VKDETR_ERR_INVALID_ARG);
    assert_null(vkdetr_model_class_name(NULL, 0));
    assert_null(vkdetr_model_class_name(model, -1));
    assert_null(vkdetr_model_class_name(model, 1 << 20));

    vkdetr_session *s = (vkdetr_session *)1;
    assert_int_equal(vkdetr_session_create(NULL, NULL, &s), VKDETR_ERR_INVALID_ARG);
    assert_null(s);
    assert_int_equal(vkdetr_session_create(model, NULL, NULL), VKDETR_ERR_INVALID_ARG);
    vkdetr_result *r = (vkdetr_result *)1;
    vkdetr_image img = {0};
    assert_int_equal(vkdetr_session_detect(NULL, &img, &r), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_session_detect_file(NULL, "x.png", &r), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_session_forward(NULL, NULL, 0, 0), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_session_output_count(NULL), 0);
    vkdetr_tensor t;
    assert_int_equal(vkdetr_session_output(NULL, 0, &t), VKDETR_ERR_INVALID_ARG);
    vkdetr_profile p;
    assert_int_equal(vkdetr_session_profile(NULL, &p), VKDETR_ERR_INVALID_ARG);
    const vkdetr_node_profile *nodes;
    int n_nodes;
    assert_int_equal(vkdetr_session_node_profile(NULL, &nodes, &n_nodes), VKDETR_ERR_INVALID_ARG);
    assert_string_equal(vkdetr_session_last_error(NULL), "no session");
    assert_int_equal(vkdetr_image_load(NULL, &img), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_image_load("x.png", NULL), VKDETR_ERR_INVALID_ARG);
    int count = -1;
    assert_int_equal(vkdetr_device_list(NULL, 1, &count), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_device_list(NULL, 0, NULL), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_device_list(NULL, 0, &count), VKDETR_OK);
    assert_true(count >= 0);

    /* every _free accepts NULL */
    vkdetr_model_free(NULL);
    vkdetr_session_free(NULL);
    vkdetr_result_free(NULL);
    vkdetr_image_free(NULL);
    vkdetr_image cleared = {0};
    vkdetr_image_free(&cleared);
}

static void test_params_out_of_range(void **state) {
    (void)state;
    vkdetr_model_params mp = vkdetr_model_default_params();
    assert_int_equal(mp.backend, VKDETR_BACKEND_AUTO);
    assert_int_equal(mp.precision, VKDETR_PRECISION_FP32);
    assert_null(mp.device);
    mp.backend = (vkdetr_backend)7;
    vkdetr_model *m = (vkdetr_model *)1;
    assert_int_equal(vkdetr_model_load(vd_test_path("tests/data/" FIXTURE), &mp, &m),
                     VKDETR_ERR_INVALID_ARG);
    assert_null(m);
    puts(vkdetr_last_error());
    mp = vkdetr_model_default_params();
    mp.precision = (vkdetr_precision)-1;
    assert_int_equal(vkdetr_model_load(vd_test_path("tests/data/" FIXTURE), &mp, &m),
                     VKDETR_ERR_INVALID_ARG);

    vkdetr_session_params d = vkdetr_session_default_params();
    assert_int_equal(d.input_width, 0);
    assert_int_equal(d.n_threads, 0);
    assert_true(d.threshold == 0.5f);
    assert_int_equal(d.max_detections, 300);
    assert_int_equal(d.masks, VKDETR_MASKS_RLE);
    struct {
        const char *what;
        vkdetr_session_params p;
    } bad[6];
    for (int i = 0; i < 6; i++) bad[i].p = d;
    bad[0].what = "negative width", bad[0].p.input_width = -32;
    bad[1].what = "negative n_threads", bad[1].p.n_threads = -1;
    bad[2].what = "NaN threshold", bad[2].p.threshold = NAN;
    bad[3].what = "masks 3", bad[3].p.masks = 3;
    bad[4].what = "masks -1", bad[4].p.masks = -1;
    bad[5].what = "width not a multiple", bad[5].p.input_width = 100;
    for (int i = 0; i < 6; i++) {
        vkdetr_session *s = (vkdetr_session *)1;
        vkdetr_status st = vkdetr_session_create(model, &bad[i].p, &s);
        printf("%s: %s: %s\n", bad[i].what, vkdetr_status_string(st), vkdetr_last_error());
        assert_int_equal(st, VKDETR_ERR_INVALID_ARG);
        assert_null(s);
    }
}

/* detect_file on the fixture image with a session of params p. */
static vkdetr_result *detect_fixture(vkdetr_model *m, const vkdetr_session_params *p) {
    vkdetr_session *s;
    assert_int_equal(vkdetr_session_create(m, p, &s), VKDETR_OK);
    vkdetr_result *r = NULL;
    assert_int_equal(vkdetr_session_detect_file(s, vd_test_path(FIXTURE_INPUT), &r), VKDETR_OK);
    vkdetr_session_free(s); /* the result outlives its session */
    return r;
}

static void test_result_fields(void **state) {
    (void)state;
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.threshold = 0.3f;
    vkdetr_result *r = detect_fixture(model, &sp);
    vkdetr_model_info info;
    assert_int_equal(vkdetr_model_get_info(model, &info), VKDETR_OK);
    assert_string_equal(info.backend, "cpu");
    assert_string_equal(info.device, vd_cpu_has_avx512()
                                         ? "CPU (AVX-512F GEMM and Winograd, AVX2 + FMA kernels)"
                                     : vd_cpu_has_avx2() ? "CPU (AVX2 + FMA kernels)"
                                                         : "CPU (plain C kernels)"); /* which run */
    assert_int_equal(info.has_masks, 0);
    printf("%d detections in %dx%d, %.1f ms\n", r->count, r->image_width, r->image_height, r->time_ms);
    assert_int_equal(r->image_width, 150);
    assert_int_equal(r->image_height, 110);
    assert_true(r->count > 3);
    assert_true(r->time_ms > 0);
    assert_int_equal(r->has_masks, 0);
    for (int i = 0; i < r->count; i++) {
        const vkdetr_detection *d = &r->detections[i];
        assert_true(d->score > sp.threshold && d->score <= 1.0f);
        if (i) assert_true(d->score <= r->detections[i - 1].score);
        assert_true(d->class_id >= 0 && d->class_id < info.num_classes);
        assert_non_null(d->label);
        assert_string_equal(d->label, vkdetr_model_class_name(model, d->class_id));
        for (int k = 0; k < 4; k++) assert_true(isfinite(d->box[k]));
        assert_true(d->box[0] <= d->box[2] && d->box[1] <= d->box[3]);
        assert_null(d->mask.data);
        assert_null(d->mask.counts);
        assert_int_equal(d->mask.n_counts, 0);
    }

    /* max_detections keeps the best ones; a higher threshold keeps a prefix */
    sp.max_detections = 3;
    vkdetr_result *top = detect_fixture(model, &sp);
    assert_int_equal(top->count, 3);
    vkdetr_result head = *r;
    head.count = 3;
    assert_true(vd_api_results_equal(top, &head, "max_detections 3"));
    sp.max_detections = -5; /* counts as 0 */
    vkdetr_result *none = detect_fixture(model, &sp);
    assert_int_equal(none->count, 0);
    sp.max_detections = 300;
    sp.threshold = 2.0f;
    vkdetr_result *none2 = detect_fixture(model, &sp);
    assert_int_equal(none2->count, 0);
    vkdetr_result_free(top);
    vkdetr_result_free(none);
    vkdetr_result_free(none2);
    vkdetr_result_free(r);
}

static void *read_fixture(const char *name, size_t *size) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/" FIXTURE "/%s", name);
    void *p = vd_test_read_file(vd_test_path(rel), size);
    assert_non_null(p);
    return p;
}

static void test_load_files_and_memory(void **state) {
    (void)state;
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.threshold = 0.2f;
    vkdetr_result *ref = detect_fixture(model, &sp);

    vkdetr_model_params mp = vkdetr_model_default_params();
    mp.backend = VKDETR_BACKEND_CPU;
    char c[1024], w[1024], p[1024];
    snprintf(c, sizeof c, "%s", vd_test_path("tests/data/" FIXTURE "/config.json"));
    snprintf(w, sizeof w, "%s", vd_test_path("tests/data/" FIXTURE "/model.safetensors"));
    snprintf(p, sizeof p, "%s", vd_test_path("tests/data/" FIXTURE "/preprocessor_config.json"));
    vkdetr_model *mf;
    assert_int_equal(vkdetr_model_load_files(c, w, p, &mp, &mf), VKDETR_OK);
    vkdetr_result *rf = detect_fixture(mf, &sp);
    assert_true(vd_api_results_equal(rf, ref, "load_files"));

    size_t nc, nw, np;
    char *bc = read_fixture("config.json", &nc), *bw = read_fixture("model.safetensors", &nw);
    char *bp = read_fixture("preprocessor_config.json", &np);
    vkdetr_model *mm;
    assert_int_equal(vkdetr_model_load_memory(bc, nc, bw, nw, bp, np, &mp, &mm), VKDETR_OK);
    /* the buffers are borrowed for the call only */
    memset(bc, 0, nc);
    memset(bw, 0, nw);
    memset(bp, 0, np);
    free(bc);
    free(bw);
    free(bp);
    vkdetr_result *rm = detect_fixture(mm, &sp);
    assert_true(vd_api_results_equal(rm, ref, "load_memory"));
    vkdetr_result_free(rf);
    vkdetr_result_free(rm);
    vkdetr_model_free(mf);
    vkdetr_model_free(mm);
    vkdetr_result_free(ref);
}

/* Every layout, with and without row padding, gives the results of the file. */
static void test_pixel_layouts(void **state) {
    (void)state;
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.threshold = 0.2f;
    vkdetr_session *s;
    assert_int_equal(vkdetr_session_create(model, &sp, &s), VKDETR_OK);
    const char *path = vd_test_path(FIXTURE_INPUT);
    vkdetr_result *ref;
    assert_int_equal(vkdetr_session_detect_file(s, path, &ref), VKDETR_OK);
    vkdetr_image rgb;
    assert_int_equal(vkdetr_image_load(path, &rgb), VKDETR_OK);
    assert_int_equal(rgb.format, VKDETR_PIXEL_RGB);
    assert_int_equal(rgb.stride, rgb.width * 3);
    static const vkdetr_pixel_format fmts[] = {VKDETR_PIXEL_RGB, VKDETR_PIXEL_BGR, VKDETR_PIXEL_RGBA,
                                               VKDETR_PIXEL_BGRA};
    static const char *names[] = {"RGB", "BGR", "RGBA", "BGRA"};
    for (int f = 0; f < 4; f++)
        for (int pad = 0; pad < 3; pad += 2) {
            int ch = f < 2 ? 3 : 4;
            vkdetr_image img = vd_api_convert(&rgb, fmts[f], pad ? rgb.width * ch + 7 : 0);
            vkdetr_result *r = (vkdetr_result *)1;
            assert_int_equal(vkdetr_session_detect(s, &img, &r), VKDETR_OK);
            assert_string_equal(vkdetr_session_last_error(s), "");
            char what[64];
            snprintf(what, sizeof what, "%s stride %d", names[f], img.stride);
            assert_true(vd_api_results_equal(r, ref, what));
            vkdetr_result_free(r);
            free((void *)img.data);
        }
    /* gray: the same as RGB with R = G = B */
    vkdetr_image gray = vd_api_convert(&rgb, VKDETR_PIXEL_GRAY, 0);
    uint8_t *g3 = malloc((size_t)gray.width * gray.height * 3);
    assert_non_null(g3);
    for (size_t i = 0; i < (size_t)gray.width * gray.height; i++)
        g3[3 * i] = g3[3 * i + 1] = g3[3 * i + 2] = gray.data[i];
    vkdetr_image gray_rgb = {g3, gray.width, gray.height, 0, VKDETR_PIXEL_RGB};
    vkdetr_result *rg, *rgr;
    assert_int_equal(vkdetr_session_detect(s, &gray, &rg), VKDETR_OK);
    assert_int_equal(vkdetr_session_detect(s, &gray_rgb, &rgr), VKDETR_OK);
    assert_true(vd_api_results_equal(rg, rgr, "gray"));
    vkdetr_result_free(rg);
    vkdetr_result_free(rgr);
    free((void *)gray.data);
    free((void *)gray_rgb.data);

    /* bad images: errors on the session, *out NULL, and the session still works */
    vkdetr_image bad[4] = {rgb, rgb, rgb, rgb};
    bad[0].data = NULL;
    bad[1].stride = rgb.width * 3 - 1;
    bad[2].format = (vkdetr_pixel_format)9;
    bad[3].width = 0;
    for (int i = 0; i < 4; i++) {
        vkdetr_result *r = (vkdetr_result *)1;
        assert_int_equal(vkdetr_session_detect(s, &bad[i], &r), VKDETR_ERR_INVALID_ARG);
        assert_null(r);
        printf("bad image %d: %s\n", i, vkdetr_session_last_error(s));
        assert_true(strlen(vkdetr_session_last_error(s)) > 0);
        assert_string_equal(vkdetr_session_last_error(s), vkdetr_last_error());
    }
    vkdetr_result *again;
    assert_int_equal(vkdetr_session_detect(s, &rgb, &again), VKDETR_OK);
    assert_string_equal(vkdetr_session_last_error(s), "");
    assert_true(vd_api_results_equal(again, ref, "after errors"));
    vkdetr_result_free(again);
    vkdetr_image_free(&rgb);
    assert_null(rgb.data);
    vkdetr_result_free(ref);
    vkdetr_session_free(s);
}

static void test_session_errors(void **state) {
    (void)state;
    vkdetr_session *s;
    assert_int_equal(vkdetr_session_create(model, NULL, &s), VKDETR_OK);
    assert_string_equal(vkdetr_session_last_error(s), "");
    assert_int_equal(vkdetr_session_output_count(s), 0);
    vkdetr_tensor t;
    assert_int_equal(vkdetr_session_output(s, 0, &t), VKDETR_ERR_INVALID_ARG);
    assert_true(strlen(vkdetr_session_last_error(s)) > 0);
    assert_int_equal(vkdetr_session_output(s, 0, NULL), VKDETR_ERR_INVALID_ARG);
    assert_non_null(strstr(vkdetr_session_last_error(s), "out is NULL"));
    vkdetr_profile p;
    assert_int_equal(vkdetr_session_profile(s, NULL), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_session_profile(s, &p), VKDETR_OK);
    assert_string_equal(vkdetr_session_last_error(s), "");
    const vkdetr_node_profile *nodes = (const vkdetr_node_profile *)1;
    int n_nodes = -1;
    assert_int_equal(vkdetr_session_node_profile(s, NULL, &n_nodes), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_session_node_profile(s, &nodes, NULL), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_session_node_profile(s, &nodes, &n_nodes), VKDETR_OK);
    assert_null(nodes); /* before the first run */
    assert_int_equal(n_nodes, 0);
    vkdetr_result *r = (vkdetr_result *)1;
    assert_int_equal(vkdetr_session_detect(s, NULL, &r), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_session_detect_file(s, NULL, &r), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_session_detect_file(s, "/nonexistent.png", &r), VKDETR_ERR_IO);
    assert_null(r);
    assert_non_null(strstr(vkdetr_session_last_error(s), "/nonexistent.png"));
    assert_int_equal(vkdetr_session_detect_file(s, vd_test_path(FIXTURE_INPUT), &r), VKDETR_OK);
    assert_string_equal(vkdetr_session_last_error(s), "");
    int n = vkdetr_session_output_count(s);
    assert_true(n >= 2);
    assert_int_equal(vkdetr_session_output(s, n, &t), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_session_output(s, 0, &t), VKDETR_OK);
    assert_string_equal(vkdetr_session_last_error(s), "");
    vkdetr_result_free(r);
    vkdetr_session_free(s);
}

/* The per-node profile agrees with the per-op one: as many nodes as the op counts say, the
 * same times and FLOPs summed, every node's op among the ops, its shapes "... -> ...". */
static void check_node_profile(vkdetr_session *s) {
    vkdetr_profile p;
    const vkdetr_node_profile *nodes;
    int n = 0, count = 0;
    assert_int_equal(vkdetr_session_profile(s, &p), VKDETR_OK);
    assert_int_equal(vkdetr_session_node_profile(s, &nodes, &n), VKDETR_OK);
    double op_ms = 0, op_gflop = 0, node_ms = 0, node_gflop = 0;
    for (int i = 0; i < p.n_ops; i++) {
        count += p.ops[i].count;
        op_ms += p.ops[i].ms;
        op_gflop += p.ops[i].gflop;
    }
    assert_true(n > 0);
    assert_int_equal(n, count);
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (int k = 0; k < p.n_ops; k++) known |= !strcmp(nodes[i].op, p.ops[k].op);
        assert_true(known);
        assert_non_null(strstr(nodes[i].shapes, " -> "));
        assert_true(nodes[i].stage > VKDETR_STAGE_PREPROCESS && nodes[i].stage < VKDETR_STAGE_COUNT);
        assert_true(nodes[i].ms >= 0 && nodes[i].gflop >= 0);
        node_ms += nodes[i].ms;
        node_gflop += nodes[i].gflop;
    }
    assert_true(op_ms > 0);
    assert_true(fabs(node_ms - op_ms) <= 1e-9 * op_ms);
    assert_true(fabs(node_gflop - op_gflop) <= 1e-9 * op_gflop);
}

static void test_node_profile(void **state) {
    (void)state;
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.profile = 1;
    vkdetr_session *s;
    assert_int_equal(vkdetr_session_create(model, &sp, &s), VKDETR_OK);
    const char *input = vd_test_path(FIXTURE_INPUT);
    for (int run = 0; run < 2; run++) { /* the table is made once, the times follow each run */
        vkdetr_result *r;
        assert_int_equal(vkdetr_session_detect_file(s, input, &r), VKDETR_OK);
        vkdetr_result_free(r);
        check_node_profile(s);
    }
    /* the first conv2d of the backbone reads the image: its shapes begin with 1x3x */
    const vkdetr_node_profile *nodes;
    int n;
    assert_int_equal(vkdetr_session_node_profile(s, &nodes, &n), VKDETR_OK);
    int i = 0;
    while (i < n && strcmp(nodes[i].op, "conv2d")) i++;
    assert_true(i < n);
    assert_int_equal(nodes[i].stage, VKDETR_STAGE_BACKBONE);
    assert_int_equal(strncmp(nodes[i].shapes, "1x3x", 4), 0);
    vkdetr_session_free(s);
}

/* COCO's order: column-major, starting with 0s. A 3x2 mask (w = 3, h = 2), row-major
 *   0 1 1
 *   0 0 1
 * read by columns: (0,0)=0 (0,1)=0 | (1,0)=1 (1,1)=0 | (2,0)=1 (2,1)=1 -> runs 2 0s, 1 1,
 * 1 0, 2 1s. */
static void test_mask_rle(void **state) {
    (void)state;
    const uint8_t bm[6] = {0, 1, 1, 0, 0, 1};
    uint32_t *counts;
    int n;
    assert_int_equal(vd_mask_rle_encode(bm, 3, 2, &counts, &n), VKDETR_OK);
    assert_int_equal(n, 4);
    assert_int_equal(counts[0], 2);
    assert_int_equal(counts[1], 1);
    assert_int_equal(counts[2], 1);
    assert_int_equal(counts[3], 2);
    vkdetr_mask m = {3, 2, NULL, n, counts};
    uint8_t out[6];
    assert_int_equal(vkdetr_mask_decode(&m, out), VKDETR_OK);
    assert_memory_equal(out, bm, 6);
    vd_free(counts);

    /* a mask starting inside: counts[0] = 0 */
    const uint8_t full[4] = {1, 1, 1, 1};
    assert_int_equal(vd_mask_rle_encode(full, 2, 2, &counts, &n), VKDETR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 4);
    vd_free(counts);

    /* random masks of odd sizes round-trip */
    vd_rng rng;
    vd_rng_seed(&rng, 6);
    for (int iter = 0; iter < 20; iter++) {
        int w = 1 + (int)(vd_rng_u32(&rng) % 37), h = 1 + (int)(vd_rng_u32(&rng) % 23);
        uint8_t *b = malloc((size_t)w * h), *back = malloc((size_t)w * h);
        int density = (int)(vd_rng_u32(&rng) % 100);
        for (int i = 0; i < w * h; i++) b[i] = (int)(vd_rng_u32(&rng) % 100) < density;
        assert_int_equal(vd_mask_rle_encode(b, w, h, &counts, &n), VKDETR_OK);
        uint64_t sum = 0;
        for (int i = 0; i < n; i++) {
            sum += counts[i];
            if (i) assert_true(counts[i] > 0);
        }
        assert_int_equal(sum, (uint64_t)w * h);
        vkdetr_mask mk = {w, h, NULL, n, counts};
        assert_int_equal(vkdetr_mask_decode(&mk, back), VKDETR_OK);
        if (memcmp(b, back, (size_t)w * h)) fail_msg("mask %dx%d density %d: round trip differs", w, h, density);
        vd_free(counts);
        free(b);
        free(back);
    }

    /* counts that do not cover the image, and missing counts */
    uint32_t short_counts[2] = {2, 3}, long_counts[2] = {2, 5};
    vkdetr_mask bad = {3, 2, NULL, 2, short_counts};
    assert_int_equal(vkdetr_mask_decode(&bad, out), VKDETR_ERR_INVALID_ARG);
    puts(vkdetr_last_error());
    bad.counts = long_counts;
    assert_int_equal(vkdetr_mask_decode(&bad, out), VKDETR_ERR_INVALID_ARG);
    bad.counts = NULL;
    assert_int_equal(vkdetr_mask_decode(&bad, out), VKDETR_ERR_INVALID_ARG);
    vkdetr_mask empty = {0};
    assert_int_equal(vkdetr_mask_decode(&empty, out), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_mask_decode(NULL, out), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vkdetr_mask_decode(&m, NULL), VKDETR_ERR_INVALID_ARG);
}

int main(void) {
    vd_vk_test_setup(); /* vkdetr_device_list loads the Vulkan drivers: keep them mapped */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_status),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_params_out_of_range),
        cmocka_unit_test(test_result_fields),
        cmocka_unit_test(test_load_files_and_memory),
        cmocka_unit_test(test_pixel_layouts),
        cmocka_unit_test(test_session_errors),
        cmocka_unit_test(test_node_profile),
        cmocka_unit_test(test_mask_rle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
