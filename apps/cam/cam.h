/* vkdetr-cam internals: the capture -> inference -> display pipeline and its parts.
 *
 * Three persistent threads overlap the stages:
 *
 *   capture thread     source -> [mailbox in]  -> inference thread -> [mailbox out] -> main
 *   (vd_source_read,               (newest                (vkdetr_session_detect,     (draw, show
 *    pacing of files)              frame wins)             copy to an out slot)        or write)
 *
 * A mailbox is a triple buffer: the producer fills its own slot and swaps it with the middle
 * one; the consumer swaps the middle one with its own. When the producer publishes over a
 * middle slot the consumer has not taken, that frame is dropped (counted): the consumer always
 * gets the newest frame, and a slow model shows fewer frames but never old ones. With
 * all_frames the producer waits for the consumer instead (every frame processed, for files).
 * All frame buffers are allocated when the pipeline is created; nothing is allocated per frame
 * by the app (the library's vkdetr_session_detect allocates its result; image folders decode
 * through vkdetr_image_load; libjpeg and libavcodec keep their own per-image memory). */
#ifndef VKDETR_CAM_H
#define VKDETR_CAM_H

#include <pthread.h>
#include <stdint.h>

#include "draw.h"
#include "font.h"
#include "source.h"
#include "vkdetr.h"

/* ---- mailbox: a triple buffer of three caller-owned slots ---------------------------------- */

typedef struct cam_mailbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void *slot[3];
    int64_t tag[3];      /* the producer's tag of each slot's content (a sequence number) */
    int back, middle, front;
    int fresh;           /* the middle slot holds an item not taken yet */
    int closed;
    int64_t published, taken, dropped;
    int64_t last_tag;    /* tag of the newest item published (-1 before the first) */
} cam_mailbox;

/* slots: three buffers; the producer starts with slot[0], the consumer with slot[2]. */
int cam_mailbox_init(cam_mailbox *mb, void *slots[3]);
void cam_mailbox_destroy(cam_mailbox *mb);

/* The producer's slot, to fill before publishing. */
void *cam_mailbox_back(cam_mailbox *mb);

/* Makes the back slot the newest item, tagged tag. wait = 0: replaces an item the consumer
 * has not taken (dropped, counted; returns 1), else returns 0. wait = 1: first waits until
 * the consumer has taken the previous item (returns 0, or -1 when the mailbox was closed
 * while waiting: nothing published). */
int cam_mailbox_publish(cam_mailbox *mb, int64_t tag, int wait);

/* Takes the newest item: waits up to timeout_ms (< 0: forever) for one. Returns 1 with *item
 * (the consumer's slot until the next take) and *newest_tag (the tag of the newest item
 * published when it was taken, which is the taken item's own), 0 on timeout, -1 when the
 * mailbox is closed and nothing is left. */
int cam_mailbox_take(cam_mailbox *mb, int timeout_ms, void **item, int64_t *newest_tag);

/* No more items: wakes every waiter. Items published before are still taken. */
void cam_mailbox_close(cam_mailbox *mb);

/* ---- the pipeline ------------------------------------------------------------------------- */

typedef struct cam_frame {
    uint8_t *rgb;        /* width * height * 3 */
    int width, height;
    int64_t seq;         /* capture number in this run, from 0 */
    int64_t index;       /* the source's frame number */
    double pts;          /* seconds (source's media time) */
    double t_capture;    /* ms, vd_source_now_ms clock */
} cam_frame;

/* What the main thread gets: an inferred frame and its detections. */
typedef struct cam_shown {
    cam_frame f;
    vkdetr_result *result;    /* owned by the slot (NULL when inference failed) */
    double infer_ms;          /* vkdetr_session_detect wall time (+ the test delay) */
    int64_t newest_seq;       /* newest captured seq when inference took this frame */
    int64_t dropped;          /* stale frames dropped so far (capture -> inference) */
} cam_shown;

typedef struct cam_config {
    float threshold;        /* shown detections: score > threshold (changeable at run time) */
    int max_detections;
    int masks;
    int n_threads;          /* CPU backend threads, 0 = all cores */
    int input_width;        /* network input, 0 0 = the model's */
    int input_height;
    int all_frames;         /* no drops: each stage waits for the next */
    int pace;               /* play non-live sources at their own frame rate */
    double slow_ms;         /* test hook: extra milliseconds per inference ("slow model") */
} cam_config;

cam_config cam_config_default(void);

typedef struct cam_counters {
    int64_t captured;         /* frames read from the source */
    int64_t inferred;         /* frames that went through the model */
    int64_t dropped;          /* stale frames never inferred (a newer one came first) */
    int64_t display_dropped;  /* inferred frames never shown (the display was slower) */
} cam_counters;

typedef struct cam_pipeline cam_pipeline;

/* Creates the session and every buffer; the model and the source must outlive the pipeline
 * and are used by its threads once started. */
vkdetr_status cam_pipeline_create(vkdetr_model *model, vd_source *source, const cam_config *cfg,
                                  cam_pipeline **out);

/* Starts the capture and inference threads. */
vkdetr_status cam_pipeline_start(cam_pipeline *p);

/* The newest inferred frame (main thread). Returns 1 with *out (valid until the next take),
 * 0 when nothing new came within timeout_ms, -1 when the pipeline has finished and everything
 * was taken (cam_pipeline_end says why). */
int cam_pipeline_take(cam_pipeline *p, int timeout_ms, cam_shown **out);

