/* COCO evaluation against pycocotools: the 12 stats of the committed cases in tests/data/coco
 * (tools/gen_coco_eval_cases.py wrote them with pycocotools 2.0.11), the printed summary, the
 * mask API (polygon rasterisation, RLE strings, merges, boxes, IoU) against pycocotools' own
 * outputs, RLE round trips, bad inputs, `vkdetr eval --annotations --results` on a case,
 * `vkdetr eval -m` end to end on the tiny RT-DETR fixture, and the bundled default model's AP
 * on the bundled sample images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "tests/support/clirun.h"
#include "tests/support/testutil.h"

#include "coco_rle.h"
#include "cocoeval.h"
#include "error.h"

static const char *const k_cases[] = {"mixed", "crowded", "areas", "segm_only", "perfect"};

static cJSON *read_json(const char *rel) {
    size_t size;
    char *text = vd_test_read_file(vd_test_path(rel), &size);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", rel);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, size);
    free(text);
    return j;
}

static char *print_summary(const double *stats) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    vd_cocoeval_print(f, stats);
    fclose(f);
    return buf;
}

/* ---- the thresholds ------------------------------------------------------------------- */

static void test_thresholds(void **state) {
    (void)state;
    /* NumPy's np.linspace(.5, .95, 10) and np.linspace(0, 1, 101), bit for bit */
    static const double iou[10] = {0x1.0000000000000p-1, 0x1.199999999999ap-1, 0x1.3333333333333p-1,
                                   0x1.4cccccccccccdp-1, 0x1.6666666666666p-1, 0x1.8000000000000p-1,
                                   0x1.999999999999ap-1, 0x1.b333333333333p-1, 0x1.cccccccccccccp-1,
                                   0x1.e666666666666p-1};
    for (int t = 0; t < VD_COCOEVAL_T; t++) assert_true(vd_cocoeval_iou_threshold(t) == iou[t]);
    assert_true(vd_cocoeval_recall_threshold(7) == 0x1.1eb851eb851ecp-4);
    assert_true(vd_cocoeval_recall_threshold(29) == 0x1.28f5c28f5c28fp-2);
    assert_true(vd_cocoeval_recall_threshold(57) == 0x1.23d70a3d70a3ep-1);
    assert_true(vd_cocoeval_recall_threshold(58) == 0x1.28f5c28f5c28fp-1);
    assert_true(vd_cocoeval_recall_threshold(99) == 0x1.fae147ae147aep-1);
    assert_true(vd_cocoeval_recall_threshold(100) == 1.0);
}

/* ---- the cases against pycocotools ---------------------------------------------------- */

static double g_max_diff;

static void check_case(const char *name, const char *type, const cJSON *expected) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/coco/%s_gt.json", name);
    vd_coco_gt *gt = NULL;
    if (vd_coco_gt_load(vd_test_path(rel), &gt)) fail_msg("%s: %s", rel, vd_app_last_error());
    snprintf(rel, sizeof rel, "tests/data/coco/%s_res.json", name);
    cJSON *results = NULL;
    if (vd_coco_results_load(vd_test_path(rel), &results)) fail_msg("%s", vd_app_last_error());
    vd_cocoeval e;
    vd_cocoeval_iou_type t = strcmp(type, "segm") ? VD_COCOEVAL_BBOX : VD_COCOEVAL_SEGM;
    vkdetr_status st = vd_cocoeval_run(gt, results, t, &e);
    if (st) fail_msg("%s %s: %s", name, type, vd_app_last_error());
    const cJSON *exp = cJSON_GetObjectItem(cJSON_GetObjectItem(expected, name), type);
    const cJSON *stats = cJSON_GetObjectItem(exp, "stats");
    assert_int_equal(cJSON_GetArraySize(stats), VD_COCOEVAL_STATS);
    int bad = 0;
    for (int i = 0; i < VD_COCOEVAL_STATS; i++) {
        double want = cJSON_GetArrayItem(stats, i)->valuedouble, d = fabs(e.stats[i] - want);
        if (d > g_max_diff) g_max_diff = d;
        if (d > 1e-9) {
            fprintf(stderr, "FAIL %s %s %s: %.17g, pycocotools %.17g\n", name, type,
                    vd_cocoeval_stat_names[i], e.stats[i], want);
            bad++;
        }
    }
    char *text = print_summary(e.stats);
    const char *want_text = cJSON_GetObjectItem(exp, "summary")->valuestring;
    if (strcmp(text, want_text)) {
        fprintf(stderr, "FAIL %s %s summary:\n%s\npycocotools:\n%s\n", name, type, text, want_text);
        bad++;
    }
    free(text);
    vd_cocoeval_free(&e);
    cJSON_Delete(results);
    vd_coco_gt_free(gt);
    assert_int_equal(bad, 0);
}

