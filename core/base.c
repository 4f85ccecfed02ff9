#include "base.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- errors ---------------------------------------------------------------------------- */

#define ERROR_LEN 1024
static _Thread_local char error_msg[ERROR_LEN];

const char *vkdetr_status_string(vkdetr_status status) {
    switch (status) {
    case VKDETR_OK: return "ok";
    case VKDETR_ERR_INVALID_ARG: return "invalid argument";
    case VKDETR_ERR_NO_MEMORY: return "out of memory";
    case VKDETR_ERR_IO: return "i/o error";
    case VKDETR_ERR_FORMAT: return "bad file format";
    case VKDETR_ERR_UNSUPPORTED: return "unsupported";
    case VKDETR_ERR_SHAPE: return "tensor missing or mis-shaped";
    case VKDETR_ERR_BACKEND: return "backend unavailable";
    case VKDETR_ERR_DEVICE_LOST: return "device lost";
    case VKDETR_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *vkdetr_last_error(void) { return error_msg; }

vkdetr_status vd_error(vkdetr_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_msg, sizeof error_msg, fmt, ap);
    va_end(ap);
    vd_log_debug("error: %s", error_msg);
    return status;
}

vkdetr_status vd_error_prefix(vkdetr_status status, const char *fmt, ...) {
    char prefix[ERROR_LEN], old[ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_msg, sizeof old);
    snprintf(error_msg, sizeof error_msg, "%.400s: %.600s", prefix, old);
    return status;
}

void vd_error_clear(void) { error_msg[0] = 0; }

/* ---- logging --------------------------------------------------------------------------- */

static void log_default(vkdetr_log_level level, const char *msg, void *user) {
    (void)user;
    static const char *names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "vkdetr: %s: %s\n", names[level], msg);
}

static _Atomic(vkdetr_log_fn) log_fn = log_default;
static void *_Atomic log_user;
static atomic_int log_max = VKDETR_LOG_WARN;

void vkdetr_log_set(vkdetr_log_fn fn, void *user, vkdetr_log_level max_level) {
    atomic_store(&log_user, user);
    atomic_store(&log_fn, fn ? fn : log_default);
    atomic_store(&log_max, (int)max_level);
}

void vd_log(vkdetr_log_level level, const char *fmt, ...) {
    if ((int)level > atomic_load(&log_max)) return;
    char msg[ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vkdetr_log_fn fn = atomic_load(&log_fn);
    fn(level, msg, atomic_load(&log_user));
}

/* ---- allocation ------------------------------------------------------------------------ */

static atomic_llong alloc_count;
static atomic_llong alloc_fail_at; /* 0: never */
static atomic_int alloc_sticky;

int64_t vd_alloc_fail_after(int64_t n, int sticky) {
    int64_t count = atomic_exchange(&alloc_count, 0);
    atomic_store(&alloc_sticky, sticky);
    atomic_store(&alloc_fail_at, n);
    return count;
}

static int alloc_should_fail(void) {
    long long n = atomic_fetch_add(&alloc_count, 1) + 1;
    long long at = atomic_load(&alloc_fail_at);
    if (at <= 0) return 0;
    return n == at || (atomic_load(&alloc_sticky) && n > at);
}

void *vd_malloc(size_t size) {
    if (alloc_should_fail()) return NULL;
    return malloc(size ? size : 1);
}

void *vd_calloc(size_t n, size_t size) {
    if (alloc_should_fail()) return NULL;
    if (n == 0 || size == 0) return calloc(1, 1);
    return calloc(n, size);
}

void *vd_realloc(void *ptr, size_t size) {
    if (alloc_should_fail()) return NULL;
    return realloc(ptr, size ? size : 1);
}

void vd_free(void *ptr) { free(ptr); }

void *vd_aligned_alloc(size_t size) {
    if (alloc_should_fail()) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? size : 64) != 0) return NULL;
    return p;
}

void vd_aligned_free(void *ptr) { free(ptr); }

char *vd_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = vd_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

double vd_time_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
