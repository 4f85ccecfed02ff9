/* Resizing and preprocessing against PIL, transformers and torch (tests/data/images,
 * tools/gen_resize_fixtures.py): PIL's Image.resize for every filter (0 differing bytes
 * expected), RTDetrImageProcessor's pixel_values (bit-identical floats expected), torch's
 * bilinear interpolate on floats. */
#include "support/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base.h"
#include "core/image.h"
#include "core/pool.h"
#include "core/preprocess.h"
#include "core/resize.h"
#include "support/image_fixtures.h"

static vd_pool *g_pool;

static int setup(void **state) {
    (void)state;
    g_pool = vd_pool_create(2);
    return g_pool ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    vd_pool_free(g_pool);
    return 0;
}

/* ---- PIL resize fixtures ---------------------------------------------------------------- */

typedef struct filter_stats {
    int cases;
    size_t bytes, differing;
    int max;
} filter_stats;

static int check_resized(const vd_image *got, const cJSON *e, const char *what, filter_stats *fs) {
    const char *ref = vd_fix_str(e, "ref"), *sum = vd_fix_str(e, "checksum");
    size_t n = (size_t)got->width * got->height * 3;
    fs->cases++;
    fs->bytes += n;
    if (sum) {
        char hex[17];
        vd_fix_checksum(got->rgb, n, hex);
        if (strcmp(hex, sum) != 0) {
            fprintf(stderr, "FAIL %s: checksum %s, PIL %s\n", what, hex, sum);
            fs->differing += 1; /* unknown count: at least one */
            return 0;
        }
        return 1;
    }
    vd_image want;
    if (vd_fix_load_rgb(ref, got->width, got->height, &want) != 0) {
        fprintf(stderr, "FAIL %s: cannot load %s\n", what, ref);
        return 0;
    }
    vd_fix_diff d = vd_fix_compare(got->rgb, want.rgb, n);
    vd_image_free(&want);
    fs->differing += d.differing;
    if (d.max > fs->max) fs->max = d.max;
    if (d.differing) {
        size_t px = d.first / 3;
        fprintf(stderr, "FAIL %s: %zu of %zu bytes differ from PIL (max %d); first at x %zu y %zu\n",
                what, d.differing, n, d.max, px % (size_t)got->width, px / (size_t)got->width);
        return 0;
    }
    return 1;
}

static void resize_fixtures(void **state) {
    (void)state;
    cJSON *index = vd_fix_index();
    assert_non_null(index);
    filter_stats fs[6];
    memset(fs, 0, sizeof fs);
    int failures = 0, k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "resize")) {
        const char *src = vd_fix_str(e, "src");
        int f = vd_fix_int(e, "filter", -1), w = vd_fix_int(e, "width", 0), h = vd_fix_int(e, "height", 0);
        assert_true(f >= 0 && f < 6);
        vd_image in, out;
        assert_int_equal(vd_image_decode_file(vd_fix_path(src), &in), VKDETR_OK);
        /* alternate between inline and the 2-thread pool: results must not depend on it */
        assert_int_equal(vd_resize_image(&in, w, h, (vd_resample)f, &out, (k++ & 1) ? g_pool : NULL), VKDETR_OK);
        char what[128];
        snprintf(what, sizeof what, "%s %dx%d -> %dx%d %s", src, in.width, in.height, w, h, vd_resample_name(f));
        if (!check_resized(&out, e, what, &fs[f])) failures++;
        vd_image_free(&out);
        vd_image_free(&in);
    }
    for (int f = 0; f < 6; f++)
        printf("resize %-8s %3d cases, %7zu bytes, %zu differ from PIL (max %d)\n", vd_resample_name(f),
               fs[f].cases, fs[f].bytes, fs[f].differing, fs[f].max);
    cJSON_Delete(index);
    assert_int_equal(failures, 0);
}