static void test_cases(void **state) {
    (void)state;
    cJSON *expected = read_json("tests/data/coco/expected.json");
    assert_non_null(expected);
    g_max_diff = 0;
    for (size_t c = 0; c < sizeof k_cases / sizeof k_cases[0]; c++) {
        check_case(k_cases[c], "bbox", expected);
        check_case(k_cases[c], "segm", expected);
    }
    fprintf(stderr, "max |ours - pycocotools| over %zu cases x 2 types x 12 stats: %.3g\n",
            sizeof k_cases / sizeof k_cases[0], g_max_diff);
    cJSON_Delete(expected);
}

/* The per-category AP and the arrays are consistent with the stats. */
static void test_arrays(void **state) {
    (void)state;
    vd_coco_gt *gt = NULL;
    cJSON *res = NULL;
    assert_int_equal(vd_coco_gt_load(vd_test_path("tests/data/coco/mixed_gt.json"), &gt), 0);
    assert_int_equal(vd_coco_results_load(vd_test_path("tests/data/coco/mixed_res.json"), &res), 0);
    vd_cocoeval e;
    assert_int_equal(vd_cocoeval_run(gt, res, VD_COCOEVAL_BBOX, &e), 0);
    assert_int_equal(e.n_categories, 4);
    assert_int_equal(e.n_images, 5);
    assert_true(e.n_results_unused == 2); /* category 42 */
    double sum = 0;
    int n = 0;
    for (int k = 0; k < e.n_categories; k++) {
        if (e.category_ids[k] == 9) assert_true(e.category_ap[k] == -1.0); /* no ground truth */
        if (e.category_ap[k] > -1) {
            sum += e.category_ap[k];
            n++;
        }
    }
    assert_true(fabs(sum / n - e.stats[0]) < 1e-12);
    cJSON *raw = vd_cocoeval_json(&e, gt);
    assert_non_null(raw);
    char *text = cJSON_Print(raw); /* the numbers are printed so that they read back exactly */
    cJSON *j = cJSON_Parse(text);
    cJSON_free(text);
    cJSON_Delete(raw);
    for (int i = 0; i < VD_COCOEVAL_STATS; i++)
        assert_true(cJSON_GetObjectItem(j, vd_cocoeval_stat_names[i])->valuedouble == e.stats[i]);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "per_category"), 0)
                            ->child->next->valuestring,
                        "disc");
    cJSON_Delete(j);
    vd_cocoeval_free(&e);
    /* empty results: no detections (pycocotools cannot load an empty list) */
    cJSON *empty = cJSON_CreateArray();
    assert_int_equal(vd_cocoeval_run(gt, empty, VD_COCOEVAL_SEGM, &e), 0);
    assert_true(e.stats[0] == 0.0 && e.stats[5] == -1.0 && e.stats[8] == 0.0);
    vd_cocoeval_free(&e);
    cJSON_Delete(empty);
    cJSON_Delete(res);
    vd_coco_gt_free(gt);
}

/* ---- the mask API against pycocotools ------------------------------------------------- */

static void rle_from_string_ok(const char *s, int h, int w, vd_rle *r) {
    if (vd_rle_from_string(s, h, w, r)) fail_msg("%s: %s", s, vd_app_last_error());
}

static void check_box(const char *what, const double *got, const cJSON *want) {
    for (int i = 0; i < 4; i++)
        if (got[i] != cJSON_GetArrayItem(want, i)->valuedouble)
            fail_msg("%s: bbox[%d] = %g, pycocotools %g", what, i, got[i],
                     cJSON_GetArrayItem(want, i)->valuedouble);
}

