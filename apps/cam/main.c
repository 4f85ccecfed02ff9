/* vkdetr-cam: real-time detection on a camera, a video, a stream or a folder of images, shown
 * in a window (SDL2) or written to a video / folder without one (--headless). The pipeline
 * (cam.h) overlaps capture, inference and display on three threads; this file parses the
 * options, opens everything, and runs the display loop on the main thread. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/log.h>

#include "cam.h"
#include "cli.h"
#include "error.h"
#include "files.h"
#include "imageio.h"
#include "results.h"

typedef struct cam_opts {
    cli_model_opts m;
    const char *input;
    const char *camera;
    const char *format;
    int capture_size[2];
    float fps;
    float threshold;
    int max_detections;
    int size[2];
    int threads;
    int no_masks;
    int headless;
    const char *out;
    const char *out_format;
    int all_frames;
    int no_pace;
    int loop;
    int fullscreen;
    const char *screenshot_dir;
    int screenshot_after;
    int frames;
    int jsonl;
    const char *keys;
    float slow_ms;
    int quiet;
} cam_opts;

static const cli_option cam_options[] = {
    {"model", 'm', CLI_STRING, offsetof(cam_opts, m.model), "MODEL",
     "checkpoint folder (config.json, model.safetensors, preprocessor_config.json) or hub repo "
     "id owner/name[@revision]",
     NULL, 0, 0, "the bundled model; env VKDETR_DEFAULT_MODEL"},
    {"device", 'd', CLI_STRING, offsetof(cam_opts, camera), "/dev/videoN",
     "the V4L2 camera to open", NULL, 0, 0, "/dev/video0 when there is no --input"},
    {"input", 'i', CLI_STRING, offsetof(cam_opts, input), "SRC",
     "instead of a camera: a video file, a folder of images, an image, a stream URL "
     "(rtsp://, http://, ...), or synth: / synth:WxH@FPS for a test pattern",
     NULL, 0, 0, "none"},
    {"backend", 0, CLI_CHOICE, offsetof(cam_opts, m.backend), "B",
     "where the network runs; auto picks a GPU through Vulkan when there is one",
     "auto|cpu|vulkan", 0, 0, NULL},
    {"gpu", 0, CLI_STRING, offsetof(cam_opts, m.device), "DEV",
     "Vulkan device: an index or part of its name (see vkdetr info)", NULL, 0, 0,
     "env VKDETR_DEVICE, else the first GPU"},
    {"precision", 0, CLI_CHOICE, offsetof(cam_opts, m.precision), "P",
     "arithmetic precision; fp16 is Vulkan only", "auto|fp32|fp16", 0, 0, NULL},
    {"size", 's', CLI_SIZE, offsetof(cam_opts, size), "WxH",
     "network input size, WxH or N for NxN; multiples of the model's size multiple", NULL, 0, 0,
     NULL},
    {"threshold", 't', CLI_FLOAT, offsetof(cam_opts, threshold), "F",
     "show detections with a score above F (+/- change it by 0.05 while running)", NULL, 0, 1,
     NULL},
    {"max-detections", 0, CLI_INT, offsetof(cam_opts, max_detections), "N",
     "at most N detections per frame, best first", NULL, 1, 100000, NULL},
    {"threads", 0, CLI_INT, offsetof(cam_opts, threads), "N",
     "CPU backend threads; 0 = one per core less one, which capture and display need (the "
     "pool's waiting threads spin, and a core they share with decoding and drawing stalls them)",
     NULL, 0, 4096, "0"},
    {"no-masks", 0, CLI_FLAG, offsetof(cam_opts, no_masks), NULL,
     "do not compute instance masks (mask models)", NULL, 0, 0, NULL},
    {"capture-size", 0, CLI_SIZE, offsetof(cam_opts, capture_size), "WxH",
     "frame size asked of the camera (the driver picks the nearest) and of synth:", NULL, 0, 0,
     "640x480"},
    {"fps", 0, CLI_FLOAT, offsetof(cam_opts, fps), "F",
     "frame rate asked of the camera; for folders and synth: the rate they play at", NULL, 0,
     1000, "the camera's; 5 for folders, 30 for synth:"},
    {"format", 0, CLI_CHOICE, offsetof(cam_opts, format), "F",
     "camera pixel format: MJPEG (higher frame rates over USB) or YUYV (uncompressed)",
     "auto|mjpeg|yuyv", 0, 0, NULL},
    {"loop", 0, CLI_FLAG, offsetof(cam_opts, loop), NULL,
     "play files and folders again from the start when they end", NULL, 0, 0, NULL},
    {"all-frames", 0, CLI_FLAG, offsetof(cam_opts, all_frames), NULL,
     "process every frame: capture waits for the model instead of dropping stale frames "
     "(for converting files)",
     NULL, 0, 0, NULL},
    {"no-pace", 0, CLI_FLAG, offsetof(cam_opts, no_pace), NULL,
     "read files as fast as they decode instead of at their frame rate", NULL, 0, 0, NULL},
    {"headless", 0, CLI_FLAG, offsetof(cam_opts, headless), NULL,
     "no window: process frames and write them with --out (servers, tests)", NULL, 0, 0, NULL},
    {"out", 'o', CLI_STRING, offsetof(cam_opts, out), "FILE|DIR",
     "write the annotated frames to a video (.mp4 .mkv .mov .avi: H.264, else MPEG-4) or to "
     "numbered images in a folder",
     NULL, 0, 0, "none"},
    {"out-format", 0, CLI_CHOICE, offsetof(cam_opts, out_format), "F",
     "image format of --out DIR", "png|jpg", 0, 0, NULL},
    {"fullscreen", 0, CLI_FLAG, offsetof(cam_opts, fullscreen), NULL,
     "start in fullscreen (f toggles)", NULL, 0, 0, NULL},
    {"screenshot-dir", 0, CLI_STRING, offsetof(cam_opts, screenshot_dir), "DIR",
     "where the s key saves screenshots (vkdetr-cam-NNNN.png)", NULL, 0, 0, NULL},
    {"screenshot-after", 0, CLI_INT, offsetof(cam_opts, screenshot_after), "N",
     "take a screenshot after N frames were shown, as if s were pressed", NULL, 0, 1000000000,
     "never"},
    {"frames", 'n', CLI_INT, offsetof(cam_opts, frames), "N", "quit after showing N frames",
     NULL, 0, 1000000000, "until the input ends or q"},
    {"jsonl", 0, CLI_FLAG, offsetof(cam_opts, jsonl), NULL,
     "print one JSON line per shown frame (frame number, latency, detections) to stdout", NULL,
     0, 0, NULL},
    {"keys", 0, CLI_STRING, offsetof(cam_opts, keys), "LIST",
     "test hook: press keys after given frame counts, \"N:KEY,...\" (KEY: q esc space + - s f)",
     NULL, 0, 0, "none"},
    {"slow", 0, CLI_FLOAT, offsetof(cam_opts, slow_ms), "MS",
     "test hook: add MS milliseconds to every inference, to see the stale-frame policy work",
     NULL, 0, 60000, NULL},
    {"quiet", 'q', CLI_FLAG, offsetof(cam_opts, quiet), NULL,
     "no start-up line (errors and the statistics at the end are still printed)", NULL, 0, 0,
     NULL},
};

static const cli_command cam_command = {
    "",
    "[-m MODEL] [--device /dev/videoN | --input FILE|DIR|URL] [options]",
    "Real-time detection on a camera, video, stream or folder of images, shown in a window with "
    "boxes, labels, masks, and the frame rate and latency (capture to display).",
    "Keys: q or Esc quit, space pause, + and - change the threshold, s save a screenshot, f "
    "fullscreen.\n"
    "Capture, inference and display run on their own threads. The model always gets the newest "
    "frame: when it is slower than the camera, older frames are dropped (counted and shown). "
    "Files are played at their frame rate, like a camera, unless --all-frames or --no-pace.\n"
    "At the end, one line on stderr gives the frames shown, the frame rate, the mean and p95 "
    "latency from capture to display, the inference time, and the frames captured, inferred "
    "and dropped.\n"
    "Examples:\n"
    "  vkdetr-cam                                  # the first camera, the bundled model\n"
    "  vkdetr-cam -m PekingU/rtdetr_r18vd --device /dev/video2 --backend vulkan\n"
    "  vkdetr-cam --input clip.mp4 --headless --all-frames -o clip-annotated.mp4",
    cam_options,
    (int)(sizeof cam_options / sizeof cam_options[0]),
    0,
    0,
};

static const char cam_exit_codes[] =
    "exit codes: 0 success (the input ended, or q); 1 the input failed (no camera, unreadable "
    "file, camera unplugged, stream lost); 2 usage error; 3 the model cannot be found or loaded, "
    "or inference failed; 4 an output cannot be written or no window can be opened.";

/* ---- the run ----------------------------------------------------------------------------- */

