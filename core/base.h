/* Internal basics every module uses: status helpers, error messages, logging, allocation
 * hooks. The public status codes (vkdetr_status) are the internal ones too. */
#ifndef VD_BASE_H
#define VD_BASE_H

#include <stddef.h>
#include <stdint.h>

#include "vkdetr.h"

#if defined(__GNUC__)
#define VD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VD_PRINTF(a, b)
#endif

#define VD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VD_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Records a one-line message for the calling thread (vkdetr_last_error) and returns status,
 * so that `return vd_error(VKDETR_ERR_IO, "cannot open %s", path);` reads naturally. The
 * message is also logged at debug level. */
vkdetr_status vd_error(vkdetr_status status, const char *fmt, ...) VD_PRINTF(2, 3);

/* Prepends "context: " to the calling thread's current error message, keeps status. */
vkdetr_status vd_error_prefix(vkdetr_status status, const char *fmt, ...) VD_PRINTF(2, 3);

/* Clears the calling thread's error message. */
void vd_error_clear(void);

/* Logging through the callback set with vkdetr_log_set. */
void vd_log(vkdetr_log_level level, const char *fmt, ...) VD_PRINTF(2, 3);
#define vd_log_error(...) vd_log(VKDETR_LOG_ERROR, __VA_ARGS__)
#define vd_log_warn(...) vd_log(VKDETR_LOG_WARN, __VA_ARGS__)
#define vd_log_info(...) vd_log(VKDETR_LOG_INFO, __VA_ARGS__)
#define vd_log_debug(...) vd_log(VKDETR_LOG_DEBUG, __VA_ARGS__)

/* Host allocation. All library allocations go through these, so tests can make them fail.
 * vd_malloc(0) returns a valid pointer. vd_free(NULL) is a no-op. Memory from
 * vd_aligned_alloc is 64-byte aligned and released with vd_aligned_free. */
void *vd_malloc(size_t size);
void *vd_calloc(size_t n, size_t size);
void *vd_realloc(void *ptr, size_t size);
void vd_free(void *ptr);
void *vd_aligned_alloc(size_t size);
void vd_aligned_free(void *ptr);
char *vd_strdup(const char *s);

/* Test hook: the n-th allocation from now (1 = the next one) fails, and every one after it
 * while `sticky` is set. n = 0 disables. Returns the number of allocations made since the
 * last call, so a test can first count and then fail each one in turn. Process-wide. */
int64_t vd_alloc_fail_after(int64_t n, int sticky);

/* Multiplies with an overflow check: returns 0 and sets *out on success, -1 on overflow. */
static inline int vd_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

/* Monotonic wall-clock time in milliseconds. */
double vd_time_ms(void);

#endif /* VD_BASE_H */