static void test_polygons(void **state) {
    (void)state;
    cJSON *cases = read_json("tests/data/coco/rle_cases.json");
    assert_non_null(cases);
    const cJSON *it;
    int n = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(cases, "polygons")) {
        int h = cJSON_GetObjectItem(it, "h")->valueint, w = cJSON_GetObjectItem(it, "w")->valueint;
        const cJSON *xy = cJSON_GetObjectItem(it, "xy");
        int k = cJSON_GetArraySize(xy);
        double v[64];
        assert_true(k <= 64);
        for (int i = 0; i < k; i++) v[i] = cJSON_GetArrayItem(xy, i)->valuedouble;
        vd_rle r;
        assert_int_equal(vd_rle_from_polygon(v, k / 2, h, w, &r), 0);
        char *s = vd_rle_to_string(&r);
        const char *want = cJSON_GetObjectItem(it, "counts")->valuestring;
        if (strcmp(s, want)) fail_msg("polygon %d (%dx%d): %s, pycocotools %s", n, w, h, s, want);
        assert_int_equal((int)vd_rle_area(&r), cJSON_GetObjectItem(it, "area")->valueint);
        double bb[4];
        vd_rle_bbox(&r, bb);
        check_box("polygon", bb, cJSON_GetObjectItem(it, "bbox"));
        free(s);
        vd_rle_free(&r);
        n++;
    }
    assert_true(n >= 10);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(cases, "merges")) {
        int h = cJSON_GetObjectItem(it, "h")->valueint, w = cJSON_GetObjectItem(it, "w")->valueint;
        vd_rle parts[8];
        int np = 0;
        const cJSON *part;
        cJSON_ArrayForEach(part, cJSON_GetObjectItem(it, "parts")) {
            double v[64];
            int k = cJSON_GetArraySize(part);
            for (int i = 0; i < k; i++) v[i] = cJSON_GetArrayItem(part, i)->valuedouble;
            assert_int_equal(vd_rle_from_polygon(v, k / 2, h, w, &parts[np++]), 0);
        }
        vd_rle u;
        assert_int_equal(vd_rle_union(parts, np, &u), 0);
        char *s = vd_rle_to_string(&u);
        assert_string_equal(s, cJSON_GetObjectItem(it, "counts")->valuestring);
        free(s);
        vd_rle_free(&u);
        for (int i = 0; i < np; i++) vd_rle_free(&parts[i]);
    }
    cJSON_Delete(cases);
}

static void test_rle_api(void **state) {
    (void)state;
    cJSON *cases = read_json("tests/data/coco/rle_cases.json");
    assert_non_null(cases);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(cases, "uncompressed")) {
        int h = cJSON_GetObjectItem(it, "h")->valueint, w = cJSON_GetObjectItem(it, "w")->valueint;
        const cJSON *counts = cJSON_GetObjectItem(it, "counts");
        int64_t c[512];
        int n = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, counts) c[n++] = (int64_t)v->valuedouble;
        vd_rle r;
        assert_int_equal(vd_rle_from_counts(c, n, h, w, &r), 0);
        char *s = vd_rle_to_string(&r);
        assert_string_equal(s, cJSON_GetObjectItem(it, "string")->valuestring);
        free(s);
        vd_rle_free(&r);
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(cases, "masks")) {
        int h = cJSON_GetObjectItem(it, "h")->valueint, w = cJSON_GetObjectItem(it, "w")->valueint;
        uint8_t m[64 * 64], back[64 * 64];
        int y = 0;
        const cJSON *row;
        cJSON_ArrayForEach(row, cJSON_GetObjectItem(it, "rows")) {
            for (int x = 0; x < w; x++) m[y * w + x] = row->valuestring[x] == '1';
            y++;
        }
        char *s = vd_rle_encode(m, w, h);
        const char *want = cJSON_GetObjectItem(it, "counts")->valuestring;
        assert_string_equal(s, want);
        memset(back, 7, sizeof back);
        assert_int_equal(vd_rle_decode(want, w, h, back), 0);
        assert_memory_equal(m, back, (size_t)w * h);
        vd_rle r;
        rle_from_string_ok(want, h, w, &r);
        assert_int_equal((int)vd_rle_area(&r), cJSON_GetObjectItem(it, "area")->valueint);
        double bb[4];
        vd_rle_bbox(&r, bb);
        check_box("mask", bb, cJSON_GetObjectItem(it, "bbox"));
        vd_rle_free(&r);
        free(s);
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(cases, "ious")) {
        int h = cJSON_GetObjectItem(it, "h")->valueint, w = cJSON_GetObjectItem(it, "w")->valueint;
        vd_rle d, g;
        rle_from_string_ok(cJSON_GetObjectItem(it, "dt")->valuestring, h, w, &d);
        rle_from_string_ok(cJSON_GetObjectItem(it, "gt")->valuestring, h, w, &g);
        double iou = vd_rle_iou(&d, &g, cJSON_GetObjectItem(it, "crowd")->valueint);
        assert_true(iou == cJSON_GetObjectItem(it, "iou")->valuedouble);
        vd_rle_free(&d);
        vd_rle_free(&g);
    }
    cJSON_Delete(cases);
}

