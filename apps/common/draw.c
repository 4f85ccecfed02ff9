#include "draw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* 20 well-separated colours (a Tableau-like set); class ids wrap around. */
static const vd_color palette[] = {
    {31, 119, 180},  {255, 127, 14},  {44, 160, 44},   {214, 39, 40},   {148, 103, 189},
    {140, 86, 75},   {227, 119, 194}, {127, 127, 127}, {188, 189, 34},  {23, 190, 207},
    {174, 199, 232}, {255, 187, 120}, {152, 223, 138}, {255, 152, 150}, {197, 176, 213},
    {196, 156, 148}, {247, 182, 210}, {219, 219, 141}, {158, 218, 229}, {57, 59, 121},
};

vd_color vd_draw_palette(int class_id) {
    int n = (int)(sizeof palette / sizeof palette[0]);
    int i = class_id % n;
    if (i < 0) i += n;
    return palette[i];
}

vd_color vd_draw_text_color(vd_color bg) {
    /* Rec. 601 luma */
    int y = (299 * bg.r + 587 * bg.g + 114 * bg.b) / 1000;
    vd_color black = {0, 0, 0}, white = {255, 255, 255};
    return y > 140 ? black : white;
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void vd_draw_fill(vd_canvas *c, int x0, int y0, int x1, int y1, vd_color color, float alpha) {
    x0 = clampi(x0, 0, c->width);
    x1 = clampi(x1, 0, c->width);
    y0 = clampi(y0, 0, c->height);
    y1 = clampi(y1, 0, c->height);
    if (alpha <= 0.0f) return;
    int a = alpha >= 1.0f ? 256 : (int)(alpha * 256.0f + 0.5f);
    for (int y = y0; y < y1; y++) {
        uint8_t *p = c->rgb + ((size_t)y * c->width + x0) * 3;
        for (int x = x0; x < x1; x++, p += 3) {
            p[0] = (uint8_t)((p[0] * (256 - a) + color.r * a) >> 8);
            p[1] = (uint8_t)((p[1] * (256 - a) + color.g * a) >> 8);
            p[2] = (uint8_t)((p[2] * (256 - a) + color.b * a) >> 8);
        }
    }
}

/* Rounds a float coordinate to a pixel index, saturating far outside the int range. */
static int to_pixel(float v) {
    if (!(v == v)) return 0; /* NaN */
    if (v < -1e8f) return -100000000;
    if (v > 1e8f) return 100000000;
    return (int)floorf(v + 0.5f);
}

void vd_draw_box(vd_canvas *c, const float box[4], int thickness, vd_color color) {
    int x0 = to_pixel(box[0]), y0 = to_pixel(box[1]);
    int x1 = to_pixel(box[2]), y1 = to_pixel(box[3]);
    if (x1 < x0) { int t = x0; x0 = x1; x1 = t; }
    if (y1 < y0) { int t = y0; y0 = y1; y1 = t; }
    if (x1 == x0) x1++;
    if (y1 == y0) y1++;
    int t = thickness < 1 ? 1 : thickness;
    vd_draw_fill(c, x0, y0, x1, y0 + t, color, 1.0f);         /* top */
    vd_draw_fill(c, x0, y1 - t, x1, y1, color, 1.0f);         /* bottom */
    vd_draw_fill(c, x0, y0, x0 + t, y1, color, 1.0f);         /* left */
    vd_draw_fill(c, x1 - t, y0, x1, y1, color, 1.0f);         /* right */
}

void vd_draw_mask(vd_canvas *c, const uint8_t *mask, int mask_w, int mask_h, vd_color color,
                  float alpha) {
    if (!mask || mask_w <= 0 || mask_h <= 0) return;
    int a = alpha >= 1.0f ? 256 : alpha <= 0.0f ? 0 : (int)(alpha * 256.0f + 0.5f);
    for (int y = 0; y < c->height; y++) {
        int my = (int)((int64_t)y * mask_h / c->height);
        const uint8_t *mrow = mask + (size_t)my * mask_w;
        uint8_t *p = c->rgb + (size_t)y * c->width * 3;
        for (int x = 0; x < c->width; x++, p += 3) {
            int mx = mask_w == c->width ? x : (int)((int64_t)x * mask_w / c->width);
            if (!mrow[mx]) continue;
            p[0] = (uint8_t)((p[0] * (256 - a) + color.r * a) >> 8);
            p[1] = (uint8_t)((p[1] * (256 - a) + color.g * a) >> 8);
            p[2] = (uint8_t)((p[2] * (256 - a) + color.b * a) >> 8);
        }
    }
}

vd_draw_style vd_draw_style_for(int width, int height) {
    /* 2 px lines and 14 px text at 640x640; the geometric mean of the sides, capped for very
     * thin images so that a label still fits their short side */
    float s = (float)(width < height ? width : height);
    float ref = sqrtf((float)width * (float)height);
    if (ref > 4.0f * s) ref = 4.0f * s;
    vd_draw_style st;
    st.line_width = (int)floorf(ref / 320.0f + 0.5f);
    if (st.line_width < 1) st.line_width = 1;
    st.font_px = ref / 45.0f;
    if (st.font_px < 10.0f) st.font_px = 10.0f;
    if (st.font_px > 96.0f) st.font_px = 96.0f;
    st.mask_alpha = 0.45f;
    return st;
}

void vd_draw_label_position(const vd_canvas *c, const float box[4], int w, int h, int *x, int *y) {
    int bx0 = to_pixel(box[0] < box[2] ? box[0] : box[2]);
    int by0 = to_pixel(box[1] < box[3] ? box[1] : box[3]);
    int lx = bx0, ly = by0 - h;
    if (ly < 0) ly = by0;               /* no room above: flip below the top edge */
    if (lx + w > c->width) lx = c->width - w;
    if (ly + h > c->height) ly = c->height - h;
    if (lx < 0) lx = 0;
    if (ly < 0) ly = 0;
    *x = lx;
    *y = ly;
}

void vd_draw_label(vd_canvas *c, const vd_font *font, float px, const char *text,
                   const float box[4], vd_color bg) {
    vd_text_metrics m = vd_font_measure(font, px, text);
    int pad = (int)(px * 0.2f + 0.5f);
    if (pad < 1) pad = 1;
    int w = m.width + 2 * pad, h = m.height + pad;
    int x, y;
    vd_draw_label_position(c, box, w, h, &x, &y);
    vd_draw_fill(c, x, y, x + w, y + h, bg, 1.0f);
    vd_font_draw(font, px, text, c, x + pad, y + pad / 2, vd_draw_text_color(bg));
}

static void label_text(const vkdetr_detection *d, char *text, size_t size) {
    if (d->label && d->label[0])
        snprintf(text, size, "%s %.2f", d->label, d->score);
    else
        snprintf(text, size, "%d %.2f", d->class_id, d->score);
}

void vd_draw_detection(vd_canvas *c, const vd_font *font, const vd_draw_style *style,
                       const vkdetr_detection *d) {
    vd_draw_detections(c, font, style, d, 1);
}

void vd_draw_detections(vd_canvas *c, const vd_font *font, const vd_draw_style *style,
                        const vkdetr_detection *d, int n) {
    for (int i = n - 1; i >= 0; i--)
        if (d[i].mask.data)
            vd_draw_mask(c, d[i].mask.data, d[i].mask.width, d[i].mask.height,
                         vd_draw_palette(d[i].class_id), style->mask_alpha);
    for (int i = n - 1; i >= 0; i--)
        vd_draw_box(c, d[i].box, style->line_width, vd_draw_palette(d[i].class_id));
    if (!font) return;
    for (int i = n - 1; i >= 0; i--) {
        char text[160];
        label_text(&d[i], text, sizeof text);
        vd_draw_label(c, font, style->font_px, text, d[i].box, vd_draw_palette(d[i].class_id));
    }
}
