/* The V4L2 camera source against a fake device: its system calls go through the injectable
 * vd_v4l2_sys table (apps/common/source_v4l2.h), served here by a small state machine that
 * offers chosen pixel formats, hands out mmap buffers, delivers YUYV or MJPEG frames, can
 * vanish mid-stream (ENODEV) and counts descriptors and mappings so that leaks show.
 * Cases: format negotiation (only YUYV; only MJPEG; both, auto and forced; neither -> a
 * message listing what the device offers), a driver that switches the format, a node that
 * cannot capture, a missing camera (message lists the /dev/video* found and suggests --input),
 * permission denied, frames flagged as errors and corrupt JPEG skipped, and a camera that
 * disappears after three frames. */
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/testutil.h"

#include "error.h"
#include "imageio.h"
#include "source.h"
#include "source_v4l2.h"
#include "tests/support/fake_v4l2.h"

static vkdetr_status open_fake(const char *format, vd_source **out) {
    vd_source_params p = vd_source_default_params();
    p.spec = g_fake.path;
    p.pixel_format = format;
    p.v4l2_sys = &fake_sys;
    p.dev_dir = "/nonexistent-dev-dir";
    return vd_source_open_v4l2(&p, out);
}

static void expect_released(void) {
    assert_int_equal(g_fake.fds_open, 0);
    assert_int_equal(g_fake.maps_live, 0);
}

/* Reads one frame and checks every pixel is within tol of rgb. */
static void expect_frame(vd_source *s, const int rgb[3], int tol) {
    size_t n = (size_t)s->info.width * s->info.height;
    uint8_t *px = malloc(n * 3);
    vd_frame f = {.rgb = px};
    int rc = vd_source_read(s, &f, 100);
    if (rc != VD_SOURCE_FRAME) fprintf(stderr, "read: %d %s\n", rc, vd_app_last_error());
    assert_int_equal(rc, VD_SOURCE_FRAME);
    assert_int_equal(f.width, g_fake.width);
    assert_int_equal(f.height, g_fake.height);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            if (abs(px[i * 3 + c] - rgb[c]) > tol) {
                fprintf(stderr, "pixel %zu channel %d: %d, expected %d +- %d\n", i, c,
                        px[i * 3 + c], rgb[c], tol);
                fail();
            }
    free(px);
}

static const int red[3] = {255, 0, 0};

static void test_only_yuyv(void **state) {
    (void)state;
    fake_reset();
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_YUYV;
    vd_source *s;
    assert_int_equal(open_fake("auto", &s), VKDETR_OK);
    assert_string_equal(s->info.kind, "v4l2");
    assert_true(s->info.live);
    assert_int_equal(s->info.width, 64);
    assert_int_equal(s->info.height, 48);
    assert_true(s->info.fps > 29.9 && s->info.fps < 30.1);
    assert_non_null(strstr(s->info.description, "YUYV 64x48"));
    assert_non_null(strstr(s->info.description, "Fake Cam"));
    assert_int_equal(g_fake.n_bufs, 4);
    assert_true(g_fake.streaming);
    for (int i = 0; i < 6; i++) expect_frame(s, red, 3); /* buffers are requeued and reused */
    vd_source_close(s);
    assert_true(g_fake.streamoff_seen);
    assert_true(g_fake.reqbufs_zero_seen);
    expect_released();
}

/* A small JPEG of one colour, through the apps' own writer. */
static void make_jpeg(int r, int g, int b) {
    size_t n = (size_t)g_fake.width * g_fake.height;
    uint8_t *px = malloc(n * 3);
    for (size_t i = 0; i < n; i++) px[i * 3] = (uint8_t)r, px[i * 3 + 1] = (uint8_t)g, px[i * 3 + 2] = (uint8_t)b;
    char path[512];
    snprintf(path, sizeof path, "%s/frame.jpg", vd_test_tmpdir());
    assert_int_equal(vd_imageio_write(path, px, g_fake.width, g_fake.height, 3, 95), VKDETR_OK);
    g_fake.jpeg = vd_test_read_file(path, &g_fake.jpeg_n);
    assert_non_null(g_fake.jpeg);
    unlink(path);
    free(px);
}

