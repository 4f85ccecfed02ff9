/* vkdetr-cam end to end, running the binary:
 *   - in a window under Xvfb (started here with -displayfd, so any free display number works):
 *     a video made in the test from the sample images (assets/samples, else the fixture's
 *     input) with the apps' own writer plays through the window with the model; the s key
 *     (--screenshot-after) reads the window back to a PNG, which must hold the colour of the
 *     class detected in that frame (from --jsonl); a run with threshold 1 (no boxes) is the
 *     control. Keys are injected through SDL's event queue (--keys: + - f).
 *   - headless: every frame to an MP4 (read back: all frames), numbered JPEG files, and a slow
 *     model (--slow) on a fast synthetic source: stale frames dropped and counted;
 *   - errors: a missing camera (message lists devices and suggests --input), conflicting
 *     options, a missing file, no display, a missing model, bad --keys.
 * The model in the window: the bundled default (assets/models/default) when it is there, else
 * the tiny RT-DETR fixture; the headless tests run the tiny fixture (many frames, and they test
 * the plumbing, not the model); the tests that need a model are skipped without either. SDL uses its software
 * renderer here (SDL_RENDER_DRIVER=software): what is tested is our drawing and read-back, not
 * the X server's OpenGL. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libavutil/log.h>

#include "tests/support/clirun.h"
#include "tests/support/testutil.h"

#include "draw.h"
#include "error.h"
#include "source.h"
#include "videowriter.h"

enum { CLIP_FRAMES = 16, CLIP_FPS = 8 };

static char g_dir[512];
static char g_model[1024];
static char g_fast_model[1024]; /* the tiny fixture, else g_model */
static char g_clip[1100];
static char g_lsan[1200];
static float g_threshold;
static int g_display = -1;
static pid_t g_xvfb = -1;

static const char *tmp(const char *name) {
    static char buf[8][1100];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", g_dir, name);
    return b;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Runs vkdetr-cam with args and extra environment entries (NULL-terminated, may be NULL). */
static vd_cli_result cam(const char *const *args, const char *const *extra_env) {
    const char *env[16];
    int n = 0;
    env[n++] = g_lsan;
    for (int i = 0; extra_env && extra_env[i] && n < 15; i++) env[n++] = extra_env[i];
    env[n] = NULL;
    return vd_cli_run(args, env, NULL, 180);
}

/* As cam, with the model on the CPU backend with one thread (the results do not depend on
 * it, and a pool of two threads on two busy cores is much slower). */
static vd_cli_result cam_with(const char *model, const char *const *args,
                              const char *const *extra_env) {
    const char *argv[64];
    int n = 0;
    argv[n++] = "-m";
    argv[n++] = model;
    argv[n++] = "--backend";
    argv[n++] = "cpu";
    argv[n++] = "--threads";
    argv[n++] = "1";
    for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    return cam(argv, extra_env);
}

/* The model the window test shows (the bundled one when it is there). */
static vd_cli_result cam_model(const char *const *args, const char *const *extra_env) {
    return cam_with(g_model, args, extra_env);
}

/* The tiny fixture, for the tests of the plumbing (outputs, drops), which do not need a
 * trained model and run many frames (a build with sanitizers is slow). */
static vd_cli_result cam_fast(const char *const *args, const char *const *extra_env) {
    return cam_with(g_fast_model, args, extra_env);
}

/* "key=<number>" from the statistics line on stderr; -1 when missing. */
static double stat_of(const char *err, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(err, pat);
    return p ? atof(p + strlen(pat)) : -1.0;
}

#define NEED_MODEL()                                                                          \
    do {                                                                                      \
        if (!g_model[0]) {                                                                    \
            fprintf(stderr, "skip: no model (assets/models/default or the tiny fixture)\n"); \
            skip();                                                                           \
        }                                                                                     \
    } while (0)

/* ---- Xvfb -------------------------------------------------------------------------------- */

static int start_xvfb(void) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) dup2(null, 1), dup2(null, 2);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", fds[1]);
        execlp("Xvfb", "Xvfb", "-displayfd", fd, "-screen", "0", "1280x1024x24", "-nolisten",
               "tcp", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    g_xvfb = pid;
    /* Xvfb writes the display number when it accepts connections */
    char line[32] = {0};
    size_t n = 0;
    struct pollfd p = {fds[0], POLLIN, 0};
    while (n + 1 < sizeof line && poll(&p, 1, 20000) == 1) {
        ssize_t got = read(fds[0], line + n, 1);
        if (got <= 0 || line[n] == '\n') break;
        n++;
    }
    close(fds[0]);
    if (n == 0) return -1;
    g_display = atoi(line);
    return 0;
}

