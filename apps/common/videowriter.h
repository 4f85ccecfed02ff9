/* Writing RGB frames to a video file with libavformat / libavcodec: H.264 (libx264) when the
 * installed libavcodec has it, else MPEG-4 part 2 (the "mpeg4" encoder, in every build). The
 * container comes from the file name (.mp4, .mkv, .mov, .avi). The file is written under a
 * temporary name and renamed by vd_video_writer_close, so a failed run leaves no partial
 * file.
 *
 *     vd_video_writer *w;
 *     vd_video_writer_open("out.mp4", 640, 480, 30.0, &w);
 *     for (...) vd_video_writer_write(w, rgb, pts_seconds);   // pts increasing
 *     vd_video_writer_close(w);                                // or vd_video_writer_abort
 *
 * Odd widths and heights are rounded down to even ones (4:2:0 needs them); the frame is
 * scaled to fit. */
#ifndef VD_APP_VIDEOWRITER_H
#define VD_APP_VIDEOWRITER_H

#include <stdint.h>

#include "vkdetr.h"

typedef struct vd_video_writer vd_video_writer;

/* fps: the nominal rate (for the container's metadata; frames carry their own times). On
 * success *out is owned by the caller. */
vkdetr_status vd_video_writer_open(const char *path, int width, int height, double fps,
                                   vd_video_writer **out);

/* As vd_video_writer_open with a named encoder ("libx264", "mpeg4", ...); NULL = the default
 * choice above. */
vkdetr_status vd_video_writer_open_codec(const char *path, int width, int height, double fps,
                                         const char *codec, vd_video_writer **out);

/* Encodes one frame of width x height RGB (stride width * 3) shown at pts seconds. A pts not
 * above the previous frame's (at millisecond resolution) is moved just after it. */
vkdetr_status vd_video_writer_write(vd_video_writer *w, const uint8_t *rgb, double pts);

/* Flushes the encoder, finishes the file and renames it into place; always frees w. */
vkdetr_status vd_video_writer_close(vd_video_writer *w);

/* Frees w and removes the temporary file. Accepts NULL. */
void vd_video_writer_abort(vd_video_writer *w);

/* The encoder in use: "libx264" or "mpeg4". */
const char *vd_video_writer_codec(const vd_video_writer *w);

#endif