static void test_only_mjpeg(void **state) {
    (void)state;
    fake_reset();
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_MJPEG;
    make_jpeg(30, 140, 220);
    vd_source *s;
    assert_int_equal(open_fake("auto", &s), VKDETR_OK);
    assert_non_null(strstr(s->info.description, "MJPG 64x48"));
    const int blue[3] = {30, 140, 220};
    for (int i = 0; i < 5; i++) expect_frame(s, blue, 4);
    vd_source_close(s);
    expect_released();
}

static void test_both_formats(void **state) {
    (void)state;
    fake_reset();
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_YUYV;
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_MJPEG;
    make_jpeg(200, 200, 40);
    vd_source *s;
    /* auto prefers MJPEG (higher frame rates over USB) */
    assert_int_equal(open_fake("auto", &s), VKDETR_OK);
    assert_non_null(strstr(s->info.description, "MJPG"));
    vd_source_close(s);
    expect_released();
    assert_int_equal(open_fake("yuyv", &s), VKDETR_OK);
    assert_non_null(strstr(s->info.description, "YUYV"));
    expect_frame(s, red, 3);
    vd_source_close(s);
    expect_released();
}

static void test_neither_format(void **state) {
    (void)state;
    fake_reset();
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_NV12;
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_H264;
    vd_source *s = (vd_source *)1;
    assert_int_equal(open_fake("auto", &s), VKDETR_ERR_UNSUPPORTED);
    assert_null(s);
    const char *m = vd_app_last_error();
    assert_non_null(strstr(m, "/dev/video0"));
    assert_non_null(strstr(m, "MJPEG, YUYV"));
    assert_non_null(strstr(m, "it offers: NV12, H264"));
    expect_released();
    /* a forced format the device lacks */
    fake_reset();
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_YUYV;
    assert_int_equal(open_fake("mjpeg", &s), VKDETR_ERR_UNSUPPORTED);
    assert_non_null(strstr(vd_app_last_error(), "does not offer mjpeg (it offers: YUYV)"));
    expect_released();
}

static void test_driver_switches_format(void **state) {
    (void)state;
    fake_reset();
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_YUYV;
    g_fake.force_format = V4L2_PIX_FMT_NV12;
    vd_source *s;
    assert_int_equal(open_fake("auto", &s), VKDETR_ERR_UNSUPPORTED);
    assert_non_null(strstr(vd_app_last_error(), "asked for YUYV, the driver chose NV12"));
    expect_released();
}

static void test_not_a_capture_node(void **state) {
    (void)state;
    fake_reset();
    g_fake.caps = V4L2_CAP_META_CAPTURE | V4L2_CAP_STREAMING;
    vd_source *s;
    assert_int_equal(open_fake("auto", &s), VKDETR_ERR_UNSUPPORTED);
    assert_non_null(strstr(vd_app_last_error(), "cannot capture video"));
    expect_released();
}

static void touch(const char *dir, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
}

static void test_missing_camera_lists_devices(void **state) {
    (void)state;
    fake_reset();
    /* a fake /dev with three video nodes (and names that are not video nodes) */
    char dev[300];
    snprintf(dev, sizeof dev, "%s", vd_test_tmpdir());
    const char *names[] = {"video10", "video1", "video0", "vbi0", "video2x", "media0"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) touch(dev, names[i]);
    snprintf(g_fake.path, sizeof g_fake.path, "%s/video1", dev); /* the one that opens */
    vd_source_params p = vd_source_default_params();
    p.spec = "/dev/video7";
    p.v4l2_sys = &fake_sys;
    p.dev_dir = dev;
    vd_source *s;
    assert_int_equal(vd_source_open(&p, &s), VKDETR_ERR_IO);
    const char *m = vd_app_last_error();
    fprintf(stderr, "message: %s\n", m);
    assert_non_null(strstr(m, "no camera at /dev/video7"));
    assert_non_null(strstr(m, "--input"));
    char want[2048];
    snprintf(want, sizeof want,
             "video devices found: %s/video0 (cannot open: No such file or directory), "
             "%s/video1 (Fake Cam), %s/video10 (cannot open",
             dev, dev, dev);
    assert_non_null(strstr(m, want));
    assert_null(strstr(m, "vbi0"));
    assert_null(strstr(m, "video2x"));
    expect_released();
    /* no video nodes at all */
    char empty[300];
    snprintf(empty, sizeof empty, "%s", vd_test_tmpdir());
    p.dev_dir = empty;
    assert_int_equal(vd_source_open(&p, &s), VKDETR_ERR_IO);
    assert_non_null(strstr(vd_app_last_error(), "video devices found: none"));
}

