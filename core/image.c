/* Image decoding (stb_image for JPEG, PNG, BMP, GIF, TGA; our own PNM reader), the fix-ups
 * that make the result equal PIL's Image.open(...).convert("RGB"), EXIF orientation, and
 * conversion of caller pixels. See image.h for the rules. */
#include "image.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base.h"

#ifdef VKDETR_HAVE_LIBJPEG
#include <setjmp.h>
/* jpeglib.h needs size_t and FILE first */
#include <jerror.h>
#include <jpeglib.h>
#endif

/* stb_image: only the formats we claim, allocation through our hooks (so tests can fail it),
 * no stdio (we read files ourselves), no assert() on hostile input, private symbols. */
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_GIF
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ASSERT(x) ((void)0)
#define STBI_MALLOC(sz) stb_malloc(sz)
#define STBI_REALLOC(p, newsz) stb_realloc(p, newsz)
#define STBI_FREE(p) vd_free(p)

/* stb reports a failed allocation as just another failure (and stbi_info moves on to the
 * next format), so remember it to return VKDETR_ERR_NO_MEMORY. */
static _Thread_local int stb_oom;

static void *stb_malloc(size_t size) {
    void *p = vd_malloc(size);
    if (!p) stb_oom = 1;
    return p;
}

static void *stb_realloc(void *ptr, size_t size) {
    void *p = vd_realloc(ptr, size);
    if (!p) stb_oom = 1;
    return p;
}

#if defined(__GNUC__) /* stb declares static functions we do not use; checked at file end */
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb_image.h>

/* ---- small helpers --------------------------------------------------------------------- */

static const char *display_name(const char *name) { return name ? name : "<memory>"; }

static int64_t pixel_count(int w, int h) { return (int64_t)w * (int64_t)h; }

static vkdetr_status check_size(const char *name, int w, int h, int64_t max_pixels) {
    if (w <= 0 || h <= 0)
        return vd_error(VKDETR_ERR_FORMAT, "%s: invalid image size %dx%d", name, w, h);
    if (pixel_count(w, h) > max_pixels)
        return vd_error(VKDETR_ERR_UNSUPPORTED,
                        "%s: image is %dx%d = %lld pixels, more than the limit of %lld", name, w,
                        h, (long long)pixel_count(w, h), (long long)max_pixels);
    return VKDETR_OK;
}

vd_image_decode_params vd_image_decode_default_params(void) {
    vd_image_decode_params p = {VD_IMAGE_MAX_PIXELS_DEFAULT, 1};
    return p;
}

vkdetr_status vd_image_alloc(int width, int height, vd_image *out) {
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_image_alloc: out is NULL");
    memset(out, 0, sizeof *out);
    vkdetr_status st = check_size("image", width, height, VD_IMAGE_MAX_PIXELS_DEFAULT);
    if (st != VKDETR_OK) return st;
    out->rgb = vd_malloc((size_t)pixel_count(width, height) * 3);
    if (!out->rgb)
        return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory for a %dx%d image", width, height);
    out->width = width;
    out->height = height;
    return VKDETR_OK;
}

void vd_image_free(vd_image *img) {
    if (!img) return;
    vd_free(img->rgb);
    memset(img, 0, sizeof *img);
}

/* ---- completeness checks: stb fills missing data with zeros, PIL says "truncated" ------- */

