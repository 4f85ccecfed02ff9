/* synth: a test pattern that needs no camera and no file: a drifting colour gradient, three
 * shapes moving on smooth paths, and the frame index as a barcode (source.h). Each frame is a
 * pure function of its index, so tests can tell which frame they are looking at. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "source.h"

enum { BITS = 32 };

static void fill_rect(uint8_t *rgb, int w, int h, int x0, int y0, int x1, int y1,
                      const uint8_t c[3]) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > w) x1 = w;
    if (y1 > h) y1 = h;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) memcpy(rgb + ((size_t)y * w + x) * 3, c, 3);
}

static void fill_disc(uint8_t *rgb, int w, int h, double cx, double cy, double r,
                      const uint8_t c[3]) {
    int y0 = (int)floor(cy - r), y1 = (int)ceil(cy + r);
    for (int y = y0 < 0 ? 0 : y0; y <= y1 && y < h; y++) {
        double dy = y + 0.5 - cy, half = r * r - dy * dy;
        if (half < 0) continue;
        half = sqrt(half);
        int x0 = (int)ceil(cx - half - 0.5), x1 = (int)floor(cx + half - 0.5);
        for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < w; x++)
            memcpy(rgb + ((size_t)y * w + x) * 3, c, 3);
    }
}

void vd_synth_render(uint8_t *rgb, int w, int h, double fps, int64_t index) {
    double t = (double)index / (fps > 0 ? fps : 30.0);
    int shift = (int)(t * 40.0);
    for (int y = 0; y < h; y++) {
        uint8_t *p = rgb + (size_t)y * w * 3;
        int gy = y * 160 / (h > 1 ? h : 1);
        for (int x = 0; x < w; x++, p += 3) {
            int u = (x + shift) % (2 * w); /* a triangle wave: no seam where it wraps */
            int gx = (u < w ? u : 2 * w - 1 - u) * 160 / w;
            p[0] = (uint8_t)(40 + gx / 2);
            p[1] = (uint8_t)(60 + gy / 2);
            p[2] = (uint8_t)(90 + (gx + gy) / 4);
        }
    }
    double s = (w < h ? w : h) / 480.0;
    static const uint8_t red[3] = {220, 40, 40}, yellow[3] = {240, 220, 60},
                         cyan[3] = {40, 200, 220};
    /* a disc going left and right, a square on a circle, a bar going up and down */
    fill_disc(rgb, w, h, w * (0.5 + 0.35 * sin(t * 1.3)), h * 0.3, 50 * s, red);
    double sx = w * (0.5 + 0.25 * cos(t)), sy = h * (0.6 + 0.2 * sin(t));
    fill_rect(rgb, w, h, (int)(sx - 45 * s), (int)(sy - 45 * s), (int)(sx + 45 * s),
              (int)(sy + 45 * s), yellow);
    double by = h * (0.5 + 0.3 * sin(t * 0.7));
    fill_rect(rgb, w, h, (int)(w * 0.8), (int)(by - 70 * s), (int)(w * 0.8 + 30 * s),
              (int)(by + 70 * s), cyan);
    /* the barcode: bottom-left, least significant bit first */
    static const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
    int c = VD_SYNTH_CELL;
    if (w < BITS * c || h < c) return;
    for (int b = 0; b < BITS; b++)
        fill_rect(rgb, w, h, b * c, h - c, (b + 1) * c, h,
                  ((uint64_t)index >> b) & 1 ? white : black);
}

int64_t vd_synth_decode_index(const uint8_t *rgb, int w, int h) {
    int c = VD_SYNTH_CELL;
    if (w < BITS * c || h < c) return -1;
    int64_t v = 0;
    for (int b = 0; b < BITS; b++) {
        const uint8_t *p = rgb + ((size_t)(h - c / 2 - 1) * w + b * c + c / 2) * 3;
        int lo = p[0] < 64 && p[1] < 64 && p[2] < 64;
        int hi = p[0] > 192 && p[1] > 192 && p[2] > 192;
        if (!lo && !hi) return -1;
        if (hi) v |= (int64_t)1 << b;
    }
    return v;
}

typedef struct synth_source {
    vd_source base;
    int64_t next, max_frames;
} synth_source;

static int synth_read(vd_source *s, vd_frame *f, int timeout_ms) {
    synth_source *y = (synth_source *)s;
    (void)timeout_ms;
    if (y->max_frames && y->next >= y->max_frames) return VD_SOURCE_END;
    vd_synth_render(f->rgb, s->info.width, s->info.height, s->info.fps, y->next);
    f->width = s->info.width;
    f->height = s->info.height;
    f->index = y->next;
    f->pts = (double)y->next / s->info.fps;
    f->t_capture = vd_source_now_ms();
    y->next++;
    return VD_SOURCE_FRAME;
}

static void synth_close(vd_source *s) { free(s); }

static const vd_source_ops synth_ops = {synth_read, synth_close};

vkdetr_status vd_source_open_synth(const vd_source_params *p, vd_source **out) {
    *out = NULL;
    int w = p->width > 0 ? p->width : 640, h = p->height > 0 ? p->height : 480;
    double fps = p->fps > 0 ? p->fps : 30.0;
    const char *arg = p->spec + 6; /* after "synth:" */
    if (*arg) {
        char at = 0;
        int n = sscanf(arg, "%dx%d%c%lf", &w, &h, &at, &fps);
        if (n < 2 || (n >= 3 && (at != '@' || n != 4)) || w < 1 || h < 1 || w > 16384 ||
            h > 16384 || !(fps > 0 && fps <= 10000))
            return vd_app_error(VKDETR_ERR_INVALID_ARG,
                                "%s: expected synth: or synth:WxH or synth:WxH@FPS", p->spec);
    }
    synth_source *y = calloc(1, sizeof *y);
    if (!y) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    y->base.ops = &synth_ops;
    y->base.info.kind = "synth";
    y->base.info.width = w;
    y->base.info.height = h;
    y->base.info.fps = fps;
    y->max_frames = p->loop ? 0 : p->max_frames;
    snprintf(y->base.info.description, sizeof y->base.info.description,
             "synthetic pattern %dx%d at %.4g fps", w, h, fps);
    *out = &y->base;
    return VKDETR_OK;
}
