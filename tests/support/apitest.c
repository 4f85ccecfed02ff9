#include "apitest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

vkdetr_model *vd_api_load(const char *fixture, vkdetr_backend backend, const char *device) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/%s", fixture);
    vkdetr_model_params mp = vkdetr_model_default_params();
    mp.backend = backend;
    mp.device = device;
    vkdetr_model *m = NULL;
    vkdetr_status st = vkdetr_model_load(vd_test_path(rel), &mp, &m);
    if (st != VKDETR_OK) printf("load %s: %s: %s\n", fixture, vkdetr_status_string(st), vkdetr_last_error());
    return m;
}

static int channels(vkdetr_pixel_format f) {
    return f == VKDETR_PIXEL_GRAY ? 1 : f == VKDETR_PIXEL_RGBA || f == VKDETR_PIXEL_BGRA ? 4 : 3;
}

vkdetr_image vd_api_convert(const vkdetr_image *rgb, vkdetr_pixel_format fmt, int stride) {
    int ch = channels(fmt);
    if (!stride) stride = rgb->width * ch;
    uint8_t *out = malloc((size_t)stride * rgb->height);
    vkdetr_image img = {out, rgb->width, rgb->height, stride, fmt};
    if (!out) return img;
    memset(out, 0xA5, (size_t)stride * rgb->height); /* padding and alpha: never read as colour */
    int bgr = fmt == VKDETR_PIXEL_BGR || fmt == VKDETR_PIXEL_BGRA;
    for (int y = 0; y < rgb->height; y++) {
        const uint8_t *s = rgb->data + (size_t)y * rgb->width * 3;
        uint8_t *d = out + (size_t)y * stride;
        for (int x = 0; x < rgb->width; x++, s += 3, d += ch) {
            if (ch == 1) {
                d[0] = s[0];
                continue;
            }
            d[0] = s[bgr ? 2 : 0];
            d[1] = s[1];
            d[2] = s[bgr ? 0 : 2];
        }
    }
    return img;
}