typedef struct key_at {
    int64_t frame;
    cam_action action;
} key_at;

typedef struct cam_app {
    const cam_opts *o;
    vd_source *source;
    vkdetr_model *model;
    cam_pipeline *p;
    cam_display *d;
    cam_sink *sink;
    vd_font *font;
    cam_stats stats;
    int stats_ready;
    uint8_t *canvas;      /* the shown frame: a copy of the slot's pixels with the drawing */
    int width, height;
    cam_shown *cur;       /* the frame on screen (main thread's slot) */
    int64_t shown;        /* frames shown so far */
    int64_t cur_frame;    /* number of the frame on screen */
    key_at keys[64];
    int n_keys, next_key;
    double stats_from;    /* frames captured before this (a pause) are not timed */
    int threads;          /* CPU backend threads */
    int dirty, quit, shot_pending, rc;
} cam_app;

/* Schedules action for the moment frame frames have been shown (kept in frame order). */
static int add_key(cam_app *a, int64_t frame, cam_action action) {
    if (a->n_keys == (int)(sizeof a->keys / sizeof a->keys[0])) return -1;
    int i = a->n_keys++;
    while (i > 0 && a->keys[i - 1].frame > frame) {
        a->keys[i] = a->keys[i - 1];
        i--;
    }
    a->keys[i].frame = frame;
    a->keys[i].action = action;
    return 0;
}