/* Seeded random masks of odd sizes: bitmap -> RLE -> string -> RLE -> bitmap. */
static void test_rle_round_trip(void **state) {
    (void)state;
    vd_rng rng;
    vd_rng_seed(&rng, 7);
    for (int it = 0; it < 300; it++) {
        int w = 1 + (int)(vd_rng_u32(&rng) % 37), h = 1 + (int)(vd_rng_u32(&rng) % 29);
        float density = vd_rng_uniform(&rng, 0, 1);
        int mode = it % 5; /* 0: empty, 1: full, else random */
        uint8_t *m = malloc((size_t)w * h), *back = malloc((size_t)w * h);
        for (int i = 0; i < w * h; i++)
            m[i] = mode == 0 ? 0 : mode == 1 ? 1 : vd_rng_uniform(&rng, 0, 1) < density;
        vd_rle r, r2;
        assert_int_equal(vd_rle_from_mask(m, w, h, &r), 0);
        uint64_t area = 0;
        for (int i = 0; i < w * h; i++) area += m[i];
        assert_true(vd_rle_area(&r) == area);
        char *s = vd_rle_to_string(&r);
        assert_int_equal(vd_rle_from_string(s, h, w, &r2), 0);
        assert_true(r2.n == r.n && !memcmp(r.counts, r2.counts, (size_t)r.n * 4));
        vd_rle_to_mask(&r2, back);
        if (memcmp(m, back, (size_t)w * h)) fail_msg("round trip %d: %dx%d", it, w, h);
        /* IoU with itself: 1 (0 when empty); the union with itself: itself */
        double iou = vd_rle_iou(&r, &r2, 0);
        assert_true(iou == (area ? 1.0 : 0.0));
        vd_rle both[2] = {r, r2}, u;
        assert_int_equal(vd_rle_union(both, 2, &u), 0);
        assert_true(vd_rle_area(&u) == area);
        vd_rle_free(&u);
        free(s);
        vd_rle_free(&r);
        vd_rle_free(&r2);
        free(m);
        free(back);
    }
}

static void test_rle_errors(void **state) {
    (void)state;
    vd_rle r;
    uint8_t buf[4];
    assert_int_equal(vd_rle_decode("4", 2, 2, buf), 0);  /* 4 zeros */
    assert_int_equal(vd_rle_decode("5", 2, 2, buf), -1); /* too many */
    assert_int_equal(vd_rle_decode("3", 2, 2, buf), -1); /* too few */
    assert_int_equal(vd_rle_decode("1 ", 2, 2, buf), -1); /* bad character */
    assert_int_equal(vd_rle_decode("0P", 2, 2, buf), -1); /* a continuation that never ends */
    assert_int_equal(vd_rle_from_string("ooooooooooooooo1", 4, 4, &r), VKDETR_ERR_FORMAT);
    const int64_t neg[] = {2, -1, 3};
    assert_int_equal(vd_rle_from_counts(neg, 3, 2, 2, &r), VKDETR_ERR_FORMAT);
    const double bad[] = {0, 0, NAN, 1, 2, 2};
    assert_int_equal(vd_rle_from_polygon(bad, 3, 4, 4, &r), VKDETR_ERR_FORMAT);
    const double far[] = {0, 0, 1e7, 1, 2, 2};
    assert_int_equal(vd_rle_from_polygon(far, 3, 4, 4, &r), VKDETR_ERR_FORMAT);
    assert_int_equal(vd_rle_from_mask(buf, 70000, 70000, &r), VKDETR_ERR_INVALID_ARG);
    /* sizes that differ: -1 where the boxes overlap, as pycocotools */
    vd_rle a, b;
    uint8_t ones[6] = {1, 1, 1, 1, 1, 1};
    assert_int_equal(vd_rle_from_mask(ones, 2, 3, &a), 0);
    assert_int_equal(vd_rle_from_mask(ones, 3, 2, &b), 0);
    assert_true(vd_rle_iou(&a, &b, 0) == -1.0);
    assert_int_equal(vd_rle_union(&a, 1, &r), 0);
    vd_rle_free(&r);
    vd_rle pair[2] = {a, b};
    assert_int_equal(vd_rle_union(pair, 2, &r), VKDETR_ERR_FORMAT);
    vd_rle_free(&a);
    vd_rle_free(&b);
    vd_rle_free(&r); /* cleared on failure: freeing again is fine */
}

