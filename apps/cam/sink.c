/* Headless output: annotated frames to a video file or to numbered images in a folder. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cam.h"
#include "error.h"
#include "files.h"
#include "imageio.h"
#include "videowriter.h"

struct cam_sink {
    vd_video_writer *video;
    char dir[PATH_MAX];
    char ext[8];
    int64_t n;
    char description[PATH_MAX + 64];
};

static int is_video_name(const char *path) {
    return vd_files_has_ext(path, ".mp4") || vd_files_has_ext(path, ".mkv") ||
           vd_files_has_ext(path, ".mov") || vd_files_has_ext(path, ".avi");
}

vkdetr_status cam_sink_open(const char *path, int width, int height, double fps, const char *ext,
                            cam_sink **out) {
    *out = NULL;
    cam_sink *s = calloc(1, sizeof *s);
    if (!s) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    vkdetr_status st;
    if (is_video_name(path)) {
        if ((st = vd_video_writer_open(path, width, height, fps, &s->video))) goto fail;
        snprintf(s->description, sizeof s->description, "%s (%s)", path,
                 vd_video_writer_codec(s->video));
    } else {
        if (strlen(path) >= sizeof s->dir) {
            st = vd_app_error(VKDETR_ERR_INVALID_ARG, "output path too long");
            goto fail;
        }
        snprintf(s->dir, sizeof s->dir, "%s", path);
        snprintf(s->ext, sizeof s->ext, "%s", ext && !strcmp(ext, "jpg") ? "jpg" : "png");
        if ((st = vd_files_mkdirs(path))) goto fail;
        snprintf(s->description, sizeof s->description, "%s/NNNNNN.%s", path, s->ext);
    }
    *out = s;
    return VKDETR_OK;
fail:
    free(s);
    return st;
}

vkdetr_status cam_sink_write(cam_sink *s, const uint8_t *rgb, int width, int height, double pts) {
    if (s->video) return vd_video_writer_write(s->video, rgb, pts);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%06lld.%s", s->dir, (long long)s->n++, s->ext);
    return vd_imageio_write(path, rgb, width, height, 3, 90);
}

vkdetr_status cam_sink_close(cam_sink *s, int ok) {
    if (!s) return VKDETR_OK;
    vkdetr_status st = VKDETR_OK;
    if (s->video) {
        if (ok)
            st = vd_video_writer_close(s->video);
        else
            vd_video_writer_abort(s->video);
    }
    free(s);
    return st;
}

const char *cam_sink_describe(const cam_sink *s) { return s->description; }