/* Walks the JPEG segments and entropy-coded data up to EOI; 0 when the data ends first. */
static int jpeg_complete(const uint8_t *d, size_t n) {
    size_t pos = 2;
    while (pos + 1 < n) {
        if (d[pos] != 0xFF) {
            pos++;
            continue;
        }
        uint8_t m = d[pos + 1];
        if (m == 0xD9) return 1;
        if (m == 0xFF || m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
            pos += m == 0xFF ? 1 : 2;
            continue;
        }
        if (pos + 4 > n) return 0;
        size_t len = (size_t)d[pos + 2] << 8 | d[pos + 3];
        if (len < 2) return 0;
        pos += 2 + len;
        if (m == 0xDA) { /* skip entropy-coded data: 0xFF is followed by 0x00 or RSTn there */
            while (pos + 1 < n && !(d[pos] == 0xFF && d[pos + 1] != 0x00 &&
                                    !(d[pos + 1] >= 0xD0 && d[pos + 1] <= 0xD7)))
                pos++;
        }
    }
    return 0;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Uncompressed BMP: the pixel array must fit in the file. Other compressions: not checked. */
static int bmp_complete(const uint8_t *d, size_t n) {
    if (n < 30) return 0;
    uint32_t offset = le32(d + 10), hsize = le32(d + 14);
    int64_t w, h;
    uint32_t bpp, comp = 0;
    if (hsize == 12) {
        w = d[18] | d[19] << 8;
        h = d[20] | d[21] << 8;
        bpp = d[24] | (uint32_t)d[25] << 8;
    } else {
        if (n < 34) return 0;
        w = (int32_t)le32(d + 18);
        h = (int32_t)le32(d + 22);
        bpp = d[28] | (uint32_t)d[29] << 8;
        comp = le32(d + 30);
    }
    if (comp != 0 && comp != 3 && comp != 6) return 1;
    if (h < 0) h = -h;
    uint64_t row = (((uint64_t)(w < 0 ? -w : w) * bpp + 31) / 32) * 4;
    return (uint64_t)offset + row * (uint64_t)h <= n;
}

/* TGA: header, id, colour map and pixels must fit; RLE packets (types 9-11) are walked
 * until they cover every pixel. */
static int tga_complete(const uint8_t *d, size_t n) {
    if (n < 18) return 0;
    int type = d[2];
    uint64_t bpp = (d[16] + 7) / 8;
    uint64_t cmap = d[1] ? (uint64_t)(d[5] | d[6] << 8) * ((d[7] + 7) / 8) : 0;
    uint64_t pixels = (uint64_t)(d[12] | d[13] << 8) * (uint64_t)(d[14] | d[15] << 8);
    uint64_t pos = 18 + (uint64_t)d[0] + cmap;
    if (type == 1 || type == 2 || type == 3) return pos + pixels * bpp <= n;
    if (type != 9 && type != 10 && type != 11) return 1;
    for (uint64_t done = 0; done < pixels;) {
        if (pos >= n) return 0;
        uint8_t h = d[pos++];
        uint64_t count = (uint64_t)(h & 0x7F) + 1;
        pos += (h & 0x80) ? bpp : count * bpp;
        done += count;
    }
    return pos <= n;
}

/* ---- GIF: PIL's first frame is a "P" image; stb leaves transparent pixels black -------- */

typedef struct gif_frame {
    int x, y, w, h;          /* first frame's rectangle in the logical screen */
    int transparent;         /* index, or -1 */
    const uint8_t *palette;  /* the frame's colour table (local, else global), RGB */
    int palette_len;         /* entries */
} gif_frame;

static int gif_first_frame(const uint8_t *d, size_t n, gif_frame *f) {
    if (n < 13) return 0;
    size_t pos = 13;
    const uint8_t *global = NULL;
    int global_len = 0;
    if (d[10] & 0x80) {
        global_len = 2 << (d[10] & 7);
        global = d + pos;
        pos += (size_t)global_len * 3;
        if (pos > n) return 0;
    }
    f->transparent = -1;
    while (pos < n) {
        uint8_t tag = d[pos++];
        if (tag == 0x21) { /* extension: label, then sub-blocks */
            if (pos >= n) return 0;
            uint8_t label = d[pos++];
            if (label == 0xF9 && pos + 5 <= n && d[pos] == 4)
                f->transparent = (d[pos + 1] & 1) ? d[pos + 4] : -1;
            while (pos < n && d[pos] != 0) pos += 1 + (size_t)d[pos];
            pos++;
        } else if (tag == 0x2C) {
            if (pos + 9 > n) return 0;
            f->x = d[pos] | d[pos + 1] << 8;
            f->y = d[pos + 2] | d[pos + 3] << 8;
            f->w = d[pos + 4] | d[pos + 5] << 8;
            f->h = d[pos + 6] | d[pos + 7] << 8;
            uint8_t flags = d[pos + 8];
            pos += 9;
            f->palette = global;
            f->palette_len = global_len;
            if (flags & 0x80) {
                f->palette_len = 2 << (flags & 7);
                f->palette = d + pos;
                pos += (size_t)f->palette_len * 3;
            }
            /* LZW minimum code size, then data sub-blocks up to a zero length (PIL says
             * "truncated" when they run past the end) */
            pos++;
            while (pos < n && d[pos] != 0) pos += 1 + (size_t)d[pos];
            return f->palette != NULL && pos < n;
        } else {
            return 0;
        }
    }
    return 0;
}

/* rgba: (h, w, 4) from stb -> rgb: (h, w, 3) with PIL's colours. */
static void gif_to_rgb(const uint8_t *rgba, int w, int h, const gif_frame *f, uint8_t *rgb) {
    uint8_t fill[3] = {0, 0, 0}, trans[3] = {0, 0, 0};
    int fill_index = f->transparent >= 0 ? f->transparent : 0;
    if (fill_index < f->palette_len) memcpy(fill, f->palette + fill_index * 3, 3);
    if (f->transparent >= 0 && f->transparent < f->palette_len)
        memcpy(trans, f->palette + f->transparent * 3, 3);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const uint8_t *s = rgba + ((size_t)y * w + x) * 4;
            uint8_t *o = rgb + ((size_t)y * w + x) * 3;
            int inside = x >= f->x && x < f->x + f->w && y >= f->y && y < f->y + f->h;
            if (!inside) memcpy(o, fill, 3);
            else if (s[3] == 0) memcpy(o, trans, 3);
            else memcpy(o, s, 3);
        }
    }
}

