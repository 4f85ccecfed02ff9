#include "image_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

const char *vd_fix_path(const char *rel) {
    static char buf[8][1024];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s", vd_test_path("tests/data/images"));
    size_t n = strlen(p);
    snprintf(p + n, sizeof buf[0] - n, "/%s", rel);
    return p;
}

cJSON *vd_fix_index(void) {
    size_t size;
    char *text = vd_test_read_file(vd_fix_path("index.json"), &size);
    if (!text) {
        fprintf(stderr, "cannot read %s (run tools/gen_resize_fixtures.py)\n", vd_fix_path("index.json"));
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, size);
    free(text);
    if (!j) fprintf(stderr, "cannot parse index.json\n");
    return j;
}

int vd_fix_int(const cJSON *obj, const char *key, int fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return cJSON_IsNumber(v) ? v->valueint : fallback;
}

const char *vd_fix_str(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int vd_fix_load_rgb(const char *rel, int width, int height, vd_image *out) {
    memset(out, 0, sizeof *out);
    size_t n = strlen(rel);
    if (n > 4 && strcmp(rel + n - 4, ".png") == 0) {
        if (vd_image_decode_file(vd_fix_path(rel), out) != VKDETR_OK) return -1;
        if (out->width != width || out->height != height) {
            vd_image_free(out);
            return -1;
        }
        return 0;
    }
    size_t size;
    uint8_t *data = vd_test_read_file(vd_fix_path(rel), &size);
    if (!data || size != (size_t)width * height * 3 || vd_image_alloc(width, height, out) != VKDETR_OK) {
        free(data);
        return -1;
    }
    memcpy(out->rgb, data, size);
    free(data);
    return 0;
}

float *vd_fix_load_f32(const char *rel, size_t n) {
    size_t size;
    float *data = vd_test_read_file(vd_fix_path(rel), &size);
    if (data && size != n * sizeof(float)) {
        fprintf(stderr, "%s: %zu bytes, expected %zu\n", rel, size, n * sizeof(float));
        free(data);
        return NULL;
    }
    return data;
}

void vd_fix_checksum(const uint8_t *data, size_t n, char hex[17]) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += (uint64_t)data[i] * ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull);
    snprintf(hex, 17, "%016llx", (unsigned long long)s);
}

int vd_fix_procedural(int w, int h, vd_image *out) {
    if (vd_image_alloc(w, h, out) != VKDETR_OK) return -1;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int64_t c = 0; c < 3; c++) {
                int64_t v = 3 * x * x + 5 * y * y + x * y + 77 * c + 9 * ((131 * x + 71 * y + 37 * c) % 29);
                out->rgb[((size_t)y * w + (size_t)x) * 3 + (size_t)c] = (uint8_t)(v & 255);
            }
    return 0;
}

vd_fix_diff vd_fix_compare(const uint8_t *a, const uint8_t *b, size_t n) {
    vd_fix_diff d = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        int e = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
        if (!e) continue;
        if (!d.differing) d.first = i;
        d.differing++;
        if (e > 1) d.over1++;
        if (e > d.max) d.max = e;
    }
    return d;
}
