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

enum { FAKE_FD = 42, MAX_BUFS = 8 };

typedef struct fake_dev {
    char path[512];         /* the only path that opens */
    int open_errno;         /* when set, open fails with it */
    unsigned caps;
    unsigned formats[8];
    int n_formats;
    int width, height;      /* what S_FMT grants */
    unsigned force_format;  /* S_FMT answers with this format instead (0: as asked) */
    unsigned format;        /* negotiated */
    int n_bufs_grant;
    int n_bufs;
    size_t buf_len;
    uint8_t *maps[MAX_BUFS];
    int queued[MAX_BUFS];
    int next_dq;
    int fds_open, maps_live;
    int streaming, streamoff_seen, reqbufs_zero_seen;
    int64_t delivered;
    int vanish_after;       /* DQBUF fails with ENODEV after this many frames (0: never) */
    int vanished;
    int error_frame;        /* frame number delivered with V4L2_BUF_FLAG_ERROR (-1: none) */
    int corrupt_frame;      /* frame number whose bytes are garbage (-1: none) */
    uint8_t yuyv[4];        /* Y0 U Y1 V of every pixel pair */
    uint8_t *jpeg;          /* MJPEG frame */
    size_t jpeg_n;
} fake_dev;

static fake_dev g_fake;

static void fake_reset(void) {
    free(g_fake.jpeg);
    memset(&g_fake, 0, sizeof g_fake);
    snprintf(g_fake.path, sizeof g_fake.path, "/dev/video0");
    g_fake.caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
    g_fake.width = 64;
    g_fake.height = 48;
    g_fake.n_bufs_grant = 4;
    g_fake.error_frame = g_fake.corrupt_frame = -1;
    /* BT.601 limited range red */
    g_fake.yuyv[0] = 81, g_fake.yuyv[1] = 90, g_fake.yuyv[2] = 81, g_fake.yuyv[3] = 240;
}

static int fake_open(void *user, const char *path, int flags) {
    (void)user, (void)flags;
    if (g_fake.open_errno) {
        errno = g_fake.open_errno;
        return -1;
    }
    if (strcmp(path, g_fake.path) != 0) {
        errno = ENOENT;
        return -1;
    }
    g_fake.fds_open++;
    return FAKE_FD;
}

static int fake_close(void *user, int fd) {
    (void)user;
    assert_int_equal(fd, FAKE_FD);
    g_fake.fds_open--;
    return 0;
}

static int fail_with(int e) {
    errno = e;
    return -1;
}

static int has_format(unsigned f) {
    for (int i = 0; i < g_fake.n_formats; i++)
        if (g_fake.formats[i] == f) return 1;
    return 0;
}

/* Writes frame number n into buffer i; returns bytesused. */
static size_t fill_frame(int i, int64_t n) {
    uint8_t *p = g_fake.maps[i];
    if (n == g_fake.corrupt_frame) {
        for (size_t k = 0; k < g_fake.buf_len; k++) p[k] = (uint8_t)(k * 7 + 3);
        return g_fake.buf_len / 2;
    }
    if (g_fake.format == V4L2_PIX_FMT_MJPEG) {
        memcpy(p, g_fake.jpeg, g_fake.jpeg_n);
        return g_fake.jpeg_n;
    }
    size_t n_bytes = (size_t)g_fake.width * g_fake.height * 2;
    for (size_t k = 0; k < n_bytes; k += 4) memcpy(p + k, g_fake.yuyv, 4);
    return n_bytes;
}

static int fake_dqbuf(struct v4l2_buffer *b) {
    if (g_fake.vanished || (g_fake.vanish_after && g_fake.delivered >= g_fake.vanish_after)) {
        g_fake.vanished = 1;
        return fail_with(ENODEV);
    }
    if (!g_fake.streaming) return fail_with(EINVAL);
    for (int k = 0; k < g_fake.n_bufs; k++) {
        int i = (g_fake.next_dq + k) % g_fake.n_bufs;
        if (!g_fake.queued[i]) continue;
        g_fake.queued[i] = 0;
        g_fake.next_dq = i + 1;
        int64_t n = g_fake.delivered++;
        b->index = (unsigned)i;
        b->bytesused = (unsigned)fill_frame(i, n);
        b->flags = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC | (n == g_fake.error_frame ? V4L2_BUF_FLAG_ERROR : 0);
        double t = vd_source_now_ms();
        b->timestamp.tv_sec = (long)(t / 1000);
        b->timestamp.tv_usec = (long)((t - (double)b->timestamp.tv_sec * 1000) * 1000);
        b->sequence = (unsigned)n;
        return 0;
    }
    return fail_with(EAGAIN);
}

