/* Helpers shared by the CMocka tests: seeded random data, tolerant comparisons that print
 * the failing case, and paths to fixtures. Include after cmocka.h's prerequisites. */
#ifndef VD_TESTUTIL_H
#define VD_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* xorshift-based, reproducible across platforms */
typedef struct vd_rng {
    uint64_t s;
} vd_rng;

void vd_rng_seed(vd_rng *r, uint64_t seed);
uint32_t vd_rng_u32(vd_rng *r);
float vd_rng_uniform(vd_rng *r, float lo, float hi); /* [lo, hi) */
float vd_rng_normal(vd_rng *r);
void vd_rng_fill(vd_rng *r, float *x, size_t n, float lo, float hi);

typedef struct vd_cmp {
    double max_abs;   /* max |a - b| */
    double max_rel;   /* max |a - b| / max(|b|, 1e-6) where |b| > 1e-3 */
    double nmse;      /* sum (a-b)^2 / sum b^2 */
    size_t worst;     /* index of max_abs */
    int nonfinite;    /* a has NaN/Inf where b does not */
} vd_cmp;

vd_cmp vd_compare(const float *a, const float *b, size_t n);

/* Checks a against the reference b: no NaN/Inf first, then max_abs <= atol + rtol * |b| for
 * every element. On failure prints `what`, the worst element and the stats, and returns 0. */
int vd_check_close(const char *what, const float *a, const float *b, size_t n, double atol,
                   double rtol);

/* Absolute path of a file under the source tree (static buffer per call, 8 in rotation). */
const char *vd_test_path(const char *rel);

/* Reads a whole file; returns NULL on error. *size set. Caller frees with free(). */
void *vd_test_read_file(const char *path, size_t *size);

/* Writes a file; returns 0 on success. */
int vd_test_write_file(const char *path, const void *data, size_t size);

/* A fresh temporary directory (removed by the OS eventually); static buffer. */
const char *vd_test_tmpdir(void);

/* This process's resident file-backed memory in kB (RssFile of /proc/self/status); -1 where
 * the kernel does not report it. */
long vd_test_rss_file_kb(void);

#endif
