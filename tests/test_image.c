/* Image decoding against PIL (tests/data/images, tools/gen_resize_fixtures.py): every format
 * bit-exact except JPEG (stb_image vs libjpeg-turbo, measured and bounded), EXIF/XMP
 * orientation, caller pixel formats, and hostile inputs (clean errors, no leaks under ASan). */
#include "support/testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base.h"
#include "core/image.h"
#include "support/image_fixtures.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb_image_write.h>

/* JPEG with libjpeg-turbo (the library PIL uses): exact. With the stb_image fallback, whose
 * IDCT and chroma upsampling differ: bounds from the measured numbers printed by
 * decode_fixtures with some margin; the maximum is large because stb weights the
 * second-to-last column of 4:2:2 images wrongly (3:1 the wrong way round). */
#define STB_JPEG_MAX_DIFF 96
#define STB_JPEG_MAX_FRAC_OVER1 0.08

#define assert_msg_contains(sub)                                                          \
    do {                                                                                  \
        if (!strstr(vkdetr_last_error(), (sub))) {                                        \
            fprintf(stderr, "message \"%s\" lacks \"%s\"\n", vkdetr_last_error(), (sub)); \
            fail();                                                                       \
        }                                                                                 \
    } while (0)

static uint8_t *read_fixture(const char *name, size_t *size) {
    uint8_t *d = vd_test_read_file(vd_fix_path(name), size);
    if (!d) fprintf(stderr, "cannot read fixture %s\n", name);
    assert_non_null(d);
    return d;
}

/* ---- every decode fixture ------------------------------------------------------------- */

static void decode_fixtures(void **state) {
    (void)state;
    cJSON *index = vd_fix_index();
    assert_non_null(index);
    const cJSON *e;
    int n_exact = 0, n_jpeg = 0, failures = 0;
    int jpeg_exact = strcmp(vd_image_jpeg_decoder(), "libjpeg-turbo") == 0;
    printf("decode: JPEG decoder %s\n", vd_image_jpeg_decoder());
    size_t jpeg_bytes = 0, jpeg_diff = 0, jpeg_over1 = 0;
    int jpeg_max = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "decode")) {
        const char *file = vd_fix_str(e, "file"), *ref = vd_fix_str(e, "ref");
        const char *sum = vd_fix_str(e, "checksum");
        int w = vd_fix_int(e, "width", 0), h = vd_fix_int(e, "height", 0);
        int exact = vd_fix_int(e, "exact", 1), orient = vd_fix_int(e, "orientation", 1);
        vd_image img;
        vkdetr_status st = vd_image_decode_file(vd_fix_path(file), &img);
        if (st != VKDETR_OK) {
            fprintf(stderr, "FAIL %s: %s\n", file, vkdetr_last_error());
            failures++;
            continue;
        }
        size_t size;
        uint8_t *data = read_fixture(file, &size);
        int got_orient = vd_image_exif_orientation(data, size);
        free(data);
        if (got_orient != orient) {
            fprintf(stderr, "FAIL %s: orientation %d, PIL used %d\n", file, got_orient, orient);
            failures++;
        }
        if (img.width != w || img.height != h) {
            fprintf(stderr, "FAIL %s: %dx%d, expected %dx%d\n", file, img.width, img.height, w, h);
            failures++;
            vd_image_free(&img);
            continue;
        }
        size_t n = (size_t)w * h * 3;
        if (sum) {
            char hex[17];
            vd_fix_checksum(img.rgb, n, hex);
            if (strcmp(hex, sum) != 0) {
                fprintf(stderr, "FAIL %s: checksum %s, expected %s\n", file, hex, sum);
                failures++;
            }
            n_exact++;
            vd_image_free(&img);
            continue;
        }
        vd_image want;
        assert_int_equal(vd_fix_load_rgb(ref, w, h, &want), 0);
        vd_fix_diff d = vd_fix_compare(img.rgb, want.rgb, n);
        if (exact || jpeg_exact) {
            n_exact += exact;
            n_jpeg += !exact;
            if (d.differing) {
                fprintf(stderr, "FAIL %s: %zu bytes differ from PIL (max %d), first at byte %zu\n",
                        file, d.differing, d.max, d.first);
                failures++;
            }
        } else {
            n_jpeg++;
            jpeg_bytes += n;
            jpeg_diff += d.differing;
            jpeg_over1 += d.over1;
            if (d.max > jpeg_max) jpeg_max = d.max;
            printf("  jpeg %-22s %3dx%-3d differing bytes %5.2f%%, > 1 level %5.2f%%, max %d\n",
                   file, w, h, 100.0 * d.differing / n, 100.0 * d.over1 / n, d.max);
            if (d.max > STB_JPEG_MAX_DIFF || (double)d.over1 / n > STB_JPEG_MAX_FRAC_OVER1) {
                fprintf(stderr, "FAIL %s: JPEG difference beyond the bounds (max %d > %d or %.3f > %.3f)\n",
                        file, d.max, STB_JPEG_MAX_DIFF, (double)d.over1 / n, STB_JPEG_MAX_FRAC_OVER1);
                failures++;
            }
        }
        vd_image_free(&want);
        vd_image_free(&img);
    }
    printf("decode: %d PNG, GIF, BMP, TGA, PNM fixtures bit-identical to PIL\n", n_exact);
    if (jpeg_exact)
        printf("decode: %d JPEG fixtures bit-identical to PIL (libjpeg-turbo)\n", n_jpeg);
    else
        printf("decode: %d JPEG fixtures (stb_image): %.2f%% of bytes differ, %.3f%% by more than 1, max %d\n",
               n_jpeg, 100.0 * jpeg_diff / (jpeg_bytes ? jpeg_bytes : 1),
               100.0 * jpeg_over1 / (jpeg_bytes ? jpeg_bytes : 1), jpeg_max);
    cJSON_Delete(index);
    assert_int_equal(failures, 0);
    assert_true(n_exact >= 30 && n_jpeg >= 9);
}