static void stop_xvfb(void) {
    if (g_xvfb > 0) {
        kill(g_xvfb, SIGTERM);
        waitpid(g_xvfb, NULL, 0);
    }
    g_xvfb = -1;
}

/* ---- the clip ------------------------------------------------------------------------------ */

/* CLIP_FRAMES frames at CLIP_FPS: each sample image for a second, sliding a few pixels a
 * frame. */
static int g_clip_w, g_clip_h; /* the clip's frame size */

static int make_clip(void) {
    const char *names[] = {"assets/samples/shapes.jpg", "assets/samples/few.jpg",
                           "assets/samples/street.jpg", "tests/data/rtdetr_v1_tiny/input.png"};
    vkdetr_image img[4];
    int n = 0;
    for (int i = 0; i < 4 && n < 3; i++) {
        if (vkdetr_image_load(vd_test_path(names[i]), &img[n]) != VKDETR_OK) continue;
        if (n > 0 && (img[n].width != img[0].width || img[n].height != img[0].height)) {
            vkdetr_image_free(&img[n]);
            continue;
        }
        n++;
    }
    if (!n) return -1;
    int w = img[0].width, h = img[0].height;
    g_clip_w = w;
    g_clip_h = h;
    uint8_t *px = malloc((size_t)w * h * 3);
    vd_video_writer *wr;
    int rc = -1;
    if (!px || vd_video_writer_open(g_clip, w, h, CLIP_FPS, &wr)) goto done;
    for (int f = 0; f < CLIP_FRAMES; f++) {
        const vkdetr_image *im = &img[(f / CLIP_FPS) % n];
        int shift = (f % CLIP_FPS) * 6;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                memcpy(px + ((size_t)y * w + x) * 3,
                       im->data + (size_t)y * w * 3 + (size_t)((x + shift) % w) * 3, 3);
        if (vd_video_writer_write(wr, px, (double)f / CLIP_FPS)) {
            vd_video_writer_abort(wr);
            goto done;
        }
    }
    rc = vd_video_writer_close(wr) ? -1 : 0;
done:
    free(px);
    for (int i = 0; i < n; i++) vkdetr_image_free(&img[i]);
    return rc;
}

/* ---- window -------------------------------------------------------------------------------- */

/* Runs the clip in a window at threshold t and returns the screenshot's path (static) and the
 * frame number it shows. */
