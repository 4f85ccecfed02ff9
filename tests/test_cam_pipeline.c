/* The vkdetr-cam pipeline: the triple-buffer mailbox on its own (newest item wins, drops
 * counted, waiting mode loses nothing, close drains), then the whole capture -> inference ->
 * main-thread pipeline on the synthetic source with the tiny RT-DETR fixture:
 *   - a slow model (the slow_ms test hook): frames are dropped (> 0), every frame shown is the
 *     newest one captured when the model took it, shown frames only move forward, and their
 *     pixels are the frame's own (the barcode the synthetic source draws matches its index);
 *   - all_frames: every frame shown in order, none dropped;
 *   - pause, threshold changes (a lower threshold makes a new session), and the statistics;
 *   - a V4L2 camera (the fake device of tests/support/fake_v4l2.h) unplugged after five
 *     frames: the pipeline ends with VD_SOURCE_LOST and says so.
 * No timing is asserted; drops come from a model 20x slower than the frame interval. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/testutil.h"

#include "cam.h"
#include "error.h"
#include "tests/support/fake_v4l2.h"

static vkdetr_model *g_model;

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- mailbox --------------------------------------------------------------------------- */

typedef struct item {
    int64_t seq;
} item;

static void test_mailbox_basics(void **state) {
    (void)state;
    item it[3];
    void *slots[3] = {&it[0], &it[1], &it[2]};
    cam_mailbox mb;
    assert_int_equal(cam_mailbox_init(&mb, slots), 0);
    void *got;
    int64_t newest;
    assert_int_equal(cam_mailbox_take(&mb, 0, &got, &newest), 0); /* empty: times out */
    ((item *)cam_mailbox_back(&mb))->seq = 7;
    assert_int_equal(cam_mailbox_publish(&mb, 7, 0), 0);
    ((item *)cam_mailbox_back(&mb))->seq = 8;
    assert_int_equal(cam_mailbox_publish(&mb, 8, 0), 1); /* 7 was never taken: dropped */
    assert_int_equal(cam_mailbox_take(&mb, 0, &got, &newest), 1);
    assert_int_equal(((item *)got)->seq, 8);
    assert_int_equal(newest, 8);
    assert_int_equal(cam_mailbox_take(&mb, 0, &got, &newest), 0); /* nothing new */
    ((item *)cam_mailbox_back(&mb))->seq = 9;
    assert_int_equal(cam_mailbox_publish(&mb, 9, 0), 0);
    /* the producer's next slot is never the one the consumer holds */
    assert_ptr_not_equal(cam_mailbox_back(&mb), got);
    cam_mailbox_close(&mb);
    assert_int_equal(cam_mailbox_take(&mb, 0, &got, &newest), 1); /* drained after close */
    assert_int_equal(((item *)got)->seq, 9);
    assert_int_equal(cam_mailbox_take(&mb, 1000, &got, &newest), -1);
    assert_int_equal(cam_mailbox_publish(&mb, 10, 1), -1); /* waiting publish after close */
    assert_int_equal(mb.published, 3);
    assert_int_equal(mb.taken, 2);
    assert_int_equal(mb.dropped, 1);
    cam_mailbox_destroy(&mb);
}

enum { N_ITEMS = 3000 };

typedef struct producer_arg {
    cam_mailbox *mb;
    int wait;
} producer_arg;

static void *producer(void *arg) {
    producer_arg *a = arg;
    for (int64_t i = 0; i < N_ITEMS; i++) {
        ((item *)cam_mailbox_back(a->mb))->seq = i;
        cam_mailbox_publish(a->mb, i, a->wait);
    }
    cam_mailbox_close(a->mb);
    return NULL;
}

/* A fast producer and a slower consumer; returns the number of items taken. */
static int64_t run_threads(int wait, int64_t *dropped) {
    item it[3];
    void *slots[3] = {&it[0], &it[1], &it[2]};
    cam_mailbox mb;
    assert_int_equal(cam_mailbox_init(&mb, slots), 0);
    producer_arg a = {&mb, wait};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &a), 0);
    int64_t last = -1, taken = 0;
    void *got;
    int64_t newest;
    int r;
    while ((r = cam_mailbox_take(&mb, -1, &got, &newest)) == 1) {
        int64_t seq = ((item *)got)->seq;
        if (seq <= last || seq != newest || (wait && seq != last + 1)) {
            fprintf(stderr, "took %lld after %lld (newest published %lld, wait %d)\n",
                    (long long)seq, (long long)last, (long long)newest, wait);
            fail();
        }
        last = seq;
        taken++;
        if (taken % 64 == 0) sleep_ms(1); /* a consumer slower now and then */
    }
    assert_int_equal(r, -1);
    pthread_join(t, NULL);
    assert_int_equal(last, N_ITEMS - 1); /* the last item is always delivered */
    assert_int_equal(mb.published, N_ITEMS);
    assert_int_equal(mb.taken + mb.dropped, N_ITEMS);
    *dropped = mb.dropped;
    cam_mailbox_destroy(&mb);
    return taken;
}

