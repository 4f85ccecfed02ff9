/* Drawing detections on RGB8 images: box outlines, filled label plates with text, and
 * alpha-blended instance masks. Everything is clipped to the canvas; coordinates may lie
 * anywhere (boxes from the library are not clipped to the image). */
#ifndef VD_APP_DRAW_H
#define VD_APP_DRAW_H

#include "font.h"
#include "vkdetr.h"

/* A fixed palette indexed by class id (stable across runs and images); any id is valid. */
vd_color vd_draw_palette(int class_id);

/* Black or white, whichever reads better on background bg. */
vd_color vd_draw_text_color(vd_color bg);

/* Fills the pixels [x0, x1) x [y0, y1) blending color with weight alpha (0..1). */
void vd_draw_fill(vd_canvas *c, int x0, int y0, int x1, int y1, vd_color color, float alpha);

/* Outlines the box (x0, y0, x1, y1) in pixel coordinates (library convention) with a line
 * `thickness` pixels wide, drawn inside the box edge. */
void vd_draw_box(vd_canvas *c, const float box[4], int thickness, vd_color color);

/* Blends color over the pixels where mask (mask_w x mask_h bytes, nonzero = inside) is set.
 * The mask is scaled (nearest) when its size differs from the canvas. */
void vd_draw_mask(vd_canvas *c, const uint8_t *mask, int mask_w, int mask_h, vd_color color,
                  float alpha);

/* Sizes that scale with the image: line width and font pixel height. */
typedef struct vd_draw_style {
    int line_width;
    float font_px;
    float mask_alpha;
} vd_draw_style;

vd_draw_style vd_draw_style_for(int width, int height);

/* Where a label plate of size (w, h) goes for a box: above the box's top-left corner when
 * there is room, else just below the top edge inside the box; shifted left/up to stay in the
 * canvas. Writes the top-left corner. */
void vd_draw_label_position(const vd_canvas *c, const float box[4], int w, int h, int *x, int *y);

/* Draws a label plate (filled with bg, text in the contrasting color) for box. */
void vd_draw_label(vd_canvas *c, const vd_font *font, float px, const char *text,
                   const float box[4], vd_color bg);

/* Draws one detection: mask (when present), box, and "label score" plate (the class id when
 * the label is NULL; no plate when font is NULL). */
void vd_draw_detection(vd_canvas *c, const vd_font *font, const vd_draw_style *style,
                       const vkdetr_detection *d);

/* Draws n detections (best first, as in results) in three passes, so that no mask covers a
 * box or label: all masks, then all boxes, then all labels, each pass from the last detection
 * to the first so that the best ends on top. */
void vd_draw_detections(vd_canvas *c, const vd_font *font, const vd_draw_style *style,
                        const vkdetr_detection *d, int n);

#endif