static const char *window_run(const char *threshold, const char *frames, const char *shots,
                              int *frame, vd_cli_result *out) {
    char display[32];
    snprintf(display, sizeof display, "DISPLAY=:%d", g_display);
    /* the software renderer; no OpenGL probe for the window surface either (SDL opens a GL
     * context to decide how to present a software framebuffer, which loads Mesa) */
    const char *env[] = {display, "SDL_RENDER_DRIVER=software", "SDL_VIDEODRIVER=x11",
                         "SDL_FRAMEBUFFER_ACCELERATION=0", NULL};
    /* every frame (--all-frames), so that a slow build still shows the 8 frames */
    const char *args[] = {"--input", g_clip, "-t", threshold, "--screenshot-after", "3",
                          "--screenshot-dir", shots, "--jsonl", "-n", frames, "--all-frames",
                          "--keys", "5:+,5:-,6:f,6:f", NULL};
    mkdir(shots, 0777);
    *out = cam_model(args, env);
    if (!vd_cli_expect(out, 0, "vkdetr-cam window")) fail();
    static char path[1200];
    const char *p = strstr(out->err, "screenshot of frame ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "screenshot of frame %d saved to %1199s", frame, path), 2);
    return path;
}

/* The detections of frame `frame` in the --jsonl output. */
static cJSON *frame_json(const char *out, int frame) {
    for (const char *line = out; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        cJSON *j = cJSON_ParseWithLength(line, len);
        const cJSON *f = j ? cJSON_GetObjectItem(j, "frame") : NULL;
        if (f && (int)f->valuedouble == frame) return j;
        cJSON_Delete(j);
        line = nl ? nl + 1 : NULL;
    }
    return NULL;
}

static long count_colour(const char *png, vd_color c, int *w, int *h) {
    vkdetr_image img;
    assert_int_equal(vkdetr_image_load(png, &img), VKDETR_OK);
    long n = 0;
    for (long i = 0; i < (long)img.width * img.height; i++) {
        const uint8_t *p = img.data + i * 3;
        n += p[0] == c.r && p[1] == c.g && p[2] == c.b;
    }
    *w = img.width;
    *h = img.height;
    vkdetr_image_free(&img);
    return n;
}

static void test_window_screenshot(void **state) {
    (void)state;
    NEED_MODEL();
    if (g_display < 0) {
        fprintf(stderr, "skip: Xvfb could not be started\n");
        skip();
    }
    char thr[16];
    snprintf(thr, sizeof thr, "%.2f", g_threshold);
    vd_cli_result r;
    int frame;
    const char *shot = window_run(thr, "8", tmp("shots"), &frame, &r);
    fprintf(stderr, "%s", r.err);
    assert_true(stat_of(r.err, "shown") >= 4);
    assert_true(stat_of(r.err, "latency_mean_ms") > 0);
    cJSON *j = frame_json(r.out, frame);
    assert_non_null(j);
    const cJSON *dets = cJSON_GetObjectItem(j, "detections");
    assert_true(cJSON_GetArraySize(dets) > 0);
    int cls = (int)cJSON_GetObjectItem(cJSON_GetArrayItem(dets, 0), "class_id")->valuedouble;
    cJSON_Delete(j);
    vd_cli_result_free(&r);
    vd_color colour = vd_draw_palette(cls);
    int w, h;
    long with_boxes = count_colour(shot, colour, &w, &h);
    fprintf(stderr, "screenshot %s (%dx%d, frame %d): %ld pixels of class %d's colour\n", shot,
            w, h, frame, with_boxes, cls);
    assert_int_equal(w, g_clip_w); /* the window is the frame's size on a 1280x1024 screen */
    assert_int_equal(h, g_clip_h);
    assert_true(with_boxes >= 40);

    /* the control: no detection passes threshold 1 */
    shot = window_run("1", "4", tmp("shots-none"), &frame, &r);
    vd_cli_result_free(&r);
    long without = count_colour(shot, colour, &w, &h);
    fprintf(stderr, "control %s: %ld pixels of that colour\n", shot, without);
    assert_true(without * 4 < with_boxes);
}

/* ---- headless ------------------------------------------------------------------------------ */

static void test_headless_video_and_folder(void **state) {
    (void)state;
    NEED_MODEL();
    const char *mp4 = tmp("annotated.mp4");
    const char *args[] = {"--input", g_clip, "--headless", "--all-frames", "-o", mp4, "-q", NULL};
    vd_cli_result r = cam_fast(args, NULL);
    assert_true(vd_cli_expect(&r, 0, "headless mp4"));
    assert_true(stat_of(r.err, "shown") == CLIP_FRAMES);
    assert_true(stat_of(r.err, "dropped") == 0);
    vd_cli_result_free(&r);
    vd_source_params p = vd_source_default_params();
    p.spec = mp4;
    vd_source *s;
    assert_int_equal(vd_source_open(&p, &s), VKDETR_OK);
    uint8_t *px = malloc((size_t)s->info.width * s->info.height * 3);
    vd_frame f = {.rgb = px};
    int n = 0;
    while (vd_source_read(s, &f, 0) == VD_SOURCE_FRAME) n++;
    assert_int_equal(n, CLIP_FRAMES);
    free(px);
    vd_source_close(s);

    const char *dir = tmp("frames");
    const char *args2[] = {"--input", g_clip, "--headless", "--no-pace", "--all-frames", "-n",
                           "3", "-o", dir, "--out-format", "jpg", "-q", NULL};
    r = cam_fast(args2, NULL);
    assert_true(vd_cli_expect(&r, 0, "headless folder"));
    vd_cli_result_free(&r);
    char path[1200];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%06d.jpg", dir, i);
        assert_int_equal(exists(path), i < 3);
    }
}

