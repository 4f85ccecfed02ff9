/* V4L2 camera source: format negotiation (MJPEG decoded with libjpeg-turbo, or YUYV converted
 * with libswscale), mmap streaming with a few driver buffers, and a device that disappears
 * mid-stream reported as VD_SOURCE_LOST. Every call on the device goes through a
 * vd_v4l2_sys table (source_v4l2.h), which tests replace with a fake device. */
#include "source_v4l2.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
#ifdef VD_HAVE_LIBJPEG
#include <jpeglib.h>
#endif

#include "error.h"
#include "source.h"

/* ---- the real system calls ------------------------------------------------------------- */

static int real_open(void *user, const char *path, int flags) {
    (void)user;
    return open(path, flags);
}

static int real_close(void *user, int fd) {
    (void)user;
    return close(fd);
}

static int real_ioctl(void *user, int fd, unsigned long request, void *arg) {
    (void)user;
    int r;
    do r = ioctl(fd, request, arg);
    while (r == -1 && errno == EINTR);
    return r;
}

static void *real_mmap(void *user, size_t length, int prot, int flags, int fd, off_t offset) {
    (void)user;
    return mmap(NULL, length, prot, flags, fd, offset);
}

static int real_munmap(void *user, void *addr, size_t length) {
    (void)user;
    return munmap(addr, length);
}

static int real_poll(void *user, struct pollfd *fds, nfds_t n, int timeout_ms) {
    (void)user;
    return poll(fds, n, timeout_ms);
}

const vd_v4l2_sys vd_v4l2_sys_default = {real_open, real_close, real_ioctl, real_mmap,
                                         real_munmap, real_poll, NULL};

/* ---- helpers --------------------------------------------------------------------------- */

const char *vd_v4l2_fourcc_text(unsigned fourcc, char *buf) {
    for (int i = 0; i < 4; i++) {
        char c = (char)((fourcc >> (8 * i)) & 0xff);
        buf[i] = c >= 32 && c < 127 ? c : '?';
    }
    buf[4] = '\0';
    /* trailing spaces are padding ("Y8  ") */
    for (int i = 3; i > 0 && buf[i] == ' '; i--) buf[i] = '\0';
    return buf;
}

static int is_video_name(const char *name) {
    if (strncmp(name, "video", 5) != 0 || !name[5]) return 0;
    for (const char *p = name + 5; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

static int by_number(const void *a, const void *b) {
    long x = atol(*(const char *const *)a + 5), y = atol(*(const char *const *)b + 5);
    return (x > y) - (x < y);
}

static unsigned capture_caps(const struct v4l2_capability *cap) {
    return (cap->capabilities & V4L2_CAP_DEVICE_CAPS) ? cap->device_caps : cap->capabilities;
}

/* Appends one device's description to out. */
static void describe_device(const vd_v4l2_sys *sys, const char *path, char *out, size_t size) {
    size_t n = strlen(out);
    int fd = sys->open(sys->user, path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(out + n, size - n, "%s%s (cannot open: %s)", n ? ", " : "", path,
                 strerror(errno));
        return;
    }
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof cap);
    if (sys->ioctl(sys->user, fd, VIDIOC_QUERYCAP, &cap) < 0) {
        snprintf(out + n, size - n, "%s%s (not a V4L2 device)", n ? ", " : "", path);
    } else {
        char card[sizeof cap.card + 1];
        memcpy(card, cap.card, sizeof cap.card);
        card[sizeof cap.card] = '\0';
        int capture = (capture_caps(&cap) & V4L2_CAP_VIDEO_CAPTURE) != 0;
        snprintf(out + n, size - n, "%s%s (%s%s)", n ? ", " : "", path, card,
                 capture ? "" : ", no capture: a metadata or output node");
    }
    sys->close(sys->user, fd);
}

int vd_v4l2_list_devices(const vd_v4l2_sys *sys, const char *dev_dir, char *out, size_t size) {
    if (!sys) sys = &vd_v4l2_sys_default;
    if (!dev_dir) dev_dir = "/dev";
    out[0] = '\0';
    char *names[64];
    int n = 0;
    DIR *d = opendir(dev_dir);
    struct dirent *e;
    while (d && n < 64 && (e = readdir(d)) != NULL)
        if (is_video_name(e->d_name) && (names[n] = strdup(e->d_name)) != NULL) n++;
    if (d) closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_number);
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dev_dir, names[i]);
        describe_device(sys, path, out, size);
        free(names[i]);
    }
    if (!n) snprintf(out, size, "none");
    return n;
}