static void test_permission_denied(void **state) {
    (void)state;
    fake_reset();
    g_fake.open_errno = EACCES;
    vd_source *s;
    assert_int_equal(open_fake("auto", &s), VKDETR_ERR_IO);
    assert_non_null(strstr(vd_app_last_error(), "'video' group"));
}

static void test_bad_frames_skipped(void **state) {
    (void)state;
    fake_reset();
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_MJPEG;
    make_jpeg(250, 250, 250);
    g_fake.error_frame = 1;   /* flagged by the driver */
    g_fake.corrupt_frame = 2; /* garbage instead of a JPEG */
    vd_source *s;
    assert_int_equal(open_fake("auto", &s), VKDETR_OK);
    uint8_t *px = malloc(64 * 48 * 3);
    vd_frame f = {.rgb = px};
    int got[6];
    for (int i = 0; i < 6; i++) got[i] = vd_source_read(s, &f, 100);
    const int want[6] = {VD_SOURCE_FRAME, VD_SOURCE_TIMEOUT, VD_SOURCE_TIMEOUT,
                         VD_SOURCE_FRAME, VD_SOURCE_FRAME, VD_SOURCE_FRAME};
    for (int i = 0; i < 6; i++) assert_int_equal(got[i], want[i]);
    assert_int_equal(f.index, 3); /* frames delivered are numbered without gaps */
    free(px);
    vd_source_close(s);
    expect_released();
}

static void test_camera_disappears(void **state) {
    (void)state;
    fake_reset();
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_YUYV;
    g_fake.vanish_after = 3;
    vd_source *s;
    assert_int_equal(open_fake("auto", &s), VKDETR_OK);
    uint8_t *px = malloc(64 * 48 * 3);
    vd_frame f = {.rgb = px};
    double last = -1;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vd_source_read(s, &f, 100), VD_SOURCE_FRAME);
        assert_int_equal(f.index, i);
        assert_true(f.t_capture >= last);
        last = f.t_capture;
    }
    assert_int_equal(vd_source_read(s, &f, 100), VD_SOURCE_LOST);
    assert_non_null(strstr(vd_app_last_error(), "camera /dev/video0 disconnected after 3 frames"));
    assert_non_null(strstr(vd_app_last_error(), "No such device"));
    assert_int_equal(vd_source_read(s, &f, 100), VD_SOURCE_LOST); /* and stays lost */
    free(px);
    vd_source_close(s); /* STREAMOFF fails with ENODEV: still releases everything */
    expect_released();
}

static void test_fourcc_text(void **state) {
    (void)state;
    char b[5];
    assert_string_equal(vd_v4l2_fourcc_text(V4L2_PIX_FMT_YUYV, b), "YUYV");
    assert_string_equal(vd_v4l2_fourcc_text(V4L2_PIX_FMT_GREY, b), "GREY");
    assert_string_equal(vd_v4l2_fourcc_text(v4l2_fourcc('Y', '8', ' ', ' '), b), "Y8");
    assert_string_equal(vd_v4l2_fourcc_text(0x01020304u, b), "????");
}

static int teardown(void **state) {
    (void)state;
    free(g_fake.jpeg);
    g_fake.jpeg = NULL;
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_yuyv),
        cmocka_unit_test(test_only_mjpeg),
        cmocka_unit_test(test_both_formats),
        cmocka_unit_test(test_neither_format),
        cmocka_unit_test(test_driver_switches_format),
        cmocka_unit_test(test_not_a_capture_node),
        cmocka_unit_test(test_missing_camera_lists_devices),
        cmocka_unit_test(test_permission_denied),
        cmocka_unit_test(test_bad_frames_skipped),
        cmocka_unit_test(test_camera_disappears),
        cmocka_unit_test(test_fourcc_text),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