static void test_slow_model_drops(void **state) {
    (void)state;
    NEED_MODEL();
    /* 100 frames a second, a model made 150 ms slower: most frames are stale */
    const char *args[] = {"--input", "synth:160x120@100", "--headless", "--slow", "150", "-n",
                          "5", "--jsonl", NULL};
    vd_cli_result r = cam_fast(args, NULL);
    assert_true(vd_cli_expect(&r, 0, "slow model"));
    fprintf(stderr, "%s", r.err);
    double dropped = stat_of(r.err, "dropped");
    double captured = stat_of(r.err, "captured"), inferred = stat_of(r.err, "inferred");
    assert_true(dropped > 0);
    assert_true(captured >= inferred + dropped);
    /* the frames shown moved forward, and the overlay count matches */
    long last_seq = -1;
    int lines = 0;
    for (const char *line = r.out; *line;) {
        const char *nl = strchr(line, '\n');
        cJSON *j = cJSON_ParseWithLength(line, nl ? (size_t)(nl - line) : strlen(line));
        assert_non_null(j);
        long seq = (long)cJSON_GetObjectItem(j, "seq")->valuedouble;
        assert_true(seq > last_seq);
        last_seq = seq;
        assert_true(cJSON_GetObjectItem(j, "dropped")->valuedouble <= dropped);
        cJSON_Delete(j);
        lines++;
        if (!nl) break;
        line = nl + 1;
    }
    assert_int_equal(lines, 5);
    vd_cli_result_free(&r);
}

static void test_default_model_from_env(void **state) {
    (void)state;
    NEED_MODEL();
    char env[1100];
    snprintf(env, sizeof env, "VKDETR_DEFAULT_MODEL=%s", g_model);
    const char *e[] = {env, NULL};
    const char *args[] = {"--backend", "cpu", "--threads", "1", "--input", "synth:128x96@30",
                          "--headless", "-n", "2", NULL};
    vd_cli_result r = cam(args, e);
    assert_true(vd_cli_expect(&r, 0, "default model"));
    assert_true(stat_of(r.err, "shown") == 2);
    vd_cli_result_free(&r);
}

/* ---- errors -------------------------------------------------------------------------------- */

static void expect_fail(const char *const *args, const char *const *env, int code,
                        const char *needle) {
    vd_cli_result r = cam(args, env);
    if (!vd_cli_expect(&r, code, needle)) fail();
    if (!strstr(r.err, needle)) {
        fprintf(stderr, "expected '%s' in:\n%s", needle, r.err);
        fail();
    }
    vd_cli_result_free(&r);
}

static void expect_fail_model(const char *const *args, const char *const *env, int code,
                              const char *needle) {
    const char *argv[32];
    int n = 0;
    argv[n++] = "-m";
    argv[n++] = g_model;
    argv[n++] = "--backend";
    argv[n++] = "cpu";
    for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    expect_fail(argv, env, code, needle);
}