/* Large inputs regenerated here (the generator's procedural image), compared by checksum. */
static void procedural_fixtures(void **state) {
    (void)state;
    cJSON *index = vd_fix_index();
    assert_non_null(index);
    int failures = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "procedural")) {
        int iw = vd_fix_int(e, "in_width", 0), ih = vd_fix_int(e, "in_height", 0);
        int w = vd_fix_int(e, "width", 0), h = vd_fix_int(e, "height", 0), f = vd_fix_int(e, "filter", -1);
        vd_image in, out;
        assert_int_equal(vd_fix_procedural(iw, ih, &in), 0);
        char hex[17];
        vd_fix_checksum(in.rgb, (size_t)iw * ih * 3, hex);
        assert_string_equal(hex, vd_fix_str(e, "input_checksum"));
        double t0 = vd_time_ms();
        assert_int_equal(vd_resize_image(&in, w, h, (vd_resample)f, &out, g_pool), VKDETR_OK);
        double ms = vd_time_ms() - t0;
        vd_fix_checksum(out.rgb, (size_t)w * h * 3, hex);
        int ok = strcmp(hex, vd_fix_str(e, "checksum")) == 0;
        printf("  procedural %4dx%-4d -> %4dx%-4d %-8s %s (%.1f ms, 2 threads, this build)\n", iw, ih,
               w, h, vd_resample_name(f), ok ? "equals PIL" : "DIFFERS from PIL", ms);
        failures += !ok;
        vd_image_free(&in);
        vd_image_free(&out);
    }
    cJSON_Delete(index);
    assert_int_equal(failures, 0);
}

/* ---- properties -------------------------------------------------------------------------- */

static void random_image(vd_rng *rng, int w, int h, int ch, uint8_t *px) {
    for (size_t i = 0; i < (size_t)w * h * ch; i++) px[i] = (uint8_t)vd_rng_u32(rng);
}

/* Channels are independent: RGBA and gray resize like the RGB planes; strides are honoured;
 * the pool changes nothing. */
static void channel_layouts(void **state) {
    (void)state;
    vd_rng rng;
    vd_rng_seed(&rng, 5);
    const int sizes[][4] = {{37, 23, 64, 32}, {64, 48, 17, 29}, {13, 301, 40, 9}, {5, 5, 5, 11}, {200, 3, 7, 3}};
    for (size_t s = 0; s < VD_ARRAY_LEN(sizes); s++) {
        int iw = sizes[s][0], ih = sizes[s][1], ow = sizes[s][2], oh = sizes[s][3];
        for (int f = 0; f <= 5; f++) {
            uint8_t *rgba = malloc((size_t)iw * ih * 4 + 64), *rgb = malloc((size_t)iw * ih * 3);
            random_image(&rng, iw, ih, 4, rgba);
            for (int i = 0; i < iw * ih; i++) memcpy(rgb + i * 3, rgba + i * 4, 3);
            size_t n4 = vd_resize_scratch_size(iw, ih, ow, oh, 4, (vd_resample)f);
            size_t n3 = vd_resize_scratch_size(iw, ih, ow, oh, 3, (vd_resample)f);
            size_t n1 = vd_resize_scratch_size(iw, ih, ow, oh, 1, (vd_resample)f);
            assert_true(n4 != SIZE_MAX && n3 != SIZE_MAX && n1 != SIZE_MAX);
            void *scratch = malloc(n4 > n3 ? n4 : n3);
            size_t ostride = (size_t)ow * 4 + 5;
            uint8_t *o4 = malloc(ostride * oh), *o3 = malloc((size_t)ow * oh * 3), *o1 = malloc((size_t)ow * oh);
            vd_raster s4 = {rgba, iw, ih, 4, (size_t)iw * 4}, d4 = {o4, ow, oh, 4, ostride};
            vd_raster s3 = {rgb, iw, ih, 3, (size_t)iw * 3}, d3 = {o3, ow, oh, 3, (size_t)ow * 3};
            assert_int_equal(vd_resize_u8(&s4, &d4, (vd_resample)f, scratch, n4, g_pool), VKDETR_OK);
            assert_int_equal(vd_resize_u8(&s3, &d3, (vd_resample)f, scratch, n3, NULL), VKDETR_OK);
            for (int c = 0; c < 3; c++) { /* each plane through the 1-channel path */
                uint8_t *plane = malloc((size_t)iw * ih);
                for (int i = 0; i < iw * ih; i++) plane[i] = rgba[i * 4 + c];
                vd_raster s1 = {plane, iw, ih, 1, (size_t)iw}, d1 = {o1, ow, oh, 1, (size_t)ow};
                assert_int_equal(vd_resize_u8(&s1, &d1, (vd_resample)f, scratch, n1, NULL), VKDETR_OK);
                for (int y = 0; y < oh; y++)
                    for (int x = 0; x < ow; x++) {
                        int a = o3[(y * ow + x) * 3 + c], b = o4[y * ostride + x * 4 + c], g = o1[y * ow + x];
                        if (a != b || a != g) {
                            fprintf(stderr, "%dx%d -> %dx%d %s: (%d, %d) c%d: rgb %d rgba %d gray %d\n", iw,
                                    ih, ow, oh, vd_resample_name(f), x, y, c, a, b, g);
                            fail();
                        }
                    }
                free(plane);
            }
            free(o4);
            free(o3);
            free(o1);
            free(scratch);
            free(rgba);
            free(rgb);
        }
    }
}

