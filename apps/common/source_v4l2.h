/* The V4L2 camera source's system calls, as a table of function pointers that tests replace
 * with a fake device (tests/test_cam_v4l2.c): the source makes every call on the device
 * through vd_source_params.v4l2_sys, so a test can offer any formats, deliver frames, fail
 * an ioctl with ENODEV mid-stream, and check that every mapping and descriptor is released,
 * without a camera and without link-time tricks (--wrap would also catch the C library's
 * own calls and does not mix well with the sanitizers' interceptors).
 *
 * The calls mirror the C library's; `user` is the table's user field, passed back unchanged.
 * The source's protocol: open, VIDIOC_QUERYCAP, VIDIOC_ENUM_FMT until EINVAL, VIDIOC_S_FMT,
 * VIDIOC_S_PARM (its failure is ignored), VIDIOC_REQBUFS, VIDIOC_QUERYBUF + mmap + VIDIOC_QBUF
 * per buffer, VIDIOC_STREAMON; per frame poll, VIDIOC_DQBUF, VIDIOC_QBUF; at close
 * VIDIOC_STREAMOFF, munmap per buffer, VIDIOC_REQBUFS with count 0, close. */
#ifndef VD_APP_SOURCE_V4L2_H
#define VD_APP_SOURCE_V4L2_H

#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

#include "vkdetr.h"

typedef struct vd_v4l2_sys {
    int (*open)(void *user, const char *path, int flags);
    int (*close)(void *user, int fd);
    int (*ioctl)(void *user, int fd, unsigned long request, void *arg);
    void *(*mmap)(void *user, size_t length, int prot, int flags, int fd, off_t offset);
    int (*munmap)(void *user, void *addr, size_t length);
    int (*poll)(void *user, struct pollfd *fds, nfds_t n, int timeout_ms);
    void *user;
} vd_v4l2_sys;

/* The real system calls. */
extern const vd_v4l2_sys vd_v4l2_sys_default;

/* Writes "/dev/video0 (HD Webcam), /dev/video2 (USB Camera)" (the names of dev_dir's video*
 * entries, sorted, with the card name from VIDIOC_QUERYCAP when the device opens and can
 * capture) or "none" into out. dev_dir NULL = "/dev"; sys NULL = the real calls. Returns the
 * number of devices listed. */
int vd_v4l2_list_devices(const vd_v4l2_sys *sys, const char *dev_dir, char *out, size_t size);

/* The fourcc as text ("MJPG", "YUYV"); buf holds at least 5 bytes. */
const char *vd_v4l2_fourcc_text(unsigned fourcc, char *buf);

#endif
