#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void vd_rng_seed(vd_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }

uint32_t vd_rng_u32(vd_rng *r) {
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->s = x;
    return (uint32_t)(x >> 32);
}

float vd_rng_uniform(vd_rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)(vd_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

float vd_rng_normal(vd_rng *r) {
    float u1 = vd_rng_uniform(r, 1e-7f, 1.0f), u2 = vd_rng_uniform(r, 0.0f, 1.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

void vd_rng_fill(vd_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = vd_rng_uniform(r, lo, hi);
}

vd_cmp vd_compare(const float *a, const float *b, size_t n) {
    vd_cmp c = {0};
    double se = 0, sb = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) && isfinite(b[i])) c.nonfinite++;
        if (!isfinite(a[i]) || !isfinite(b[i])) continue;
        double d = fabs((double)a[i] - b[i]);
        if (d > c.max_abs) {
            c.max_abs = d;
            c.worst = i;
        }
        if (fabs(b[i]) > 1e-3) {
            double rel = d / fabs(b[i]);
            if (rel > c.max_rel) c.max_rel = rel;
        }
        se += d * d;
        sb += (double)b[i] * b[i];
    }
    c.nmse = sb > 0 ? se / sb : se;
    return c;
}

int vd_check_close(const char *what, const float *a, const float *b, size_t n, double atol,
                   double rtol) {
    vd_cmp c = vd_compare(a, b, n);
    if (c.nonfinite) {
        fprintf(stderr, "FAIL %s: %d non-finite values\n", what, c.nonfinite);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(b[i])) {
            if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i])))) {
                fprintf(stderr, "FAIL %s: [%zu] = %g, expected %g\n", what, i, a[i], b[i]);
                return 0;
            }
            continue;
        }
        double d = fabs((double)a[i] - b[i]);
        if (d > atol + rtol * fabs(b[i])) {
            fprintf(stderr,
                    "FAIL %s: [%zu] = %.8g, expected %.8g (|d| = %.3g > %.3g + %.3g*|b|); "
                    "max_abs %.3g at [%zu], nmse %.3g, n %zu\n",
                    what, i, a[i], b[i], d, atol, rtol, c.max_abs, c.worst, c.nmse, n);
            return 0;
        }
    }
    return 1;
}

const char *vd_test_path(const char *rel) {
    static char bufs[8][4096];
    static int next;
    char *b = bufs[next++ % 8];
    const char *root = getenv("VKDETR_SOURCE_DIR");
    snprintf(b, sizeof bufs[0], "%s/%s", root ? root : VD_SOURCE_DIR, rel);
    return b;
}

void *vd_test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) *size = (size_t)n;
    return p;
}

int vd_test_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, size, f);
    return (fclose(f) == 0 && w == size) ? 0 : -1;
}

const char *vd_test_tmpdir(void) {
    static char dir[256];
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vkdetr-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(dir)) return "/tmp";
    return dir;
}

long vd_test_rss_file_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssFile: %ld", &kb) == 1) break;
    fclose(f);
    return kb;
}