static void bad_arguments(void **state) {
    (void)state;
    uint8_t px[12] = {0}, out[48];
    char scratch[4096];
    vd_raster s = {px, 2, 2, 3, 6}, d = {out, 4, 4, 3, 12};
    size_t need = vd_resize_scratch_size(2, 2, 4, 4, 3, VD_RESAMPLE_BILINEAR);
    assert_true(need < sizeof scratch);
    assert_int_equal(vd_resize_u8(&s, &d, VD_RESAMPLE_BILINEAR, scratch, need - 1, NULL), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vd_resize_u8(&s, &d, VD_RESAMPLE_BILINEAR, NULL, need, NULL), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(vd_resize_u8(&s, &d, (vd_resample)6, scratch, sizeof scratch, NULL), VKDETR_ERR_UNSUPPORTED);
    assert_int_equal(vd_resize_scratch_size(2, 2, 4, 4, 3, (vd_resample)9), SIZE_MAX);
    assert_int_equal(vd_resize_scratch_size(0, 2, 4, 4, 3, VD_RESAMPLE_BILINEAR), SIZE_MAX);
    assert_int_equal(vd_resize_scratch_size(2, 2, 4, 4, 5, VD_RESAMPLE_BILINEAR), SIZE_MAX);
    vd_raster d1 = {out, 4, 4, 1, 4};
    assert_int_equal(vd_resize_u8(&s, &d1, VD_RESAMPLE_BILINEAR, scratch, sizeof scratch, NULL), VKDETR_ERR_INVALID_ARG);
    vd_raster bad = {px, 2, 2, 3, 5};
    assert_int_equal(vd_resize_u8(&bad, &d, VD_RESAMPLE_BILINEAR, scratch, sizeof scratch, NULL), VKDETR_ERR_INVALID_ARG);
    /* same size: a copy, for every filter */
    for (int i = 0; i < 12; i++) px[i] = (uint8_t)(i * 20);
    vd_raster same = {out, 2, 2, 3, 6};
    for (int f = 0; f <= 5; f++) {
        memset(out, 0, sizeof out);
        assert_int_equal(vd_resize_u8(&s, &same, (vd_resample)f, scratch, sizeof scratch, NULL), VKDETR_OK);
        assert_memory_equal(out, px, 12);
    }
}

/* ---- preprocessing ------------------------------------------------------------------------ */

static double json_num(const cJSON *o, const char *k, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* The fixture's processor settings (a preprocessor_config.json subset) to vd_preprocess. */
static vd_preprocess config_from_json(const cJSON *c) {
    vd_preprocess p = vd_preprocess_default_rtdetr();
    p.do_resize = (int)json_num(c, "do_resize", 1);
    p.resample = (int)json_num(c, "resample", 2);
    p.do_rescale = (int)json_num(c, "do_rescale", 1);
    p.rescale_factor = json_num(c, "rescale_factor", 1.0 / 255);
    p.do_normalize = (int)json_num(c, "do_normalize", 0);
    const cJSON *size = cJSON_GetObjectItem(c, "size");
    if (cJSON_GetObjectItem(size, "height")) {
        p.size_mode = VD_SIZE_HEIGHT_WIDTH;
        p.height = vd_fix_int(size, "height", 0);
        p.width = vd_fix_int(size, "width", 0);
    } else if (cJSON_GetObjectItem(size, "max_height")) {
        p.size_mode = VD_SIZE_MAX_HEIGHT_WIDTH;
        p.height = vd_fix_int(size, "max_height", 0);
        p.width = vd_fix_int(size, "max_width", 0);
    } else {
        p.size_mode = cJSON_GetObjectItem(size, "longest_edge") ? VD_SIZE_SHORTEST_LONGEST : VD_SIZE_SHORTEST_EDGE;
        p.shortest_edge = vd_fix_int(size, "shortest_edge", 0);
        p.longest_edge = vd_fix_int(size, "longest_edge", 0);
    }
    for (int i = 0; i < 3; i++) {
        p.image_mean[i] = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "image_mean"), i)->valuedouble;
        p.image_std[i] = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "image_std"), i)->valuedouble;
    }
    return p;
}

