#include "postprocess/mask.h"

#include <string.h>

#include "core/base.h"

static int valid_size(int width, int height) {
    return width > 0 && height > 0 && (uint64_t)width * (uint64_t)height <= UINT32_MAX;
}

vkdetr_status vd_mask_rle_encode(const uint8_t *bitmap, int width, int height, uint32_t **counts,
                                 int *n_counts) {
    if (!bitmap || !counts || !n_counts || !valid_size(width, height))
        return vd_error(VKDETR_ERR_INVALID_ARG, "vd_mask_rle_encode: bad arguments");
    *counts = NULL;
    *n_counts = 0;
    /* first pass: the number of runs, so that one allocation holds them */
    int64_t runs = 1;
    int prev = 0;
    for (int x = 0; x < width; x++)
        for (int y = 0; y < height; y++) {
            int v = bitmap[(size_t)y * width + x] != 0;
            if (v != prev) runs++;
            prev = v;
        }
    if (runs > INT32_MAX) return vd_error(VKDETR_ERR_INVALID_ARG, "mask: too many runs");
    uint32_t *c = vd_malloc((size_t)runs * sizeof *c);
    if (!c) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory encoding a mask");
    int n = 0;
    uint32_t len = 0;
    prev = 0;
    for (int x = 0; x < width; x++)
        for (int y = 0; y < height; y++) {
            int v = bitmap[(size_t)y * width + x] != 0;
            if (v != prev) {
                c[n++] = len;
                len = 0;
                prev = v;
            }
            len++;
        }
    c[n++] = len;
    *counts = c;
    *n_counts = n;
    return VKDETR_OK;
}

vkdetr_status vd_mask_rle_decode(const uint32_t *counts, int n_counts, int width, int height,
                                 uint8_t *bitmap) {
    if (!counts || n_counts < 1 || !bitmap || !valid_size(width, height))
        return vd_error(VKDETR_ERR_INVALID_ARG, "mask: no run-length counts or a bad size");
    uint64_t total = (uint64_t)width * (uint64_t)height, pos = 0;
    for (int i = 0; i < n_counts; i++) {
        if (counts[i] > total - pos)
            return vd_error(VKDETR_ERR_INVALID_ARG, "mask: run-length counts exceed %dx%d = "
                            "%llu pixels", width, height, (unsigned long long)total);
        uint8_t v = (uint8_t)(i & 1);
        for (uint64_t k = pos; k < pos + counts[i]; k++) {
            uint64_t x = k / (uint64_t)height, y = k % (uint64_t)height;
            bitmap[y * (uint64_t)width + x] = v;
        }
        pos += counts[i];
    }
    if (pos != total)
        return vd_error(VKDETR_ERR_INVALID_ARG, "mask: run-length counts add up to %llu, not "
                        "%dx%d = %llu pixels", (unsigned long long)pos, width, height,
                        (unsigned long long)total);
    return VKDETR_OK;
}
