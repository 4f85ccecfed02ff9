/* Unit tests for apps/common (drawing, font, image writing, results writers, RLE, sha256,
 * safetensors files, input expansion, output files, hub names) and the CLI's option parser. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/testutil.h"

#include "draw.h"
#include "error.h"
#include "files.h"
#include "font.h"
#include "hub.h"
#include "imageio.h"
#include "options.h"
#include "results.h"
#include "sha256.h"
#include "tensorfile.h"

static char *path_in(const char *dir, const char *name) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 1024, "%s/%s", dir, name);
    return p;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries in dir whose name contains needle. */
static int count_names(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, needle)) n++;
    if (d) closedir(d);
    return n;
}

/* ---- sha256 --------------------------------------------------------------------------- */

static void test_sha256_vectors(void **state) {
    (void)state;
    char hex[VD_SHA256_HEX_SIZE];
    assert_int_equal(vd_sha256_buffer("", 0, hex), VKDETR_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(vd_sha256_buffer("abc", 3, hex), VKDETR_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_int_equal(vd_sha256_buffer(m, strlen(m), hex), VKDETR_OK);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces */
    vd_sha256 h;
    assert_int_equal(vd_sha256_begin(&h), VKDETR_OK);
    char a[997];
    memset(a, 'a', sizeof a);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof a ? left : sizeof a;
        assert_int_equal(vd_sha256_update(&h, a, n), VKDETR_OK);
        left -= n;
    }
    assert_int_equal(vd_sha256_finish(&h, hex), VKDETR_OK);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256_file(void **state) {
    (void)state;
    const char *dir = vd_test_tmpdir();
    const char *p = path_in(dir, "abc.txt");
    assert_int_equal(vd_test_write_file(p, "abc", 3), 0);
    char hex[VD_SHA256_HEX_SIZE];
    assert_int_equal(vd_sha256_file(p, hex), VKDETR_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(vd_sha256_file(path_in(dir, "missing"), hex), VKDETR_ERR_IO);
    assert_non_null(strstr(vd_app_last_error(), "missing"));
}

/* ---- RLE ------------------------------------------------------------------------------ */

static void check_rle(const uint8_t *m, int w, int h, const char *expected) {
    char *s = vd_rle_encode(m, w, h);
    assert_non_null(s);
    if (strcmp(s, expected)) fprintf(stderr, "FAIL rle %dx%d: got %s, expected %s\n", w, h, s, expected);
    assert_string_equal(s, expected);
    uint8_t *back = malloc((size_t)w * h);
    assert_int_equal(vd_rle_decode(s, w, h, back), 0);
    for (int i = 0; i < w * h; i++) assert_int_equal(back[i], m[i] != 0);
    free(back);
    free(s);
}

static void test_rle_matches_pycocotools(void **state) {
    (void)state;
    /* expected strings from pycocotools.mask.encode */
    uint8_t a[4 * 5];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++) a[y * 5 + x] = (x * 7 + y * 3) % 5 < 2;
    check_rle(a, 5, 4, "011010O010O010O01");
    uint8_t *b = calloc(40 * 50, 1);
    for (int y = 5; y < 30; y++)
        for (int x = 10; x < 45; x++) b[y * 50 + x] = 7; /* any nonzero is inside */
    b[0] = 1;
    b[39 * 50 + 49] = 1;
    check_rle(b, 50, 40,
              "01d<h0kC0000000000000000000000000000000000000000000000000000000000000000000R6XO");
    free(b);
    uint8_t z[21] = {0}, o[21];
    memset(o, 1, sizeof o);
    check_rle(z, 7, 3, "e0");
    check_rle(o, 7, 3, "0e0");
}

static void test_rle_roundtrip_random(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 5);
    for (int t = 0; t < 20; t++) {
        int w = 1 + (int)(vd_rng_u32(&r) % 67), h = 1 + (int)(vd_rng_u32(&r) % 53);
        uint8_t *m = malloc((size_t)w * h), *back = malloc((size_t)w * h);
        int density = (int)(vd_rng_u32(&r) % 100);
        for (int i = 0; i < w * h; i++) m[i] = (int)(vd_rng_u32(&r) % 100) < density;
        char *s = vd_rle_encode(m, w, h);
        assert_non_null(s);
        if (vd_rle_decode(s, w, h, back) != 0 || memcmp(m, back, (size_t)w * h)) {
            fprintf(stderr, "FAIL rle roundtrip case %d (%dx%d, density %d): %s\n", t, w, h, density, s);
            fail();
        }
        free(s);
        free(m);
        free(back);
    }
    uint8_t buf[4];
    assert_int_equal(vd_rle_decode("4", 2, 2, buf), 0);   /* 4 zeros */
    assert_int_equal(vd_rle_decode("5", 2, 2, buf), -1);  /* too many */
    assert_int_equal(vd_rle_decode("3", 2, 2, buf), -1);  /* too few */
}

/* ---- drawing -------------------------------------------------------------------------- */

static uint8_t *px(vd_canvas *c, int x, int y) { return c->rgb + ((size_t)y * c->width + x) * 3; }

static int is_color(vd_canvas *c, int x, int y, vd_color col) {
    uint8_t *p = px(c, x, y);
    return p[0] == col.r && p[1] == col.g && p[2] == col.b;
}

static void test_draw_box_clipping(void **state) {
    (void)state;
    enum { W = 20, H = 10 };
    uint8_t rgb[W * H * 3] = {0};
    vd_canvas c = {rgb, W, H};
    vd_color red = {255, 0, 0}, black = {0, 0, 0};
    float box[4] = {-5, -5, 8, 6};
    vd_draw_box(&c, box, 2, red);
    assert_true(is_color(&c, 7, 0, red));   /* right edge, clipped at the top */
    assert_true(is_color(&c, 6, 3, red));
    assert_true(is_color(&c, 0, 5, red));   /* bottom edge, clipped at the left */
    assert_true(is_color(&c, 0, 0, black)); /* top and left edges are outside */
    assert_true(is_color(&c, 5, 3, black)); /* inside */
    assert_true(is_color(&c, 8, 0, black)); /* right of the box */
    assert_true(is_color(&c, 0, 6, black)); /* below the box */
    /* boxes entirely outside, degenerate, reversed, huge or NaN: nothing outside the canvas is
     * touched (ASan would see it) and nothing crashes */
    memset(rgb, 0, sizeof rgb);
    float outside[4] = {100, 100, 200, 200};
    vd_draw_box(&c, outside, 3, red);
    for (size_t i = 0; i < sizeof rgb; i++) assert_int_equal(rgb[i], 0);
    float huge[4] = {-1e30f, -1e30f, 1e30f, 1e30f}, nan4[4] = {NAN, 1, NAN, 3};
    float reversed[4] = {15, 8, 2, 1}, point[4] = {19.4f, 9.4f, 19.4f, 9.4f};
    vd_draw_box(&c, huge, 4, red);
    vd_draw_box(&c, nan4, 1, red);
    vd_draw_box(&c, reversed, 0, red);
    vd_draw_box(&c, point, 1, red);
    assert_true(is_color(&c, 2, 1, red)); /* reversed box's corner */
}

static void test_draw_fill_and_mask(void **state) {
    (void)state;
    enum { W = 8, H = 6 };
    uint8_t rgb[W * H * 3];
    memset(rgb, 100, sizeof rgb);
    vd_canvas c = {rgb, W, H};
    vd_color white = {255, 255, 255};
    vd_draw_fill(&c, -3, -3, 2, 2, white, 0.5f);
    assert_in_range(px(&c, 1, 1)[0], 176, 178); /* 100 + (255 - 100) / 2 */
    assert_int_equal(px(&c, 2, 2)[0], 100);
    vd_draw_fill(&c, 5, 5, 100, 100, white, 1.0f);
    assert_int_equal(px(&c, 7, 5)[1], 255);
    /* a mask of half the size is scaled (nearest) */
    memset(rgb, 0, sizeof rgb);
    uint8_t mask[4 * 3] = {0};
    mask[0] = 1;         /* covers canvas x 0-1, y 0-1 */
    mask[2 * 4 + 3] = 9; /* covers x 6-7, y 4-5 */
    vd_draw_mask(&c, mask, 4, 3, white, 1.0f);
    assert_int_equal(px(&c, 1, 1)[2], 255);
    assert_int_equal(px(&c, 7, 5)[2], 255);
    assert_int_equal(px(&c, 2, 0)[2], 0);
    assert_int_equal(px(&c, 5, 5)[2], 0);
    vd_draw_mask(&c, NULL, 4, 3, white, 1.0f); /* no mask: nothing */
}

static void test_label_position(void **state) {
    (void)state;
    uint8_t rgb[100 * 50 * 3];
    vd_canvas c = {rgb, 100, 50};
    int x, y;
    float mid[4] = {20, 30, 60, 45};
    vd_draw_label_position(&c, mid, 30, 10, &x, &y);
    assert_int_equal(x, 20); /* above the box */
    assert_int_equal(y, 20);
    float top[4] = {20, 3, 60, 45};
    vd_draw_label_position(&c, top, 30, 10, &x, &y);
    assert_int_equal(y, 3); /* no room above: below the top edge */
    float right[4] = {90, 30, 120, 45};
    vd_draw_label_position(&c, right, 30, 10, &x, &y);
    assert_int_equal(x, 70); /* kept inside on the right */
    float outside[4] = {-50, -40, -10, -20};
    vd_draw_label_position(&c, outside, 30, 10, &x, &y);
    assert_int_equal(x, 0);
    assert_int_equal(y, 0);
    float bottom[4] = {10, 200, 20, 300};
    vd_draw_label_position(&c, bottom, 30, 10, &x, &y);
    assert_int_equal(y, 40);
    int big_x, big_y; /* a plate larger than the canvas starts at 0,0 */
    vd_draw_label_position(&c, mid, 300, 100, &big_x, &big_y);
    assert_int_equal(big_x, 0);
    assert_int_equal(big_y, 0);
}

static void test_palette_and_style(void **state) {
    (void)state;
    vd_color a = vd_draw_palette(3), b = vd_draw_palette(3), c = vd_draw_palette(4);
    assert_memory_equal(&a, &b, sizeof a);
    assert_memory_not_equal(&a, &c, sizeof a);
    vd_draw_palette(-7); /* any id is valid */
    vd_draw_palette(1 << 30);
    vd_color white = {255, 255, 255}, navy = {0, 0, 128};
    assert_int_equal(vd_draw_text_color(white).r, 0);
    assert_int_equal(vd_draw_text_color(navy).r, 255);
    vd_draw_style s640 = vd_draw_style_for(640, 640), s1920 = vd_draw_style_for(1920, 1080);
    vd_draw_style thin = vd_draw_style_for(10000, 100), tiny = vd_draw_style_for(1, 1);
    assert_int_equal(s640.line_width, 2);
    assert_true(s640.font_px > 12 && s640.font_px < 18);
    assert_true(s1920.line_width > s640.line_width && s1920.font_px > s640.font_px);
    assert_true(thin.font_px * 1.5f < 100.0f); /* a label fits the short side */
    assert_true(tiny.line_width >= 1 && tiny.font_px > 0);
}

static void test_font_renders(void **state) {
    (void)state;
    vd_font *font = NULL;
    assert_int_equal(vd_font_load_default(&font), VKDETR_OK);
    assert_true(vd_font_dejavu_sans_size > 10000 && vd_font_dejavu_sans_size < 60000);
    vd_text_metrics m = vd_font_measure(font, 16.0f, "Ag person 0.93");
    assert_true(m.width > 60 && m.width < 160);
    assert_true(m.height >= 16 && m.height <= 22);
    assert_true(m.ascent > 0 && m.ascent < m.height);
    enum { W = 200, H = 40 };
    uint8_t *rgb = calloc(W * H * 3, 1);
    vd_canvas c = {rgb, W, H};
    vd_color white = {255, 255, 255};
    vd_font_draw(font, 16.0f, "Ag person 0.93", &c, 5, 5, white);
    int lit = 0, outside = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (px(&c, x, y)[0]) {
                lit++;
                if (x < 4 || x > 5 + m.width + 1 || y < 4 || y > 5 + m.height + 1) outside++;
            }
    assert_true(lit > 100);
    assert_int_equal(outside, 0);
    /* clipped at every edge, odd text: no crash, nothing written outside (ASan) */
    vd_font_draw(font, 30.0f, "clipped text", &c, -20, -12, white);
    vd_font_draw(font, 30.0f, "clipped text", &c, W - 30, H - 10, white);
    vd_font_draw(font, 16.0f, "caf\xc3\xa9 \xe2\x82\xac \xff\xfe bad utf-8", &c, 0, 0, white);
    vd_font_draw(font, 16.0f, "", &c, 0, 0, white);
    m = vd_font_measure(font, 16.0f, "");
    assert_int_equal(m.width, 0);
    vd_font *bad = NULL;
    assert_int_equal(vd_font_load_memory("not a font at all", 17, &bad), VKDETR_ERR_FORMAT);
    assert_null(bad);
    free(rgb);
    vd_font_free(font);
    vd_font_free(NULL);
}

static void test_draw_detections_small_canvas(void **state) {
    (void)state;
    vd_font *font = NULL;
    assert_int_equal(vd_font_load_default(&font), VKDETR_OK);
    enum { W = 9, H = 7 };
    uint8_t rgb[W * H * 3] = {0}, mask[W * H];
    memset(mask, 1, sizeof mask);
    vkdetr_detection d[3];
    memset(d, 0, sizeof d);
    float boxes[3][4] = {{1, 1, 5, 5}, {-3, -3, 30, 30}, {8, 6, 8, 6}};
    for (int i = 0; i < 3; i++) {
        memcpy(d[i].box, boxes[i], sizeof d[i].box);
        d[i].score = 0.9f - 0.1f * i;
        d[i].class_id = i;
        d[i].label = i == 1 ? NULL : "a long label that is wider than the image";
    }
    d[0].mask.width = W;
    d[0].mask.height = H;
    d[0].mask.data = mask;
    vd_canvas c = {rgb, W, H};
    vd_draw_style style = vd_draw_style_for(W, H);
    vd_draw_detections(&c, font, &style, d, 3);
    vd_draw_detections(&c, NULL, &style, d, 3); /* without a font: boxes only */
    int lit = 0;
    for (size_t i = 0; i < sizeof rgb; i++) lit += rgb[i] != 0;
    assert_true(lit > 0);
    vd_font_free(font);
}

/* ---- image writing -------------------------------------------------------------------- */

static void test_imageio_write(void **state) {
    (void)state;
    const char *dir = vd_test_tmpdir();
    enum { W = 13, H = 7 };
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 7);
    const char *png = path_in(dir, "out.PNG"), *jpg = path_in(dir, "out.jpeg");
    assert_int_equal(vd_imageio_write(png, rgb, W, H, 3, 90), VKDETR_OK);
    assert_int_equal(vd_imageio_write(jpg, rgb, W, H, 3, 95), VKDETR_OK);
    vkdetr_image back;
    assert_int_equal(vkdetr_image_load(png, &back), VKDETR_OK);
    assert_int_equal(back.width, W);
    assert_int_equal(back.height, H);
    assert_int_equal(back.format, VKDETR_PIXEL_RGB);
    for (int y = 0; y < H; y++) /* PNG is lossless */
        assert_memory_equal(back.data + (size_t)y * (back.stride ? back.stride : W * 3),
                            rgb + y * W * 3, W * 3);
    vkdetr_image_free(&back);
    assert_int_equal(vkdetr_image_load(jpg, &back), VKDETR_OK);
    assert_int_equal(back.width, W);
    assert_int_equal(back.height, H);
    vkdetr_image_free(&back);
    uint8_t gray[W * H] = {0};
    assert_int_equal(vd_imageio_write(path_in(dir, "g.png"), gray, W, H, 1, 0), VKDETR_OK);
    assert_int_equal(vd_imageio_write(path_in(dir, "x.tiff"), rgb, W, H, 3, 90),
                     VKDETR_ERR_INVALID_ARG);
    assert_false(exists(path_in(dir, "x.tiff")));
    assert_int_equal(vd_imageio_write(path_in(dir, "no/such/dir/x.png"), rgb, W, H, 3, 90),
                     VKDETR_ERR_IO);
    assert_int_equal(count_names(dir, ".tmp-"), 0);
    assert_int_equal(vd_imageio_format_of("a.JPG"), VD_IMAGEIO_JPEG);
    assert_int_equal(vd_imageio_format_of("a.png.txt"), VD_IMAGEIO_UNKNOWN);
}