static void test_mailbox_threads(void **state) {
    (void)state;
    int64_t dropped;
    int64_t taken = run_threads(0, &dropped);
    fprintf(stderr, "newest-wins: %lld taken, %lld dropped\n", (long long)taken,
            (long long)dropped);
    taken = run_threads(1, &dropped);
    assert_int_equal(taken, N_ITEMS);
    assert_int_equal(dropped, 0);
}

/* ---- the pipeline ------------------------------------------------------------------------ */

#define NEED_MODEL()                                                                          \
    do {                                                                                      \
        if (!g_model) {                                                                       \
            fprintf(stderr, "skip: no tiny model fixture (tests/data/rtdetr_v1_tiny)\n");    \
            skip();                                                                           \
        }                                                                                     \
    } while (0)

static vd_source *synth(const char *spec, int64_t max_frames) {
    vd_source_params p = vd_source_default_params();
    p.spec = spec;
    p.max_frames = max_frames;
    vd_source *s;
    assert_int_equal(vd_source_open(&p, &s), VKDETR_OK);
    return s;
}

static cam_config small_config(void) {
    cam_config c = cam_config_default();
    c.threshold = 0.3f;
    c.n_threads = 1;
    return c;
}

/* Checks a frame handed to the main thread; returns its seq. */
static int64_t check_shown(const cam_shown *s, int64_t last_seq) {
    if (s->f.seq <= last_seq) {
        fprintf(stderr, "shown seq %lld after %lld\n", (long long)s->f.seq, (long long)last_seq);
        fail();
    }
    if (s->f.seq != s->newest_seq) {
        fprintf(stderr, "frame %lld inferred while %lld was the newest\n", (long long)s->f.seq,
                (long long)s->newest_seq);
        fail();
    }
    int64_t code = vd_synth_decode_index(s->f.rgb, s->f.width, s->f.height);
    if (code != s->f.index) {
        fprintf(stderr, "frame %lld carries the pixels of frame %lld\n", (long long)s->f.index,
                (long long)code);
        fail();
    }
    assert_non_null(s->result);
    assert_int_equal(s->result->image_width, s->f.width);
    return s->f.seq;
}

static void test_slow_model_drops_stale_frames(void **state) {
    (void)state;
    NEED_MODEL();
    /* frames every 5 ms, a model that takes over 100 ms: most frames must be dropped */
    vd_source *src = synth("synth:160x120@200", 0);
    cam_config cfg = small_config();
    cfg.slow_ms = 100;
    cam_pipeline *p;
    assert_int_equal(cam_pipeline_create(g_model, src, &cfg, &p), VKDETR_OK);
    assert_int_equal(cam_pipeline_start(p), VKDETR_OK);
    int64_t last = -1;
    int shown = 0;
    while (shown < 6) {
        cam_shown *s;
        int r = cam_pipeline_take(p, 5000, &s);
        assert_int_equal(r, 1);
        last = check_shown(s, last);
        assert_true(s->infer_ms >= 100);
        shown++;
    }
    cam_pipeline_stop(p);
    cam_counters c;
    cam_pipeline_counters(p, &c);
    fprintf(stderr, "slow model: captured %lld, inferred %lld, dropped %lld, display dropped %lld\n",
            (long long)c.captured, (long long)c.inferred, (long long)c.dropped,
            (long long)c.display_dropped);
    assert_true(c.dropped > 0);
    assert_true(c.inferred >= shown);
    /* every captured frame was inferred or dropped, except at most two when it stopped: one
     * waiting in the mailbox and one the inference thread took but did not run */
    int64_t pending = c.captured - c.inferred - c.dropped;
    assert_true(pending >= 0 && pending <= 2);
    assert_int_equal(cam_pipeline_end(p, NULL, 0, NULL), 0); /* stopped, not ended */
    cam_pipeline_free(p);
    vd_source_close(src);
}

