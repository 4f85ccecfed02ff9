/* Image decoding to 8-bit RGB, matching what Python reference pipelines see.
 *
 * The contract is transformers' `load_image`: PIL.Image.open, then ImageOps.exif_transpose,
 * then .convert("RGB"). So:
 *   - gray and gray+alpha are replicated to R = G = B; alpha is DROPPED, never composited
 *     (PIL's convert("RGB") does the same for RGBA, LA and P with transparency);
 *   - 16-bit PNG: RGB, RGBA and gray+alpha keep the high byte (v >> 8); 16-bit gray
 *     without alpha is PIL mode "I;16", whose convert("RGB") CLIPS: min(v, 255);
 *   - PNM (P4, P5, P6): maxval other than 255 is rescaled as PIL does,
 *     round(v / maxval * 255) half to even; 16-bit gray (maxval > 255) becomes PIL mode "I"
 *     (rescaled to 0..65535) and then clips to 255 like 16-bit PNG gray;
 *   - GIF: the first frame through its palette; transparent pixels and pixels outside the
 *     first frame's rectangle take the palette colour of the transparent index (or of
 *     index 0 when there is none), as PIL's "P" image converted to RGB;
 *   - EXIF orientation (tag 0x0112 in IFD0 of the JPEG APP1 "Exif" segment or of the PNG
 *     eXIf chunk; else an XMP tiff:Orientation in JPEG) is applied: values 2-8 flip/rotate
 *     as ImageOps.exif_transpose. A corrupt EXIF block is ignored (the image still decodes),
 *     as PIL only warns.
 *   - JPEG: 1, 3 or 4 components; 4 (CMYK/YCCK) as PIL: inverted ("CMYK;I"), then
 *     cmyk2rgb. A JPEG without its end marker is "truncated" (PIL refuses it too).
 * PNG, BMP, GIF, TGA and PNM decode bit-exactly as PIL (stb_image and our PNM reader).
 * JPEG is decoded by libjpeg-turbo when the build found it (VKDETR_HAVE_LIBJPEG; the library
 * PIL uses, same defaults: bit-identical), else by stb_image, whose IDCT and chroma
 * upsampling differ from libjpeg-turbo's (a few levels; up to ~70 on the second-to-last
 * column of 4:2:2 images, an stb edge bug): see tests/test_image.c for the measurements.
 *
 * Usage:
 *     vd_image img;
 *     if (vd_image_decode_file("cat.jpg", &img) != VKDETR_OK) { ... vkdetr_last_error() ... }
 *     ... img.rgb[(y * img.width + x) * 3 + c] ...
 *     vd_image_free(&img);
 *
 * All functions are thread-safe (no global state). */
#ifndef VD_IMAGE_H
#define VD_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vkdetr.h"

/* An owned 8-bit RGB image, rows top to bottom, no padding. */
typedef struct vd_image {
    int width;
    int height;
    uint8_t *rgb; /* (height, width, 3), owned; free with vd_image_free */
} vd_image;

/* Default limit on width * height: 2^28 pixels (768 MiB of RGB). */
#define VD_IMAGE_MAX_PIXELS_DEFAULT ((int64_t)1 << 28)

typedef struct vd_image_decode_params {
    int64_t max_pixels;   /* refuse larger images (VKDETR_ERR_UNSUPPORTED) before allocating */
    int exif_orientation; /* 1: apply the EXIF/XMP orientation (default), 0: ignore it */
} vd_image_decode_params;

vd_image_decode_params vd_image_decode_default_params(void);

/* Decodes a file. On failure *out is zeroed and the message names the file:
 * VKDETR_ERR_IO (missing, unreadable: strerror), VKDETR_ERR_FORMAT (empty, not an image,
 * truncated or corrupt), VKDETR_ERR_UNSUPPORTED (too large), VKDETR_ERR_NO_MEMORY. */
vkdetr_status vd_image_decode_file(const char *path, vd_image *out);
vkdetr_status vd_image_decode_file_ex(const char *path, const vd_image_decode_params *params,
                                      vd_image *out);

/* Decodes an encoded image in memory (borrowed for the call). name is used in error
 * messages (NULL: "<memory>"). params may be NULL for the defaults. */
vkdetr_status vd_image_decode_memory(const void *data, size_t size, vd_image *out);
vkdetr_status vd_image_decode_memory_ex(const void *data, size_t size, const char *name,
                                        const vd_image_decode_params *params, vd_image *out);

/* Allocates an uninitialised width x height image (limits: positive sizes, at most
 * VD_IMAGE_MAX_PIXELS_DEFAULT pixels). */
vkdetr_status vd_image_alloc(int width, int height, vd_image *out);

/* Releases the pixels and zeroes *img. Accepts NULL and a zeroed image. */
void vd_image_free(vd_image *img);

/* Copies caller pixels (RGB, RGBA, BGR, BGRA, GRAY with a row stride) to an owned RGB image:
 * alpha dropped, BGR swapped, gray replicated. */
vkdetr_status vd_image_from_pixels(const vkdetr_image *img, vd_image *out);

/* Checks a caller's image (non-NULL data, positive size, known format, stride large enough,
 * at most VD_IMAGE_MAX_PIXELS_DEFAULT pixels) and returns its channels and effective row
 * stride. */
vkdetr_status vd_image_check_pixels(const vkdetr_image *img, int *channels, size_t *stride);

/* "libjpeg-turbo" or "stb_image": the JPEG decoder this build uses. Static storage. */
const char *vd_image_jpeg_decoder(void);

/* The EXIF orientation (1-8) found in an encoded JPEG or PNG, 1 when there is none or the
 * EXIF data is unusable. Exposed for tests. */
int vd_image_exif_orientation(const uint8_t *data, size_t size);

/* Applies an EXIF orientation 2-8 (1 and others: no change), as PIL's exif_transpose:
 * 2 mirror, 3 rotate 180, 4 flip vertically, 5 transpose, 6 rotate 90 clockwise,
 * 7 transverse, 8 rotate 90 counter-clockwise. Replaces img->rgb on success. */
vkdetr_status vd_image_orient(vd_image *img, int orientation);

#endif /* VD_IMAGE_H */