/* ---- the source ------------------------------------------------------------------------ */

enum { MAX_BUFFERS = 32, WANT_BUFFERS = 4 };

#ifdef VD_HAVE_LIBJPEG
typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
} jpeg_err;
#endif

typedef struct v4l2_source {
    vd_source base;
    const vd_v4l2_sys *sys;
    int fd;
    char path[256];
    unsigned fourcc;
    int width, height, bytesperline;
    struct {
        void *start;
        size_t length;
    } bufs[MAX_BUFFERS];
    int n_bufs;
    int streaming;
    int final_rc;          /* nonzero once the stream has ended for good */
    int64_t n_frames;
    int64_t n_corrupt;
    double t_first;
    struct SwsContext *sws; /* YUYV -> RGB */
#ifdef VD_HAVE_LIBJPEG
    struct jpeg_decompress_struct jd;
    jpeg_err jerr;
    int jd_ready;
#endif
} v4l2_source;

static int xioctl(v4l2_source *v, unsigned long request, void *arg) {
    return v->sys->ioctl(v->sys->user, v->fd, request, arg);
}

static int is_mjpeg(unsigned fourcc) {
    return fourcc == V4L2_PIX_FMT_MJPEG || fourcc == V4L2_PIX_FMT_JPEG;
}

#ifdef VD_HAVE_LIBJPEG
static void jpeg_error_exit(j_common_ptr c) {
    jpeg_err *e = (jpeg_err *)c->err;
    longjmp(e->jump, 1);
}

/* Webcam MJPEG often has small defects ("premature end of data"): no warnings printed. */
static void jpeg_quiet(j_common_ptr c, int level) { (void)c, (void)level; }

/* Decodes one MJPEG frame of exactly the negotiated size into rgb; 0 when it is corrupt. */
static int decode_mjpeg(v4l2_source *v, const uint8_t *data, size_t n, uint8_t *rgb) {
    struct jpeg_decompress_struct *d = &v->jd;
    if (n < 4 || data[0] != 0xFF || data[1] != 0xD8) return 0;
    if (setjmp(v->jerr.jump)) {
        jpeg_abort_decompress(d);
        return 0;
    }
    jpeg_mem_src(d, data, (unsigned long)n);
    if (jpeg_read_header(d, TRUE) != JPEG_HEADER_OK || (int)d->image_width != v->width ||
        (int)d->image_height != v->height) {
        jpeg_abort_decompress(d);
        return 0;
    }
    d->out_color_space = JCS_RGB;
    jpeg_start_decompress(d);
    while (d->output_scanline < d->output_height) {
        JSAMPROW row = rgb + (size_t)d->output_scanline * v->width * 3;
        jpeg_read_scanlines(d, &row, 1);
    }
    jpeg_finish_decompress(d);
    return 1;
}
#endif

static int convert(v4l2_source *v, const uint8_t *data, size_t n, uint8_t *rgb) {
#ifdef VD_HAVE_LIBJPEG
    if (is_mjpeg(v->fourcc)) return decode_mjpeg(v, data, n, rgb);
#endif
    if (n < (size_t)v->bytesperline * v->height) return 0;
    const uint8_t *src[4] = {data, NULL, NULL, NULL};
    int src_stride[4] = {v->bytesperline, 0, 0, 0};
    uint8_t *dst[4] = {rgb, NULL, NULL, NULL};
    int dst_stride[4] = {v->width * 3, 0, 0, 0};
    sws_scale(v->sws, src, src_stride, 0, v->height, dst, dst_stride);
    return 1;
}

