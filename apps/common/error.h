/* Error messages for the apps: the same model as the library (a vkdetr_status and a one-line
 * message per thread), kept apart from the library's own last error so that an app message
 * never overwrites a library message or the other way round. */
#ifndef VD_APP_ERROR_H
#define VD_APP_ERROR_H

#include "vkdetr.h"

#if defined(__GNUC__)
#define VD_APP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VD_APP_PRINTF(a, b)
#endif

/* Records a one-line message for the calling thread and returns status:
 * `return vd_app_error(VKDETR_ERR_IO, "cannot open %s: %s", path, strerror(errno));` */
vkdetr_status vd_app_error(vkdetr_status status, const char *fmt, ...) VD_APP_PRINTF(2, 3);

/* The last message recorded on this thread ("" when none). Borrowed until the next
 * vd_app_error on this thread. */
const char *vd_app_last_error(void);

#endif