int vd_api_test_image(const char *fixture, int i, vkdetr_image *img) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/%s/input.png", fixture);
    vkdetr_image src;
    if (vkdetr_image_load(vd_test_path(rel), &src) != VKDETR_OK) {
        printf("%s: %s\n", rel, vkdetr_last_error());
        return -1;
    }
    /* a crop of varied size and offset, with seeded noise */
    int w = src.width - (i * 7) % 41, h = src.height - (i * 5) % 29;
    int ox = (i * 3) % (src.width - w + 1), oy = (i * 2) % (src.height - h + 1);
    uint8_t *rgb = malloc((size_t)w * h * 3);
    if (!rgb) {
        vkdetr_image_free(&src);
        return -1;
    }
    vd_rng rng;
    vd_rng_seed(&rng, 1000 + (uint64_t)i);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++) {
            int v = src.data[(size_t)(y + oy) * src.stride + (size_t)ox * 3 + x];
            v += (int)(vd_rng_u32(&rng) % 9) - 4;
            rgb[((size_t)y * w) * 3 + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    vkdetr_image_free(&src);
    static const vkdetr_pixel_format formats[] = {VKDETR_PIXEL_RGB, VKDETR_PIXEL_BGR,
                                                  VKDETR_PIXEL_RGBA, VKDETR_PIXEL_BGRA,
                                                  VKDETR_PIXEL_GRAY};
    vkdetr_pixel_format f = formats[i % 5];
    int stride = (i / 5) % 2 ? w * channels(f) + 13 : 0;
    vkdetr_image tight = {rgb, w, h, 0, VKDETR_PIXEL_RGB};
    *img = vd_api_convert(&tight, f, stride);
    free(rgb);
    return img->data ? 0 : -1;
}

static int mask_equal(const vkdetr_mask *a, const vkdetr_mask *b) {
    if (a->width != b->width || a->height != b->height || a->n_counts != b->n_counts) return 0;
    if (!a->counts != !b->counts || !a->data != !b->data) return 0;
    if (a->counts && memcmp(a->counts, b->counts, (size_t)a->n_counts * sizeof *a->counts)) return 0;
    return !a->data || !memcmp(a->data, b->data, (size_t)a->width * a->height);
}

int vd_api_results_equal(const vkdetr_result *a, const vkdetr_result *b, const char *what) {
    if (a->count != b->count || a->image_width != b->image_width ||
        a->image_height != b->image_height || a->has_masks != b->has_masks) {
        printf("%s: %d detections in %dx%d (masks %d) vs %d in %dx%d (masks %d)\n", what,
               a->count, a->image_width, a->image_height, a->has_masks, b->count, b->image_width,
               b->image_height, b->has_masks);
        return 0;
    }
    for (int i = 0; i < a->count; i++) {
        const vkdetr_detection *p = &a->detections[i], *q = &b->detections[i];
        if (memcmp(p->box, q->box, sizeof p->box) || memcmp(&p->score, &q->score, sizeof p->score) ||
            p->class_id != q->class_id || strcmp(p->label, q->label) || !mask_equal(&p->mask, &q->mask)) {
            printf("%s: detection %d: %s %.9g [%.9g %.9g %.9g %.9g] vs %s %.9g [%.9g %.9g %.9g %.9g]\n",
                   what, i, p->label, p->score, p->box[0], p->box[1], p->box[2], p->box[3], q->label,
                   q->score, q->box[0], q->box[1], q->box[2], q->box[3]);
            return 0;
        }
    }
    return 1;
}

/* ---- the thread-safety check ----------------------------------------------------------- */

#define MAX_IMAGES 64

typedef struct outputs {
    float *logits, *boxes; /* copies of the raw outputs */
    size_t n_logits, n_boxes;
} outputs;

typedef struct thread_job {
    vkdetr_model *model;
    const vkdetr_session_params *sp;
    const vkdetr_image *images;
    vkdetr_result *const *ref;
    const outputs *ref_out;
    int n_images, n_rounds, id, failures;
    pthread_t tid;
} thread_job;

/* Copies the outputs named "logits" and "pred_boxes" of the session's last run. */
static int read_outputs(vkdetr_session *s, outputs *o) {
    memset(o, 0, sizeof *o);
    for (int i = 0; i < vkdetr_session_output_count(s); i++) {
        vkdetr_tensor t;
        if (vkdetr_session_output(s, i, &t) != VKDETR_OK) return -1;
        float **dst = !strcmp(t.name, "logits") ? &o->logits : !strcmp(t.name, "pred_boxes") ? &o->boxes : NULL;
        if (!dst || t.dtype != VKDETR_DTYPE_F32) continue;
        size_t n = 1;
        for (int d = 0; d < t.ndim; d++) n *= (size_t)t.shape[d];
        *dst = malloc(n * sizeof **dst);
        if (!*dst) return -1;
        memcpy(*dst, t.data, n * sizeof **dst);
        *(dst == &o->logits ? &o->n_logits : &o->n_boxes) = n;
    }
    return o->logits && o->boxes ? 0 : -1;
}

static void free_outputs(outputs *o) {
    free(o->logits);
    free(o->boxes);
    memset(o, 0, sizeof *o);
}

static int outputs_equal(const outputs *a, const outputs *b, const char *what) {
    if (a->n_logits == b->n_logits && a->n_boxes == b->n_boxes &&
        !memcmp(a->logits, b->logits, a->n_logits * sizeof *a->logits) &&
        !memcmp(a->boxes, b->boxes, a->n_boxes * sizeof *a->boxes))
        return 1;
    printf("%s: raw outputs differ from the reference\n", what);
    return 0;
}

static void *thread_main(void *arg) {
    thread_job *j = arg;
    vkdetr_session *s = NULL;
    if (vkdetr_session_create(j->model, j->sp, &s) != VKDETR_OK) {
        printf("thread %d: session: %s\n", j->id, vkdetr_last_error());
        j->failures = j->n_images * j->n_rounds;
        return NULL;
    }
    for (int k = 0; k < j->n_images * j->n_rounds; k++) {
        int i = (k + j->id * 5) % j->n_images;
        char what[64];
        snprintf(what, sizeof what, "thread %d, image %d, run %d", j->id, i, k);
        vkdetr_result *r = NULL;
        outputs o = {0};
        if (vkdetr_session_detect(s, &j->images[i], &r) != VKDETR_OK) {
            printf("%s: %s\n", what, vkdetr_session_last_error(s));
            j->failures++;
            continue;
        }
        int ok = vd_api_results_equal(r, j->ref[i], what);
        ok = ok && read_outputs(s, &o) == 0 && outputs_equal(&o, &j->ref_out[i], what);
        free_outputs(&o);
        j->failures += !ok;
        vkdetr_result_free(r);
    }
    vkdetr_session_free(s);
    return NULL;
}

int vd_api_threads_check(vkdetr_model *m, const char *fixture, const vkdetr_session_params *sp,
                         int n_threads, int n_images, int n_rounds) {
    if (n_images > MAX_IMAGES || n_threads > 64) return -1;
    vkdetr_image images[MAX_IMAGES] = {{0}};
    vkdetr_result *ref[MAX_IMAGES] = {0};
    outputs ref_out[MAX_IMAGES] = {{0}};
    thread_job jobs[64];
    int result = -1, started = 0, detections = 0;
    vkdetr_session *s = NULL;
    if (vkdetr_session_create(m, sp, &s) != VKDETR_OK) {
        printf("reference session: %s\n", vkdetr_last_error());
        goto done;
    }
    for (int i = 0; i < n_images; i++) {
        if (vd_api_test_image(fixture, i, &images[i])) goto done;
        if (vkdetr_session_detect(s, &images[i], &ref[i]) != VKDETR_OK || read_outputs(s, &ref_out[i])) {
            printf("reference, image %d: %s\n", i, vkdetr_session_last_error(s));
            goto done;
        }
        detections += ref[i]->count;
    }
    printf("reference: %d images, %d detections\n", n_images, detections);
    for (int t = 0; t < n_threads; t++) {
        jobs[t] = (thread_job){m, sp, images, ref, ref_out, n_images, n_rounds, t, 0, 0};
        if (pthread_create(&jobs[t].tid, NULL, thread_main, &jobs[t])) {
            printf("pthread_create failed\n");
            break;
        }
        started++;
    }
    result = started == n_threads ? 0 : -1;
    for (int t = 0; t < started; t++) {
        pthread_join(jobs[t].tid, NULL);
        if (result >= 0) result += jobs[t].failures;
    }
    printf("%d threads x %d runs: %d differ or failed\n", n_threads, n_images * n_rounds, result);
done:
    for (int i = 0; i < n_images; i++) {
        free((void *)images[i].data);
        vkdetr_result_free(ref[i]);
        free_outputs(&ref_out[i]);
    }
    vkdetr_session_free(s);
    return result;
}