static int lost(v4l2_source *v, int err) {
    vd_app_error(VKDETR_ERR_IO, "camera %s disconnected after %lld frames (%s)", v->path,
                 (long long)v->n_frames, strerror(err));
    v->final_rc = VD_SOURCE_LOST;
    return VD_SOURCE_LOST;
}

static int failed(v4l2_source *v, const char *what, int err) {
    v->final_rc = vd_app_error(VKDETR_ERR_IO, "camera %s: %s failed: %s", v->path, what,
                               strerror(err));
    return v->final_rc;
}

static double frame_time(const struct v4l2_buffer *b) {
    double now = vd_source_now_ms();
    if ((b->flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) != V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC) return now;
    double t = (double)b->timestamp.tv_sec * 1e3 + (double)b->timestamp.tv_usec * 1e-3;
    /* a driver clock that is not ours after all: use the time of the read */
    return t <= now && t > now - 5000.0 ? t : now;
}

static int v4l2_read(vd_source *s, vd_frame *f, int timeout_ms) {
    v4l2_source *v = (v4l2_source *)s;
    if (v->final_rc) return v->final_rc;
    struct pollfd pfd = {v->fd, POLLIN, 0};
    int r = v->sys->poll(v->sys->user, &pfd, 1, timeout_ms);
    if (r < 0) return errno == EINTR ? VD_SOURCE_TIMEOUT : failed(v, "poll", errno);
    if (r == 0) return VD_SOURCE_TIMEOUT;
    int hangup = (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
    struct v4l2_buffer b;
    memset(&b, 0, sizeof b);
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    b.memory = V4L2_MEMORY_MMAP;
    if (xioctl(v, VIDIOC_DQBUF, &b) < 0) {
        int e = errno;
        if (e == ENODEV || e == ENXIO || (hangup && (e == EAGAIN || e == EINVAL)))
            return lost(v, e == EAGAIN || e == EINVAL ? ENODEV : e);
        if (e == EAGAIN || e == EIO) return VD_SOURCE_TIMEOUT; /* EIO: a transient error */
        return failed(v, "VIDIOC_DQBUF", e);
    }
    if (b.index >= (unsigned)v->n_bufs) return failed(v, "VIDIOC_DQBUF (buffer index)", EINVAL);
    double t = frame_time(&b);
    size_t used = b.bytesused ? b.bytesused : v->bufs[b.index].length;
    if (used > v->bufs[b.index].length) used = v->bufs[b.index].length;
    int ok = !(b.flags & V4L2_BUF_FLAG_ERROR) &&
             convert(v, v->bufs[b.index].start, used, f->rgb);
    if (xioctl(v, VIDIOC_QBUF, &b) < 0) {
        /* the frame we have is good; the stream is over */
        if (errno == ENODEV || errno == ENXIO)
            lost(v, errno);
        else
            failed(v, "VIDIOC_QBUF", errno);
        if (!ok) return v->final_rc;
    }
    if (!ok) {
        v->n_corrupt++;
        return VD_SOURCE_TIMEOUT;
    }
    if (v->n_frames == 0) v->t_first = t;
    f->width = v->width;
    f->height = v->height;
    f->index = v->n_frames++;
    f->pts = (t - v->t_first) * 1e-3;
    f->t_capture = t;
    return VD_SOURCE_FRAME;
}

static void v4l2_close(vd_source *s) {
    v4l2_source *v = (v4l2_source *)s;
    if (v->fd >= 0) {
        if (v->streaming) {
            int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
            xioctl(v, VIDIOC_STREAMOFF, &type);
        }
        for (int i = 0; i < v->n_bufs; i++)
            if (v->bufs[i].start) v->sys->munmap(v->sys->user, v->bufs[i].start, v->bufs[i].length);
        if (v->n_bufs) {
            struct v4l2_requestbuffers rb;
            memset(&rb, 0, sizeof rb);
            rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
            rb.memory = V4L2_MEMORY_MMAP;
            xioctl(v, VIDIOC_REQBUFS, &rb);
        }
        v->sys->close(v->sys->user, v->fd);
    }
#ifdef VD_HAVE_LIBJPEG
    if (v->jd_ready) jpeg_destroy_decompress(&v->jd);
#endif
    sws_freeContext(v->sws);
    free(v);
}

static const vd_source_ops v4l2_ops = {v4l2_read, v4l2_close};

/* ---- opening --------------------------------------------------------------------------- */

static vkdetr_status open_error(const vd_source_params *p, const char *path, int err) {
    char devices[2048];
    vd_v4l2_list_devices(p->v4l2_sys, p->dev_dir, devices, sizeof devices);
    if (err == EACCES || err == EPERM)
        return vd_app_error(VKDETR_ERR_IO,
                            "cannot open camera %s: %s (is your user in the 'video' group? "
                            "sudo usermod -aG video $USER, then log in again); video devices: %s",
                            path, strerror(err), devices);
    if (err == EBUSY)
        return vd_app_error(VKDETR_ERR_IO,
                            "camera %s is busy (another program is using it); video devices: %s",
                            path, devices);
    return vd_app_error(VKDETR_ERR_IO,
                        "no camera at %s (%s); video devices found: %s. Pick one with --device "
                        "/dev/videoN, or play a video file, a folder of images or a stream with "
                        "--input FILE|DIR|URL (--input synth: for a test pattern)",
                        path, strerror(err), devices);
}

/* Chooses the pixel format from those the device offers; 0 with the message set when none
 * fits. */
static unsigned choose_format(v4l2_source *v, const char *want) {
    unsigned offered[64];
    int n = 0;
    for (unsigned i = 0; n < 64; i++) {
        struct v4l2_fmtdesc d;
        memset(&d, 0, sizeof d);
        d.index = i;
        d.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        if (xioctl(v, VIDIOC_ENUM_FMT, &d) < 0) break;
        offered[n++] = d.pixelformat;
    }
    int can_mjpeg = 0;
#ifdef VD_HAVE_LIBJPEG
    can_mjpeg = 1;
#endif
    int want_mjpeg = !want || !strcmp(want, "auto") || !strcmp(want, "mjpeg");
    int want_yuyv = !want || !strcmp(want, "auto") || !strcmp(want, "yuyv");
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (pass == 0 && want_mjpeg && can_mjpeg && is_mjpeg(offered[i])) return offered[i];
            if (pass == 1 && want_yuyv && offered[i] == V4L2_PIX_FMT_YUYV) return offered[i];
        }
    char list[400] = "";
    for (int i = 0; i < n; i++) {
        char cc[5];
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                 vd_v4l2_fourcc_text(offered[i], cc));
    }
    const char *readable = can_mjpeg ? "MJPEG, YUYV" : "YUYV (built without libjpeg: no MJPEG)";
    if (want && (!strcmp(want, "mjpeg") || !strcmp(want, "yuyv")))
        vd_app_error(VKDETR_ERR_UNSUPPORTED, "camera %s does not offer %s (it offers: %s)",
                     v->path, want, n ? list : "no formats");
    else
        vd_app_error(VKDETR_ERR_UNSUPPORTED,
                     "camera %s offers none of the pixel formats vkdetr reads (%s); it offers: %s",
                     v->path, readable, n ? list : "no formats");
    return 0;
}

