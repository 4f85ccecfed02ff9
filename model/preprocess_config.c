/* preprocessor_config.json -> vd_preprocess (transformers' image-processor settings). */
#include <string.h>

#include "core/json.h"
#include "model/model.h"

#define CHECK(x) do { if ((st = (x))) goto fail; } while (0)

static vkdetr_status get_triple(const cJSON *json, const char *key, double *out) {
    float v[3];
    int n = 0;
    vkdetr_status st = vd_json_float_array(json, key, v, 3, &n);
    if (st) return st;
    if (!vd_json_has(json, key)) return VKDETR_OK;
    if (n == 1) v[1] = v[2] = v[0];
    else if (n != 3) return vd_error(VKDETR_ERR_FORMAT, "key '%s': %d values (1 or 3 expected)", key, n);
    /* the JSON holds the Python float; re-read it as double for exactness */
    const cJSON *arr = vd_json_get(json, key);
    for (int i = 0; i < 3; i++) {
        const cJSON *it = cJSON_GetArrayItem(arr, n == 1 ? 0 : i);
        out[i] = it ? it->valuedouble : v[i];
    }
    return VKDETR_OK;
}

vkdetr_status vd_preprocess_parse(const cJSON *json, const char *name, vd_preprocess *pre) {
    vkdetr_status st = VKDETR_OK;
    *pre = vd_preprocess_default_rtdetr();
    if (!json) return VKDETR_OK;
    const cJSON *size = NULL;
    int do_pad = 0;
    CHECK(vd_json_bool(json, "do_resize", pre->do_resize, &pre->do_resize));
    CHECK(vd_json_object(json, "size", &size));
    if (size) {
        int h = 0, w = 0, se = 0, le = 0;
        CHECK(vd_json_int(size, "height", 0, &h));
        CHECK(vd_json_int(size, "width", 0, &w));
        CHECK(vd_json_int(size, "shortest_edge", 0, &se));
        CHECK(vd_json_int(size, "longest_edge", 0, &le));
        int mh = 0, mw = 0;
        CHECK(vd_json_int(size, "max_height", 0, &mh));
        CHECK(vd_json_int(size, "max_width", 0, &mw));
        /* the order transformers' resize checks them in */
        if (se > 0 && le > 0) {
            pre->size_mode = VD_SIZE_SHORTEST_LONGEST;
            pre->shortest_edge = se;
            pre->longest_edge = le;
        } else if (mh > 0 && mw > 0) {
            pre->size_mode = VD_SIZE_MAX_HEIGHT_WIDTH;
            pre->height = mh;
            pre->width = mw;
        } else if (h > 0 && w > 0) {
            pre->size_mode = VD_SIZE_HEIGHT_WIDTH;
            pre->height = h;
            pre->width = w;
        } else if (se > 0) {
            pre->size_mode = VD_SIZE_SHORTEST_EDGE;
            pre->shortest_edge = se;
        } else {
            st = vd_error(VKDETR_ERR_FORMAT, "key 'size': needs height and width, or "
                          "shortest_edge (and longest_edge), or max_height and max_width");
            goto fail;
        }
    }
    CHECK(vd_json_int(json, "resample", pre->resample, &pre->resample));
    if (pre->resample < VD_RESAMPLE_NEAREST || pre->resample > VD_RESAMPLE_HAMMING) {
        st = vd_error(VKDETR_ERR_UNSUPPORTED, "key 'resample': %d is not a PIL filter", pre->resample);
        goto fail;
    }
    CHECK(vd_json_bool(json, "do_rescale", pre->do_rescale, &pre->do_rescale));
    CHECK(vd_json_double(json, "rescale_factor", pre->rescale_factor, &pre->rescale_factor));
    CHECK(vd_json_bool(json, "do_normalize", pre->do_normalize, &pre->do_normalize));
    CHECK(get_triple(json, "image_mean", pre->image_mean));
    CHECK(get_triple(json, "image_std", pre->image_std));
    CHECK(vd_json_bool(json, "do_convert_rgb", pre->do_convert_rgb, &pre->do_convert_rgb));
    CHECK(vd_json_bool(json, "do_pad", 0, &do_pad));
    if (do_pad && vd_json_has(json, "pad_size")) {
        st = vd_error(VKDETR_ERR_UNSUPPORTED, "key 'pad_size': padding to a fixed size is not supported");
        goto fail;
    }
    for (int i = 0; i < 3; i++)
        if (pre->do_normalize && pre->image_std[i] == 0) {
            st = vd_error(VKDETR_ERR_FORMAT, "key 'image_std': a zero standard deviation");
            goto fail;
        }
    return VKDETR_OK;
fail:
    return vd_error_prefix(st, "%s", name);
}