/* ---- results ---------------------------------------------------------------------------- */

static vkdetr_result fake_result(vkdetr_detection *d, uint8_t *mask) {
    memset(d, 0, 2 * sizeof *d);
    float b0[4] = {10.123f, 20.5f, 110.0f, 220.25f}, b1[4] = {-3, -4, 5, 6};
    memcpy(d[0].box, b0, sizeof b0);
    memcpy(d[1].box, b1, sizeof b1);
    d[0].score = 0.934567f;
    d[0].class_id = 16;
    d[0].label = "dog";
    d[1].score = 0.5f;
    d[1].class_id = 2;
    d[1].label = NULL;
    d[1].mask.width = 3;
    d[1].mask.height = 2;
    d[1].mask.data = mask;
    vkdetr_result r;
    memset(&r, 0, sizeof r);
    r.count = 2;
    r.detections = d;
    r.image_width = 640;
    r.image_height = 480;
    r.time_ms = 12.3456;
    return r;
}

static void test_results_json(void **state) {
    (void)state;
    vkdetr_detection d[2];
    uint8_t mask[6] = {0, 1, 1, 0, 0, 1};
    vkdetr_result r = fake_result(d, mask);
    cJSON *o = vd_results_image_json("dir/a.jpg", &r, 1);
    assert_non_null(o);
    char *line = cJSON_PrintUnformatted(o);
    cJSON *p = cJSON_Parse(line);
    assert_non_null(p);
    assert_string_equal(cJSON_GetObjectItem(p, "file")->valuestring, "dir/a.jpg");
    assert_int_equal(cJSON_GetObjectItem(p, "width")->valueint, 640);
    assert_int_equal(cJSON_GetObjectItem(p, "height")->valueint, 480);
    cJSON *dets = cJSON_GetObjectItem(p, "detections");
    assert_int_equal(cJSON_GetArraySize(dets), 2);
    cJSON *d0 = cJSON_GetArrayItem(dets, 0), *d1 = cJSON_GetArrayItem(dets, 1);
    assert_string_equal(cJSON_GetObjectItem(d0, "label")->valuestring, "dog");
    assert_int_equal(cJSON_GetObjectItem(d0, "class_id")->valueint, 16);
    assert_true(fabs(cJSON_GetObjectItem(d0, "score")->valuedouble - 0.93457) < 1e-9);
    cJSON *box = cJSON_GetObjectItem(d0, "box");
    assert_true(fabs(cJSON_GetArrayItem(box, 0)->valuedouble - 10.12) < 1e-9);
    assert_true(fabs(cJSON_GetArrayItem(box, 3)->valuedouble - 220.25) < 1e-9);
    assert_null(cJSON_GetObjectItem(d0, "mask"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(d1, "label")));
    cJSON *m = cJSON_GetObjectItem(d1, "mask");
    assert_non_null(m);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "size"), 0)->valueint, 2);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "size"), 1)->valueint, 3);
    uint8_t back[6];
    assert_int_equal(vd_rle_decode(cJSON_GetObjectItem(m, "counts")->valuestring, 3, 2, back), 0);
    assert_memory_equal(back, mask, 6);
    cJSON_Delete(p);
    cJSON_free(line);
    cJSON *no_masks = vd_results_image_json("a.jpg", &r, 0);
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(no_masks, "detections"), 1), "mask"));
    cJSON_Delete(no_masks);
    /* JSON Lines: one line */
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_int_equal(vd_results_print_line(f, o), 0);
    cJSON *e = vd_results_error_json("b.png", "cannot decode");
    assert_int_equal(vd_results_print_line(f, e), 0);
    fclose(f);
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    assert_non_null(strchr(nl + 1, '\n'));
    assert_non_null(strstr(nl + 1, "\"error\":\"cannot decode\""));
    free(buf);
    cJSON_Delete(e);
    /* a written document parses, and no temporary file remains */
    const char *dir = vd_test_tmpdir();
    assert_int_equal(vd_results_write_json(path_in(dir, "r.json"), o), VKDETR_OK);
    size_t n;
    char *text = vd_test_read_file(path_in(dir, "r.json"), &n);
    cJSON *again = cJSON_ParseWithLength(text, n);
    assert_non_null(again);
    cJSON_Delete(again);
    free(text);
    assert_int_equal(vd_results_write_json(path_in(dir, "missing/r.json"), o), VKDETR_ERR_IO);
    assert_int_equal(count_names(dir, ".tmp-"), 0);
    cJSON_Delete(o);
}