/* ---- orientation ---------------------------------------------------------------------- */

/* A 3x2 image whose pixel (x, y) has R = 10 * y + x. */
static void make_3x2(vd_image *img) {
    assert_int_equal(vd_image_alloc(3, 2, img), VKDETR_OK);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++) {
            uint8_t *p = img->rgb + (y * 3 + x) * 3;
            p[0] = (uint8_t)(10 * y + x);
            p[1] = 100;
            p[2] = 200;
        }
}

static void orient_all(void **state) {
    (void)state;
    /* expected R values, row-major, as PIL's transpose methods lay them out */
    static const int want[9][6] = {
        {0}, {0, 1, 2, 10, 11, 12},  {2, 1, 0, 12, 11, 10}, {12, 11, 10, 2, 1, 0},
        {10, 11, 12, 0, 1, 2},       {0, 10, 1, 11, 2, 12},  {10, 0, 11, 1, 12, 2},
        {12, 2, 11, 1, 10, 0},       {2, 12, 1, 11, 0, 10}};
    for (int o = 0; o <= 9; o++) {
        vd_image img;
        make_3x2(&img);
        assert_int_equal(vd_image_orient(&img, o), VKDETR_OK);
        int swap = o >= 5 && o <= 8;
        assert_int_equal(img.width, swap ? 2 : 3);
        assert_int_equal(img.height, swap ? 3 : 2);
        for (int i = 0; i < 6; i++) {
            int expect = (o >= 1 && o <= 8) ? want[o][i] : want[1][i];
            if (img.rgb[i * 3] != expect) {
                fprintf(stderr, "orientation %d: pixel %d = %d, expected %d\n", o, i, img.rgb[i * 3], expect);
                fail();
            }
            assert_int_equal(img.rgb[i * 3 + 1], 100);
        }
        vd_image_free(&img);
    }
}