static void test_errors(void **state) {
    (void)state;
    const char *missing_cam[] = {"--device", "/dev/video99", "-m", "x", NULL};
    expect_fail(missing_cam, NULL, 1, "no camera at /dev/video99");
    expect_fail(missing_cam, NULL, 1, "--input FILE|DIR|URL");
    expect_fail(missing_cam, NULL, 1, "video devices found: ");
    const char *both[] = {"--device", "/dev/video0", "--input", "x.mp4", NULL};
    expect_fail(both, NULL, 2, "exclude each other");
    const char *missing_file[] = {"--input", tmp("nothing-here.mp4"), NULL};
    expect_fail(missing_file, NULL, 1, "cannot open");
    const char *no_model[] = {"--input", "synth:", "-m", tmp("no-such-model"), NULL};
    expect_fail(no_model, NULL, 3, "no-such-model");
    const char *bad_keys[] = {"--input", "synth:", "--keys", "3:x", NULL};
    expect_fail(bad_keys, NULL, 2, "--keys");
    const char *bad_synth[] = {"--input", "synth:0x0", NULL};
    expect_fail(bad_synth, NULL, 1, "synth:WxH@FPS");
    if (g_model[0]) {
        /* a display that does not exist (an unset DISPLAY would make SDL try ":0") */
        const char *no_window[] = {"--input", "synth:", "-n", "2", NULL};
        const char *no_display[] = {"DISPLAY=:9999", "WAYLAND_DISPLAY=", "SDL_VIDEODRIVER=x11",
                                    NULL};
        expect_fail_model(no_window, no_display, 4, "cannot open a window");
        const char *bad_size[] = {"--input", "synth:", "--size", "33", NULL};
        expect_fail_model(bad_size, NULL, 2, "multiples of");
        const char *bad_out[] = {"--input", "synth:", "--headless", "-o",
                                 tmp("no/such/dir/x.mp4"), NULL};
        expect_fail_model(bad_out, NULL, 4, "x.mp4");
    }
}

static int setup(void **state) {
    (void)state;
    av_log_set_level(AV_LOG_ERROR);
    snprintf(g_dir, sizeof g_dir, "%s", vd_test_tmpdir());
    snprintf(g_lsan, sizeof g_lsan, "LSAN_OPTIONS=suppressions=%s:print_suppressions=0",
             vd_test_path("tests/lsan.supp"));
    const char *env = getenv("VKDETR_TEST_CAM_MODEL");
    const char *def = vd_test_path("assets/models/default");
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "%s/config.json", def);
    if (env && env[0]) {
        snprintf(g_model, sizeof g_model, "%s", env);
    } else if (exists(cfg)) {
        snprintf(g_model, sizeof g_model, "%s", def);
    } else {
        snprintf(g_model, sizeof g_model, "%s", vd_test_path("tests/data/rtdetr_v1_tiny"));
        snprintf(cfg, sizeof cfg, "%s/config.json", g_model);
        if (!exists(cfg)) g_model[0] = '\0';
    }
    snprintf(g_fast_model, sizeof g_fast_model, "%s", vd_test_path("tests/data/rtdetr_v1_tiny"));
    snprintf(cfg, sizeof cfg, "%s/config.json", g_fast_model);
    if (!exists(cfg)) snprintf(g_fast_model, sizeof g_fast_model, "%s", g_model);
    /* the bundled model at vkdetr-cam's default threshold; random weights (the tiny fixture,
     * the fallback) score around 0.5, so 0.3 for them */
    g_threshold = strcmp(g_model, def) == 0 ? 0.5f : 0.3f;
    snprintf(g_clip, sizeof g_clip, "%s/clip.mp4", g_dir);
    if (make_clip()) {
        fprintf(stderr, "cannot make the test clip: %s\n", vd_app_last_error());
        return -1;
    }
    if (start_xvfb()) {
        fprintf(stderr, "Xvfb did not start: the window test is skipped\n");
        stop_xvfb();
        g_display = -1;
    }
    fprintf(stderr, "model %s, clip %s, display :%d\n", g_model[0] ? g_model : "(none)", g_clip,
            g_display);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    stop_xvfb();
    return 0;
}

int main(void) {
    static char bin[1024];
    snprintf(bin, sizeof bin, "%s/vkdetr-cam", VD_BINARY_DIR);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "skip: %s not built\n", bin);
        return 77;
    }
    setenv("VKDETR_CLI", bin, 1); /* the binary vd_cli_run starts */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_screenshot),
        cmocka_unit_test(test_headless_video_and_folder),
        cmocka_unit_test(test_slow_model_drops),
        cmocka_unit_test(test_default_model_from_env),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