static void test_coco(void **state) {
    (void)state;
    const char *dir = vd_test_tmpdir();
    const char *ann = path_in(dir, "instances.json");
    const char *text = "{\"images\": [{\"id\": 42, \"file_name\": \"a/b.jpg\"}, {\"id\": 7, "
                       "\"file_name\": \"c.png\"}, {\"id\": 9, \"file_name\": \"b.jpg\"}],"
                       " \"categories\": [{\"id\": 18, \"name\": \"dog\"}, {\"id\": 3, "
                       "\"name\": \"car\"}], \"annotations\": []}";
    assert_int_equal(vd_test_write_file(ann, text, strlen(text)), 0);
    vd_coco_index *ix = NULL;
    assert_int_equal(vd_coco_index_load(ann, &ix), VKDETR_OK);
    assert_int_equal(vd_coco_image_id(ix, "a/b.jpg"), 42); /* the whole path first */
    assert_int_equal(vd_coco_image_id(ix, "x/b.jpg"), 9);  /* then the base name */
    assert_int_equal(vd_coco_image_id(ix, "/data/c.png"), 7);
    assert_int_equal(vd_coco_image_id(ix, "d.png"), -1);
    assert_int_equal(vd_coco_category_id(ix, "dog", 16), 18);
    assert_int_equal(vd_coco_category_id(ix, "cat", 15), -1);
    assert_int_equal(vd_coco_image_id(NULL, "val/000000039769.jpg"), 39769);
    assert_int_equal(vd_coco_image_id(NULL, "12a.jpg"), -1);
    assert_int_equal(vd_coco_image_id(NULL, ".jpg"), -1);
    assert_int_equal(vd_coco_category_id(NULL, "anything", 5), 5);
    vkdetr_detection d[2];
    uint8_t mask[6] = {1, 1, 1, 0, 0, 0};
    vkdetr_result r = fake_result(d, mask);
    cJSON *arr = cJSON_CreateArray();
    int skipped = 0;
    assert_int_equal(vd_results_coco_append(arr, &r, 42, ix, 1, &skipped), 0);
    assert_int_equal(cJSON_GetArraySize(arr), 1); /* the unlabelled detection is skipped */
    assert_int_equal(skipped, 1);
    cJSON *e = cJSON_GetArrayItem(arr, 0);
    assert_int_equal(cJSON_GetObjectItem(e, "image_id")->valueint, 42);
    assert_int_equal(cJSON_GetObjectItem(e, "category_id")->valueint, 18);
    cJSON *bbox = cJSON_GetObjectItem(e, "bbox");
    assert_true(fabs(cJSON_GetArrayItem(bbox, 2)->valuedouble - 99.88) < 1e-6); /* w = x1 - x0 */
    assert_true(fabs(cJSON_GetArrayItem(bbox, 3)->valuedouble - 199.75) < 1e-6);
    assert_null(cJSON_GetObjectItem(e, "segmentation"));
    assert_int_equal(vd_results_coco_append(arr, &r, 5, NULL, 1, NULL), 0);
    assert_int_equal(cJSON_GetArraySize(arr), 3);
    e = cJSON_GetArrayItem(arr, 2);
    assert_int_equal(cJSON_GetObjectItem(e, "category_id")->valueint, 2);
    assert_non_null(cJSON_GetObjectItem(e, "segmentation"));
    cJSON_Delete(arr);
    vd_coco_index_free(ix);
    const char *bad = path_in(dir, "bad.json");
    assert_int_equal(vd_test_write_file(bad, "[1,2]", 5), 0);
    assert_int_equal(vd_coco_index_load(bad, &ix), VKDETR_ERR_FORMAT);
    assert_int_equal(vd_coco_index_load(path_in(dir, "none.json"), &ix), VKDETR_ERR_IO);
}

