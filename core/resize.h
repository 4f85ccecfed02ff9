/* Image resampling, bit-exact with PIL (Pillow's libImaging Resample.c and the NEAREST
 * affine path of Geometry.c) on 8-bit data, and torch's bilinear interpolate on floats.
 *
 * PIL's Image.resize((w, h), resample) on an 8-bit image, for every filter but NEAREST:
 *   - a separable convolution; the horizontal pass runs only when the width changes, the
 *     vertical pass only when the height changes (neither: a copy); both: horizontal first,
 *     except (Pillow 13) when the height shrinks by more than twice as many pixels as the
 *     width (in_h - out_h > 2 * (in_w - out_w), out_h < in_h): vertical first;
 *   - per output index i: centre = (i + 0.5) * scale with scale = in / out; the filter's
 *     support is widened by scale when downscaling (antialiasing); the window
 *     [(int)(centre - support + 0.5), (int)(centre + support + 0.5)) clamped to the input;
 *     weights filter((j - centre + 0.5) / max(scale, 1)) normalised to sum 1, then to fixed
 *     point with 22 fractional bits (rounded away from zero);
 *   - each pass accumulates in int32 from 1 << 21 and clips (acc >> 22) to [0, 255] into a
 *     uint8 intermediate (so the pass order shows in the result); a horizontal-first pass
 *     covers only the source rows the vertical pass reads.
 * Checked bit-exact against Pillow 13.0 for all six filters (tests/test_resize.c).
 * NEAREST is an affine scale: source x = (int)(x0), x0 = 0.5 * s, then x0 += s per pixel
 * (s = in / out, accumulated in double exactly as Pillow does), same for y.
 * Channels are independent, so any interleaved layout (RGB, BGR, RGBA, gray) resizes the
 * same; note PIL premultiplies alpha for RGBA/LA images, which this does not.
 *
 * Usage (no allocation in the loop: plan the scratch once per size pair):
 *     size_t n = vd_resize_scratch_size(src.width, src.height, 640, 640, 3, VD_RESAMPLE_BILINEAR);
 *     void *scratch = vd_malloc(n);
 *     vd_raster src = {img.rgb, img.width, img.height, 3, (size_t)img.width * 3};
 *     vd_raster dst = {out, 640, 640, 3, 640 * 3};
 *     vd_resize_u8(&src, &dst, VD_RESAMPLE_BILINEAR, scratch, n, pool);
 *
 * Thread-safety: the functions keep no state; concurrent calls need separate scratch. */
#ifndef VD_RESIZE_H
#define VD_RESIZE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "pool.h"

/* PIL's Image.Resampling numbers (the `resample` value of preprocessor_config.json). */
typedef enum vd_resample {
    VD_RESAMPLE_NEAREST = 0,
    VD_RESAMPLE_LANCZOS = 1, /* support 3 */
    VD_RESAMPLE_BILINEAR = 2, /* triangle, support 1 */
    VD_RESAMPLE_BICUBIC = 3,  /* a = -0.5, support 2 */
    VD_RESAMPLE_BOX = 4,      /* support 0.5 */
    VD_RESAMPLE_HAMMING = 5   /* support 1 */
} vd_resample;

/* "nearest", "bilinear", ...; "unknown" otherwise. Static storage. */
const char *vd_resample_name(int resample);

/* An interleaved 8-bit raster, borrowed. A source is only read. */
typedef struct vd_raster {
    uint8_t *data;
    int width;
    int height;
    int channels;  /* 1 to 4 */
    size_t stride; /* bytes from one row to the next, >= width * channels */
} vd_raster;

/* Bytes of scratch vd_resize_u8 needs for these sizes (coefficients and the intermediate
 * rows); SIZE_MAX when the sizes are invalid or overflow. */
size_t vd_resize_scratch_size(int in_w, int in_h, int out_w, int out_h, int channels,
                              vd_resample resample);

/* Resizes src into dst (dst->width x dst->height, same channels) as PIL's Image.resize.
 * scratch: at least vd_resize_scratch_size(...) bytes, any alignment. pool may be NULL. */
vkdetr_status vd_resize_u8(const vd_raster *src, const vd_raster *dst, vd_resample resample,
                           void *scratch, size_t scratch_size, vd_pool *pool);

/* Allocating convenience for tools and tests: *out is a new out_w x out_h RGB image. */
vkdetr_status vd_resize_image(const vd_image *src, int out_w, int out_h, vd_resample resample,
                              vd_image *out, vd_pool *pool);

/* One float plane (in_h, in_w) -> (out_h, out_w) as
 * torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)
 * on CPU float32 with an output size (not a scale factor): src = (i + 0.5) * in / out - 0.5
 * clamped at 0, the two neighbours blended as (a*wx0 + b*wx1)*wy0 + (c*wx0 + d*wx1)*wy1 in
 * float. No allocation. */
void vd_resize_bilinear_f32(const float *src, int in_w, int in_h, float *dst, int out_w,
                            int out_h);

#endif /* VD_RESIZE_H */