static void processor_fixtures(void **state) {
    (void)state;
    cJSON *index = vd_fix_index();
    assert_non_null(index);
    int failures = 0, cases = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "processor")) {
        vd_preprocess cfg = config_from_json(cJSON_GetObjectItem(e, "config"));
        int w = vd_fix_int(e, "width", 0), h = vd_fix_int(e, "height", 0);
        vd_image img;
        assert_int_equal(vd_image_decode_file(vd_fix_path(vd_fix_str(e, "src")), &img), VKDETR_OK);
        int ow, oh;
        assert_int_equal(vd_preprocess_output_size(&cfg, img.width, img.height, &ow, &oh), VKDETR_OK);
        if (ow != w || oh != h) {
            fprintf(stderr, "FAIL %s: output size %dx%d, transformers %dx%d\n", vd_fix_str(e, "ref"), ow, oh, w, h);
            failures++;
            vd_image_free(&img);
            continue;
        }
        size_t n = (size_t)3 * w * h;
        float *want = vd_fix_load_f32(vd_fix_str(e, "ref"), n), *got = malloc(n * sizeof(float));
        assert_non_null(want);
        vd_preprocess_src src = vd_preprocess_src_image(&img);
        size_t ns = vd_preprocess_scratch_size(&cfg, &src, w, h);
        void *scratch = malloc(ns);
        vd_alloc_fail_after(0, 0);
        assert_int_equal(vd_preprocess_run(&cfg, &src, w, h, got, scratch, ns, g_pool), VKDETR_OK);
        assert_int_equal(vd_alloc_fail_after(0, 0), 0); /* nothing allocated per call */
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += memcmp(&got[i], &want[i], sizeof(float)) != 0;
        vd_cmp c = vd_compare(got, want, n);
        printf("  processor %-28s %3dx%-3d %zu of %zu floats differ (max |d| %.3g)\n", vd_fix_str(e, "ref"),
               w, h, bad, n, c.max_abs);
        if (bad) failures++;
        cases++;
        free(scratch);
        free(got);
        free(want);
        vd_image_free(&img);
    }
    cJSON_Delete(index);
    assert_int_equal(failures, 0);
    assert_true(cases >= 4);
}

/* BGRA / gray caller pixels give the same tensor as the equivalent RGB image. */
static void preprocess_pixel_formats(void **state) {
    (void)state;
    vd_rng rng;
    vd_rng_seed(&rng, 9);
    const int w = 45, h = 31, ow = 32, oh = 24;
    uint8_t *bgra = malloc((size_t)w * h * 4 + 3 * h), *gray = malloc((size_t)w * h);
    size_t stride = (size_t)w * 4 + 3;
    random_image(&rng, (int)stride, h, 1, bgra);
    random_image(&rng, w, h, 1, gray);
    vd_preprocess cfg = vd_preprocess_default_rtdetr();
    cfg.do_normalize = 1;
    for (int k = 0; k < 2; k++) {
        vkdetr_image pub = k == 0 ? (vkdetr_image){bgra, w, h, (int)stride, VKDETR_PIXEL_BGRA}
                                  : (vkdetr_image){gray, w, h, 0, VKDETR_PIXEL_GRAY};
        vd_image rgb;
        assert_int_equal(vd_image_from_pixels(&pub, &rgb), VKDETR_OK);
        vd_preprocess_src a = vd_preprocess_src_image(&rgb), b;
        assert_int_equal(vd_preprocess_src_pixels(&pub, &b), VKDETR_OK);
        size_t na = vd_preprocess_scratch_size(&cfg, &a, ow, oh), nb = vd_preprocess_scratch_size(&cfg, &b, ow, oh);
        void *sa = malloc(na), *sb = malloc(nb);
        float *ta = malloc(sizeof(float) * 3 * ow * oh), *tb = malloc(sizeof(float) * 3 * ow * oh);
        assert_int_equal(vd_preprocess_run(&cfg, &a, ow, oh, ta, sa, na, NULL), VKDETR_OK);
        assert_int_equal(vd_preprocess_run(&cfg, &b, ow, oh, tb, sb, nb, g_pool), VKDETR_OK);
        assert_memory_equal(ta, tb, sizeof(float) * 3 * ow * oh);
        /* no resize when the size already matches; do_resize 0 refuses another size */
        vd_preprocess noresize = cfg;
        noresize.do_resize = 0;
        assert_int_equal(vd_preprocess_run(&noresize, &b, ow, oh, tb, sb, nb, NULL), VKDETR_ERR_SHAPE);
        assert_int_equal(vd_preprocess_scratch_size(&noresize, &b, w, h), 0);
        float *full = malloc(sizeof(float) * 3 * w * h), *full2 = malloc(sizeof(float) * 3 * w * h);
        assert_int_equal(vd_preprocess_run(&noresize, &b, w, h, full, NULL, 0, NULL), VKDETR_OK);
        assert_int_equal(vd_preprocess_run(&noresize, &a, w, h, full2, NULL, 0, NULL), VKDETR_OK);
        assert_memory_equal(full, full2, sizeof(float) * 3 * w * h);
        free(full);
        free(full2);
        free(sa);
        free(sb);
        free(ta);
        free(tb);
        vd_image_free(&rgb);
    }
    free(bgra);
    free(gray);
}

