/* libFuzzer harness for the checkpoint readers: the input is parsed as a safetensors file
 * (vd_st_open_memory), every tensor is looked up and read, the file is wrapped as weights and
 * every tensor fetched through vd_weights_get; the same bytes also go through the JSON config
 * loader. Not part of the CMake build: see README.md in this folder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/safetensors.h"
#include "core/weights.h"

static void check(int cond) {
    if (!cond) abort();
}

static void read_all(const vd_safetensors *st) {
    for (int i = 0; i < vd_st_count(st); i++) {
        const vd_st_tensor *t = vd_st_at(st, i);
        check(vd_st_find(st, t->name) == t);
        check(t->offset + t->nbytes >= t->offset);
        if (!vd_st_dtype_is_float(t->dtype)) {
            float dummy;
            check(vd_st_read_f32(t, &dummy) == VKDETR_ERR_FORMAT);
            continue;
        }
        float *dst = malloc((size_t)t->nelements * sizeof(float) + 1);
        if (!dst) continue;
        check(vd_st_read_f32(t, dst) == VKDETR_OK);
        free(dst);
    }
    vd_st_metadata(st, "format");
}

static void weights_all(vd_safetensors *st) {
    static const vd_alias rules[] = {{"a", "b"}, {".w", ".weight"}, {"x", "xx"}};
    vd_weights *W;
    if (vd_weights_create(st, &W) != VKDETR_OK) return;
    vd_weights_set_aliases(W, rules, 3);
    const vd_safetensors *f = vd_weights_file(W);
    for (int i = 0; i < vd_st_count(f); i++) {
        const vd_st_tensor *t = vd_st_at(f, i);
        vd_tensor *x = vd_weights_get(W, "%s", VD_SHAPE_ANY, t->name);
        if (!x) break; /* errors accumulate: the rest would return NULL */
        check(vd_weights_get(W, "%s", VD_SHAPE_ANY, t->name) == x);
        vd_weights_has(W, "%s", t->name);
    }
    vd_weights_num_params(W);
    vd_weights_count_unused(W);
    vd_weights_free(W);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vd_safetensors *st;
    if (vd_st_open_memory(data, size, &st) == VKDETR_OK) {
        read_all(st);
        weights_all(st); /* takes ownership */
    }
    cJSON *root;
    if (vd_json_load_memory("<fuzz>", (const char *)data, size, &root) == VKDETR_OK) {
        int i, n, arr[4];
        float fl;
        const char *s;
        vd_json_int(root, "a", 0, &i);
        vd_json_float(root, "b", 0, &fl);
        vd_json_string(root, "c", NULL, &s);
        vd_json_int_array(root, "d", arr, 4, &n);
        cJSON_Delete(root);
    }
    return 0;
}
