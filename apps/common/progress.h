/* A one-line progress bar on stderr, redrawn at most ten times a second. Callers enable it
 * only when stderr is a terminal (vd_progress_stderr_is_tty). */
#ifndef VD_APP_PROGRESS_H
#define VD_APP_PROGRESS_H

#include <stdint.h>

typedef enum vd_progress_unit { VD_PROGRESS_ITEMS = 0, VD_PROGRESS_BYTES = 1 } vd_progress_unit;

typedef struct vd_progress {
    int enabled;
    vd_progress_unit unit;
    int64_t total;   /* 0 or less: unknown */
    double start_ms;
    double last_ms;
    int drawn;       /* a line is on screen */
    char label[64];
} vd_progress;

int vd_progress_stderr_is_tty(void);

/* Monotonic clock in milliseconds. */
double vd_progress_now_ms(void);

void vd_progress_begin(vd_progress *p, const char *label, int64_t total, vd_progress_unit unit,
                       int enabled);
/* done so far; force = redraw even when the last redraw was recent. */
void vd_progress_update(vd_progress *p, int64_t done, int force);
/* Clears the line. */
void vd_progress_end(vd_progress *p);

#endif