static void output_sizes(void **state) {
    (void)state;
    vd_preprocess c = vd_preprocess_default_rtdetr();
    int w, h;
    assert_int_equal(vd_preprocess_output_size(&c, 1920, 1080, &w, &h), VKDETR_OK);
    assert_true(w == 640 && h == 640);
    c.size_mode = VD_SIZE_SHORTEST_LONGEST; /* DETR: 800 / 1333 */
    c.shortest_edge = 800;
    c.longest_edge = 1333;
    assert_int_equal(vd_preprocess_output_size(&c, 640, 480, &w, &h), VKDETR_OK);
    assert_true(w == 1066 && h == 800);
    assert_int_equal(vd_preprocess_output_size(&c, 1920, 1080, &w, &h), VKDETR_OK);
    assert_true(w == 1333 && h == 750);
    assert_int_equal(vd_preprocess_output_size(&c, 800, 600, &w, &h), VKDETR_OK);
    assert_true(w == 1066 && h == 800);
    c.size_mode = VD_SIZE_SHORTEST_EDGE;
    c.shortest_edge = 224;
    assert_int_equal(vd_preprocess_output_size(&c, 300, 500, &w, &h), VKDETR_OK);
    assert_true(w == 224 && h == 373);
    c.size_mode = VD_SIZE_MAX_HEIGHT_WIDTH;
    c.height = 50;
    c.width = 50;
    assert_int_equal(vd_preprocess_output_size(&c, 200, 100, &w, &h), VKDETR_OK);
    assert_true(w == 50 && h == 25);
    c.do_resize = 0;
    assert_int_equal(vd_preprocess_output_size(&c, 33, 44, &w, &h), VKDETR_OK);
    assert_true(w == 33 && h == 44);
    assert_int_equal(vd_preprocess_output_size(&c, 0, 44, &w, &h), VKDETR_ERR_INVALID_ARG);
}

/* ---- torch bilinear on floats -------------------------------------------------------------- */

static void interp_fixtures(void **state) {
    (void)state;
    cJSON *index = vd_fix_index();
    assert_non_null(index);
    const cJSON *e;
    int cases = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "interp")) {
        int iw = vd_fix_int(e, "in_width", 0), ih = vd_fix_int(e, "in_height", 0);
        int w = vd_fix_int(e, "width", 0), h = vd_fix_int(e, "height", 0);
        float *in = vd_fix_load_f32(vd_fix_str(e, "src"), (size_t)iw * ih);
        float *want = vd_fix_load_f32(vd_fix_str(e, "ref"), (size_t)w * h);
        assert_true(in && want);
        float *got = malloc(sizeof(float) * w * h);
        vd_resize_bilinear_f32(in, iw, ih, got, w, h);
        size_t bad = 0;
        for (size_t i = 0; i < (size_t)w * h; i++) bad += got[i] != want[i];
        vd_cmp c = vd_compare(got, want, (size_t)w * h);
        printf("  bilinear f32 %3dx%-3d -> %3dx%-3d: %zu of %d values differ from torch, max |d| %.3g\n",
               iw, ih, w, h, bad, w * h, c.max_abs);
        /* torch's binary contracts its float index and blend arithmetic into FMAs (CPU
         * dependent) and its source positions carry float rounding (about in_size * 6e-8
         * pixels); we keep the plain float order. Bound: a few ulps of the input's
         * magnitude per unit of position error. */
        float amax = 0;
        for (int i = 0; i < iw * ih; i++) amax = fabsf(in[i]) > amax ? fabsf(in[i]) : amax;
        char what[64];
        snprintf(what, sizeof what, "bilinear f32 %dx%d -> %dx%d", iw, ih, w, h);
        double atol = 1e-6 * (amax > 1 ? amax : 1) * (1 + VD_MAX(iw, ih) / 4.0);
        assert_true(vd_check_close(what, got, want, (size_t)w * h, atol, 0));
        free(got);
        free(in);
        free(want);
        cases++;
    }
    cJSON_Delete(index);
    assert_true(cases >= 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resize_fixtures),   cmocka_unit_test(procedural_fixtures),
        cmocka_unit_test(channel_layouts),   cmocka_unit_test(bad_arguments),
        cmocka_unit_test(processor_fixtures), cmocka_unit_test(preprocess_pixel_formats),
        cmocka_unit_test(output_sizes),      cmocka_unit_test(interp_fixtures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