/* --keys "N:KEY,N:KEY". */
static int parse_keys(cam_app *a, const char *list) {
    for (const char *p = list; p && *p;) {
        char *end, name[16];
        long n = strtol(p, &end, 10);
        if (end == p || *end != ':' || n < 0) goto bad;
        p = end + 1;
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof name) goto bad;
        memcpy(name, p, len);
        name[len] = '\0';
        cam_action act = cam_action_of_key(name);
        if (act == CAM_NONE || add_key(a, n, act)) goto bad;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
bad:
    cli_errorf("--keys: expected N:KEY[,N:KEY...] with KEY one of q esc space + - s f (at most "
               "64), got '%s'",
               list);
    return CLI_EXIT_USAGE;
}

/* The first vkdetr-cam-NNNN.png in the screenshot folder that does not exist yet. */
static int next_screenshot(const cam_app *a, char *path, size_t size) {
    const char *dir = a->o->screenshot_dir;
    for (int i = 0; i < 100000; i++) {
        snprintf(path, size, "%s/vkdetr-cam-%04d.png", dir, i);
        if (access(path, F_OK) != 0) return 0;
    }
    return -1;
}

static void act(cam_app *a, cam_action x) {
    float t = cam_pipeline_threshold(a->p);
    switch (x) {
    case CAM_QUIT: a->quit = 1; break;
    case CAM_PAUSE:
        if (!a->d) break; /* headless: nothing to look at */
        if (cam_pipeline_paused(a->p)) a->stats_from = vd_source_now_ms();
        cam_pipeline_set_paused(a->p, !cam_pipeline_paused(a->p));
        break;
    case CAM_THRESHOLD_UP: cam_pipeline_set_threshold(a->p, t + 0.05f + 1e-6f); break;
    case CAM_THRESHOLD_DOWN: cam_pipeline_set_threshold(a->p, t - 0.05f + 1e-6f); break;
    case CAM_SCREENSHOT: a->shot_pending = 1; break;
    case CAM_FULLSCREEN:
        if (a->d) cam_display_toggle_fullscreen(a->d);
        break;
    case CAM_NONE: break;
    }
    a->dirty = 1;
}