static void test_all_frames(void **state) {
    (void)state;
    NEED_MODEL();
    vd_source *src = synth("synth:128x64@1000", 9);
    cam_config cfg = small_config();
    cfg.all_frames = 1;
    cfg.pace = 0;
    cam_pipeline *p;
    assert_int_equal(cam_pipeline_create(g_model, src, &cfg, &p), VKDETR_OK);
    assert_int_equal(cam_pipeline_start(p), VKDETR_OK);
    int64_t last = -1;
    cam_shown *s;
    int r;
    while ((r = cam_pipeline_take(p, 10000, &s)) == 1) {
        last = check_shown(s, last);
        assert_int_equal(s->f.index, s->f.seq);
        sleep_ms(20); /* a slow display: inference waits for it */
    }
    assert_int_equal(r, -1);
    assert_int_equal(last, 8);
    char msg[256];
    int in_model = -1;
    assert_int_equal(cam_pipeline_end(p, msg, sizeof msg, &in_model), VD_SOURCE_END);
    assert_int_equal(in_model, 0);
    cam_counters c;
    cam_pipeline_counters(p, &c);
    assert_int_equal(c.captured, 9);
    assert_int_equal(c.inferred, 9);
    assert_int_equal(c.dropped, 0);
    assert_int_equal(c.display_dropped, 0);
    cam_pipeline_free(p);
    vd_source_close(src);
}

static void test_pause_and_threshold(void **state) {
    (void)state;
    NEED_MODEL();
    vd_source *src = synth("synth:128x96@100", 0);
    cam_config cfg = small_config();
    cfg.threshold = 0.9f;
    cam_pipeline *p;
    assert_int_equal(cam_pipeline_create(g_model, src, &cfg, &p), VKDETR_OK);
    assert_int_equal(cam_pipeline_start(p), VKDETR_OK);
    int n_queries = cam_pipeline_model_info(p)->num_queries;
    cam_shown *s;
    assert_int_equal(cam_pipeline_take(p, 5000, &s), 1);
    int64_t last = s->f.seq;
    /* paused: nothing new reaches the main thread after what was already on its way */
    cam_pipeline_set_paused(p, 1);
    assert_int_equal(cam_pipeline_paused(p), 1);
    sleep_ms(300);
    while (cam_pipeline_take(p, 0, &s) == 1) last = s->f.seq;
    sleep_ms(300);
    assert_int_equal(cam_pipeline_take(p, 200, &s), 0);
    cam_pipeline_set_paused(p, 0);
    assert_int_equal(cam_pipeline_take(p, 5000, &s), 1);
    assert_true(s->f.seq > last);
    /* a threshold below the session's: a new session, which keeps every query (score > 0) */
    cam_pipeline_set_threshold(p, 0.0f);
    assert_true(cam_pipeline_threshold(p) == 0.0f);
    int all_queries = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cam_pipeline_take(p, 5000, &s), 1);
        all_queries |= s->result->count == n_queries;
    }
    assert_true(all_queries);
    cam_pipeline_set_threshold(p, 7.0f);
    assert_true(cam_pipeline_threshold(p) == 1.0f);
    assert_int_equal(cam_visible_count(s->result, 1.0f), 0);
    cam_pipeline_set_threshold(p, -1.0f);
    assert_true(cam_pipeline_threshold(p) == 0.0f);
    cam_pipeline_free(p);
    vd_source_close(src);
}

static void test_camera_unplugged(void **state) {
    (void)state;
    NEED_MODEL();
    fake_reset();
    g_fake.formats[g_fake.n_formats++] = V4L2_PIX_FMT_YUYV;
    g_fake.width = 160;
    g_fake.height = 120;
    g_fake.vanish_after = 5;
    vd_source_params sp = vd_source_default_params();
    sp.spec = "/dev/video0";
    sp.v4l2_sys = &fake_sys;
    vd_source *src;
    assert_int_equal(vd_source_open(&sp, &src), VKDETR_OK);
    cam_config cfg = small_config();
    cfg.all_frames = 1; /* every frame reaches the main thread, so the count is exact */
    cam_pipeline *p;
    assert_int_equal(cam_pipeline_create(g_model, src, &cfg, &p), VKDETR_OK);
    assert_int_equal(cam_pipeline_start(p), VKDETR_OK);
    cam_shown *s;
    int n = 0, r;
    while ((r = cam_pipeline_take(p, 10000, &s)) == 1) {
        assert_int_equal(s->f.index, n);
        const uint8_t *px = s->f.rgb; /* the fake's frames are red */
        assert_true(px[0] > 250 && px[1] < 5 && px[2] < 5);
        n++;
    }
    assert_int_equal(r, -1);
    assert_int_equal(n, 5);
    char msg[256];
    int in_model = -1;
    assert_int_equal(cam_pipeline_end(p, msg, sizeof msg, &in_model), VD_SOURCE_LOST);
    assert_int_equal(in_model, 0);
    assert_non_null(strstr(msg, "camera /dev/video0 disconnected after 5 frames"));
    cam_pipeline_free(p);
    vd_source_close(src);
    assert_int_equal(g_fake.fds_open, 0);
    assert_int_equal(g_fake.maps_live, 0);
}