static int fake_ioctl(void *user, int fd, unsigned long req, void *arg) {
    (void)user;
    assert_int_equal(fd, FAKE_FD);
    switch (req) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *c = arg;
        memset(c, 0, sizeof *c);
        snprintf((char *)c->driver, sizeof c->driver, "fake");
        snprintf((char *)c->card, sizeof c->card, "Fake Cam");
        c->capabilities = g_fake.caps | V4L2_CAP_DEVICE_CAPS;
        c->device_caps = g_fake.caps;
        return 0;
    }
    case VIDIOC_ENUM_FMT: {
        struct v4l2_fmtdesc *d = arg;
        if (d->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || d->index >= (unsigned)g_fake.n_formats)
            return fail_with(EINVAL);
        d->pixelformat = g_fake.formats[d->index];
        return 0;
    }
    case VIDIOC_S_FMT: {
        struct v4l2_format *f = arg;
        unsigned want = f->fmt.pix.pixelformat;
        if (!has_format(want)) want = g_fake.formats[0];
        if (g_fake.force_format) want = g_fake.force_format;
        f->fmt.pix.pixelformat = want;
        f->fmt.pix.width = (unsigned)g_fake.width;
        f->fmt.pix.height = (unsigned)g_fake.height;
        f->fmt.pix.bytesperline = want == V4L2_PIX_FMT_YUYV ? (unsigned)g_fake.width * 2 : 0;
        f->fmt.pix.sizeimage = (unsigned)(g_fake.width * g_fake.height * 2);
        g_fake.format = want;
        return 0;
    }
    case VIDIOC_S_PARM: return 0;
    case VIDIOC_G_PARM: {
        struct v4l2_streamparm *p = arg;
        p->parm.capture.timeperframe.numerator = 1;
        p->parm.capture.timeperframe.denominator = 30;
        return 0;
    }
    case VIDIOC_REQBUFS: {
        struct v4l2_requestbuffers *r = arg;
        if (r->memory != V4L2_MEMORY_MMAP) return fail_with(EINVAL);
        if (r->count == 0) {
            g_fake.reqbufs_zero_seen = 1;
            g_fake.n_bufs = 0;
            return 0;
        }
        if (r->count > (unsigned)g_fake.n_bufs_grant) r->count = (unsigned)g_fake.n_bufs_grant;
        g_fake.n_bufs = (int)r->count;
        g_fake.buf_len = (size_t)g_fake.width * g_fake.height * 2 + 4096;
        return 0;
    }
    case VIDIOC_QUERYBUF: {
        struct v4l2_buffer *b = arg;
        if (b->index >= (unsigned)g_fake.n_bufs) return fail_with(EINVAL);
        b->length = (unsigned)g_fake.buf_len;
        b->m.offset = b->index * 0x100000u;
        return 0;
    }
    case VIDIOC_QBUF: {
        struct v4l2_buffer *b = arg;
        if (g_fake.vanished) return fail_with(ENODEV);
        if (b->index >= (unsigned)g_fake.n_bufs) return fail_with(EINVAL);
        g_fake.queued[b->index] = 1;
        return 0;
    }
    case VIDIOC_DQBUF: return fake_dqbuf(arg);
    case VIDIOC_STREAMON: g_fake.streaming = 1; return 0;
    case VIDIOC_STREAMOFF:
        g_fake.streaming = 0;
        g_fake.streamoff_seen = 1;
        return g_fake.vanished ? fail_with(ENODEV) : 0;
    default: return fail_with(ENOTTY);
    }
}

static void *fake_mmap(void *user, size_t length, int prot, int flags, int fd, off_t offset) {
    (void)user, (void)prot, (void)flags;
    assert_int_equal(fd, FAKE_FD);
    int i = (int)(offset / 0x100000);
    assert_true(i >= 0 && i < MAX_BUFS && !g_fake.maps[i]);
    g_fake.maps[i] = calloc(1, length);
    g_fake.maps_live++;
    return g_fake.maps[i];
}

static int fake_munmap(void *user, void *addr, size_t length) {
    (void)user, (void)length;
    for (int i = 0; i < MAX_BUFS; i++)
        if (g_fake.maps[i] == addr) {
            free(g_fake.maps[i]);
            g_fake.maps[i] = NULL;
            g_fake.maps_live--;
            return 0;
        }
    fail_msg("munmap of an address that was not mapped");
    return -1;
}

static int fake_poll(void *user, struct pollfd *fds, nfds_t n, int timeout_ms) {
    (void)user, (void)n, (void)timeout_ms;
    fds[0].revents = g_fake.vanished ? POLLERR : POLLIN;
    return 1;
}

static const vd_v4l2_sys fake_sys = {fake_open, fake_close, fake_ioctl, fake_mmap, fake_munmap,
                                     fake_poll, NULL};

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