static vkdetr_status set_format(v4l2_source *v, const vd_source_params *p, unsigned fourcc) {
    struct v4l2_format fmt;
    memset(&fmt, 0, sizeof fmt);
    fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    fmt.fmt.pix.width = (unsigned)(p->width > 0 ? p->width : 640);
    fmt.fmt.pix.height = (unsigned)(p->height > 0 ? p->height : 480);
    fmt.fmt.pix.pixelformat = fourcc;
    fmt.fmt.pix.field = V4L2_FIELD_ANY;
    char cc[5], cc2[5];
    if (xioctl(v, VIDIOC_S_FMT, &fmt) < 0)
        return vd_app_error(VKDETR_ERR_IO, "camera %s: cannot set format %s %ux%u: %s", v->path,
                            vd_v4l2_fourcc_text(fourcc, cc), fmt.fmt.pix.width,
                            fmt.fmt.pix.height, strerror(errno));
    if (fmt.fmt.pix.pixelformat != fourcc)
        return vd_app_error(VKDETR_ERR_UNSUPPORTED, "camera %s: asked for %s, the driver chose %s",
                            v->path, vd_v4l2_fourcc_text(fourcc, cc),
                            vd_v4l2_fourcc_text(fmt.fmt.pix.pixelformat, cc2));
    if (fmt.fmt.pix.width < 2 || fmt.fmt.pix.height < 2 || fmt.fmt.pix.width > 16384 ||
        fmt.fmt.pix.height > 16384)
        return vd_app_error(VKDETR_ERR_UNSUPPORTED, "camera %s: unusable frame size %ux%u",
                            v->path, fmt.fmt.pix.width, fmt.fmt.pix.height);
    v->fourcc = fourcc;
    v->width = (int)fmt.fmt.pix.width;
    v->height = (int)fmt.fmt.pix.height;
    v->bytesperline = (int)fmt.fmt.pix.bytesperline;
    if (v->bytesperline < v->width * 2) v->bytesperline = v->width * 2;
    return VKDETR_OK;
}

