/* EXIF / XMP orientation and JPEG structure checks on encoded image bytes.
 *
 * Mirrors what PIL does in ImageOps.exif_transpose (Pillow 13):
 *   - JPEG: the first APP1 segment that starts with "Exif\0\0" (PIL appends later ones,
 *     which only matters when IFD0 spills over a segment boundary: not supported here);
 *     the last APP1 "http://ns.adobe.com/xap/1.0/\0" segment is the XMP packet.
 *   - PNG: the last eXIf chunk (anywhere: PIL reads chunks after IDAT on load); the last
 *     uncompressed iTXt "XML:com.adobe.xmp" is the XMP packet.
 *   - Up to two leading "Exif\0\0" are stripped, then a TIFF header ("II*\0" or "MM\0*")
 *     and IFD0. Entries are read until the data ends (PIL keeps the tags it read before a
 *     truncation); the last 0x0112 entry wins. Its first value is used when the type is
 *     SHORT, LONG, SBYTE, SSHORT or SLONG (PIL yields an int for those; BYTE, UNDEFINED
 *     and the rest give bytes or rationals, which exif_transpose ignores).
 *   - When IFD0 has no 0x0112 entry at all, the XMP packet's first `tiff:Orientation="N`
 *     or `tiff:Orientation>N` is used.
 * Every read is bounds-checked: corrupt data means "no orientation", never an error. */
#include <string.h>

#include "image.h"

static uint32_t rd16(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int has_prefix(const uint8_t *p, size_t n, const char *prefix, size_t len) {
    return n >= len && memcmp(p, prefix, len) == 0;
}

enum { ORIENT_ABSENT = -1, ORIENT_UNUSABLE = 0 };

/* The first value of one IFD entry (12 bytes at e) as an orientation, ORIENT_UNUSABLE when
 * its type is not an integer type PIL turns into an int, or when it cannot be read (PIL
 * then skips the tag: returns ORIENT_ABSENT so an earlier value survives). */
static int entry_value(const uint8_t *t, size_t n, const uint8_t *e, int le) {
    uint32_t type = rd16(e + 2, le), count = rd32(e + 4, le);
    uint64_t unit;
    switch (type) {
    case 3: case 8: unit = 2; break;  /* SHORT, SSHORT */
    case 4: case 9: unit = 4; break;  /* LONG, SLONG */
    case 6: unit = 1; break;          /* SBYTE */
    default: return ORIENT_UNUSABLE;
    }
    if (count == 0) return ORIENT_UNUSABLE;
    uint64_t size = unit * count;
    const uint8_t *v = e + 8;
    if (size > 4) {
        uint64_t off = rd32(e + 8, le);
        if (off > n || size > n - off) return ORIENT_ABSENT;
        v = t + off;
    }
    int32_t x;
    switch (type) {
    case 3: x = (int32_t)rd16(v, le); break;
    case 8: x = (int16_t)rd16(v, le); break;
    case 4: x = rd32(v, le) > 8 ? 0 : (int32_t)rd32(v, le); break;
    case 9: x = (int32_t)rd32(v, le); break;
    default: x = (int8_t)v[0]; break;
    }
    return x >= 1 && x <= 8 ? x : ORIENT_UNUSABLE;
}

/* Orientation in a TIFF/EXIF block: 1-8, ORIENT_UNUSABLE, or ORIENT_ABSENT (no tag). */
static int tiff_orientation(const uint8_t *t, size_t n) {
    for (int i = 0; i < 2 && has_prefix(t, n, "Exif\0\0", 6); i++) {
        t += 6;
        n -= 6;
    }
    if (n < 8) return ORIENT_ABSENT;
    int le;
    if (memcmp(t, "II*\0", 4) == 0) le = 1;
    else if (memcmp(t, "MM\0*", 4) == 0) le = 0;
    else return ORIENT_ABSENT;
    uint64_t ifd = rd32(t + 4, le);
    if (ifd + 2 > n) return ORIENT_ABSENT;
    uint32_t count = rd16(t + ifd, le);
    int orientation = ORIENT_ABSENT;
    for (uint64_t i = 0, pos = ifd + 2; i < count && pos + 12 <= n; i++, pos += 12) {
        if (rd16(t + pos, le) != 0x0112) continue;
        int v = entry_value(t, n, t + pos, le);
        if (v != ORIENT_ABSENT) orientation = v;
    }
    return orientation;
}

/* PIL's regex `tiff:Orientation(="|>)([0-9])`, leftmost match. */
static int xmp_orientation(const uint8_t *x, size_t n) {
    static const char key[] = "tiff:Orientation";
    const size_t klen = sizeof key - 1;
    for (size_t i = 0; i + klen < n; i++) {
        if (x[i] != 't' || memcmp(x + i, key, klen) != 0) continue;
        const uint8_t *p = x + i + klen;
        size_t left = n - i - klen;
        if (left >= 3 && p[0] == '=' && p[1] == '"' && p[2] >= '0' && p[2] <= '9') return p[2] - '0';
        if (left >= 2 && p[0] == '>' && p[1] >= '0' && p[1] <= '9') return p[1] - '0';
    }
    return ORIENT_ABSENT;
}

static int combine(int exif, const uint8_t *xmp, size_t xmp_size) {
    int o = exif;
    if (o == ORIENT_ABSENT && xmp) o = xmp_orientation(xmp, xmp_size);
    return o >= 2 && o <= 8 ? o : 1;
}

static int jpeg_orientation(const uint8_t *d, size_t n) {
    static const char xmp_id[] = "http://ns.adobe.com/xap/1.0/";
    const uint8_t *exif = NULL, *xmp = NULL;
    size_t exif_size = 0, xmp_size = 0;
    size_t pos = 2;
    while (pos + 4 <= n) {
        if (d[pos] != 0xFF) { /* junk between segments: PIL skips it */
            pos++;
            continue;
        }
        uint8_t m = d[pos + 1];
        if (m == 0xFF) {
            pos++;
            continue;
        }
        if (m == 0xDA || m == 0xD9) break; /* start of scan, end of image */
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
            pos += 2;
            continue;
        }
        size_t len = rd16(d + pos + 2, 0);
        if (len < 2 || len > n - pos - 2) break;
        const uint8_t *s = d + pos + 4;
        size_t slen = len - 2;
        if (m == 0xE1 && !exif && has_prefix(s, slen, "Exif\0\0", 6)) {
            exif = s;
            exif_size = slen;
        } else if (m == 0xE1 && has_prefix(s, slen, xmp_id, sizeof xmp_id)) {
            xmp = s + sizeof xmp_id;
            xmp_size = slen - sizeof xmp_id;
        }
        pos += 2 + len;
    }
    return combine(exif ? tiff_orientation(exif, exif_size) : ORIENT_ABSENT, xmp, xmp_size);
}