/* ---- PNM (P4, P5, P6) as Pillow's PpmImagePlugin ------------------------------------- */

static int pnm_space(uint8_t c) { return c == ' ' || (c >= 0x09 && c <= 0x0d); }

/* One header token (PIL's _read_token): skips whitespace and # comments, consumes the
 * whitespace that ends it. Returns the value, or -1. */
static int64_t pnm_token(const uint8_t *d, size_t n, size_t *pos) {
    char tok[12];
    int len = 0;
    while (len <= 10) {
        if (*pos >= n) break;
        uint8_t c = d[(*pos)++];
        if (pnm_space(c)) {
            if (len == 0) continue;
            break;
        }
        if (c == '#') {
            while (*pos < n && d[*pos] != '\r' && d[*pos] != '\n') (*pos)++;
            if (*pos < n) (*pos)++;
            continue;
        }
        tok[len++] = (char)c;
    }
    if (len == 0 || len > 10) return -1;
    int64_t v = 0;
    for (int i = 0; i < len; i++) {
        if (tok[i] < '0' || tok[i] > '9') return -1;
        v = v * 10 + (tok[i] - '0');
    }
    return v;
}

/* PIL: value = min(out_max, round(v / maxval * out_max)), Python round = half to even. */
static int pnm_scale(uint32_t v, uint32_t maxval, double out_max) {
    double r = nearbyint((double)v / (double)maxval * out_max);
    return r > out_max ? (int)out_max : (int)r;
}

static vkdetr_status decode_pnm(const uint8_t *d, size_t n, const char *name, int64_t max_pixels,
                                vd_image *out) {
    char kind = (char)d[1];
    size_t pos = 3;
    int64_t w = pnm_token(d, n, &pos), h = pnm_token(d, n, &pos), maxval = 1;
    if (w < 0 || h < 0) return vd_error(VKDETR_ERR_FORMAT, "%s: bad PNM header", name);
    if (w > INT_MAX || h > INT_MAX) w = h = INT_MAX;
    vkdetr_status st = check_size(name, (int)w, (int)h, max_pixels);
    if (st != VKDETR_OK) return st;
    if (kind != '4') {
        maxval = pnm_token(d, n, &pos);
        if (maxval <= 0 || maxval >= 65536)
            return vd_error(VKDETR_ERR_FORMAT, "%s: bad PNM maxval", name);
    }
    int ch = kind == '6' ? 3 : 1, bytes = maxval > 255 ? 2 : 1;
    uint64_t need = kind == '4' ? (uint64_t)((w + 7) / 8) * h : (uint64_t)w * h * ch * bytes;
    if (pos > n || need > n - pos)
        return vd_error(VKDETR_ERR_FORMAT, "%s: PNM data is truncated", name);
    st = vd_image_alloc((int)w, (int)h, out);
    if (st != VKDETR_OK) return st;
    const uint8_t *p = d + pos;
    /* 16-bit gray becomes PIL mode "I" (0..65535), then clips to 255 in convert("RGB") */
    double out_max = (kind == '5' && maxval > 255) ? 65535.0 : 255.0;
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++) {
            uint8_t *o = out->rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
            if (kind == '4') {
                int bit = (p[y * ((w + 7) / 8) + x / 8] >> (7 - x % 8)) & 1;
                o[0] = o[1] = o[2] = bit ? 0 : 255;
                continue;
            }
            for (int c = 0; c < ch; c++) {
                const uint8_t *s = p + ((size_t)(y * w + x) * ch + c) * bytes;
                uint32_t v = bytes == 2 ? (uint32_t)s[0] << 8 | s[1] : s[0];
                int r = maxval == 255 ? (int)v : pnm_scale(v, (uint32_t)maxval, out_max);
                o[c] = (uint8_t)(r > 255 ? 255 : r);
            }
            if (ch == 1) o[1] = o[2] = o[0];
        }
    }
    return VKDETR_OK;
}