/* ---- bad annotations and results ------------------------------------------------------ */

static vkdetr_status run_text(const char *gt_text, const char *res_text, vd_cocoeval_iou_type t) {
    vd_coco_gt *gt = NULL;
    vkdetr_status st = vd_coco_gt_parse(gt_text, strlen(gt_text), "gt.json", &gt);
    if (st) return st;
    cJSON *res = cJSON_Parse(res_text);
    vd_cocoeval e;
    st = vd_cocoeval_run(gt, res, t, &e);
    if (!st) vd_cocoeval_free(&e);
    cJSON_Delete(res);
    vd_coco_gt_free(gt);
    return st;
}

static void expect_error(const char *gt, const char *res, vd_cocoeval_iou_type t,
                         const char *needle) {
    vkdetr_status st = run_text(gt, res, t);
    if (st == VKDETR_OK || !strstr(vd_app_last_error(), needle))
        fail_msg("expected an error with '%s', got %d '%s'\n  gt %s\n  res %s", needle, st,
                 vd_app_last_error(), gt, res);
}

static void test_bad_inputs(void **state) {
    (void)state;
    const char *ok_gt =
        "{\"images\": [{\"id\": 1, \"width\": 20, \"height\": 10}], \"categories\": [{\"id\": 3, "
        "\"name\": \"a\"}], \"annotations\": [{\"id\": 5, \"image_id\": 1, \"category_id\": 3, "
        "\"bbox\": [1, 1, 5, 5], \"area\": 25, \"iscrowd\": 0, \"segmentation\": [[1, 1, 6, 1, "
        "6, 6]]}]}";
    const char *ok_res =
        "[{\"image_id\": 1, \"category_id\": 3, \"score\": 0.5, \"bbox\": [1, 1, 5, 5]}]";
    assert_int_equal(run_text(ok_gt, ok_res, VD_COCOEVAL_BBOX), 0);
    assert_int_equal(run_text(ok_gt, ok_res, VD_COCOEVAL_SEGM), 0);
    expect_error("[1]", ok_res, 0, "gt.json: not a JSON object");
    expect_error("{\"images\": []}", ok_res, 0, "not a COCO annotations file");
    expect_error("{\"images\": [{\"id\": 1.5}], \"categories\": []}", ok_res, 0,
                 "images[0] has no integer \"id\"");
    expect_error("{\"images\": [{\"id\": 1}], \"categories\": [], \"annotations\": [{\"id\": 1, "
                 "\"image_id\": 1, \"category_id\": 1}]}",
                 "[]", 0, "annotation 1 has no \"area\"");
    expect_error("{\"images\": [{\"id\": 1}], \"categories\": [], \"annotations\": [{\"id\": 1, "
                 "\"image_id\": 1, \"category_id\": 1, \"area\": 1}, {\"id\": 1, \"image_id\": 1, "
                 "\"category_id\": 1, \"area\": 1}]}",
                 "[]", 0, "annotation id 1 appears twice");
    expect_error(ok_gt, "{}", 0, "not a JSON array");
    expect_error(ok_gt, "[{\"image_id\": 1, \"category_id\": 3, \"bbox\": [0, 0, 1, 1]}]", 0,
                 "numeric \"score\"");
    expect_error(ok_gt,
                 "[{\"image_id\": 2, \"category_id\": 3, \"score\": 1, \"bbox\": [0, 0, 1, 1]}]",
                 0, "image_id 2 is not in the annotations");
    expect_error(ok_gt, "[{\"image_id\": 1, \"category_id\": 3, \"score\": 1}]", 0,
                 "neither \"bbox\" nor \"segmentation\"");
    expect_error(ok_gt,
                 "[{\"image_id\": 1, \"category_id\": 3, \"score\": 1, \"bbox\": [0, 0, 1, 1]}, "
                 "{\"image_id\": 1, \"category_id\": 3, \"score\": 1}]",
                 0, "results[1]: no \"bbox\"");
    expect_error(ok_gt,
                 "[{\"image_id\": 1, \"category_id\": 3, \"score\": 1, "
                 "\"segmentation\": [[1, 1, 3, 1, 3, 3]]}]",
                 0, "must be compressed RLE");
    expect_error(ok_gt,
                 "[{\"image_id\": 1, \"category_id\": 3, \"score\": 1, "
                 "\"segmentation\": {\"size\": [10, 20], \"counts\": \"5\"}}]",
                 0, "results[0]: RLE counts add up to 5");
    /* segm: polygons need the image size; a first part of 4 numbers is refused */
    const char *no_size =
        "{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 3}], \"annotations\": [{\"id\": 5, "
        "\"image_id\": 1, \"category_id\": 3, \"bbox\": [1, 1, 5, 5], \"area\": 25, "
        "\"segmentation\": [[1, 1, 6, 1, 6, 6]]}]}";
    expect_error(no_size, ok_res, VD_COCOEVAL_SEGM, "annotation 5: polygons need the image's");
    assert_int_equal(run_text(no_size, ok_res, VD_COCOEVAL_BBOX), 0);
    const char *four =
        "{\"images\": [{\"id\": 1, \"width\": 9, \"height\": 9}], \"categories\": [{\"id\": 3}], "
        "\"annotations\": [{\"id\": 5, \"image_id\": 1, \"category_id\": 3, \"area\": 25, "
        "\"segmentation\": [[1, 1, 6, 1]]}]}";
    expect_error(four, ok_res, VD_COCOEVAL_SEGM, "at least 3 points");
    expect_error(four, ok_res, VD_COCOEVAL_BBOX, "annotation 5 has no \"bbox\"");
}

