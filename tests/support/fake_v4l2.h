/* A fake V4L2 camera for the vkdetr-cam tests, served through the V4L2 source's injectable
 * system-call table (apps/common/source_v4l2.h): it offers chosen pixel formats, hands out
 * "mmap" buffers (heap memory), delivers YUYV or MJPEG frames, can flag or corrupt a frame,
 * can vanish mid-stream (ENODEV), and counts descriptors and mappings so that leaks show.
 * Header-only because it needs the app headers, which tests/support's library does not see;
 * include it in one file per test executable, after cmocka. One fake device per process
 * (g_fake); reset it with fake_reset() before each use. */
#ifndef VD_TEST_FAKE_V4L2_H
#define VD_TEST_FAKE_V4L2_H

#include <errno.h>
#include <linux/videodev2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#endif
