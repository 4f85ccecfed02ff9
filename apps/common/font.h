/* Text rendering with stb_truetype, for labels on annotated images. The default font is DejaVu
 * Sans (Latin-1 subset, assets/fonts/) embedded into the binary at build time, so the apps
 * need no font file at run time. Text is UTF-8; characters the font lacks render as the
 * font's missing-glyph box. */
#ifndef VD_APP_FONT_H
#define VD_APP_FONT_H

#include <stddef.h>
#include <stdint.h>

#include "vkdetr.h"

typedef struct vd_font vd_font;

/* An RGB8 image to draw on (rows top to bottom, stride width * 3). Borrowed. */
typedef struct vd_canvas {
    uint8_t *rgb;
    int width;
    int height;
} vd_canvas;

typedef struct vd_color {
    uint8_t r, g, b;
} vd_color;

/* The embedded DejaVu Sans. On success *out is owned by the caller (vd_font_free). */
vkdetr_status vd_font_load_default(vd_font **out);

/* A TrueType font from memory; the data is borrowed and must outlive the font. */
vkdetr_status vd_font_load_memory(const void *ttf, size_t size, vd_font **out);

/* Accepts NULL. */
void vd_font_free(vd_font *font);

/* Vertical metrics at pixel height px (the font's ascent - descent): the ascent above the
 * baseline and the line height, in pixels (rounded up). */
typedef struct vd_text_metrics {
    int width;   /* advance width of the text */
    int ascent;  /* baseline below the top of the line */
    int height;  /* ascent + descent */
} vd_text_metrics;

vd_text_metrics vd_font_measure(const vd_font *font, float px, const char *utf8);

/* Draws text with its line's top-left corner at (x, y), blending glyph coverage over the
 * canvas in color. Pixels outside the canvas are skipped. */
void vd_font_draw(const vd_font *font, float px, const char *utf8, vd_canvas *canvas, int x,
                  int y, vd_color color);

/* The embedded font file (generated at build time from assets/fonts/). */
extern const unsigned char vd_font_dejavu_sans[];
extern const size_t vd_font_dejavu_sans_size;

#endif
