/* Frame statistics of the main thread: live fps and latency for the overlay, mean and p95 at
 * the end (cam.h). */
#include <stdlib.h>
#include <string.h>

#include "cam.h"

int cam_stats_init(cam_stats *s, int cap) {
    memset(s, 0, sizeof *s);
    s->cap = cap > 0 ? cap : 1;
    s->latency = calloc((size_t)s->cap, sizeof *s->latency);
    s->infer = calloc((size_t)s->cap, sizeof *s->infer);
    if (!s->latency || !s->infer) {
        cam_stats_free(s);
        return -1;
    }
    return 0;
}

void cam_stats_free(cam_stats *s) {
    free(s->latency);
    free(s->infer);
    s->latency = s->infer = NULL;
}

void cam_stats_add(cam_stats *s, double t_display, double latency_ms, double infer_ms) {
    int i = (int)(s->n % s->cap);
    s->latency[i] = latency_ms;
    s->infer[i] = infer_ms;
    s->recent[s->n % 32] = t_display;
    if (s->n == 0) s->t_first = t_display;
    s->t_last = t_display;
    s->n++;
}

double cam_stats_live_fps(const cam_stats *s) {
    if (s->n < 2) return 0.0;
    /* from the newest display time back over at most a second and a half (and 31 frames) */
    int k = s->n < 32 ? (int)s->n : 32;
    double newest = s->recent[(s->n - 1) % 32], oldest = newest;
    int frames = 0;
    for (int j = 1; j < k; j++) {
        double t = s->recent[(s->n - 1 - j) % 32];
        if (newest - t > 1500.0) break;
        oldest = t;
        frames = j;
    }
    return frames > 0 && newest > oldest ? frames * 1000.0 / (newest - oldest) : 0.0;
}

double cam_stats_recent_mean(const cam_stats *s, const double *values, int n) {
    int64_t k = s->n < n ? s->n : n;
    if (k > s->cap) k = s->cap;
    if (k <= 0) return 0.0;
    double sum = 0;
    for (int64_t j = 0; j < k; j++) sum += values[(s->n - 1 - j) % s->cap];
    return sum / (double)k;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Mean and p95 (linear interpolation) of n values; sorts a copy. */
static void mean_p95(const double *v, int n, double *mean, double *p95) {
    *mean = *p95 = 0.0;
    if (n <= 0) return;
    double *c = malloc((size_t)n * sizeof *c), sum = 0;
    if (!c) return;
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    for (int i = 0; i < n; i++) sum += c[i];
    double pos = 0.95 * (n - 1);
    int lo = (int)pos;
    double frac = pos - lo;
    *mean = sum / n;
    *p95 = lo + 1 < n ? c[lo] * (1 - frac) + c[lo + 1] * frac : c[lo];
    free(c);
}

cam_summary cam_stats_summary(const cam_stats *s) {
    cam_summary r;
    memset(&r, 0, sizeof r);
    int n = (int)(s->n < s->cap ? s->n : s->cap);
    mean_p95(s->latency, n, &r.latency_mean, &r.latency_p95);
    mean_p95(s->infer, n, &r.infer_mean, &r.infer_p95);
    if (s->n > 1 && s->t_last > s->t_first) r.fps = (double)(s->n - 1) * 1000.0 / (s->t_last - s->t_first);
    return r;
}
