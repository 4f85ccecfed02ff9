#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int vd_progress_stderr_is_tty(void) { return isatty(fileno(stderr)); }

double vd_progress_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

void vd_progress_begin(vd_progress *p, const char *label, int64_t total, vd_progress_unit unit,
                       int enabled) {
    memset(p, 0, sizeof *p);
    p->enabled = enabled;
    p->unit = unit;
    p->total = total;
    p->start_ms = vd_progress_now_ms();
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
}

static void format_amount(char *out, size_t size, int64_t v, vd_progress_unit unit) {
    if (unit == VD_PROGRESS_ITEMS)
        snprintf(out, size, "%lld", (long long)v);
    else if (v >= (int64_t)1 << 30)
        snprintf(out, size, "%.2f GB", (double)v / (1 << 30));
    else if (v >= (int64_t)1 << 20)
        snprintf(out, size, "%.1f MB", (double)v / (1 << 20));
    else
        snprintf(out, size, "%.0f kB", (double)v / 1024);
}

void vd_progress_update(vd_progress *p, int64_t done, int force) {
    if (!p->enabled) return;
    double now = vd_progress_now_ms();
    if (!force && p->drawn && now - p->last_ms < 100.0) return;
    p->last_ms = now;
    p->drawn = 1;
    char a[32], b[32], rate[48] = "";
    format_amount(a, sizeof a, done, p->unit);
    double secs = (now - p->start_ms) / 1e3;
    if (secs > 0.2) {
        char r[32];
        format_amount(r, sizeof r, (int64_t)((double)done / secs), p->unit);
        snprintf(rate, sizeof rate, " %s/s", r);
    }
    if (p->total > 0) {
        enum { BAR = 30 };
        char bar[BAR + 1];
        int64_t d = done > p->total ? p->total : done;
        int fill = (int)(d * BAR / p->total);
        for (int i = 0; i < BAR; i++) bar[i] = i < fill ? '#' : '.';
        bar[BAR] = '\0';
        format_amount(b, sizeof b, p->total, p->unit);
        fprintf(stderr, "\r%s [%s] %3d%% %s/%s%s\033[K", p->label, bar,
                (int)(d * 100 / p->total), a, b, rate);
    } else {
        fprintf(stderr, "\r%s %s%s\033[K", p->label, a, rate);
    }
    fflush(stderr);
}

void vd_progress_end(vd_progress *p) {
    if (p->enabled && p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    p->drawn = 0;
}
