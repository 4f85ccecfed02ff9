/* Instance masks as COCO run-length encodings (the representation of vkdetr_mask): runs of
 * a binary mask in column-major order, starting with a (possibly empty) run of 0s. Plain C
 * on host memory; a mask head fills vkdetr_mask with these. */
#ifndef VD_MASK_H
#define VD_MASK_H

#include <stdint.h>

#include "vkdetr.h"

/* Encodes a width x height bitmap (row-major, nonzero = inside) into *counts (allocated with
 * vd_malloc, owned by the caller, released with vd_free) and *n_counts. */
vkdetr_status vd_mask_rle_encode(const uint8_t *bitmap, int width, int height, uint32_t **counts,
                                 int *n_counts);

/* Expands counts into a width x height row-major bitmap of 0/1. VKDETR_ERR_INVALID_ARG when
 * the counts do not add up to width * height. */
vkdetr_status vd_mask_rle_decode(const uint32_t *counts, int n_counts, int width, int height,
                                 uint8_t *bitmap);

#endif
