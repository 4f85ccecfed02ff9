/* Drawing on a frame: detections above the current threshold and the text overlay. */
#include <string.h>

#include "cam.h"

int cam_visible_count(const vkdetr_result *r, float threshold) {
    if (!r) return 0;
    int n = 0;
    while (n < r->count && r->detections[n].score > threshold) n++;
    return n;
}

void cam_draw_result(vd_canvas *c, const vd_font *font, const vkdetr_result *r, float threshold) {
    int n = cam_visible_count(r, threshold);
    if (!n) return;
    vd_draw_style style = vd_draw_style_for(c->width, c->height);
    vd_draw_detections(c, font, &style, r->detections, n);
}

void cam_draw_overlay(vd_canvas *c, const vd_font *font, const char *const *lines, int n) {
    if (!font || n <= 0) return;
    vd_draw_style style = vd_draw_style_for(c->width, c->height);
    float px = style.font_px;
    int pad = (int)(px * 0.3f + 0.5f), w = 0, h = 0, line_h = 0;
    for (int i = 0; i < n; i++) {
        vd_text_metrics m = vd_font_measure(font, px, lines[i]);
        if (m.width > w) w = m.width;
        line_h = m.height;
    }
    h = n * line_h;
    vd_color plate = {0, 0, 0}, ink = {255, 255, 255};
    vd_draw_fill(c, 0, 0, w + 2 * pad, h + 2 * pad, plate, 0.55f);
    for (int i = 0; i < n; i++) vd_font_draw(font, px, lines[i], c, pad, pad + i * line_h, ink);
}
