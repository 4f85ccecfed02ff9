/* Frame sources for the apps: one interface over a V4L2 camera, a video file or network
 * stream (libavformat), a folder of images, and a synthetic test pattern. Every source
 * delivers 8-bit RGB frames of one fixed size, chosen when it is opened, into a buffer the
 * caller owns, so that a capture loop allocates nothing per frame.
 *
 *     vd_source_params p = vd_source_default_params();
 *     p.spec = "/dev/video0";          // or "clip.mp4", "images/", "rtsp://...", "synth:"
 *     vd_source *src;
 *     if (vd_source_open(&p, &src)) { fprintf(stderr, "%s\n", vd_app_last_error()); ... }
 *     uint8_t *rgb = malloc((size_t)src->info.width * src->info.height * 3);
 *     vd_frame f = {.rgb = rgb};
 *     for (;;) {
 *         int rc = vd_source_read(src, &f, 500);
 *         if (rc == VD_SOURCE_TIMEOUT) continue;
 *         if (rc != VD_SOURCE_FRAME) break;   // end, camera lost, or an error (< 0)
 *         ... f.rgb holds f.width x f.height RGB pixels ...
 *     }
 *     vd_source_close(src);
 *
 * Spec forms (vd_source_open):
 *   /dev/videoN (or any character device)  a V4L2 camera: MJPEG or YUYV, mmap streaming
 *   synth: or synth:WxH[@FPS]              the synthetic pattern (moving shapes, frame index
 *                                          as a barcode, see vd_synth_decode_index)
 *   a folder                                its images, sorted by name (files.h)
 *   an image file (.jpg .png ...)           that image as a one-frame source
 *   anything else                           a video file or URL, opened with libavformat
 *
 * Thread safety: a source belongs to one thread at a time. Errors are reported through
 * vd_app_error (error.h). */
#ifndef VD_APP_SOURCE_H
#define VD_APP_SOURCE_H

#include <stdint.h>

#include "vkdetr.h"

struct vd_v4l2_sys; /* source_v4l2.h: the system calls of the V4L2 source, replaceable */

typedef struct vd_source_params {
    const char *spec;         /* what to open (forms above); borrowed during the call */
    int width, height;        /* requested frame size for cameras and synth:; 0 0 = 640x480.
                                 Files and folders keep their own size (the first image's) */
    double fps;               /* requested rate for cameras, synth: and folders; 0 = the
                                 source's own (camera default, 30 for synth:, 5 for folders) */
    const char *pixel_format; /* V4L2: "auto" (MJPEG, else YUYV), "mjpeg" or "yuyv" */
    int loop;                 /* 1: files, folders and synth: frame counts restart at the end
                                 instead of returning VD_SOURCE_END */
    int64_t max_frames;       /* synth: frames before VD_SOURCE_END; 0 = unbounded */
    /* Called while blocked in network reads; returning nonzero aborts the read (the read
     * then returns VD_SOURCE_END). May be NULL. */
    int (*interrupt)(void *user);
    void *interrupt_user;
    const struct vd_v4l2_sys *v4l2_sys; /* NULL: the real system calls */
    const char *dev_dir;      /* where video devices are listed; NULL = "/dev" */
} vd_source_params;

vd_source_params vd_source_default_params(void);

typedef struct vd_source_info {
    const char *kind;      /* "v4l2", "video", "images", "synth" */
    int width, height;     /* of every frame read */
    double fps;            /* nominal frame rate; 0 when unknown */
    int live;              /* 1: frames arrive in real time by themselves (camera, network
                              stream); 0: read as fast as asked (files, folders, synth:), so a
                              player paces them by their pts */
    char description[320]; /* one line for the user: "MJPEG 640x480 at 30 fps, /dev/video0
                              (HD Webcam)" */
} vd_source_info;

typedef struct vd_frame {
    uint8_t *rgb;      /* the caller's buffer of width * height * 3 bytes (info's size) */
    int width, height; /* set by the read: info.width, info.height */
    int64_t index;     /* frame number from the source, counting from 0 (a camera's sequence
                          number; increases across loops) */
    double pts;        /* presentation time in seconds from the first frame */
    double t_capture;  /* when the frame was captured, ms on vd_source_now_ms's clock: the
                          driver's timestamp for cameras that give a monotonic one, else the
                          time the read returned it */
} vd_frame;

/* Results of vd_source_read besides errors (which are negative vkdetr_status values). */
enum {
    VD_SOURCE_FRAME = 0,   /* a frame was written */
    VD_SOURCE_END = 1,     /* the end of a file or folder (or the read was interrupted) */
    VD_SOURCE_TIMEOUT = 2, /* no frame within the timeout (or a corrupt frame skipped) */
    VD_SOURCE_LOST = 3     /* the device disappeared (unplugged camera, ENODEV); final */
};

typedef struct vd_source vd_source;

/* The implementation table; every source starts with a vd_source. */
typedef struct vd_source_ops {
    int (*read)(vd_source *s, vd_frame *f, int timeout_ms);
    void (*close)(vd_source *s);
} vd_source_ops;

struct vd_source {
    const vd_source_ops *ops;
    vd_source_info info;
};

/* Opens params->spec. On success *out is owned by the caller (vd_source_close). A missing
 * camera fails with VKDETR_ERR_IO and a message that lists the video devices found and
 * suggests --input. */
vkdetr_status vd_source_open(const vd_source_params *params, vd_source **out);

/* Reads the next frame into f->rgb. Waits at most timeout_ms for live sources. Returns a
 * VD_SOURCE_* value, or a negative vkdetr_status (message in vd_app_last_error). After END,
 * LOST or an error, further reads return the same. */
int vd_source_read(vd_source *s, vd_frame *f, int timeout_ms);

/* Accepts NULL. */
void vd_source_close(vd_source *s);

/* The clock of vd_frame.t_capture: CLOCK_MONOTONIC in milliseconds. */
double vd_source_now_ms(void);

/* The individual sources (vd_source_open picks one by the spec). */
vkdetr_status vd_source_open_v4l2(const vd_source_params *p, vd_source **out);
vkdetr_status vd_source_open_av(const vd_source_params *p, vd_source **out);
vkdetr_status vd_source_open_images(const vd_source_params *p, vd_source **out);
vkdetr_status vd_source_open_synth(const vd_source_params *p, vd_source **out);

/* synth: frames carry their index as a barcode in the bottom-left corner: 32 cells of
 * VD_SYNTH_CELL x VD_SYNTH_CELL pixels, least significant bit first, white = 1, on a black
 * strip one cell high. Returns the index read from an RGB image, or -1 when the strip is not
 * there (the image is smaller than the strip, or a cell is neither black nor white). */
#define VD_SYNTH_CELL 4
int64_t vd_synth_decode_index(const uint8_t *rgb, int width, int height);

/* Writes the synth: pattern for frame index into rgb (width x height, fps for the motion). */
void vd_synth_render(uint8_t *rgb, int width, int height, double fps, int64_t index);

#endif
