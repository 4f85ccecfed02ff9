/* Frame sources other than V4L2 (test_cam_v4l2.c has that one) and the video writer: the
 * synthetic pattern and its barcode, folders of images (sizes, unreadable files, loop), video
 * files written with H.264 and MPEG-4 and read back (frame count, size, timing, pixels, loop,
 * odd sizes), a writer aborted midway leaving no file, and bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/log.h>

#include "tests/support/testutil.h"

#include "error.h"
#include "imageio.h"
#include "source.h"
#include "videowriter.h"

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static vd_source *open_spec(const char *spec, int loop) {
    vd_source_params p = vd_source_default_params();
    p.spec = spec;
    p.loop = loop;
    vd_source *s = NULL;
    vkdetr_status st = vd_source_open(&p, &s);
    if (st) fprintf(stderr, "open %s: %s\n", spec, vd_app_last_error());
    assert_int_equal(st, VKDETR_OK);
    return s;
}

static uint8_t *frame_buffer(const vd_source *s) {
    uint8_t *px = malloc((size_t)s->info.width * s->info.height * 3);
    assert_non_null(px);
    return px;
}

static void test_synth(void **state) {
    (void)state;
    const int64_t idx[] = {0, 1, 2, 255, 12345, 2147483653LL % 4294967296LL};
    uint8_t *px = malloc(200 * 150 * 3);
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
        vd_synth_render(px, 200, 150, 30.0, idx[i]);
        assert_int_equal(vd_synth_decode_index(px, 200, 150), idx[i]);
    }
    memset(px, 128, 200 * 150 * 3);
    assert_int_equal(vd_synth_decode_index(px, 200, 150), -1); /* no strip: grey cells */
    assert_int_equal(vd_synth_decode_index(px, 100, 150), -1); /* too narrow for 32 cells */
    free(px);

    vd_source_params p = vd_source_default_params();
    p.spec = "synth:320x200@15";
    p.max_frames = 3;
    vd_source *s;
    assert_int_equal(vd_source_open(&p, &s), VKDETR_OK);
    assert_string_equal(s->info.kind, "synth");
    assert_int_equal(s->info.width, 320);
    assert_int_equal(s->info.height, 200);
    assert_true(fabs(s->info.fps - 15.0) < 1e-9);
    assert_false(s->info.live);
    px = frame_buffer(s);
    vd_frame f = {.rgb = px};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vd_source_read(s, &f, 0), VD_SOURCE_FRAME);
        assert_int_equal(f.index, i);
        assert_true(fabs(f.pts - i / 15.0) < 1e-9);
        assert_int_equal(vd_synth_decode_index(px, 320, 200), i);
    }
    assert_int_equal(vd_source_read(s, &f, 0), VD_SOURCE_END);
    vd_source_close(s);
    free(px);

    const char *bad[] = {"synth:abc", "synth:0x10", "synth:64x48@0", "synth:64x48x", "synth:64"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.spec = bad[i];
        assert_int_equal(vd_source_open(&p, &s), VKDETR_ERR_INVALID_ARG);
        assert_non_null(strstr(vd_app_last_error(), "synth:WxH@FPS"));
    }
    p.spec = "synth:";
    p.width = 100;
    p.height = 60;
    assert_int_equal(vd_source_open(&p, &s), VKDETR_OK);
    assert_int_equal(s->info.width, 100);
    assert_true(fabs(s->info.fps - 30.0) < 1e-9);
    vd_source_close(s);
}

static void solid_png(const char *path, int w, int h, int r, int g, int b) {
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) px[i * 3] = (uint8_t)r, px[i * 3 + 1] = (uint8_t)g, px[i * 3 + 2] = (uint8_t)b;
    assert_int_equal(vd_imageio_write(path, px, w, h, 3, 90), VKDETR_OK);
    free(px);
}

static void expect_colour(const uint8_t *px, int n, int r, int g, int b) {
    for (int i = 0; i < n; i++)
        if (abs(px[i * 3] - r) > 1 || abs(px[i * 3 + 1] - g) > 1 || abs(px[i * 3 + 2] - b) > 1) {
            fprintf(stderr, "pixel %d: %d %d %d, expected %d %d %d\n", i, px[i * 3],
                    px[i * 3 + 1], px[i * 3 + 2], r, g, b);
            fail();
        }
}

