/* COCO run-length encoded masks, with the algorithms of pycocotools' maskApi.c: masks from
 * polygons (rasterised at 5x resolution, exactly as rleFrPoly), from uncompressed RLE and from
 * bitmaps; the compressed string form; union, area, bounding box and IoU (with crowd regions).
 *
 * A mask of height h and width w is read in column-major order (down the first column, then
 * the next) and stored as alternating run lengths, the first one of background (possibly 0):
 * counts {2, 3, 1} for h*w = 6 means 2 pixels out, 3 in, 1 out.
 *
 *     vd_rle r;
 *     if (vd_rle_from_polygon(xy, n_points, h, w, &r) == VKDETR_OK) {
 *         char *s = vd_rle_to_string(&r);   // "counts" of {"size": [h, w], "counts": s}
 *         ...
 *         free(s);
 *         vd_rle_free(&r);
 *     }
 *
 * Failures set the message of vd_app_last_error(). Plain C, no global state: thread-safe. */
#ifndef VD_APP_COCO_RLE_H
#define VD_APP_COCO_RLE_H

#include <stdint.h>

#include "vkdetr.h"

typedef struct vd_rle {
    int height;
    int width;
    int64_t n;         /* number of runs */
    uint32_t *counts;  /* (n) run lengths adding up to height * width; malloc'ed */
} vd_rle;

/* Releases r->counts and clears r. Accepts a zeroed or freed r. */
void vd_rle_free(vd_rle *r);

/* From a row-major bitmap (nonzero = inside), as pycocotools.mask.encode. */
vkdetr_status vd_rle_from_mask(const uint8_t *mask, int width, int height, vd_rle *out);

/* To a row-major bitmap of 0/1 (width * height bytes). */
void vd_rle_to_mask(const vd_rle *r, uint8_t *mask);

/* From uncompressed counts (the "counts" list of {"size": [h, w], "counts": [...]}); the
 * counts must add up to h * w. */
vkdetr_status vd_rle_from_counts(const int64_t *counts, int64_t n, int height, int width,
                                 vd_rle *out);

/* From the compressed string (LEB128-like, 6 bits per character from '0', counts after the
 * third stored as the difference to the count two before), as rleFrString. The counts must
 * add up to h * w. */
vkdetr_status vd_rle_from_string(const char *s, int height, int width, vd_rle *out);

/* The compressed string of r, as rleToString; malloc'ed, NULL when out of memory. */
char *vd_rle_to_string(const vd_rle *r);

/* Rasterises a closed polygon of n_points points xy = {x0, y0, x1, y1, ...} (pixel
 * coordinates, as in COCO annotations) into an h x w mask exactly as pycocotools' rleFrPoly:
 * vertices upsampled 5x and rounded, edges walked, the crossings of pixel columns kept.
 * Coordinates must be finite and within +-1e6. */
vkdetr_status vd_rle_from_polygon(const double *xy, int n_points, int height, int width,
                                  vd_rle *out);

/* The box {x, y, w, h} as the polygon (x, y), (x, y + h), (x + w, y + h), (x + w, y), as
 * rleFrBbox. */
vkdetr_status vd_rle_from_bbox(const double bbox[4], int height, int width, vd_rle *out);

/* The union of n masks of one size (rleMerge without intersect); n >= 1. */
vkdetr_status vd_rle_union(const vd_rle *rles, int n, vd_rle *out);

/* Pixels inside. */
uint64_t vd_rle_area(const vd_rle *r);

/* The tight box {x, y, w, h} of the pixels inside, {0, 0, 0, 0} for an empty mask (toBbox). */
void vd_rle_bbox(const vd_rle *r, double bbox[4]);

/* IoU of a detection with a ground truth as pycocotools' rleIou: intersection over union, or
 * over the detection's area when gt_crowd is set; 0 when they do not intersect; -1 when the
 * sizes differ and their boxes overlap. */
double vd_rle_iou(const vd_rle *dt, const vd_rle *gt, int gt_crowd);

/* IoU of two boxes {x, y, w, h} as pycocotools' bbIou (intersection over the detection's area
 * when gt_crowd is set). */
double vd_bbox_iou(const double dt[4], const double gt[4], int gt_crowd);

/* The compressed string of a row-major w x h bitmap (nonzero = inside), as pycocotools
 * encodes it: malloc'ed, NULL when out of memory. */
char *vd_rle_encode(const uint8_t *mask, int width, int height);

/* Decodes a compressed string to a w x h row-major mask of 0/1. Returns 0 on success, -1 when
 * the string is malformed or the counts do not add up to w * h. */
int vd_rle_decode(const char *counts, int width, int height, uint8_t *mask);

#endif