/* ---- safetensors ---------------------------------------------------------------------- */

static void test_tensorfile_roundtrip(void **state) {
    (void)state;
    const char *dir = vd_test_tmpdir();
    float pixels[12];
    int32_t ids[3] = {7, -1, 300};
    for (int i = 0; i < 12; i++) pixels[i] = (float)i * 0.25f - 1.0f;
    vd_tensorfile_entry t[2] = {
        {"pixel_values", "F32", 4, {1, 3, 2, 2}, pixels},
        {"ids", "I32", 1, {3}, ids},
    };
    const char *p = path_in(dir, "t.safetensors");
    const char *meta[] = {"format", "pt", NULL};
    assert_int_equal(vd_tensorfile_write(p, t, 2, meta), VKDETR_OK);
    size_t size;
    uint8_t *raw = vd_test_read_file(p, &size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)raw[i] << (8 * i);
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(size, 8 + hlen + sizeof pixels + sizeof ids);
    assert_non_null(strstr((char *)raw + 8, "\"__metadata__\":{\"format\":\"pt\"}"));
    vd_tensorfile tf;
    assert_int_equal(vd_tensorfile_read(p, &tf), VKDETR_OK);
    assert_int_equal(tf.count, 2);
    const vd_tensorfile_entry *e = vd_tensorfile_find(&tf, "pixel_values");
    assert_non_null(e);
    assert_string_equal(e->dtype, "F32");
    assert_int_equal(e->ndim, 4);
    assert_int_equal(e->shape[1], 3);
    assert_memory_equal(e->data, pixels, sizeof pixels);
    e = vd_tensorfile_find(&tf, "ids");
    assert_memory_equal(e->data, ids, sizeof ids);
    assert_null(vd_tensorfile_find(&tf, "nope"));
    vd_tensorfile_free(&tf);

    /* broken files are FORMAT errors naming the problem */
    struct {
        const char *header;
        size_t data_bytes;
    } bad[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8},  /* size */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8}, /* past end */
        {"{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8},   /* dtype */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8}, /* shape */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8},                         /* offsets */
        {"not json", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t hl = strlen(bad[i].header), n = 8 + hl + bad[i].data_bytes;
        uint8_t *buf = calloc(n, 1);
        for (int k = 0; k < 8; k++) buf[k] = (uint8_t)((uint64_t)hl >> (8 * k));
        memcpy(buf + 8, bad[i].header, hl);
        const char *bp = path_in(dir, "bad.safetensors");
        assert_int_equal(vd_test_write_file(bp, buf, n), 0);
        vkdetr_status st = vd_tensorfile_read(bp, &tf);
        if (st != VKDETR_ERR_FORMAT) fprintf(stderr, "FAIL bad safetensors case %zu: %d\n", i, st);
        assert_int_equal(st, VKDETR_ERR_FORMAT);
        free(buf);
    }
    uint8_t hdr[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    assert_int_equal(vd_test_write_file(path_in(dir, "short.safetensors"), hdr, 8), 0);
    assert_int_equal(vd_tensorfile_read(path_in(dir, "short.safetensors"), &tf), VKDETR_ERR_FORMAT);
    free(raw);
}

/* ---- files ---------------------------------------------------------------------------- */

static void touch(const char *dir, const char *name) {
    assert_int_equal(vd_test_write_file(path_in(dir, name), "x", 1), 0);
}

static void test_files_expand(void **state) {
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", vd_test_tmpdir());
    assert_int_equal(vd_files_mkdirs(path_in(dir, "sub/deeper")), VKDETR_OK);
    touch(dir, "b.png");
    touch(dir, "a.JPG");
    touch(dir, ".hidden.png");
    touch(dir, "notes.txt");
    touch(dir, "sub/c.jpg");
    touch(dir, "sub/deeper/e.bmp");
    const char *in[] = {dir, "missing.png"};
    vd_pathlist l = {0};
    assert_int_equal(vd_files_expand(in, 2, 0, NULL, &l), VKDETR_OK);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.items[0], path_in(dir, "a.JPG"));
    assert_string_equal(l.items[1], path_in(dir, "b.png"));
    assert_string_equal(l.items[2], "missing.png"); /* passed through, reported later */
    vd_pathlist_free(&l);
    assert_int_equal(vd_files_expand(in, 1, 1, NULL, &l), VKDETR_OK);
    assert_int_equal(l.count, 4);
    assert_string_equal(l.items[2], path_in(dir, "sub/c.jpg"));
    assert_string_equal(l.items[3], path_in(dir, "sub/deeper/e.bmp"));
    vd_pathlist_free(&l);
    /* a list on stdin: blank lines skipped, CRLF handled, folders expanded */
    char list[2048];
    snprintf(list, sizeof list, "%s\n\n%s\r\n", path_in(dir, "b.png"), path_in(dir, "sub"));
    FILE *f = fmemopen(list, strlen(list), "r");
    const char *dash[] = {"-", "-"};
    assert_int_equal(vd_files_expand(dash, 2, 0, f, &l), VKDETR_OK);
    fclose(f);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.items[0], path_in(dir, "b.png"));
    assert_string_equal(l.items[1], path_in(dir, "sub/c.jpg"));
    vd_pathlist_free(&l);
    f = fmemopen((char *)"-\n", 2, "r");
    assert_int_equal(vd_files_expand(dash, 1, 0, f, &l), VKDETR_ERR_INVALID_ARG);
    fclose(f);
    vd_pathlist_free(&l);
    /* names */
    char stem[64];
    vd_files_stem("a/b.c/photo.v2.jpg", stem, sizeof stem);
    assert_string_equal(stem, "photo.v2");
    vd_files_stem(".bashrc", stem, sizeof stem);
    assert_string_equal(stem, ".bashrc");
    vd_files_stem("x/noext", stem, sizeof stem);
    assert_string_equal(stem, "noext");
    assert_string_equal(vd_files_basename("a/b/c.png"), "c.png");
    assert_true(vd_files_is_image_name("X.JpEg"));
    assert_false(vd_files_is_image_name("x.txt"));
}