static void test_image_folder(void **state) {
    (void)state;
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s", vd_test_tmpdir());
    snprintf(path, sizeof path, "%s/a.png", dir);
    solid_png(path, 41, 31, 200, 10, 10);
    snprintf(path, sizeof path, "%s/b.png", dir);
    solid_png(path, 80, 60, 10, 200, 10); /* another size: scaled to the first */
    snprintf(path, sizeof path, "%s/c.png", dir);
    assert_int_equal(vd_test_write_file(path, "not a png", 9), 0); /* skipped */
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    assert_int_equal(vd_test_write_file(path, "x", 1), 0); /* not an image name */

    vd_source *s = open_spec(dir, 0);
    assert_string_equal(s->info.kind, "images");
    assert_int_equal(s->info.width, 41);
    assert_int_equal(s->info.height, 31);
    assert_true(fabs(s->info.fps - 5.0) < 1e-9);
    assert_non_null(strstr(s->info.description, "3 images"));
    uint8_t *px = frame_buffer(s);
    vd_frame f = {.rgb = px};
    assert_int_equal(vd_source_read(s, &f, 0), VD_SOURCE_FRAME);
    expect_colour(px, 41 * 31, 200, 10, 10);
    assert_int_equal(vd_source_read(s, &f, 0), VD_SOURCE_FRAME);
    expect_colour(px, 41 * 31, 10, 200, 10);
    assert_int_equal(f.index, 1);
    assert_true(fabs(f.pts - 0.2) < 1e-9);
    assert_int_equal(vd_source_read(s, &f, 0), VD_SOURCE_END); /* c.png skipped */
    vd_source_close(s);

    s = open_spec(dir, 1); /* --loop */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(vd_source_read(s, &f, 0), VD_SOURCE_FRAME);
        assert_int_equal(f.index, i);
        expect_colour(px, 41 * 31, i % 2 ? 10 : 200, i % 2 ? 200 : 10, 10);
    }
    vd_source_close(s);

    snprintf(path, sizeof path, "%s/b.png", dir); /* one image */
    s = open_spec(path, 0);
    assert_int_equal(s->info.width, 80);
    vd_source_close(s);
    free(px);

    char empty[300];
    snprintf(empty, sizeof empty, "%s", vd_test_tmpdir());
    vd_source_params p = vd_source_default_params();
    p.spec = empty;
    assert_int_equal(vd_source_open(&p, &s), VKDETR_ERR_IO);
    assert_non_null(strstr(vd_app_last_error(), "no images in it"));
}

/* Writes n synth frames of w x h at fps to path with codec (NULL = default). */
static void write_video(const char *path, int w, int h, double fps, int n, const char *codec) {
    vd_video_writer *wr;
    vkdetr_status st = vd_video_writer_open_codec(path, w, h, fps, codec, &wr);
    if (st) fprintf(stderr, "%s\n", vd_app_last_error());
    assert_int_equal(st, VKDETR_OK);
    if (!codec) assert_string_equal(vd_video_writer_codec(wr), "libx264");
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; i < n; i++) {
        vd_synth_render(px, w, h, fps, i);
        assert_int_equal(vd_video_writer_write(wr, px, i / fps), VKDETR_OK);
    }
    free(px);
    assert_int_equal(vd_video_writer_close(wr), VKDETR_OK);
}

/* Reads the whole video back: frame count, timing, and the mean difference from the pattern. */
static void read_back(const char *path, int w, int h, double fps, int n, double max_diff) {
    vd_source *s = open_spec(path, 0);
    assert_string_equal(s->info.kind, "video");
    assert_false(s->info.live);
    assert_int_equal(s->info.width, w);
    assert_int_equal(s->info.height, h);
    assert_true(fabs(s->info.fps - fps) < 0.01);
    uint8_t *px = frame_buffer(s), *want = frame_buffer(s);
    vd_frame f = {.rgb = px};
    int got = 0;
    int rc;
    while ((rc = vd_source_read(s, &f, 0)) == VD_SOURCE_FRAME) {
        assert_int_equal(f.index, got);
        assert_true(fabs(f.pts - got / fps) < 2e-3);
        vd_synth_render(want, w, h, fps, got);
        double diff = 0;
        for (size_t i = 0; i < (size_t)w * h * 3; i++) diff += abs(px[i] - want[i]);
        diff /= (double)w * h * 3;
        if (diff > max_diff) fprintf(stderr, "%s frame %d: mean difference %.2f\n", path, got, diff);
        assert_true(diff <= max_diff);
        got++;
    }
    assert_int_equal(rc, VD_SOURCE_END);
    assert_int_equal(got, n);
    assert_int_equal(vd_source_read(s, &f, 0), VD_SOURCE_END);
    vd_source_close(s);
    free(px);
    free(want);
}