static int png_orientation(const uint8_t *d, size_t n) {
    static const char xmp_key[] = "XML:com.adobe.xmp";
    const uint8_t *exif = NULL, *xmp = NULL;
    size_t exif_size = 0, xmp_size = 0;
    size_t pos = 8;
    while (pos + 12 <= n) {
        size_t len = rd32(d + pos, 0);
        const uint8_t *type = d + pos + 4, *s = d + pos + 8;
        if (len > n - pos - 12) break;
        if (memcmp(type, "IEND", 4) == 0) break;
        if (memcmp(type, "eXIf", 4) == 0) {
            exif = s;
            exif_size = len;
        } else if (memcmp(type, "iTXt", 4) == 0 && has_prefix(s, len, xmp_key, sizeof xmp_key)) {
            /* keyword\0, compression flag, method, language\0, translated keyword\0, text */
            size_t i = sizeof xmp_key;
            if (i + 2 <= len && s[i] == 0) {
                i += 2;
                const uint8_t *z1 = memchr(s + i, 0, len - i);
                const uint8_t *z2 = z1 ? memchr(z1 + 1, 0, (size_t)(s + len - z1 - 1)) : NULL;
                if (z2) {
                    xmp = z2 + 1;
                    xmp_size = (size_t)(s + len - xmp);
                }
            }
        }
        pos += 12 + len;
    }
    return combine(exif ? tiff_orientation(exif, exif_size) : ORIENT_ABSENT, xmp, xmp_size);
}

int vd_image_exif_orientation(const uint8_t *data, size_t size) {
    if (!data) return 1;
    if (size >= 4 && data[0] == 0xFF && data[1] == 0xD8) return jpeg_orientation(data, size);
    if (has_prefix(data, size, "\x89PNG\r\n\x1a\n", 8)) return png_orientation(data, size);
    return 1;
}