/* TIFF block with IFD0 = [entries]; each entry (tag, type, count, value) little-endian. */
static size_t tiff_le(uint8_t *b, const uint32_t (*entries)[4], int n, uint32_t ifd_offset) {
    memcpy(b, "II*\0", 4);
    b[4] = (uint8_t)ifd_offset;
    b[5] = (uint8_t)(ifd_offset >> 8);
    b[6] = b[7] = 0;
    size_t p = 8;
    b[p++] = (uint8_t)n;
    b[p++] = 0;
    for (int i = 0; i < n; i++) {
        const uint32_t *e = entries[i];
        uint8_t f[12] = {(uint8_t)e[0], (uint8_t)(e[0] >> 8), (uint8_t)e[1], 0,
                         (uint8_t)e[2], (uint8_t)(e[2] >> 8), (uint8_t)(e[2] >> 16), (uint8_t)(e[2] >> 24),
                         (uint8_t)e[3], (uint8_t)(e[3] >> 8), (uint8_t)(e[3] >> 16), (uint8_t)(e[3] >> 24)};
        memcpy(b + p, f, 12);
        p += 12;
    }
    memset(b + p, 0, 4);
    return p + 4;
}

/* JPEG-like bytes: SOI, APP1 "Exif\0\0" + tiff (truncated to tiff_len), optional XMP, SOS. */
static size_t jpeg_app1(uint8_t *out, const uint8_t *tiff, size_t tiff_len, const char *xmp) {
    size_t p = 0;
    out[p++] = 0xFF;
    out[p++] = 0xD8;
    if (tiff) {
        size_t len = 2 + 6 + tiff_len;
        out[p++] = 0xFF;
        out[p++] = 0xE1;
        out[p++] = (uint8_t)(len >> 8);
        out[p++] = (uint8_t)len;
        memcpy(out + p, "Exif\0\0", 6);
        memcpy(out + p + 6, tiff, tiff_len);
        p += len - 2;
    }
    if (xmp) {
        static const char id[] = "http://ns.adobe.com/xap/1.0/";
        size_t len = 2 + sizeof id + strlen(xmp);
        out[p++] = 0xFF;
        out[p++] = 0xE1;
        out[p++] = (uint8_t)(len >> 8);
        out[p++] = (uint8_t)len;
        memcpy(out + p, id, sizeof id);
        memcpy(out + p + sizeof id, xmp, strlen(xmp));
        p += len - 2;
    }
    static const uint8_t sos[] = {0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9};
    memcpy(out + p, sos, sizeof sos);
    return p + sizeof sos;
}