static void test_outfile(void **state) {
    (void)state;
    const char *dir = vd_test_tmpdir();
    const char *p = path_in(dir, "out.txt");
    vd_outfile of;
    assert_int_equal(vd_outfile_open(&of, p), VKDETR_OK);
    fputs("partial", of.f);
    assert_false(exists(p)); /* only the temporary exists while writing */
    vd_outfile_abort(&of);
    assert_false(exists(p));
    assert_int_equal(count_names(dir, ".tmp-"), 0);
    assert_int_equal(vd_outfile_open(&of, p), VKDETR_OK);
    fputs("complete", of.f);
    assert_int_equal(vd_outfile_commit(&of), VKDETR_OK);
    size_t n;
    char *text = vd_test_read_file(p, &n);
    assert_int_equal(n, 8);
    free(text);
    vd_outfile_abort(&of); /* after commit: harmless */
    assert_int_equal(vd_outfile_open(&of, path_in(dir, "nodir/x")), VKDETR_ERR_IO);
    assert_non_null(strstr(vd_app_last_error(), "nodir/x"));
    assert_int_equal(vd_files_write_atomic(p, "abc", 3), VKDETR_OK);
    assert_int_equal(vd_files_mkdirs(p), VKDETR_ERR_IO); /* a file, not a folder */
    assert_int_equal(count_names(dir, ".tmp-"), 0);
}

