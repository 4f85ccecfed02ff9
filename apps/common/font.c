#include "font.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define STBTT_STATIC
#define STB_TRUETYPE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#endif
#include "stb_truetype.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

struct vd_font {
    stbtt_fontinfo info;
    int ascent, descent, line_gap; /* font units */
};

vkdetr_status vd_font_load_memory(const void *ttf, size_t size, vd_font **out) {
    *out = NULL;
    if (!ttf || size < 12 || size > (size_t)1 << 30)
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "font: no data");
    const unsigned char *data = ttf;
    int offset = stbtt_GetFontOffsetForIndex(data, 0);
    if (offset < 0) return vd_app_error(VKDETR_ERR_FORMAT, "font: not a TrueType font");
    vd_font *f = calloc(1, sizeof *f);
    if (!f) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    if (!stbtt_InitFont(&f->info, data, offset)) {
        free(f);
        return vd_app_error(VKDETR_ERR_FORMAT, "font: cannot read the font tables");
    }
    stbtt_GetFontVMetrics(&f->info, &f->ascent, &f->descent, &f->line_gap);
    *out = f;
    return VKDETR_OK;
}

vkdetr_status vd_font_load_default(vd_font **out) {
    return vd_font_load_memory(vd_font_dejavu_sans, vd_font_dejavu_sans_size, out);
}

void vd_font_free(vd_font *font) { free(font); }

/* Decodes one UTF-8 code point; invalid bytes decode as U+FFFD and advance by one. */
static int next_codepoint(const char **s) {
    const unsigned char *p = (const unsigned char *)*s;
    int c = p[0], n = 0, cp;
    if (c < 0x80) {
        *s += 1;
        return c;
    }
    if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07;
    else {
        *s += 1;
        return 0xFFFD;
    }
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *s += 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    *s += n + 1;
    return cp;
}

vd_text_metrics vd_font_measure(const vd_font *font, float px, const char *utf8) {
    vd_text_metrics m = {0, 0, 0};
    float scale = stbtt_ScaleForPixelHeight(&font->info, px);
    m.ascent = (int)ceilf(font->ascent * scale);
    m.height = m.ascent + (int)ceilf(-font->descent * scale);
    float x = 0;
    int prev = -1;
    for (const char *s = utf8; *s;) {
        int cp = next_codepoint(&s);
        int glyph = stbtt_FindGlyphIndex(&font->info, cp);
        int adv, lsb;
        stbtt_GetGlyphHMetrics(&font->info, glyph, &adv, &lsb);
        if (prev >= 0) x += scale * stbtt_GetGlyphKernAdvance(&font->info, prev, glyph);
        x += scale * adv;
        prev = glyph;
    }
    m.width = (int)ceilf(x);
    return m;
}

static void blend_glyph(vd_canvas *c, const unsigned char *bm, int w, int h, int x0, int y0,
                        vd_color col) {
    for (int j = 0; j < h; j++) {
        int y = y0 + j;
        if (y < 0 || y >= c->height) continue;
        for (int i = 0; i < w; i++) {
            int x = x0 + i, a = bm[j * w + i];
            if (x < 0 || x >= c->width || a == 0) continue;
            uint8_t *p = c->rgb + ((size_t)y * c->width + x) * 3;
            p[0] = (uint8_t)((p[0] * (255 - a) + col.r * a + 127) / 255);
            p[1] = (uint8_t)((p[1] * (255 - a) + col.g * a + 127) / 255);
            p[2] = (uint8_t)((p[2] * (255 - a) + col.b * a + 127) / 255);
        }
    }
}

void vd_font_draw(const vd_font *font, float px, const char *utf8, vd_canvas *canvas, int x,
                  int y, vd_color color) {
    float scale = stbtt_ScaleForPixelHeight(&font->info, px);
    int baseline = y + (int)ceilf(font->ascent * scale);
    float pen = (float)x;
    int prev = -1;
    for (const char *s = utf8; *s;) {
        int cp = next_codepoint(&s);
        int glyph = stbtt_FindGlyphIndex(&font->info, cp);
        int adv, lsb;
        stbtt_GetGlyphHMetrics(&font->info, glyph, &adv, &lsb);
        if (prev >= 0) pen += scale * stbtt_GetGlyphKernAdvance(&font->info, prev, glyph);
        prev = glyph;
        float shift = pen - floorf(pen);
        int w, h, xoff, yoff;
        unsigned char *bm = stbtt_GetGlyphBitmapSubpixel(&font->info, scale, scale, shift, 0,
                                                         glyph, &w, &h, &xoff, &yoff);
        if (bm) {
            blend_glyph(canvas, bm, w, h, (int)floorf(pen) + xoff, baseline + yoff, color);
            stbtt_FreeBitmap(bm, NULL);
        }
        pen += scale * adv;
    }
}