static void test_video_roundtrip(void **state) {
    (void)state;
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s", vd_test_tmpdir());
    snprintf(path, sizeof path, "%s/clip.mp4", dir);
    write_video(path, 160, 120, 10.0, 12, NULL);
    read_back(path, 160, 120, 10.0, 12, 6.0);

    snprintf(path, sizeof path, "%s/clip.avi", dir);
    write_video(path, 160, 120, 25.0, 7, "mpeg4");
    read_back(path, 160, 120, 25.0, 7, 8.0);

    /* odd sizes: written at 160x120 */
    snprintf(path, sizeof path, "%s/odd.mkv", dir);
    vd_video_writer *wr;
    assert_int_equal(vd_video_writer_open(path, 161, 121, 30.0, &wr), VKDETR_OK);
    uint8_t *px = malloc(161 * 121 * 3);
    memset(px, 90, 161 * 121 * 3);
    for (int i = 0; i < 3; i++) assert_int_equal(vd_video_writer_write(wr, px, 0.0), VKDETR_OK);
    assert_int_equal(vd_video_writer_close(wr), VKDETR_OK);
    free(px);
    vd_source *s = open_spec(path, 0);
    assert_int_equal(s->info.width, 160);
    assert_int_equal(s->info.height, 120);
    vd_source_close(s);
}

static void test_video_loop(void **state) {
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/loop.mp4", vd_test_tmpdir());
    write_video(path, 64, 48, 20.0, 5, NULL);
    vd_source *s = open_spec(path, 1);
    uint8_t *px = frame_buffer(s);
    vd_frame f = {.rgb = px};
    double last = -1;
    for (int i = 0; i < 13; i++) {
        assert_int_equal(vd_source_read(s, &f, 0), VD_SOURCE_FRAME);
        assert_int_equal(f.index, i);
        assert_true(f.pts > last);
        assert_true(fabs(f.pts - i / 20.0) < 2e-3); /* time keeps running across loops */
        last = f.pts;
    }
    vd_source_close(s);
    free(px);
}

static void test_writer_abort_and_errors(void **state) {
    (void)state;
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s", vd_test_tmpdir());
    snprintf(path, sizeof path, "%s/partial.mp4", dir);
    vd_video_writer *wr;
    assert_int_equal(vd_video_writer_open(path, 64, 48, 30.0, &wr), VKDETR_OK);
    uint8_t px[64 * 48 * 3] = {0};
    assert_int_equal(vd_video_writer_write(wr, px, 0.0), VKDETR_OK);
    vd_video_writer_abort(wr);
    assert_false(exists(path));
    char tmp[500];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    assert_false(exists(tmp));

    snprintf(path, sizeof path, "%s/x.unknownext", dir);
    assert_int_equal(vd_video_writer_open(path, 64, 48, 30.0, &wr), VKDETR_ERR_INVALID_ARG);
    snprintf(path, sizeof path, "%s/no/such/dir/x.mp4", dir);
    assert_int_equal(vd_video_writer_open(path, 64, 48, 30.0, &wr), VKDETR_ERR_IO);
    snprintf(path, sizeof path, "%s/y.mp4", dir);
    assert_int_equal(vd_video_writer_open_codec(path, 64, 48, 30.0, "nosuchcodec", &wr),
                     VKDETR_ERR_UNSUPPORTED);

    /* inputs that are not videos */
    vd_source_params p = vd_source_default_params();
    vd_source *s;
    snprintf(path, sizeof path, "%s/missing.mp4", dir);
    p.spec = path;
    assert_int_equal(vd_source_open(&p, &s), VKDETR_ERR_IO);
    assert_non_null(strstr(vd_app_last_error(), "cannot open"));
    snprintf(path, sizeof path, "%s/text.mp4", dir);
    assert_int_equal(vd_test_write_file(path, "hello, not a video\n", 19), 0);
    assert_true(vd_source_open(&p, &s) < 0);
    assert_null(s);
}

int main(void) {
    av_log_set_level(AV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth),
        cmocka_unit_test(test_image_folder),
        cmocka_unit_test(test_video_roundtrip),
        cmocka_unit_test(test_video_loop),
        cmocka_unit_test(test_writer_abort_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