void cam_pipeline_set_paused(cam_pipeline *p, int paused);
int cam_pipeline_paused(const cam_pipeline *p);

/* Score threshold for what is shown; below the session's own threshold the inference thread
 * recreates its session once. Clamped to [0, 1]. */
void cam_pipeline_set_threshold(cam_pipeline *p, float threshold);
float cam_pipeline_threshold(const cam_pipeline *p);

void cam_pipeline_counters(cam_pipeline *p, cam_counters *out);

/* Why the pipeline finished: VD_SOURCE_END (end of input), VD_SOURCE_LOST (camera or stream
 * gone), a negative vkdetr_status (source or inference failure), or 0 while running / when
 * stopped by the caller. msg gets the message ("" when none); *in_model (may be NULL) is set
 * to 1 when the failure came from the model (inference), 0 otherwise. */
int cam_pipeline_end(cam_pipeline *p, char *msg, size_t size, int *in_model);

/* Stops and joins the threads (safe to call more than once). */
void cam_pipeline_stop(cam_pipeline *p);

/* For vd_source_params.interrupt: user is the address of a cam_pipeline pointer (NULL until
 * the pipeline exists); nonzero once that pipeline is stopping. */
int cam_pipeline_interrupt(void *user);

/* Stops and frees. Accepts NULL. */
void cam_pipeline_free(cam_pipeline *p);

/* The model info of the pipeline's session (backend, input size). */
const vkdetr_model_info *cam_pipeline_model_info(const cam_pipeline *p);

/* ---- statistics (main thread) -------------------------------------------------------------- */

typedef struct cam_stats {
    double *latency;     /* capture -> display, ms, per shown frame (ring of cap) */
    double *infer;       /* inference ms, per shown frame */
    int cap;
    int64_t n;           /* frames shown */
    double t_first, t_last; /* display times of the first and last frame, ms */
    double recent[32];   /* display times of the last frames, for the live fps */
} cam_stats;

int cam_stats_init(cam_stats *s, int cap);
void cam_stats_free(cam_stats *s);
void cam_stats_add(cam_stats *s, double t_display, double latency_ms, double infer_ms);

/* Frames per second over the last second or so of shown frames (0 before two frames). */
double cam_stats_live_fps(const cam_stats *s);

/* Mean of the last n latencies (or inference times). */
double cam_stats_recent_mean(const cam_stats *s, const double *values, int n);

typedef struct cam_summary {
    double fps;                  /* shown frames per second, first to last */
    double latency_mean, latency_p95;
    double infer_mean, infer_p95;
} cam_summary;

/* Over the stored frames (the last cap). Allocates scratch; call at the end. */
cam_summary cam_stats_summary(const cam_stats *s);

/* ---- drawing ------------------------------------------------------------------------------- */

/* The detections of r with score > threshold (r's are best first): their count. */
int cam_visible_count(const vkdetr_result *r, float threshold);

/* Draws the visible detections of r (masks, boxes, labels). */
void cam_draw_result(vd_canvas *c, const vd_font *font, const vkdetr_result *r, float threshold);

/* Draws lines of text in the top-left corner on a dark translucent plate. */
void cam_draw_overlay(vd_canvas *c, const vd_font *font, const char *const *lines, int n);

/* ---- window (SDL2) ------------------------------------------------------------------------- */

typedef enum cam_action {
    CAM_NONE = 0,
    CAM_QUIT,
    CAM_PAUSE,
    CAM_THRESHOLD_UP,
    CAM_THRESHOLD_DOWN,
    CAM_SCREENSHOT,
    CAM_FULLSCREEN
} cam_action;

/* The action of a key name as --keys spells it: q esc space + - s f (also "plus",
 * "minus"). CAM_NONE when unknown. */
cam_action cam_action_of_key(const char *name);

typedef struct cam_display cam_display;

/* A window of the frame size (smaller when the screen is), resizable; letterboxed. */
vkdetr_status cam_display_open(const char *title, int width, int height, int fullscreen,
                               cam_display **out);
void cam_display_close(cam_display *d);

/* Shows an RGB frame. With screenshot set, first reads back the window's pixels and writes
 * them to that PNG (the result in *shot_status). */
vkdetr_status cam_display_show(cam_display *d, const uint8_t *rgb, int width, int height,
                               const char *screenshot, vkdetr_status *shot_status);

/* 1 when the window was exposed or resized since the last show. */
int cam_display_needs_redraw(const cam_display *d);

/* The next pending user action (CAM_NONE when there is none). */
cam_action cam_display_poll(cam_display *d);

/* Queues a key press as if typed (test hook for --keys). */
void cam_display_inject(cam_display *d, cam_action a);

void cam_display_toggle_fullscreen(cam_display *d);

/* ---- headless output ------------------------------------------------------------------------ */

typedef struct cam_sink cam_sink;

/* path ending in .mp4/.mkv/.mov/.avi: a video (videowriter.h); anything else: a folder of
 * numbered images 000000.<ext> (ext "png" or "jpg"), created when missing. */
vkdetr_status cam_sink_open(const char *path, int width, int height, double fps, const char *ext,
                            cam_sink **out);
vkdetr_status cam_sink_write(cam_sink *s, const uint8_t *rgb, int width, int height, double pts);

/* ok = 1: finishes the file (the video appears); 0: removes a partial video. Frees s. */
vkdetr_status cam_sink_close(cam_sink *s, int ok);
const char *cam_sink_describe(const cam_sink *s);

#endif