/* ---- sizes from the headers, to refuse huge images before any decoder runs ------------ */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Declared width and height of a PNG, GIF, BMP or JPEG; 0 when unknown (then the decoder's
 * own header reader is the check). */
static int header_size(const uint8_t *d, size_t n, int64_t *w, int64_t *h) {
    if (n >= 24 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(d + 12, "IHDR", 4) == 0) {
        *w = be32(d + 16);
        *h = be32(d + 20);
        return 1;
    }
    if (n >= 10 && memcmp(d, "GIF8", 4) == 0) {
        *w = d[6] | d[7] << 8;
        *h = d[8] | d[9] << 8;
        return 1;
    }
    if (n >= 26 && d[0] == 'B' && d[1] == 'M' && le32(d + 14) >= 40) {
        *w = (int32_t)le32(d + 18);
        *h = (int32_t)le32(d + 22);
        if (*h < 0) *h = -*h;
        return 1;
    }
    if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8) { /* segments up to the first SOFn */
        size_t pos = 2;
        while (pos + 9 < n) {
            if (d[pos] != 0xFF) {
                pos++;
                continue;
            }
            uint8_t m = d[pos + 1];
            if (m == 0xFF || (m >= 0xD0 && m <= 0xD8) || m == 0x01) {
                pos += m == 0xFF ? 1 : 2;
                continue;
            }
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
                *h = d[pos + 5] << 8 | d[pos + 6];
                *w = d[pos + 7] << 8 | d[pos + 8];
                return 1;
            }
            if (m == 0xDA || m == 0xD9) return 0;
            pos += 2 + (size_t)(d[pos + 2] << 8 | d[pos + 3]);
        }
    }
    return 0;
}

/* ---- JPEG through libjpeg-turbo (the decoder PIL uses: bit-identical output) --------- */