/* ---- hub names ------------------------------------------------------------------------ */

static void test_hub_names(void **state) {
    (void)state;
    char repo[128], rev[128], out[512];
    assert_true(vd_hub_parse_repo("PekingU/rtdetr_r18vd", repo, sizeof repo, rev, sizeof rev));
    assert_string_equal(repo, "PekingU/rtdetr_r18vd");
    assert_string_equal(rev, "main");
    assert_true(vd_hub_parse_repo("a-b/c.d@v1.0", repo, sizeof repo, rev, sizeof rev));
    assert_string_equal(repo, "a-b/c.d");
    assert_string_equal(rev, "v1.0");
    assert_true(vd_hub_parse_repo("o/n@refs/pr/1", repo, sizeof repo, rev, sizeof rev));
    assert_string_equal(rev, "refs/pr/1");
    const char *bad[] = {"noslash", "./x", "/abs/path", "a/b/c", "../x", "a/..", "a/b@",
                         "a b/c", "a/.hidden", "-a/b", "a/b@../x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (vd_hub_parse_repo(bad[i], repo, sizeof repo, rev, sizeof rev)) {
            fprintf(stderr, "FAIL: '%s' accepted as a repo id\n", bad[i]);
            fail();
        }
    assert_int_equal(vd_hub_default_cache_root("/x/cache", "/home/u", out, sizeof out), VKDETR_OK);
    assert_string_equal(out, "/x/cache/vkdetr/hub");
    assert_int_equal(vd_hub_default_cache_root("relative", "/home/u", out, sizeof out), VKDETR_OK);
    assert_string_equal(out, "/home/u/.cache/vkdetr/hub");
    assert_int_equal(vd_hub_default_cache_root(NULL, NULL, out, sizeof out), VKDETR_ERR_INVALID_ARG);
    vd_hub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.cache_root = "/c";
    assert_int_equal(vd_hub_snapshot_dir(&cfg, "o/n", "refs/pr/1", out, sizeof out), VKDETR_OK);
    assert_string_equal(out, "/c/o--n/refs%2Fpr%2F1");
}

