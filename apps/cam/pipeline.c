/* The capture and inference threads (cam.h). */
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cam.h"
#include "error.h"

struct cam_pipeline {
    vkdetr_model *model;
    vd_source *source;
    cam_config cfg;
    vkdetr_model_info info;
    vkdetr_session *session;   /* used by the inference thread once started */
    float session_threshold;
    cam_frame in_slots[3];
    cam_shown out_slots[3];
    uint8_t *pixels;           /* the six frame buffers */
    cam_mailbox in, out;
    int mailboxes;             /* how many were initialised */
    pthread_t capture_thread, infer_thread;
    int capture_started, infer_started;
    atomic_int stop;
    atomic_int paused;
    _Atomic float threshold;
    atomic_llong captured, inferred;
    pthread_mutex_t end_mu;
    int end_rc;
    int end_in_model;
    char end_msg[512];
};

cam_config cam_config_default(void) {
    cam_config c;
    memset(&c, 0, sizeof c);
    c.threshold = 0.5f;
    c.max_detections = 100;
    c.masks = 1;
    c.pace = 1;
    return c;
}

static void sleep_ms(double ms) {
    if (ms <= 0) return;
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000.0);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
    nanosleep(&ts, NULL);
}

/* Records why the pipeline ended; the first reason wins. */
static void set_end(cam_pipeline *p, int rc, int in_model, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_end(cam_pipeline *p, int rc, int in_model, const char *fmt, ...) {
    pthread_mutex_lock(&p->end_mu);
    if (!p->end_rc) {
        p->end_rc = rc;
        p->end_in_model = in_model;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->end_msg, sizeof p->end_msg, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&p->end_mu);
}

int cam_pipeline_end(cam_pipeline *p, char *msg, size_t size, int *in_model) {
    pthread_mutex_lock(&p->end_mu);
    int rc = p->end_rc;
    if (in_model) *in_model = p->end_in_model;
    if (msg && size) snprintf(msg, size, "%s", p->end_msg);
    pthread_mutex_unlock(&p->end_mu);
    return rc;
}

static vkdetr_status make_session(cam_pipeline *p, float threshold) {
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.input_width = p->cfg.input_width;
    sp.input_height = p->cfg.input_height;
    sp.n_threads = p->cfg.n_threads;
    sp.max_detections = p->cfg.max_detections;
    sp.masks = p->cfg.masks;
    /* below the shown threshold, so that lowering it with '-' needs no new session */
    sp.threshold = threshold * 0.5f;
    vkdetr_session *s = NULL;
    vkdetr_status st = vkdetr_session_create(p->model, &sp, &s);
    if (st) return st;
    vkdetr_session_free(p->session);
    p->session = s;
    p->session_threshold = sp.threshold;
    return VKDETR_OK;
}

/* Waits until the monotonic time target_ms, in short steps so that stop is noticed. */
static void wait_until(cam_pipeline *p, double target_ms) {
    for (;;) {
        double left = target_ms - vd_source_now_ms();
        if (left <= 0 || atomic_load(&p->stop)) return;
        sleep_ms(left < 20 ? left : 20);
    }
}

static void *capture_main(void *arg) {
    cam_pipeline *p = arg;
    const vd_source_info *si = &p->source->info;
    int pace = p->cfg.pace && !si->live;
    double t0 = 0;
    int have_t0 = 0;
    int64_t seq = 0;
    while (!atomic_load(&p->stop)) {
        if (atomic_load(&p->paused) && !si->live) {
            /* a file waits where it is; a camera keeps streaming and its frames are dropped */
            sleep_ms(20);
            have_t0 = 0;
            continue;
        }
        cam_frame *f = cam_mailbox_back(&p->in);
        vd_frame vf;
        memset(&vf, 0, sizeof vf);
        vf.rgb = f->rgb;
        int rc = vd_source_read(p->source, &vf, 200);
        if (rc == VD_SOURCE_TIMEOUT) continue;
        if (rc != VD_SOURCE_FRAME) {
            if (rc == VD_SOURCE_END)
                set_end(p, rc, 0, "end of input");
            else
                set_end(p, rc, 0, "%s", vd_app_last_error());
            break;
        }
        if (pace) {
            double now = vd_source_now_ms(), target = t0 + vf.pts * 1e3;
            if (!have_t0 || target < now - 1000.0) {
                /* the first frame, or more than a second behind: restart the clock here */
                t0 = now - vf.pts * 1e3;
                have_t0 = 1;
            } else {
                wait_until(p, target);
            }
            vf.t_capture = vd_source_now_ms(); /* the frame "arrives" at its time */
        }
        if (atomic_load(&p->paused)) continue;
        f->width = vf.width;
        f->height = vf.height;
        f->index = vf.index;
        f->pts = vf.pts;
        f->t_capture = vf.t_capture;
        f->seq = seq++;
        atomic_fetch_add(&p->captured, 1);
        if (cam_mailbox_publish(&p->in, f->seq, p->cfg.all_frames) < 0) break;
    }
    cam_mailbox_close(&p->in);
    return NULL;
}

static int64_t dropped_so_far(cam_mailbox *mb) {
    pthread_mutex_lock(&mb->mu);
    int64_t d = mb->dropped;
    pthread_mutex_unlock(&mb->mu);
    return d;
}

/* Runs the model on f; the result and f's pixels go to the out mailbox's back slot (the
 * pixel buffers are exchanged, not copied: both slots belong to this thread now). */
static int infer_one(cam_pipeline *p, cam_frame *f, int64_t newest) {
    float thr = atomic_load(&p->threshold);
    if (thr < p->session_threshold) {
        vkdetr_status st = make_session(p, thr);
        if (st) {
            set_end(p, st, 1, "cannot create a session for threshold %.2f: %s", thr,
                    vkdetr_last_error());
            return -1;
        }
    }
    vkdetr_image img = {f->rgb, f->width, f->height, 0, VKDETR_PIXEL_RGB};
    vkdetr_result *res = NULL;
    double t0 = vd_source_now_ms();
    vkdetr_status st = vkdetr_session_detect(p->session, &img, &res);
    if (st) {
        set_end(p, st, 1, "inference failed: %s", vkdetr_session_last_error(p->session));
        return -1;
    }
    if (p->cfg.slow_ms > 0) sleep_ms(p->cfg.slow_ms);
    double ms = vd_source_now_ms() - t0;
    cam_shown *o = cam_mailbox_back(&p->out);
    vkdetr_result_free(o->result);
    o->result = res;
    uint8_t *spare = o->f.rgb;
    o->f = *f;
    f->rgb = spare;
    o->infer_ms = ms;
    o->newest_seq = newest;
    o->dropped = dropped_so_far(&p->in);
    atomic_fetch_add(&p->inferred, 1);
    return cam_mailbox_publish(&p->out, o->f.seq, p->cfg.all_frames) < 0 ? -1 : 0;
}

static void *infer_main(void *arg) {
    cam_pipeline *p = arg;
    for (;;) {
        void *item;
        int64_t newest;
        int r = cam_mailbox_take(&p->in, 100, &item, &newest);
        if (r < 0 || atomic_load(&p->stop)) break;
        if (r == 0) continue;
        if (infer_one(p, item, newest)) {
            atomic_store(&p->stop, 1);
            break;
        }
    }
    cam_mailbox_close(&p->out);
    cam_mailbox_close(&p->in); /* a capture thread waiting to publish gives up */
    return NULL;
}

vkdetr_status cam_pipeline_create(vkdetr_model *model, vd_source *source, const cam_config *cfg,
                                  cam_pipeline **out) {
    *out = NULL;
    cam_pipeline *p = calloc(1, sizeof *p);
    if (!p) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    p->model = model;
    p->source = source;
    p->cfg = *cfg;
    atomic_init(&p->stop, 0);
    atomic_init(&p->paused, 0);
    atomic_init(&p->threshold, cfg->threshold);
    atomic_init(&p->captured, 0);
    atomic_init(&p->inferred, 0);
    pthread_mutex_init(&p->end_mu, NULL);
    vkdetr_status st;
    if ((st = vkdetr_model_get_info(model, &p->info)) || (st = make_session(p, cfg->threshold))) {
        st = vd_app_error(st, "%s", vkdetr_last_error());
        goto fail;
    }
    int w = source->info.width, h = source->info.height;
    size_t frame = (size_t)w * h * 3;
    if (!(p->pixels = malloc(frame * 6))) {
        st = vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory for %dx%d frames", w, h);
        goto fail;
    }
    void *in_slots[3], *out_slots[3];
    for (int i = 0; i < 3; i++) {
        p->in_slots[i].rgb = p->pixels + frame * i;
        p->out_slots[i].f.rgb = p->pixels + frame * (3 + i);
        p->in_slots[i].width = p->out_slots[i].f.width = w;
        p->in_slots[i].height = p->out_slots[i].f.height = h;
        p->in_slots[i].seq = p->out_slots[i].f.seq = -1;
        in_slots[i] = &p->in_slots[i];
        out_slots[i] = &p->out_slots[i];
    }
    if (cam_mailbox_init(&p->in, in_slots)) goto fail_sync;
    p->mailboxes = 1;
    if (cam_mailbox_init(&p->out, out_slots)) goto fail_sync;
    p->mailboxes = 2;
    *out = p;
    return VKDETR_OK;
fail_sync:
    st = vd_app_error(VKDETR_ERR_INTERNAL, "cannot create the pipeline's locks");
fail:
    cam_pipeline_free(p);
    return st;
}

vkdetr_status cam_pipeline_start(cam_pipeline *p) {
    if (pthread_create(&p->infer_thread, NULL, infer_main, p))
        return vd_app_error(VKDETR_ERR_INTERNAL, "cannot start the inference thread");
    p->infer_started = 1;
    if (pthread_create(&p->capture_thread, NULL, capture_main, p)) {
        cam_pipeline_stop(p);
        return vd_app_error(VKDETR_ERR_INTERNAL, "cannot start the capture thread");
    }
    p->capture_started = 1;
    return VKDETR_OK;
}

int cam_pipeline_take(cam_pipeline *p, int timeout_ms, cam_shown **out) {
    void *item;
    int r = cam_mailbox_take(&p->out, timeout_ms, &item, NULL);
    if (r == 1) *out = item;
    return r;
}

void cam_pipeline_set_paused(cam_pipeline *p, int paused) { atomic_store(&p->paused, paused); }
int cam_pipeline_paused(const cam_pipeline *p) {
    return atomic_load(&((cam_pipeline *)p)->paused);
}

void cam_pipeline_set_threshold(cam_pipeline *p, float t) {
    atomic_store(&p->threshold, t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t);
}

float cam_pipeline_threshold(const cam_pipeline *p) {
    return atomic_load(&((cam_pipeline *)p)->threshold);
}

void cam_pipeline_counters(cam_pipeline *p, cam_counters *c) {
    c->captured = atomic_load(&p->captured);
    c->inferred = atomic_load(&p->inferred);
    c->dropped = dropped_so_far(&p->in);
    c->display_dropped = dropped_so_far(&p->out);
}

const vkdetr_model_info *cam_pipeline_model_info(const cam_pipeline *p) { return &p->info; }

void cam_pipeline_stop(cam_pipeline *p) {
    atomic_store(&p->stop, 1);
    if (p->mailboxes >= 1) cam_mailbox_close(&p->in);
    if (p->mailboxes >= 2) cam_mailbox_close(&p->out);
    if (p->capture_started) pthread_join(p->capture_thread, NULL);
    if (p->infer_started) pthread_join(p->infer_thread, NULL);
    p->capture_started = p->infer_started = 0;
}

int cam_pipeline_interrupt(void *user) {
    cam_pipeline *const *pp = user;
    return *pp && atomic_load(&(*pp)->stop);
}

void cam_pipeline_free(cam_pipeline *p) {
    if (!p) return;
    cam_pipeline_stop(p);
    for (int i = 0; i < 3; i++) vkdetr_result_free(p->out_slots[i].result);
    if (p->mailboxes >= 1) cam_mailbox_destroy(&p->in);
    if (p->mailboxes >= 2) cam_mailbox_destroy(&p->out);
    vkdetr_session_free(p->session);
    pthread_mutex_destroy(&p->end_mu);
    free(p->pixels);
    free(p);
}