/* ---- the command line ------------------------------------------------------------------ */

static double json_stat(const cJSON *doc, const char *type, const char *name) {
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, type), name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static cJSON *read_abs_json(const char *path) {
    size_t size;
    char *text = vd_test_read_file(path, &size);
    cJSON *j = text ? cJSON_ParseWithLength(text, size) : NULL;
    free(text);
    return j;
}

static void test_cli_results(void **state) {
    (void)state;
    char out_json[512];
    snprintf(out_json, sizeof out_json, "%s/ap.json", vd_test_tmpdir());
    const char *gt = vd_test_path("tests/data/coco/mixed_gt.json");
    const char *res = vd_test_path("tests/data/coco/mixed_res.json");
    const char *args[] = {"eval", "--annotations", gt, "--results", res, "--json", out_json, NULL};
    vd_cli_result r = vd_cli_run(args, NULL, NULL, 120);
    assert_true(vd_cli_expect(&r, 0, "eval --results"));
    cJSON *expected = read_json("tests/data/coco/expected.json");
    const cJSON *mixed = cJSON_GetObjectItem(expected, "mixed");
    /* the results carry masks: both types, each after its header line */
    for (int t = 0; t < 2; t++) {
        const char *type = t ? "segm" : "bbox";
        char block[4096];
        snprintf(block, sizeof block, "IoU metric: %s\n%s", type,
                 cJSON_GetObjectItem(cJSON_GetObjectItem(mixed, type), "summary")->valuestring);
        if (!strstr(r.out, block)) fail_msg("stdout lacks\n%s\nstdout:\n%s", block, r.out);
    }
    assert_non_null(strstr(r.err, "2 results of categories"));
    cJSON *doc = read_abs_json(out_json);
    assert_non_null(doc);
    const cJSON *stats = cJSON_GetObjectItem(cJSON_GetObjectItem(mixed, "bbox"), "stats");
    for (int i = 0; i < VD_COCOEVAL_STATS; i++)
        assert_true(fabs(json_stat(doc, "bbox", vd_cocoeval_stat_names[i]) -
                         cJSON_GetArrayItem(stats, i)->valuedouble) == 0);
    cJSON_Delete(doc);
    cJSON_Delete(expected);
    vd_cli_result_free(&r);

    /* usage errors */
    const char *no_ann[] = {"eval", "--results", res, NULL};
    r = vd_cli_run(no_ann, NULL, NULL, 60);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--annotations FILE is required"));
    vd_cli_result_free(&r);
    const char *both[] = {"eval", "--annotations", gt, "--results", res, "--images", "/tmp", NULL};
    r = vd_cli_run(both, NULL, NULL, 60);
    assert_int_equal(r.status, 2);
    vd_cli_result_free(&r);
    const char *bad_res[] = {"eval", "--annotations", gt, "--results", gt, NULL};
    r = vd_cli_run(bad_res, NULL, NULL, 60);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "not a JSON array"));
    vd_cli_result_free(&r);
    const char *help[] = {"eval", "--help", NULL};
    r = vd_cli_run(help, NULL, NULL, 60);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--iou-type T"));
    vd_cli_result_free(&r);
}