/* Asks for the frame rate (drivers may ignore it) and reads back the one in effect. */
static double set_rate(v4l2_source *v, double fps) {
    struct v4l2_streamparm parm;
    memset(&parm, 0, sizeof parm);
    parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (fps > 0) {
        parm.parm.capture.timeperframe.numerator = 1000;
        parm.parm.capture.timeperframe.denominator = (unsigned)(fps * 1000.0 + 0.5);
        xioctl(v, VIDIOC_S_PARM, &parm);
    }
    memset(&parm, 0, sizeof parm);
    parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(v, VIDIOC_G_PARM, &parm) == 0 && parm.parm.capture.timeperframe.numerator)
        return (double)parm.parm.capture.timeperframe.denominator /
               parm.parm.capture.timeperframe.numerator;
    return fps;
}

static vkdetr_status start_streaming(v4l2_source *v) {
    struct v4l2_requestbuffers rb;
    memset(&rb, 0, sizeof rb);
    rb.count = WANT_BUFFERS;
    rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    rb.memory = V4L2_MEMORY_MMAP;
    if (xioctl(v, VIDIOC_REQBUFS, &rb) < 0)
        return vd_app_error(VKDETR_ERR_UNSUPPORTED, "camera %s: no mmap streaming (%s)", v->path,
                            strerror(errno));
    v->n_bufs = (int)(rb.count < MAX_BUFFERS ? rb.count : MAX_BUFFERS);
    if (v->n_bufs < 2)
        return vd_app_error(VKDETR_ERR_IO, "camera %s: the driver gave %d buffers, need 2",
                            v->path, v->n_bufs);
    for (int i = 0; i < v->n_bufs; i++) {
        struct v4l2_buffer b;
        memset(&b, 0, sizeof b);
        b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        b.memory = V4L2_MEMORY_MMAP;
        b.index = (unsigned)i;
        if (xioctl(v, VIDIOC_QUERYBUF, &b) < 0)
            return vd_app_error(VKDETR_ERR_IO, "camera %s: VIDIOC_QUERYBUF: %s", v->path,
                                strerror(errno));
        void *m = v->sys->mmap(v->sys->user, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
                               (off_t)b.m.offset);
        if (m == MAP_FAILED)
            return vd_app_error(VKDETR_ERR_IO, "camera %s: mmap: %s", v->path, strerror(errno));
        v->bufs[i].start = m;
        v->bufs[i].length = b.length;
        if (xioctl(v, VIDIOC_QBUF, &b) < 0)
            return vd_app_error(VKDETR_ERR_IO, "camera %s: VIDIOC_QBUF: %s", v->path,
                                strerror(errno));
    }
    int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(v, VIDIOC_STREAMON, &type) < 0)
        return vd_app_error(VKDETR_ERR_IO, "camera %s: VIDIOC_STREAMON: %s", v->path,
                            strerror(errno));
    v->streaming = 1;
    return VKDETR_OK;
}