static void exif_parser(void **state) {
    (void)state;
    uint8_t tiff[256], jpg[512];
    const uint32_t ok[1][4] = {{0x0112, 3, 1, 6}};
    const uint32_t as_long[1][4] = {{0x0112, 4, 1, 8}};
    const uint32_t as_byte[1][4] = {{0x0112, 1, 1, 6}};
    const uint32_t count2[1][4] = {{0x0112, 3, 2, 5 | (7u << 16)}};
    const uint32_t far_value[1][4] = {{0x0112, 3, 3, 5000}}; /* 6 bytes at offset 5000 */
    const uint32_t twice[2][4] = {{0x0112, 3, 1, 6}, {0x0112, 3, 1, 3}};
    const uint32_t bad_then[2][4] = {{0x0112, 3, 1, 6}, {0x0112, 3, 3, 9000}};
    const uint32_t range[1][4] = {{0x0112, 3, 1, 9}};
    struct { const char *what; const uint32_t (*e)[4]; int n; uint32_t ifd; int cut; const char *xmp; int want; } cases[] = {
        {"SHORT 6", ok, 1, 8, 0, NULL, 6},
        {"LONG 8", as_long, 1, 8, 0, NULL, 8},
        {"BYTE is bytes in PIL: ignored", as_byte, 1, 8, 0, NULL, 1},
        {"count 2: first value", count2, 1, 8, 0, NULL, 5},
        {"value offset past the end: tag skipped", far_value, 1, 8, 0, NULL, 1},
        {"last entry wins", twice, 2, 8, 0, NULL, 3},
        {"unreadable later entry keeps the earlier", bad_then, 2, 8, 0, NULL, 6},
        {"value 9", range, 1, 8, 0, NULL, 1},
        {"IFD offset past the end", ok, 1, 4000, 0, NULL, 1},
        {"IFD offset at the end", ok, 1, 30, 0, NULL, 1},
        {"entry cut in the middle", ok, 1, 8, 8, NULL, 1},
        {"count says 2, data has 1 entry", twice, 2, 8, 12, NULL, 6},
        {"XMP used without EXIF tag", NULL, 0, 8, 0, "<x tiff:Orientation=\"7\"/>", 7},
        {"XMP element form", NULL, 0, 8, 0, "<tiff:Orientation>2</tiff:Orientation>", 2},
        {"EXIF tag wins over XMP", ok, 1, 8, 0, "tiff:Orientation=\"7\"", 6},
        {"unusable EXIF tag still blocks XMP", as_byte, 1, 8, 0, "tiff:Orientation=\"7\"", 1},
        {"XMP leftmost match", NULL, 0, 8, 0, "tiff:Orientation=x tiff:Orientation>8", 8},
        {"XMP truncated", NULL, 0, 8, 0, "tiff:Orientation=\"", 1},
    };
    for (size_t i = 0; i < VD_ARRAY_LEN(cases); i++) {
        size_t tl = tiff_le(tiff, cases[i].e, cases[i].n, cases[i].ifd);
        if (cases[i].cut) tl -= (size_t)cases[i].cut + 4;
        size_t jl = jpeg_app1(jpg, cases[i].n || !cases[i].xmp ? tiff : NULL, tl, cases[i].xmp);
        int got = vd_image_exif_orientation(jpg, jl);
        if (got != cases[i].want) {
            fprintf(stderr, "FAIL exif case \"%s\": %d, expected %d\n", cases[i].what, got, cases[i].want);
            fail();
        }
    }
    /* bad TIFF header, double Exif prefix, big-endian, tiny and empty inputs */
    size_t tl = tiff_le(tiff, ok, 1, 8);
    tiff[0] = 'X';
    assert_int_equal(vd_image_exif_orientation(jpg, jpeg_app1(jpg, tiff, tl, NULL)), 1);
    tiff[0] = 'I';
    uint8_t dbl[300];
    memcpy(dbl, "Exif\0\0", 6);
    memcpy(dbl + 6, tiff, tl);
    assert_int_equal(vd_image_exif_orientation(jpg, jpeg_app1(jpg, dbl, tl + 6, NULL)), 6);
    static const uint8_t be[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0};
    assert_int_equal(vd_image_exif_orientation(jpg, jpeg_app1(jpg, be, sizeof be, NULL)), 4);
    for (size_t cut = 0; cut < sizeof be; cut++) /* the entry ends at byte 22 */
        assert_int_equal(vd_image_exif_orientation(jpg, jpeg_app1(jpg, be, cut, NULL)), cut < 22 ? 1 : 4);
    assert_int_equal(vd_image_exif_orientation(NULL, 0), 1);
    assert_int_equal(vd_image_exif_orientation((const uint8_t *)"\xFF\xD8", 2), 1);
    /* a segment length running past the end */
    static const uint8_t runaway[] = {0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x', 'i', 'f', 0, 0};
    assert_int_equal(vd_image_exif_orientation(runaway, sizeof runaway), 1);
}

/* A real JPEG with a corrupt EXIF block still decodes, unrotated (PIL only warns). */
static void corrupt_exif_decodes(void **state) {
    (void)state;
    size_t size;
    uint8_t *jpg = read_fixture("odd_37x23.jpg", &size);
    uint8_t tiff[64];
    const uint32_t far[1][4] = {{0x0112, 3, 1000, 0x7FFFFFF0}};
    size_t tl = tiff_le(tiff, far, 1, 8);
    tiff[4] = 0xF0; /* IFD offset 0xF0 + ... past the end */
    size_t len = 2 + 6 + tl;
    uint8_t *buf = malloc(size + len + 2);
    memcpy(buf, jpg, 2);
    uint8_t seg[4] = {0xFF, 0xE1, (uint8_t)(len >> 8), (uint8_t)len};
    memcpy(buf + 2, seg, 4);
    memcpy(buf + 6, "Exif\0\0", 6);
    memcpy(buf + 12, tiff, tl);
    memcpy(buf + 12 + tl, jpg + 2, size - 2);
    vd_image img;
    assert_int_equal(vd_image_decode_memory(buf, size + len + 2, &img), VKDETR_OK);
    assert_int_equal(img.width, 37);
    assert_int_equal(img.height, 23);
    vd_image_free(&img);
    free(buf);
    free(jpg);
}

/* ---- hostile inputs --------------------------------------------------------------------- */

static void expect_fail_memory(const void *data, size_t size, vkdetr_status want, const char *what,
                               const char *msg) {
    vd_image img;
    memset(&img, 0x5A, sizeof img);
    vkdetr_status st = vd_image_decode_memory_ex(data, size, what, NULL, &img);
    if (st != want) {
        fprintf(stderr, "FAIL %s: status %d (%s), expected %d\n", what, st, vkdetr_last_error(), want);
        fail();
    }
    assert_null(img.rgb);
    assert_int_equal(img.width, 0);
    assert_non_null(strstr(vkdetr_last_error(), what));
    if (msg) assert_msg_contains(msg);
    assert_null(strchr(vkdetr_last_error(), '\n'));
}

static void hostile_files(void **state) {
    (void)state;
    const char *dir = vd_test_tmpdir();
    char path[512];
    vd_image img;

    snprintf(path, sizeof path, "%s/missing.png", dir);
    assert_int_equal(vd_image_decode_file(path, &img), VKDETR_ERR_IO);
    assert_msg_contains("missing.png");
    assert_msg_contains(strerror(ENOENT));
    assert_null(img.rgb);

    assert_int_equal(vd_image_decode_file(dir, &img), VKDETR_ERR_IO); /* a directory */
    assert_msg_contains(dir);

    snprintf(path, sizeof path, "%s/empty.jpg", dir);
    assert_int_equal(vd_test_write_file(path, "", 0), 0);
    assert_int_equal(vd_image_decode_file(path, &img), VKDETR_ERR_FORMAT);
    assert_msg_contains("empty.jpg");
    assert_msg_contains("empty");

    snprintf(path, sizeof path, "%s/text.png", dir);
    static const char text[] = "this is not an image, just some text\n";
    assert_int_equal(vd_test_write_file(path, text, sizeof text - 1), 0);
    assert_int_equal(vd_image_decode_file(path, &img), VKDETR_ERR_FORMAT);
    assert_msg_contains("text.png");
    assert_msg_contains("not a supported image");

    expect_fail_memory("P3\n1 1\n255\n0 0 0\n", 18, VKDETR_ERR_UNSUPPORTED, "plain.ppm", "plain");
    expect_fail_memory("P6\n", 3, VKDETR_ERR_FORMAT, "header.ppm", NULL);
    expect_fail_memory("P5\n3 2\n0\n", 9, VKDETR_ERR_FORMAT, "maxval0.pgm", "maxval");
    expect_fail_memory("P5\n3 2\n70000\n", 13, VKDETR_ERR_FORMAT, "maxval.pgm", "maxval");
    expect_fail_memory("P5\n12345678901 2\n255\n", 21, VKDETR_ERR_FORMAT, "token.pgm", NULL);
    expect_fail_memory("\x89PNG", 4, VKDETR_ERR_FORMAT, "sig.png", NULL);
    expect_fail_memory("GIF89a", 6, VKDETR_ERR_FORMAT, "sig.gif", NULL);
}

/* Every truncation length of some fixtures: an error or a correct image, never a crash; the
 * lengths PIL calls "truncated" must fail. */
static void truncated_files(void **state) {
    (void)state;
    static const char *files[] = {"rgb_37x23.png", "odd_37x23.jpg", "prog_64x48.jpg",
                                  "pal_45x33.gif", "rgb_37x23.bmp", "rgb_37x23.tga",
                                  "rle_37x23.tga", "rgb_37x23.ppm", "gray16_33x21.png",
                                  "max1000_11x7.ppm", "bits_21x9.pbm"};
    for (size_t f = 0; f < VD_ARRAY_LEN(files); f++) {
        size_t size;
        uint8_t *data = read_fixture(files[f], &size);
        size_t step = size > 3000 ? 7 : 1, failed = 0, tried = 0;
        for (size_t cut = 0; cut < size; cut += step) {
            vd_image img;
            uint8_t *copy = malloc(cut ? cut : 1); /* exact-size buffer: ASan sees overreads */
            memcpy(copy, data, cut);
            vkdetr_status st = vd_image_decode_memory_ex(copy, cut, files[f], NULL, &img);
            free(copy);
            tried++;
            if (st != VKDETR_OK) {
                failed++;
                assert_non_null(strstr(vkdetr_last_error(), files[f]));
                assert_null(img.rgb);
            }
            vd_image_free(&img);
        }
        /* cutting the last 32 bytes always removes image data or the end marker (PIL's TGA
         * files end with a 26-byte footer) */
        size_t shorter = size > 32 ? size - 32 : 0; /* (bits_21x9.pbm: 35 bytes) */
        uint8_t *copy = malloc(shorter + 1);
        memcpy(copy, data, shorter);
        vd_image img;
        vkdetr_status st = vd_image_decode_memory_ex(copy, shorter, files[f], NULL, &img);
        free(copy);
        if (st == VKDETR_OK) {
            fprintf(stderr, "FAIL %s without its last 32 bytes decoded\n", files[f]);
            fail();
        }
        vd_image_free(&img);
        printf("  truncated %-18s %zu of %zu cut lengths rejected\n", files[f], failed, tried);
        free(data);
    }
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Declared sizes beyond the limit are refused from the header, before any allocation. */
static void huge_dimensions(void **state) {
    (void)state;
    size_t size;
    uint8_t *png = read_fixture("rgb_37x23.png", &size);
    put_be32(png + 16, 100000);
    put_be32(png + 20, 100000);
    vd_alloc_fail_after(0, 0);
    expect_fail_memory(png, size, VKDETR_ERR_UNSUPPORTED, "huge.png", "100000x100000");
    assert_int_equal(vd_alloc_fail_after(0, 0), 0);
    free(png);

    uint8_t *jpg = read_fixture("odd_37x23.jpg", &size);
    for (size_t i = 2; i + 9 < size; i++) {
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) { /* SOF0: height, width at +5, +7 */
            jpg[i + 5] = jpg[i + 6] = jpg[i + 7] = jpg[i + 8] = 0xFF;
            break;
        }
    }
    vd_alloc_fail_after(0, 0);
    expect_fail_memory(jpg, size, VKDETR_ERR_UNSUPPORTED, "huge.jpg", "65535x65535");
    assert_int_equal(vd_alloc_fail_after(0, 0), 0);
    free(jpg);

    static const char pgm[] = "P5\n99999 99999\n255\n";
    vd_alloc_fail_after(0, 0);
    expect_fail_memory(pgm, sizeof pgm - 1, VKDETR_ERR_UNSUPPORTED, "huge.pgm", "pixels");
    assert_int_equal(vd_alloc_fail_after(0, 0), 0);

    /* a lower limit through the params */
    uint8_t *ok = read_fixture("rgb_64x48.png", &size);
    vd_image_decode_params p = vd_image_decode_default_params();
    p.max_pixels = 64 * 48 - 1;
    vd_image img;
    assert_int_equal(vd_image_decode_memory_ex(ok, size, "limit.png", &p, &img), VKDETR_ERR_UNSUPPORTED);
    p.max_pixels = 64 * 48;
    assert_int_equal(vd_image_decode_memory_ex(ok, size, "limit.png", &p, &img), VKDETR_OK);
    vd_image_free(&img);
    free(ok);
}

/* 1x1 and 10000x100 images decode (written here with stb_image_write). */
static void extreme_shapes(void **state) {
    (void)state;
    const int sizes[][2] = {{1, 1}, {10000, 100}, {100, 10000}, {1, 3000}};
    for (size_t s = 0; s < VD_ARRAY_LEN(sizes); s++) {
        int w = sizes[s][0], h = sizes[s][1];
        uint8_t *px = malloc((size_t)w * h * 3);
        for (size_t i = 0; i < (size_t)w * h * 3; i++) px[i] = (uint8_t)(i * 7 + i / 3);
        char path[512];
        snprintf(path, sizeof path, "%s/shape.png", vd_test_tmpdir());
        assert_true(stbi_write_png(path, w, h, 3, px, w * 3) != 0);
        vd_image img;
        assert_int_equal(vd_image_decode_file(path, &img), VKDETR_OK);
        assert_int_equal(img.width, w);
        assert_int_equal(img.height, h);
        assert_memory_equal(img.rgb, px, (size_t)w * h * 3);
        vd_image_free(&img);
        snprintf(path, sizeof path, "%s/shape.bmp", vd_test_tmpdir());
        assert_true(stbi_write_bmp(path, w, h, 3, px) != 0);
        assert_int_equal(vd_image_decode_file(path, &img), VKDETR_OK);
        assert_memory_equal(img.rgb, px, (size_t)w * h * 3);
        vd_image_free(&img);
        free(px);
    }
}

/* Failing each allocation in turn: a clean VKDETR_ERR_NO_MEMORY, no leak. */
static void allocation_failures(void **state) {
    (void)state;
    static const char *files[] = {"rgb_37x23.png", "odd_37x23.jpg", "pal_45x33.gif", "gray16_33x21.png",
                                  "max1000_11x7.ppm", "exif6_64x48.jpg", "rgb_37x23.bmp"};
    for (size_t f = 0; f < VD_ARRAY_LEN(files); f++) {
        const char *path = vd_fix_path(files[f]);
        vd_image img;
        vd_alloc_fail_after(0, 0);
        assert_int_equal(vd_image_decode_file(path, &img), VKDETR_OK);
        int64_t n = vd_alloc_fail_after(0, 0);
        vd_image_free(&img);
        for (int64_t i = 1; i <= n; i++) {
            vd_alloc_fail_after(i, 1);
            vkdetr_status st = vd_image_decode_file(path, &img);
            vd_alloc_fail_after(0, 0);
            if (st != VKDETR_ERR_NO_MEMORY) {
                fprintf(stderr, "FAIL %s: allocation %lld of %lld failed, status %d (%s)\n", files[f],
                        (long long)i, (long long)n, st, vkdetr_last_error());
                fail();
            }
            assert_null(img.rgb);
        }
    }
}

/* ---- caller pixels ---------------------------------------------------------------------- */

static void pixel_formats(void **state) {
    (void)state;
    const int w = 5, h = 3, pad = 7;
    vd_rng rng;
    vd_rng_seed(&rng, 11);
    uint8_t rgb[5 * 3 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)vd_rng_u32(&rng);
    const vkdetr_pixel_format formats[] = {VKDETR_PIXEL_RGB, VKDETR_PIXEL_RGBA, VKDETR_PIXEL_BGR,
                                           VKDETR_PIXEL_BGRA, VKDETR_PIXEL_GRAY};
    const int chans[] = {3, 4, 3, 4, 1};
    for (int f = 0; f < 5; f++) {
        int ch = chans[f], stride = w * ch + pad;
        uint8_t *buf = malloc((size_t)stride * h);
        memset(buf, 0xEE, (size_t)stride * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const uint8_t *s = rgb + (y * w + x) * 3;
                uint8_t *d = buf + y * stride + x * ch;
                int bgr = formats[f] == VKDETR_PIXEL_BGR || formats[f] == VKDETR_PIXEL_BGRA;
                if (ch == 1) d[0] = s[0];
                else {
                    d[0] = s[bgr ? 2 : 0];
                    d[1] = s[1];
                    d[2] = s[bgr ? 0 : 2];
                }
                if (ch == 4) d[3] = (uint8_t)(x * 50);
            }
        vkdetr_image in = {buf, w, h, stride, formats[f]};
        vd_image out;
        assert_int_equal(vd_image_from_pixels(&in, &out), VKDETR_OK);
        for (int i = 0; i < w * h; i++)
            for (int c = 0; c < 3; c++) {
                int want = ch == 1 ? rgb[i * 3] : rgb[i * 3 + c];
                if (out.rgb[i * 3 + c] != want) {
                    fprintf(stderr, "format %d pixel %d channel %d: %d, expected %d\n", f, i, c, out.rgb[i * 3 + c], want);
                    fail();
                }
            }
        vd_image_free(&out);
        in.stride = 0; /* packed: only valid when the rows really are packed; check it is accepted */
        int channels;
        size_t st;
        assert_int_equal(vd_image_check_pixels(&in, &channels, &st), VKDETR_OK);
        assert_int_equal(channels, ch);
        assert_int_equal(st, (size_t)w * ch);
        free(buf);
    }
    uint8_t one[3] = {1, 2, 3};
    vd_image out;
    vkdetr_image bad = {NULL, 1, 1, 0, VKDETR_PIXEL_RGB};
    assert_int_equal(vd_image_from_pixels(&bad, &out), VKDETR_ERR_INVALID_ARG);
    bad = (vkdetr_image){one, 0, 1, 0, VKDETR_PIXEL_RGB};
    assert_int_equal(vd_image_from_pixels(&bad, &out), VKDETR_ERR_INVALID_ARG);
    bad = (vkdetr_image){one, 1, 1, 2, VKDETR_PIXEL_RGB};
    assert_int_equal(vd_image_from_pixels(&bad, &out), VKDETR_ERR_INVALID_ARG);
    assert_msg_contains("stride");
    bad = (vkdetr_image){one, 1, 1, -3, VKDETR_PIXEL_RGB};
    assert_int_equal(vd_image_from_pixels(&bad, &out), VKDETR_ERR_INVALID_ARG);
    bad = (vkdetr_image){one, 1, 1, 0, (vkdetr_pixel_format)42};
    assert_int_equal(vd_image_from_pixels(&bad, &out), VKDETR_ERR_INVALID_ARG);
    bad = (vkdetr_image){one, 1 << 20, 1 << 20, 0, VKDETR_PIXEL_GRAY};
    assert_int_equal(vd_image_from_pixels(&bad, &out), VKDETR_ERR_UNSUPPORTED);
    assert_null(out.rgb);
    vd_image_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_fixtures),      cmocka_unit_test(orient_all),
        cmocka_unit_test(exif_parser),          cmocka_unit_test(corrupt_exif_decodes),
        cmocka_unit_test(hostile_files),        cmocka_unit_test(truncated_files),
        cmocka_unit_test(huge_dimensions),      cmocka_unit_test(extreme_shapes),
        cmocka_unit_test(allocation_failures),  cmocka_unit_test(pixel_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