static void test_stats(void **state) {
    (void)state;
    cam_stats s;
    assert_int_equal(cam_stats_init(&s, 64), 0);
    assert_true(cam_stats_live_fps(&s) == 0.0);
    for (int i = 1; i <= 100; i++) cam_stats_add(&s, 1000.0 + i * 50.0, (double)i, 2.0 * i);
    /* the last 64 stored: latencies 37..100 */
    cam_summary sum = cam_stats_summary(&s);
    assert_true(sum.latency_mean > 68.49 && sum.latency_mean < 68.51);
    assert_true(sum.latency_p95 > 96.84 && sum.latency_p95 < 96.86); /* 37 + 0.95 * 63 */
    assert_true(sum.infer_mean > 136.9 && sum.infer_mean < 137.1);
    assert_true(sum.fps > 19.99 && sum.fps < 20.01);
    assert_true(cam_stats_live_fps(&s) > 19.99 && cam_stats_live_fps(&s) < 20.01);
    double m = cam_stats_recent_mean(&s, s.latency, 4);
    assert_true(m > 98.49 && m < 98.51);
    cam_stats_free(&s);
}

static void test_drawing(void **state) {
    (void)state;
    vd_font *font;
    assert_int_equal(vd_font_load_default(&font), VKDETR_OK);
    uint8_t *px = calloc(200 * 100 * 3, 1);
    vd_canvas c = {px, 200, 100};
    vkdetr_detection d[2];
    memset(d, 0, sizeof d);
    d[0] = (vkdetr_detection){.box = {20, 30, 80, 90}, .score = 0.9f, .class_id = 3, .label = "x"};
    d[1] = (vkdetr_detection){.box = {100, 30, 180, 90}, .score = 0.4f, .class_id = 5, .label = "y"};
    vkdetr_result r = {.count = 2, .detections = d, .image_width = 200, .image_height = 100};
    assert_int_equal(cam_visible_count(&r, 0.5f), 1);
    assert_int_equal(cam_visible_count(&r, 0.3f), 2);
    assert_int_equal(cam_visible_count(NULL, 0.3f), 0);
    cam_draw_result(&c, font, &r, 0.5f);
    vd_color c3 = vd_draw_palette(3);
    const uint8_t *left = px + ((size_t)60 * 200 + 20) * 3, *right = px + ((size_t)60 * 200 + 100) * 3;
    assert_true(left[0] == c3.r && left[1] == c3.g && left[2] == c3.b);
    assert_true(right[0] == 0 && right[1] == 0 && right[2] == 0); /* below the threshold */
    const char *lines[] = {"12.0 fps", "dropped 3"};
    cam_draw_overlay(&c, font, lines, 2);
    int lit = 0;
    for (int i = 0; i < 30 * 200 * 3; i++) lit += px[i] > 200;
    assert_true(lit > 20); /* white text in the top-left corner */
    free(px);
    vd_font_free(font);
}

static int setup(void **state) {
    (void)state;
    vkdetr_model_params mp = vkdetr_model_default_params();
    mp.backend = VKDETR_BACKEND_CPU;
    if (vkdetr_model_load(vd_test_path("tests/data/rtdetr_v1_tiny"), &mp, &g_model)) g_model = NULL;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    vkdetr_model_free(g_model);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mailbox_basics),
        cmocka_unit_test(test_mailbox_threads),
        cmocka_unit_test(test_slow_model_drops_stale_frames),
        cmocka_unit_test(test_all_frames),
        cmocka_unit_test(test_pause_and_threshold),
        cmocka_unit_test(test_camera_unplugged),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_drawing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