/* Ground truth made of the best predictions of each image (boxes 10% wider), so that
 * a second run of the same model finds something. */
static int write_gt_from(const char *gt_path, const cJSON *predictions, const char *out) {
    cJSON *gt = read_abs_json(gt_path);
    if (!gt) return -1;
    cJSON *anns = cJSON_CreateArray();
    int64_t last_image = -1;
    int per_image = 0, id = 1;
    const cJSON *p;
    cJSON_ArrayForEach(p, predictions) {
        int64_t image = (int64_t)cJSON_GetObjectItem(p, "image_id")->valuedouble;
        per_image = image == last_image ? per_image + 1 : 0;
        last_image = image;
        if (per_image >= 4) continue; /* the predictions of an image come best first */
        const cJSON *bb = cJSON_GetObjectItem(p, "bbox");
        double box[4];
        for (int i = 0; i < 4; i++) box[i] = cJSON_GetArrayItem(bb, i)->valuedouble;
        box[2] *= 1.1; /* IoU 1 / 1.1 with the prediction */
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", id++);
        cJSON_AddNumberToObject(a, "image_id", (double)image);
        double cat = cJSON_GetObjectItem(p, "category_id")->valuedouble;
        cJSON_AddNumberToObject(a, "category_id", cat);
        cJSON_AddItemToObject(a, "bbox", cJSON_CreateDoubleArray(box, 4));
        cJSON_AddNumberToObject(a, "area", box[2] * box[3]);
        cJSON_AddNumberToObject(a, "iscrowd", 0);
        cJSON_AddItemToArray(anns, a);
    }
    cJSON_ReplaceItemInObject(gt, "annotations", anns);
    char *text = cJSON_Print(gt);
    int rc = vd_test_write_file(out, text, strlen(text));
    cJSON_free(text);
    cJSON_Delete(gt);
    return rc;
}

/* `vkdetr eval -m` on the tiny fixture (random weights): it runs, writes the predictions, and
 * the evaluation of the predictions file read back equals the one of the run; then again with
 * ground truth made from the first predictions, where AP is not 0. */
static void test_cli_model(void **state) {
    (void)state;
    const char *model = vd_test_path("tests/data/rtdetr_v1_tiny");
    struct stat sb;
    char weights[4200];
    snprintf(weights, sizeof weights, "%s/model.safetensors", model);
    if (stat(weights, &sb) != 0) {
        fprintf(stderr, "skip: no tiny model fixture\n");
        skip();
    }
    const char *dir = vd_test_tmpdir();
    char pred[512], j1[512], j2[512], gt2[512];
    snprintf(pred, sizeof pred, "%s/pred.json", dir);
    snprintf(j1, sizeof j1, "%s/run.json", dir);
    snprintf(j2, sizeof j2, "%s/file.json", dir);
    snprintf(gt2, sizeof gt2, "%s/gt2.json", dir);
    const char *images = vd_test_path("tests/data/images");
    const char *gt = vd_test_path("tests/data/coco/e2e_gt.json");
    for (int pass = 0; pass < 2; pass++) {
        const char *args[] = {"eval",  "-m",           model, "--backend", "cpu", "--threads",
                              "1",     "--annotations", gt,    "--images",  images, "--predictions",
                              pred,    "--json",        j1,    NULL};
        vd_cli_result r = vd_cli_run(args, NULL, NULL, 300);
        assert_true(vd_cli_expect(&r, 0, "eval -m"));
        assert_non_null(
            strstr(r.out, "IoU metric: bbox\n Average Precision  (AP) @[ IoU=0.50:0.95 |"));
        /* labels without a category and categories without a label are named */
        assert_non_null(strstr(r.err, "(names: blob)"));
        assert_non_null(strstr(r.err, "(person)"));
        vd_cli_result_free(&r);
        cJSON *predictions = read_abs_json(pred);
        assert_true(cJSON_IsArray(predictions));
        int n = cJSON_GetArraySize(predictions);
        assert_true(n > 0 && n <= 5 * 100);
        const cJSON *p;
        cJSON_ArrayForEach(p, predictions) {
            int64_t cat = (int64_t)cJSON_GetObjectItem(p, "category_id")->valuedouble;
            assert_true(cat == 1 || cat == 2 || cat == 3 || cat == 5); /* never blob nor person */
            assert_true(cJSON_GetObjectItem(p, "score")->valuedouble > 0.001 - 1e-6);
        }
        if (pass == 0) assert_int_equal(write_gt_from(gt, predictions, gt2), 0);
        cJSON_Delete(predictions);
        const char *again[] = {"eval", "--annotations", gt, "--results", pred, "--json", j2, NULL};
        r = vd_cli_run(again, NULL, NULL, 120);
        assert_true(vd_cli_expect(&r, 0, "eval --results pred.json"));
        vd_cli_result_free(&r);
        cJSON *a = read_abs_json(j1), *b = read_abs_json(j2);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(cJSON_GetObjectItem(a, "images")->valueint, 5);
        fprintf(stderr, "pass %d: %d predictions, AP %.4f, AP50 %.4f\n", pass, n,
                json_stat(a, "bbox", "AP"), json_stat(a, "bbox", "AP50"));
        if (pass == 1) assert_true(json_stat(a, "bbox", "AP50") > 0.3);
        for (int i = 0; i < VD_COCOEVAL_STATS; i++) {
            double x = json_stat(a, "bbox", vd_cocoeval_stat_names[i]);
            double y = json_stat(b, "bbox", vd_cocoeval_stat_names[i]);
            if (!(x == y)) fail_msg("%s: run %.17g, file %.17g", vd_cocoeval_stat_names[i], x, y);
        }
        cJSON_Delete(a);
        cJSON_Delete(b);
        gt = gt2;
    }

    /* by-id with a missing image folder: every image fails, exit 1, still evaluated */
    const char *missing[] = {"eval", "-m", model, "--backend", "cpu", "--annotations", gt,
                             "--images", "/nonexistent-vkdetr", "--category-map", "by-id", "-q",
                             NULL};
    vd_cli_result r = vd_cli_run(missing, NULL, NULL, 300);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "5 images could not be read"));
    assert_non_null(strstr(r.out, "= 0.000"));
    vd_cli_result_free(&r);
}

