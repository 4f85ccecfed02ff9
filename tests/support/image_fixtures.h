/* Fixtures of tests/data/images (tools/gen_resize_fixtures.py): the index, expected images
 * (raw RGB8 or PNG), the position-weighted checksum and the procedural test image. */
#ifndef VD_IMAGE_FIXTURES_H
#define VD_IMAGE_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/image.h"

/* tests/data/images/index.json, parsed; NULL (message printed) when missing. Free with
 * cJSON_Delete. */
cJSON *vd_fix_index(void);

/* Absolute path of a file under tests/data/images (static buffer, 8 in rotation). */
const char *vd_fix_path(const char *rel);

/* Loads an expected RGB image: rel ends in ".rgb" (raw, width x height given) or ".png"
 * (decoded with vd_image_decode_file). Returns 0 on success. */
int vd_fix_load_rgb(const char *rel, int width, int height, vd_image *out);

/* Reads a raw little-endian float32 file of n values (malloc'd, caller frees); NULL on error. */
float *vd_fix_load_f32(const char *rel, size_t n);

/* sum over i of data[i] * ((i + 1) * 0x9E3779B97F4A7C15) mod 2^64, as 16 hex digits. */
void vd_fix_checksum(const uint8_t *data, size_t n, char hex[17]);

/* The generator's procedural() image: (h, w, 3) RGB. Returns 0 on success. */
int vd_fix_procedural(int w, int h, vd_image *out);

/* Integer field of a JSON object (or fallback when absent). */
int vd_fix_int(const cJSON *obj, const char *key, int fallback);
const char *vd_fix_str(const cJSON *obj, const char *key);

/* Byte comparison: number of differing bytes and the largest absolute difference. */
typedef struct vd_fix_diff {
    size_t differing;
    size_t over1; /* bytes differing by more than one level */
    int max;
    size_t first; /* index of the first differing byte */
} vd_fix_diff;

vd_fix_diff vd_fix_compare(const uint8_t *a, const uint8_t *b, size_t n);

#endif