/* ---- options -------------------------------------------------------------------------- */

typedef struct demo_opts {
    float threshold;
    int threads;
    const char *out;
    const char *backend;
    int size[2];
    int recursive, quiet;
} demo_opts;

static const cli_option demo_options[] = {
    {"threshold", 't', CLI_FLOAT, offsetof(demo_opts, threshold), "F", "score threshold", NULL, 0, 1, NULL},
    {"threads", 0, CLI_INT, offsetof(demo_opts, threads), "N", "threads", NULL, 0, 64, NULL},
    {"output", 'o', CLI_STRING, offsetof(demo_opts, out), "DIR", "output folder", NULL, 0, 0, "none"},
    {"backend", 0, CLI_CHOICE, offsetof(demo_opts, backend), "B", "backend", "auto|cpu|vulkan", 0, 0, NULL},
    {"size", 's', CLI_SIZE, offsetof(demo_opts, size), "WxH", "input size", NULL, 0, 0, NULL},
    {"recursive", 'r', CLI_FLAG, offsetof(demo_opts, recursive), NULL, "recurse", NULL, 0, 0, NULL},
    {"quiet", 'q', CLI_FLAG, offsetof(demo_opts, quiet), NULL, "quiet", NULL, 0, 0, NULL},
};

static const cli_command demo = {"demo", "[options] INPUT...", "A demo command.", NULL,
                                 demo_options, 7, 1, -1};

