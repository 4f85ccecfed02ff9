/* Pixels to the network's input tensor, as the checkpoint's Hugging Face image processor
 * (PIL backend, e.g. RTDetrImageProcessorPil) computes pixel_values:
 *
 *   resize (PIL Image.resize on the uint8 RGB image, resize.h)
 *   -> rescale: float32(float64(v) * rescale_factor)        (transformers' rescale)
 *   -> normalize: (x - float32(mean[c])) / float32(std[c]) in float32   (transformers' normalize)
 *   -> CHW float32
 *
 * Both steps are functions of the 8-bit value and the channel only, so they are applied
 * through a 3 x 256 lookup table; the result is bit-identical to the numpy arithmetic.
 *
 * Usage:
 *     vd_preprocess cfg = vd_preprocess_default_rtdetr();
 *     vd_preprocess_src src = vd_preprocess_src_image(&img);
 *     size_t n = vd_preprocess_scratch_size(&cfg, &src, 640, 640);  // plan once, reuse
 *     vd_preprocess_run(&cfg, &src, 640, 640, pixels, scratch, n, pool); // (3, 640, 640)
 */
#ifndef VD_PREPROCESS_H
#define VD_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "pool.h"
#include "resize.h"

/* How preprocessor_config.json's "size" is given. */
typedef enum vd_size_mode {
    VD_SIZE_HEIGHT_WIDTH = 0,   /* {"height": h, "width": w}: exactly h x w, aspect not kept */
    VD_SIZE_SHORTEST_EDGE = 1,  /* {"shortest_edge": s}: short side s, long side scaled */
    VD_SIZE_SHORTEST_LONGEST = 2, /* {"shortest_edge": s, "longest_edge": l} (DETR) */
    VD_SIZE_MAX_HEIGHT_WIDTH = 3  /* {"max_height": h, "max_width": w}: fit inside */
} vd_size_mode;

/* The image-processor settings of a checkpoint. Parsed from preprocessor_config.json
 * elsewhere; every field has the transformers default of the family when absent. */
typedef struct vd_preprocess {
    int do_resize;
    vd_size_mode size_mode;
    int height, width;                /* HEIGHT_WIDTH and MAX_HEIGHT_WIDTH */
    int shortest_edge, longest_edge;  /* SHORTEST_EDGE (longest unused) and SHORTEST_LONGEST */
    int resample;                     /* PIL number, vd_resample */
    int do_rescale;
    double rescale_factor;            /* a Python float: double, as transformers multiplies */
    int do_normalize;
    double image_mean[3];             /* cast to float32 before use, as transformers does */
    double image_std[3];
    int do_convert_rgb;               /* our decoded images are always RGB: no effect */
} vd_preprocess;

/* RTDetrImageProcessor's defaults: 640x640, BILINEAR, rescale 1/255, no normalisation
 * (mean/std set to ImageNet's but unused). Same for D-FINE. */
vd_preprocess vd_preprocess_default_rtdetr(void);

/* The resized size transformers computes for an input of in_w x in_h (with do_resize 0:
 * the input size). Returns VKDETR_ERR_INVALID_ARG for unusable settings. */
vkdetr_status vd_preprocess_output_size(const vd_preprocess *cfg, int in_w, int in_h, int *out_w,
                                        int *out_h);

/* Source pixels: an interleaved 8-bit raster (borrowed, only read) and where R, G, B sit in
 * a pixel (RGB: 0,1,2; BGR(A): 2,1,0; gray: 0,0,0). */
typedef struct vd_preprocess_src {
    vd_raster raster;
    int rgb[3];
} vd_preprocess_src;

vd_preprocess_src vd_preprocess_src_image(const vd_image *img);

/* Wraps a caller's image without copying (vd_image_check_pixels rules). */
vkdetr_status vd_preprocess_src_pixels(const vkdetr_image *img, vd_preprocess_src *out);

/* Scratch bytes vd_preprocess_run needs for this source size and output size; SIZE_MAX
 * when invalid, 0 when no resize is needed (scratch may then be NULL). Independent of the
 * pixel values: a session keeps one buffer and grows it only when a larger input arrives. */
size_t vd_preprocess_scratch_size(const vd_preprocess *cfg, const vd_preprocess_src *src,
                                  int out_w, int out_h);

/* Writes dst: (3, out_h, out_w) float32, channels R, G, B. out_w x out_h is the network
 * input size (normally vd_preprocess_output_size's); with do_resize 0 it must equal the
 * source size. Allocates nothing. pool may be NULL. */
vkdetr_status vd_preprocess_run(const vd_preprocess *cfg, const vd_preprocess_src *src, int out_w,
                                int out_h, float *dst, void *scratch, size_t scratch_size,
                                vd_pool *pool);

#endif /* VD_PREPROCESS_H */