#ifdef VKDETR_HAVE_LIBJPEG
typedef struct jpeg_fail {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void jpeg_fail_exit(j_common_ptr c) {
    jpeg_fail *e = (jpeg_fail *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr c) { (void)c; } /* warnings: PIL ignores them too */

/* PIL opens 4-component JPEGs as "CMYK;I" (inverted, Adobe convention) and converts with
 * cmyk2rgb: nk = 255 - k, out = nk - nk * c / 255 (MULDIV255 rounding). */
static uint8_t cmyk_channel(int raw_c, int raw_k) {
    int c = 255 - raw_c, nk = raw_k; /* nk = 255 - (255 - raw k) */
    int t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static vkdetr_status decode_libjpeg(const uint8_t *d, size_t n, const char *name, vd_image *out) {
    struct jpeg_decompress_struct c;
    jpeg_fail e;
    uint8_t *volatile row4 = NULL;
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_fail_exit;
    e.pub.output_message = jpeg_quiet;
    if (setjmp(e.jump)) {
        int oom = e.pub.msg_code == JERR_OUT_OF_MEMORY;
        jpeg_destroy_decompress(&c);
        vd_free(row4);
        vd_image_free(out);
        return vd_error(oom ? VKDETR_ERR_NO_MEMORY : VKDETR_ERR_FORMAT, "%s: corrupt JPEG (%s)",
                        name, e.msg);
    }
    jpeg_create_decompress(&c);
    jpeg_mem_src(&c, d, (unsigned long)n);
    jpeg_read_header(&c, TRUE);
    int comps = c.num_components;
    if (comps != 1 && comps != 3 && comps != 4) {
        jpeg_destroy_decompress(&c);
        return vd_error(VKDETR_ERR_UNSUPPORTED, "%s: JPEG with %d components", name, comps);
    }
    c.out_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_start_decompress(&c);
    int w = (int)c.output_width, h = (int)c.output_height;
    vkdetr_status st = vd_image_alloc(w, h, out);
    if (st == VKDETR_OK && comps == 4 && !(row4 = vd_malloc((size_t)w * 4)))
        st = vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", name);
    if (st != VKDETR_OK) {
        jpeg_destroy_decompress(&c);
        vd_image_free(out);
        return st;
    }
    while (c.output_scanline < c.output_height) {
        uint8_t *o = out->rgb + (size_t)c.output_scanline * w * 3;
        JSAMPROW row = comps == 4 ? row4 : o;
        jpeg_read_scanlines(&c, &row, 1);
        if (comps == 1) { /* replicate in place, from the end */
            for (int x = w - 1; x >= 0; x--) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = o[x];
        } else if (comps == 4) {
            for (int x = 0; x < w; x++)
                for (int k = 0; k < 3; k++) o[3 * x + k] = cmyk_channel(row4[4 * x + k], row4[4 * x + 3]);
        }
    }
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
    vd_free(row4);
    return VKDETR_OK;
}
#endif

const char *vd_image_jpeg_decoder(void) {
#ifdef VKDETR_HAVE_LIBJPEG
    return "libjpeg-turbo";
#else
    return "stb_image";
#endif
}

/* ---- stb_image formats ---------------------------------------------------------------- */

static int is_png(const uint8_t *d, size_t n) {
    return n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0;
}

static int is_png_gray16(const uint8_t *d, size_t n) {
    return is_png(d, n) && n >= 26 && memcmp(d + 12, "IHDR", 4) == 0 && d[24] == 16 && d[25] == 0;
}

static vkdetr_status truncated_or_corrupt(const char *name) {
    if (stb_oom) return vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory decoding the image", name);
    const char *why = stbi_failure_reason();
    return vd_error(VKDETR_ERR_FORMAT, "%s: corrupt or truncated image (%s)", name,
                    why ? why : "unknown");
}

static vkdetr_status decode_stb(const uint8_t *d, size_t n, const char *name, int64_t max_pixels,
                                vd_image *out) {
    int w, h, comp;
    if (n > INT_MAX)
        return vd_error(VKDETR_ERR_UNSUPPORTED, "%s: file larger than 2 GiB", name);
    stb_oom = 0;
    if (!stbi_info_from_memory(d, (int)n, &w, &h, &comp)) {
        if (stb_oom) return vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory reading the header", name);
        const char *why = stbi_failure_reason();
        if (why && strcmp(why, "too large") == 0)
            return vd_error(VKDETR_ERR_UNSUPPORTED, "%s: image too large for the decoder", name);
        return vd_error(VKDETR_ERR_FORMAT, "%s: not a supported image (%s)", name,
                        why ? why : "unknown format");
    }
    vkdetr_status st = check_size(name, w, h, max_pixels);
    if (st != VKDETR_OK) return st;
    int is_jpeg = n >= 2 && d[0] == 0xFF && d[1] == 0xD8;
    int is_bmp = n >= 2 && d[0] == 'B' && d[1] == 'M';
    int is_gif = n >= 6 && memcmp(d, "GIF8", 4) == 0;
    if ((is_jpeg && !jpeg_complete(d, n)) || (is_bmp && !bmp_complete(d, n)) ||
        (!is_jpeg && !is_bmp && !is_gif && !is_png(d, n) && !tga_complete(d, n)))
        return vd_error(VKDETR_ERR_FORMAT, "%s: image data is truncated", name);

    int lw, lh, lc;
    stb_oom = 0;
    if (is_png_gray16(d, n)) { /* PIL "I;16" -> RGB clips to 255 */
        stbi_us *g = stbi_load_16_from_memory(d, (int)n, &lw, &lh, &lc, 1);
        if (!g) return truncated_or_corrupt(name);
        st = vd_image_alloc(lw, lh, out);
        if (st == VKDETR_OK) {
            for (size_t i = 0; i < (size_t)lw * lh; i++)
                out->rgb[i * 3] = out->rgb[i * 3 + 1] = out->rgb[i * 3 + 2] =
                    (uint8_t)(g[i] > 255 ? 255 : g[i]);
        }
        stbi_image_free(g);
        return st;
    }
    if (is_gif) {
        gif_frame f;
        if (!gif_first_frame(d, n, &f))
            return vd_error(VKDETR_ERR_FORMAT, "%s: corrupt or truncated GIF", name);
        stbi_uc *rgba = stbi_load_from_memory(d, (int)n, &lw, &lh, &lc, 4);
        if (!rgba) return truncated_or_corrupt(name);
        st = vd_image_alloc(lw, lh, out);
        if (st == VKDETR_OK) gif_to_rgb(rgba, lw, lh, &f, out->rgb);
        stbi_image_free(rgba);
        return st;
    }
    stbi_uc *rgb = stbi_load_from_memory(d, (int)n, &lw, &lh, &lc, 3);
    if (!rgb) return truncated_or_corrupt(name);
    out->rgb = rgb; /* allocated through vd_malloc (STBI_MALLOC) */
    out->width = lw;
    out->height = lh;
    return VKDETR_OK;
}

/* ---- entry points ---------------------------------------------------------------------- */

vkdetr_status vd_image_decode_memory_ex(const void *data, size_t size, const char *name,
                                        const vd_image_decode_params *params, vd_image *out) {
    name = display_name(name);
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "%s: out is NULL", name);
    memset(out, 0, sizeof *out);
    if (!data && size) return vd_error(VKDETR_ERR_INVALID_ARG, "%s: data is NULL", name);
    vd_image_decode_params p = params ? *params : vd_image_decode_default_params();
    if (size == 0) return vd_error(VKDETR_ERR_FORMAT, "%s: empty file", name);
    const uint8_t *d = data;
    vkdetr_status st;
    if (size >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6' && pnm_space(d[2])) {
        if (d[1] <= '3')
            return vd_error(VKDETR_ERR_UNSUPPORTED, "%s: plain (ASCII) PNM is not supported",
                            name);
        st = decode_pnm(d, size, name, p.max_pixels, out);
    } else {
        int64_t w, h;
        int is_jpeg = size >= 2 && d[0] == 0xFF && d[1] == 0xD8;
        if (header_size(d, size, &w, &h) &&
            (st = check_size(name, (int)VD_MIN(w, INT_MAX), (int)VD_MIN(h, INT_MAX), p.max_pixels)) != VKDETR_OK)
            return st;
        if (is_jpeg && !jpeg_complete(d, size))
            return vd_error(VKDETR_ERR_FORMAT, "%s: image data is truncated", name);
#ifdef VKDETR_HAVE_LIBJPEG
        if (is_jpeg) st = decode_libjpeg(d, size, name, out);
        else
#endif
            st = decode_stb(d, size, name, p.max_pixels, out);
    }
    if (st == VKDETR_OK && p.exif_orientation)
        st = vd_image_orient(out, vd_image_exif_orientation(d, size));
    if (st != VKDETR_OK) vd_image_free(out);
    return st;
}

vkdetr_status vd_image_decode_memory(const void *data, size_t size, vd_image *out) {
    return vd_image_decode_memory_ex(data, size, NULL, NULL, out);
}

/* Reads a whole file (regular or not) into vd_malloc'd memory. */
static vkdetr_status read_file(const char *path, uint8_t **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return vd_error(VKDETR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 0, len = 0;
    uint8_t *buf = NULL;
    vkdetr_status st = VKDETR_OK;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = ncap > cap ? vd_realloc(buf, ncap) : NULL;
            if (!nb) {
                st = vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory reading the file", path);
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                st = vd_error(VKDETR_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    *data = buf;
    *size = len;
    return VKDETR_OK;
fail:
    fclose(f);
    vd_free(buf);
    return st;
}

vkdetr_status vd_image_decode_file_ex(const char *path, const vd_image_decode_params *params,
                                      vd_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_image_decode_file: NULL argument");
    uint8_t *data;
    size_t size;
    vkdetr_status st = read_file(path, &data, &size);
    if (st != VKDETR_OK) return st;
    st = vd_image_decode_memory_ex(data, size, path, params, out);
    vd_free(data);
    return st;
}

vkdetr_status vd_image_decode_file(const char *path, vd_image *out) {
    return vd_image_decode_file_ex(path, NULL, out);
}

/* ---- orientation ----------------------------------------------------------------------- */

vkdetr_status vd_image_orient(vd_image *img, int orientation) {
    if (!img || !img->rgb) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_image_orient: no image");
    if (orientation < 2 || orientation > 8) return VKDETR_OK;
    int w = img->width, h = img->height;
    int swap = orientation >= 5; /* 5-8 exchange width and height */
    vd_image o;
    vkdetr_status st = vd_image_alloc(swap ? h : w, swap ? w : h, &o);
    if (st != VKDETR_OK) return st;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int ox, oy; /* where PIL's transpose puts source pixel (x, y) */
            switch (orientation) {
            case 2: ox = w - 1 - x; oy = y; break;          /* FLIP_LEFT_RIGHT */
            case 3: ox = w - 1 - x; oy = h - 1 - y; break;  /* ROTATE_180 */
            case 4: ox = x; oy = h - 1 - y; break;          /* FLIP_TOP_BOTTOM */
            case 5: ox = y; oy = x; break;                  /* TRANSPOSE */
            case 6: ox = h - 1 - y; oy = x; break;          /* ROTATE_270 (90 clockwise) */
            case 7: ox = h - 1 - y; oy = w - 1 - x; break;  /* TRANSVERSE */
            default: ox = y; oy = w - 1 - x; break;         /* 8: ROTATE_90 */
            }
            memcpy(o.rgb + ((size_t)oy * o.width + ox) * 3, img->rgb + ((size_t)y * w + x) * 3, 3);
        }
    }
    vd_image_free(img);
    *img = o;
    return VKDETR_OK;
}

/* ---- caller pixels --------------------------------------------------------------------- */

vkdetr_status vd_image_check_pixels(const vkdetr_image *img, int *channels, size_t *stride) {
    if (!img || !img->data) return vd_error(VKDETR_ERR_INVALID_ARG, "image: data is NULL");
    int ch;
    switch (img->format) {
    case VKDETR_PIXEL_RGB: case VKDETR_PIXEL_BGR: ch = 3; break;
    case VKDETR_PIXEL_RGBA: case VKDETR_PIXEL_BGRA: ch = 4; break;
    case VKDETR_PIXEL_GRAY: ch = 1; break;
    default: return vd_error(VKDETR_ERR_INVALID_ARG, "image: unknown pixel format %d", (int)img->format);
    }
    if (img->width <= 0 || img->height <= 0)
        return vd_error(VKDETR_ERR_INVALID_ARG, "image: invalid size %dx%d", img->width, img->height);
    vkdetr_status st = check_size("image", img->width, img->height, VD_IMAGE_MAX_PIXELS_DEFAULT);
    if (st != VKDETR_OK) return st;
    size_t row = (size_t)img->width * ch;
    if (img->stride != 0 && (img->stride < 0 || (size_t)img->stride < row))
        return vd_error(VKDETR_ERR_INVALID_ARG, "image: stride %d is less than width * channels = %zu",
                        img->stride, row);
    if (channels) *channels = ch;
    if (stride) *stride = img->stride ? (size_t)img->stride : row;
    return VKDETR_OK;
}

vkdetr_status vd_image_from_pixels(const vkdetr_image *img, vd_image *out) {
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_image_from_pixels: out is NULL");
    memset(out, 0, sizeof *out);
    int ch;
    size_t stride;
    vkdetr_status st = vd_image_check_pixels(img, &ch, &stride);
    if (st != VKDETR_OK) return st;
    st = vd_image_alloc(img->width, img->height, out);
    if (st != VKDETR_OK) return st;
    int bgr = img->format == VKDETR_PIXEL_BGR || img->format == VKDETR_PIXEL_BGRA;
    int r = bgr ? 2 : 0, b = bgr ? 0 : 2, g = ch == 1 ? 0 : 1;
    if (ch == 1) r = b = 0;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *s = img->data + (size_t)y * stride;
        uint8_t *o = out->rgb + (size_t)y * img->width * 3;
        for (int x = 0; x < img->width; x++, s += ch, o += 3) {
            o[0] = s[r];
            o[1] = s[g];
            o[2] = s[b];
        }
    }
    return VKDETR_OK;
}