static vkdetr_status setup_converter(v4l2_source *v) {
    if (is_mjpeg(v->fourcc)) {
#ifdef VD_HAVE_LIBJPEG
        v->jd.err = jpeg_std_error(&v->jerr.pub);
        v->jerr.pub.error_exit = jpeg_error_exit;
        v->jerr.pub.emit_message = jpeg_quiet;
        jpeg_create_decompress(&v->jd);
        v->jd_ready = 1;
#endif
        return VKDETR_OK;
    }
    v->sws = sws_getContext(v->width, v->height, AV_PIX_FMT_YUYV422, v->width, v->height,
                            AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!v->sws) return vd_app_error(VKDETR_ERR_NO_MEMORY, "cannot create a YUYV converter");
    return VKDETR_OK;
}

static vkdetr_status check_caps(v4l2_source *v, const vd_source_params *p, char *card,
                                size_t card_size) {
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof cap);
    if (xioctl(v, VIDIOC_QUERYCAP, &cap) < 0)
        return vd_app_error(VKDETR_ERR_UNSUPPORTED, "%s is not a V4L2 video device (%s)", v->path,
                            strerror(errno));
    size_t n = sizeof cap.card < card_size - 1 ? sizeof cap.card : card_size - 1;
    memcpy(card, cap.card, n);
    card[n] = '\0';
    unsigned caps = capture_caps(&cap);
    if (!(caps & V4L2_CAP_VIDEO_CAPTURE)) {
        char devices[2048];
        vd_v4l2_list_devices(p->v4l2_sys, p->dev_dir, devices, sizeof devices);
        return vd_app_error(VKDETR_ERR_UNSUPPORTED,
                            "%s (%s) cannot capture video (a metadata or output node?); video "
                            "devices: %s",
                            v->path, card, devices);
    }
    if (!(caps & V4L2_CAP_STREAMING))
        return vd_app_error(VKDETR_ERR_UNSUPPORTED, "camera %s (%s) does not support streaming",
                            v->path, card);
    return VKDETR_OK;
}

vkdetr_status vd_source_open_v4l2(const vd_source_params *p, vd_source **out) {
    *out = NULL;
    v4l2_source *v = calloc(1, sizeof *v);
    if (!v) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    v->sys = p->v4l2_sys ? p->v4l2_sys : &vd_v4l2_sys_default;
    v->base.ops = &v4l2_ops;
    v->base.info.kind = "v4l2";
    v->base.info.live = 1;
    snprintf(v->path, sizeof v->path, "%s", p->spec);
    vkdetr_status st = VKDETR_OK;
    char card[64] = "", cc[5];
    v->fd = v->sys->open(v->sys->user, v->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (v->fd < 0) {
        st = open_error(p, v->path, errno);
        goto fail;
    }
    if ((st = check_caps(v, p, card, sizeof card))) goto fail;
    unsigned fourcc = choose_format(v, p->pixel_format);
    if (!fourcc) {
        st = VKDETR_ERR_UNSUPPORTED;
        goto fail;
    }
    if ((st = set_format(v, p, fourcc))) goto fail;
    double fps = set_rate(v, p->fps);
    if ((st = setup_converter(v))) goto fail;
    if ((st = start_streaming(v))) goto fail;
    v->base.info.width = v->width;
    v->base.info.height = v->height;
    v->base.info.fps = fps;
    snprintf(v->base.info.description, sizeof v->base.info.description,
             "camera %.160s (%.60s), %s %dx%d at %.4g fps", v->path, card,
             vd_v4l2_fourcc_text(v->fourcc, cc), v->width, v->height, fps);
    *out = &v->base;
    return VKDETR_OK;
fail:
    v4l2_close(&v->base);
    return st;
}