static int parse(demo_opts *o, const char **args, int *n, const char *const *argv) {
    demo_opts d = {0.5f, 0, NULL, "auto", {0, 0}, 0, 0};
    *o = d;
    int argc = 0;
    while (argv[argc]) argc++;
    return cli_parse(&demo, argc, (char **)argv, o, args, n);
}

static void test_options_parse(void **state) {
    (void)state;
    demo_opts o;
    const char *args[16];
    int n;
    const char *ok1[] = {"demo", "--threshold=0.3", "-rq", "a.jpg", "--size", "640x480",
                         "-o", "out", "--backend", "cpu", "-", "--", "-x.png", NULL};
    assert_int_equal(parse(&o, args, &n, ok1), CLI_EXIT_OK);
    assert_true(fabsf(o.threshold - 0.3f) < 1e-6f);
    assert_int_equal(o.recursive, 1);
    assert_int_equal(o.quiet, 1);
    assert_int_equal(o.size[0], 640);
    assert_int_equal(o.size[1], 480);
    assert_string_equal(o.out, "out");
    assert_string_equal(o.backend, "cpu");
    assert_int_equal(n, 3);
    assert_string_equal(args[0], "a.jpg");
    assert_string_equal(args[1], "-");
    assert_string_equal(args[2], "-x.png");
    const char *ok2[] = {"demo", "-t", "0", "-t0.25", "-s", "320", "--threads", "8", "x", NULL};
    assert_int_equal(parse(&o, args, &n, ok2), CLI_EXIT_OK);
    assert_true(fabsf(o.threshold - 0.25f) < 1e-6f);
    assert_int_equal(o.size[0], 320);
    assert_int_equal(o.size[1], 320);
    assert_int_equal(o.threads, 8);
    const char *const bad[][6] = {
        {"demo", "--nope", "x", NULL},          {"demo", "-z", "x", NULL},
        {"demo", "x", "--threads", NULL},       {"demo", "--threads", "eight", "x", NULL},
        {"demo", "--threads", "65", "x", NULL}, {"demo", "-t", "1.5", "x", NULL},
        {"demo", "--backend", "gpu", "x", NULL}, {"demo", "--size", "64x", "x", NULL},
        {"demo", "--size", "0", "x", NULL},     {"demo", NULL},
        {"demo", "-rz", "x", NULL},             {"demo", "-qo", "x", NULL},
        {"demo", "--quiet=1", "x", NULL},       {"demo", "-t", "nan", "x", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(&o, args, &n, bad[i]);
        if (rc != CLI_EXIT_USAGE) fprintf(stderr, "FAIL options case %zu: rc %d\n", i, rc);
        assert_int_equal(rc, CLI_EXIT_USAGE);
    }
    int w, h;
    assert_int_equal(cli_parse_size("1280X720", &w, &h), 0);
    assert_int_equal(w, 1280);
    assert_int_equal(h, 720);
    assert_int_equal(cli_parse_size("12x-3", &w, &h), -1);
    assert_int_equal(cli_parse_size("abc", &w, &h), -1);
}

static void test_options_help_prints_defaults(void **state) {
    (void)state;
    demo_opts o = {0.5f, 0, NULL, "auto", {0, 0}, 0, 0};
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    cli_print_help(&demo, &o, f);
    fclose(f);
    for (int i = 0; i < demo.n_options; i++) assert_non_null(strstr(buf, demo_options[i].name));
    assert_non_null(strstr(buf, "usage: vkdetr demo [options] INPUT..."));
    assert_non_null(strstr(buf, "(default: 0.5)"));
    assert_non_null(strstr(buf, "(default: 0)"));
    assert_non_null(strstr(buf, "(default: none)"));
    assert_non_null(strstr(buf, "auto|cpu|vulkan; default: auto"));
    assert_non_null(strstr(buf, "(default: the model's)"));
    assert_non_null(strstr(buf, "exit codes:"));
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_file),
        cmocka_unit_test(test_rle_matches_pycocotools),
        cmocka_unit_test(test_rle_roundtrip_random),
        cmocka_unit_test(test_draw_box_clipping),
        cmocka_unit_test(test_draw_fill_and_mask),
        cmocka_unit_test(test_label_position),
        cmocka_unit_test(test_palette_and_style),
        cmocka_unit_test(test_font_renders),
        cmocka_unit_test(test_draw_detections_small_canvas),
        cmocka_unit_test(test_imageio_write),
        cmocka_unit_test(test_results_json),
        cmocka_unit_test(test_coco),
        cmocka_unit_test(test_tensorfile_roundtrip),
        cmocka_unit_test(test_files_expand),
        cmocka_unit_test(test_outfile),
        cmocka_unit_test(test_hub_names),
        cmocka_unit_test(test_options_parse),
        cmocka_unit_test(test_options_help_prints_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