/* The bundled default model on the bundled sample images, whose ground truth the generator
 * wrote (assets/samples/annotations.json; tools/train_default.py --samples): the quick start's
 * model and images, evaluated end to end. A broken model, preprocessing or post-processing
 * gives an AP near 0; the floors are well under what the committed model scores
 * (assets/models/README.md: AP 0.706, AP50 0.827 on these three images). */
#define BUNDLED_MIN_AP 0.5
#define BUNDLED_MIN_AP50 0.6
static void test_bundled_model(void **state) {
    (void)state;
    const char *model = vd_test_path("assets/models/default");
    char weights[4200];
    struct stat sb;
    snprintf(weights, sizeof weights, "%s/model.safetensors", model);
    if (stat(weights, &sb) != 0) {
        fprintf(stderr, "skip: no bundled model (assets/models/default)\n");
        skip();
    }
    const char *dir = vd_test_tmpdir();
    char j[512];
    snprintf(j, sizeof j, "%s/bundled.json", dir);
    const char *args[] = {"eval", "-m", model, "--backend", "cpu", "--threads", "1",
                          "--annotations", vd_test_path("assets/samples/annotations.json"),
                          "--images", vd_test_path("assets/samples"), "-t", "0.01", "-q",
                          "--json", j, NULL};
    vd_cli_result r = vd_cli_run(args, NULL, NULL, 300);
    assert_true(vd_cli_expect(&r, 0, "eval on the samples"));
    vd_cli_result_free(&r);
    cJSON *a = read_abs_json(j);
    assert_non_null(a);
    assert_int_equal(cJSON_GetObjectItem(a, "images")->valueint, 3);
    double ap = json_stat(a, "bbox", "AP"), ap50 = json_stat(a, "bbox", "AP50");
    fprintf(stderr, "bundled model on the samples: AP %.4f, AP50 %.4f\n", ap, ap50);
    assert_true(ap >= BUNDLED_MIN_AP);
    assert_true(ap50 >= BUNDLED_MIN_AP50);
    cJSON_Delete(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thresholds),     cmocka_unit_test(test_cases),
        cmocka_unit_test(test_arrays),         cmocka_unit_test(test_polygons),
        cmocka_unit_test(test_rle_api),        cmocka_unit_test(test_rle_round_trip),
        cmocka_unit_test(test_rle_errors),     cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_cli_results),    cmocka_unit_test(test_cli_model),
        cmocka_unit_test(test_bundled_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