static void compose(cam_app *a) {
    const cam_shown *s = a->cur;
    memcpy(a->canvas, s->f.rgb, (size_t)a->width * a->height * 3);
    vd_canvas c = {a->canvas, a->width, a->height};
    float thr = cam_pipeline_threshold(a->p);
    cam_draw_result(&c, a->font, s->result, thr);
    char l1[128], l2[128];
    snprintf(l1, sizeof l1, "%.1f fps   latency %.0f ms   inference %.0f ms",
             cam_stats_live_fps(&a->stats), cam_stats_recent_mean(&a->stats, a->stats.latency, 16),
             cam_stats_recent_mean(&a->stats, a->stats.infer, 16));
    snprintf(l2, sizeof l2, "dropped %lld   threshold %.2f   objects %d", (long long)s->dropped,
             thr, cam_visible_count(s->result, thr));
    const char *lines[3] = {l1, l2, "paused (space)"};
    cam_draw_overlay(&c, a->font, lines, cam_pipeline_paused(a->p) ? 3 : 2);
}

static void print_jsonl(cam_app *a, double latency) {
    const cam_shown *s = a->cur;
    vkdetr_result view = *s->result;
    view.count = cam_visible_count(s->result, cam_pipeline_threshold(a->p));
    cJSON *o = vd_results_image_json(a->o->input ? a->o->input : a->o->camera, &view, 0);
    if (!o) return;
    cJSON_AddNumberToObject(o, "frame", (double)a->cur_frame);
    cJSON_AddNumberToObject(o, "seq", (double)s->f.seq);
    cJSON_AddNumberToObject(o, "index", (double)s->f.index);
    cJSON_AddNumberToObject(o, "pts", s->f.pts);
    cJSON_AddNumberToObject(o, "latency_ms", latency);
    cJSON_AddNumberToObject(o, "dropped", (double)s->dropped);
    vd_results_print_line(stdout, o);
    cJSON_Delete(o);
}

/* Shows (or writes) the canvas; a new frame is also counted, written to --out and printed. */
static void present(cam_app *a, int is_new) {
    char shot[PATH_MAX];
    const char *shot_path = NULL;
    vkdetr_status shot_st = VKDETR_OK, st;
    if (a->shot_pending) {
        a->shot_pending = 0;
        if (next_screenshot(a, shot, sizeof shot) == 0) shot_path = shot;
    }
    if (a->d) {
        st = cam_display_show(a->d, a->canvas, a->width, a->height, shot_path, &shot_st);
        if (st) cli_errorf("%s", vd_app_last_error());
    } else if (shot_path) {
        shot_st = vd_imageio_write(shot_path, a->canvas, a->width, a->height, 3, 95);
    }
    if (shot_path && shot_st)
        cli_errorf("screenshot: %s", vd_app_last_error());
    else if (shot_path)
        fprintf(stderr, "vkdetr-cam: screenshot of frame %lld saved to %s\n",
                (long long)a->cur_frame, shot_path);
    if (!is_new) return;
    if (a->sink && (st = cam_sink_write(a->sink, a->canvas, a->width, a->height, a->cur->f.pts))) {
        cli_errorf("%s", vd_app_last_error());
        a->rc = CLI_EXIT_OUTPUT;
        a->quit = 1;
    }
    double now = vd_source_now_ms(), latency = now - a->cur->f.t_capture;
    /* a frame that waited through a pause says nothing about the latency */
    if (a->cur->f.t_capture >= a->stats_from) cam_stats_add(&a->stats, now, latency, a->cur->infer_ms);
    if (a->o->jsonl) print_jsonl(a, latency);
}

/* Keys scheduled by --keys / --screenshot-after for the frame count just reached. */
static void scheduled_keys(cam_app *a) {
    while (a->next_key < a->n_keys && a->keys[a->next_key].frame <= a->shown) {
        cam_action x = a->keys[a->next_key++].action;
        if (a->d)
            cam_display_inject(a->d, x); /* through SDL's event queue, like a real key */
        else
            act(a, x);
    }
    if (a->o->frames && a->shown >= a->o->frames) a->quit = 1;
}

/* Ctrl-C or SIGTERM without a window (SDL turns them into a quit event when there is one):
 * stop like q, so that --out's video is finished rather than left half-written. */
static volatile sig_atomic_t g_signalled;

static void on_signal(int sig) {
    (void)sig;
    g_signalled = 1;
}

static void run_loop(cam_app *a) {
    if (!a->d) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    while (!a->quit && !g_signalled) {
        cam_action x;
        while (a->d && (x = cam_display_poll(a->d)) != CAM_NONE) act(a, x);
        if (a->quit) break;
        if (a->d && cam_display_needs_redraw(a->d)) a->dirty = 1;
        int is_new = 0;
        if (!cam_pipeline_paused(a->p)) {
            cam_shown *s;
            int r = cam_pipeline_take(a->p, a->d ? 10 : 100, &s);
            if (r < 0) break;
            if (r == 1) {
                a->cur = s;
                a->cur_frame = a->shown;
                is_new = 1;
            }
        } else {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (!a->cur || !(is_new || a->dirty || a->shot_pending)) continue;
        compose(a);
        present(a, is_new);
        a->dirty = 0;
        if (is_new) {
            a->shown++;
            scheduled_keys(a);
        }
    }
}

static void print_summary(cam_app *a) {
    cam_counters c;
    cam_pipeline_counters(a->p, &c);
    cam_summary s = cam_stats_summary(&a->stats);
    const vkdetr_model_info *info = cam_pipeline_model_info(a->p);
    fprintf(stderr,
            "vkdetr-cam: shown=%lld fps=%.2f latency_mean_ms=%.1f latency_p95_ms=%.1f "
            "infer_mean_ms=%.1f infer_p95_ms=%.1f captured=%lld inferred=%lld dropped=%lld "
            "display_dropped=%lld backend=%s threads=%d input=%dx%d frames=%dx%d\n",
            (long long)a->stats.n, s.fps, s.latency_mean, s.latency_p95, s.infer_mean,
            s.infer_p95, (long long)c.captured, (long long)c.inferred, (long long)c.dropped,
            (long long)c.display_dropped, info->backend, a->threads,
            a->o->size[0] ? a->o->size[0] : info->input_width,
            a->o->size[1] ? a->o->size[1] : info->input_height, a->width, a->height);
}

/* ---- setup --------------------------------------------------------------------------------- */

static void default_opts(cam_opts *o) {
    memset(o, 0, sizeof *o);
    cli_model_opts_default(&o->m);
    vkdetr_session_params sp = vkdetr_session_default_params();
    o->threshold = sp.threshold;
    o->max_detections = 100;
    o->format = "auto";
    o->out_format = "png";
    o->screenshot_dir = ".";
}

static int open_source(cam_app *a) {
    const cam_opts *o = a->o;
    vd_source_params sp = vd_source_default_params();
    sp.spec = o->input ? o->input : o->camera;
    sp.width = o->capture_size[0];
    sp.height = o->capture_size[1];
    sp.fps = o->fps;
    sp.pixel_format = o->format;
    sp.loop = o->loop;
    sp.interrupt = cam_pipeline_interrupt;
    sp.interrupt_user = &a->p;
    vkdetr_status st = vd_source_open(&sp, &a->source);
    if (st) {
        cli_errorf("%s", vd_app_last_error());
        return 1;
    }
    a->width = a->source->info.width;
    a->height = a->source->info.height;
    return 0;
}

static int open_outputs(cam_app *a) {
    const cam_opts *o = a->o;
    vkdetr_status st;
    if (!(a->canvas = malloc((size_t)a->width * a->height * 3)) ||
        cam_stats_init(&a->stats, 1 << 16)) {
        cli_errorf("out of memory");
        return CLI_EXIT_OUTPUT;
    }
    a->stats_ready = 1;
    if ((st = vd_font_load_default(&a->font))) {
        cli_errorf("cannot load the font: %s", vd_app_last_error());
        return CLI_EXIT_OUTPUT;
    }
    if (o->out) {
        double fps = a->source->info.fps > 0 ? a->source->info.fps : 30.0;
        if ((st = cam_sink_open(o->out, a->width, a->height, fps, o->out_format, &a->sink))) {
            cli_errorf("%s", vd_app_last_error());
            return CLI_EXIT_OUTPUT;
        }
    }
    if (!o->headless) {
        char title[400];
        snprintf(title, sizeof title, "vkdetr-cam: %s", a->source->info.description);
        if ((st = cam_display_open(title, a->width, a->height, o->fullscreen, &a->d))) {
            cli_errorf("%s", vd_app_last_error());
            return CLI_EXIT_OUTPUT;
        }
    }
    return 0;
}

static int open_model(cam_app *a) {
    const cam_opts *o = a->o;
    int rc = cli_open_model(&o->m, &a->model, NULL);
    if (rc) return rc;
    vkdetr_model_info info;
    vkdetr_model_get_info(a->model, &info);
    if ((rc = cli_check_size(&info, o->size))) return rc;
    cam_config cfg = cam_config_default();
    cfg.threshold = o->threshold;
    cfg.max_detections = o->max_detections;
    cfg.masks = !o->no_masks;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.n_threads = o->threads > 0 ? o->threads : cores > 2 ? (int)cores - 1 : 1;
    a->threads = cfg.n_threads;
    cfg.input_width = o->size[0];
    cfg.input_height = o->size[1];
    cfg.all_frames = o->all_frames;
    cfg.pace = !o->no_pace;
    cfg.slow_ms = o->slow_ms;
    if (cam_pipeline_create(a->model, a->source, &cfg, &a->p)) {
        cli_errorf("%s", vd_app_last_error());
        return CLI_EXIT_MODEL;
    }
    if (!o->quiet)
        fprintf(stderr,
                "vkdetr-cam: %s; model %s on %s (%s), input %dx%d; %s\n", a->source->info.description,
                info.family, info.backend, info.device, o->size[0] ? o->size[0] : info.input_width,
                o->size[1] ? o->size[1] : info.input_height,
                o->headless ? "headless"
                            : "keys: q quit, space pause, +/- threshold, s screenshot, f fullscreen");
    return 0;
}

/* The exit code for how the pipeline ended. */
static int end_code(cam_app *a) {
    char msg[512];
    int in_model = 0;
    int end = cam_pipeline_end(a->p, msg, sizeof msg, &in_model);
    if (end == 0 || end == VD_SOURCE_END) return CLI_EXIT_OK;
    cli_errorf("%s", msg);
    return in_model ? CLI_EXIT_MODEL : 1;
}

static int validate(const cam_opts *o) {
    if (o->input && o->camera) {
        cli_errorf("--device and --input exclude each other (a camera, or a file/folder/URL)");
        return CLI_EXIT_USAGE;
    }
    if (o->capture_size[0] < 0 || (o->capture_size[0] && o->capture_size[0] < 2)) {
        cli_errorf("--capture-size: too small");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int main(int argc, char **argv) {
    cli_env_init();
    cli_program = "vkdetr-cam";
    cli_exit_codes = cam_exit_codes;
    g_cli_env.command = "";
    cam_opts o;
    default_opts(&o);
    const char **args = calloc((size_t)argc + 1, sizeof *args);
    int n_args = 0;
    int rc = args ? cli_parse(&cam_command, argc, argv, &o, args, &n_args) : CLI_EXIT_USAGE;
    free(args);
    if (rc == -1) return CLI_EXIT_OK;
    if (rc || (rc = validate(&o))) return rc;
    if (!o.input && !o.camera) o.camera = "/dev/video0";
    av_log_set_level(o.quiet ? AV_LOG_FATAL : AV_LOG_ERROR);

    cam_app a;
    memset(&a, 0, sizeof a);
    a.o = &o;
    if ((rc = parse_keys(&a, o.keys))) return rc;
    if (o.screenshot_after > 0 && add_key(&a, o.screenshot_after, CAM_SCREENSHOT)) {
        cli_errorf("--keys: too many keys");
        return CLI_EXIT_USAGE;
    }
    if ((rc = open_source(&a)) || (rc = open_model(&a)) || (rc = open_outputs(&a))) goto done;
    if (cam_pipeline_start(a.p)) {
        cli_errorf("%s", vd_app_last_error());
        rc = CLI_EXIT_MODEL;
        goto done;
    }
    run_loop(&a);
    cam_pipeline_stop(a.p);
    rc = a.rc ? a.rc : end_code(&a);
    print_summary(&a);
done:
    if (a.sink && cam_sink_close(a.sink, rc == CLI_EXIT_OK)) {
        cli_errorf("%s", vd_app_last_error());
        if (!rc) rc = CLI_EXIT_OUTPUT;
    }
    cam_display_close(a.d);
    cam_pipeline_free(a.p);
    vd_source_close(a.source);
    vkdetr_model_free(a.model);
    vd_font_free(a.font);
    if (a.stats_ready) cam_stats_free(&a.stats);
    free(a.canvas);
    return rc;
}
