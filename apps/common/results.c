#include "results.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "files.h"

cJSON *vd_results_rle_json(const uint8_t *mask, int width, int height) {
    char *counts = vd_rle_encode(mask, width, height);
    cJSON *o = cJSON_CreateObject();
    const int size[2] = {height, width};
    cJSON *sz = cJSON_CreateIntArray(size, 2);
    cJSON *cs = counts ? cJSON_CreateString(counts) : NULL;
    free(counts);
    if (!o || !sz || !cs) {
        cJSON_Delete(o);
        cJSON_Delete(sz);
        cJSON_Delete(cs);
        return NULL;
    }
    cJSON_AddItemToObject(o, "size", sz);
    cJSON_AddItemToObject(o, "counts", cs);
    return o;
}

/* ---- per-image JSON ------------------------------------------------------------------- */

static double round_to(double v, double scale) {
    if (!isfinite(v)) return 0.0;
    return round(v * scale) / scale;
}

static cJSON *box_json(const float b[4], int xywh) {
    double v[4] = {b[0], b[1], xywh ? b[2] - b[0] : b[2], xywh ? b[3] - b[1] : b[3]};
    for (int i = 0; i < 4; i++) v[i] = round_to(v[i], 100.0);
    return cJSON_CreateDoubleArray(v, 4);
}

static cJSON *detection_json(const vkdetr_detection *d, int with_masks) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = cJSON_AddNumberToObject(o, "class_id", d->class_id) != NULL;
    if (d->label)
        ok = ok && cJSON_AddStringToObject(o, "label", d->label) != NULL;
    else
        ok = ok && cJSON_AddNullToObject(o, "label") != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "score", round_to(d->score, 1e5)) != NULL;
    cJSON *box = ok ? box_json(d->box, 0) : NULL;
    if (!box || !cJSON_AddItemToObject(o, "box", box)) {
        cJSON_Delete(box);
        ok = 0;
    }
    if (ok && with_masks && d->mask.data) {
        cJSON *m = vd_results_rle_json(d->mask.data, d->mask.width, d->mask.height);
        ok = m && cJSON_AddItemToObject(o, "mask", m);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *vd_results_image_json(const char *file, const vkdetr_result *r, int with_masks) {
    cJSON *o = cJSON_CreateObject();
    cJSON *dets = cJSON_CreateArray();
    int ok = o && dets;
    ok = ok && cJSON_AddStringToObject(o, "file", file) != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "width", r->image_width) != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "height", r->image_height) != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "time_ms", round_to(r->time_ms, 1e3)) != NULL;
    for (int i = 0; ok && i < r->count; i++) {
        cJSON *d = detection_json(&r->detections[i], with_masks);
        ok = d != NULL && cJSON_AddItemToArray(dets, d);
    }
    if (ok) {
        cJSON_AddItemToObject(o, "detections", dets);
        return o;
    }
    cJSON_Delete(dets);
    cJSON_Delete(o);
    return NULL;
}

cJSON *vd_results_error_json(const char *file, const char *message) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "file", file) ||
        !cJSON_AddStringToObject(o, "error", message)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int vd_results_print_line(FILE *f, const cJSON *item) {
    char *s = cJSON_PrintUnformatted(item);
    if (!s) return -1;
    int rc = fputs(s, f) < 0 || fputc('\n', f) == EOF || fflush(f) != 0 ? -1 : 0;
    cJSON_free(s);
    return rc;
}

vkdetr_status vd_results_write_json(const char *path, const cJSON *item) {
    char *s = cJSON_Print(item);
    if (!s) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory formatting %s", path);
    size_t n = strlen(s);
    s[n] = '\n'; /* replaces the NUL: the buffer is not used as a string after this */
    vkdetr_status st;
    if (!strcmp(path, "-")) {
        st = fwrite(s, 1, n + 1, stdout) == n + 1 && fflush(stdout) == 0
                 ? VKDETR_OK
                 : vd_app_error(VKDETR_ERR_IO, "cannot write to stdout");
    } else {
        st = vd_files_write_atomic(path, s, n + 1);
    }
    cJSON_free(s);
    return st;
}

/* ---- COCO ----------------------------------------------------------------------------- */

typedef struct named_id {
    char *name;
    int64_t id;
} named_id;

struct vd_coco_index {
    named_id *images;     /* sorted by name (file_name) */
    int n_images;
    named_id *categories; /* in file order */
    int n_categories;
};

static int compare_named(const void *a, const void *b) {
    return strcmp(((const named_id *)a)->name, ((const named_id *)b)->name);
}

static int read_named(const cJSON *arr, const char *key, named_id **out, int *n_out) {
    int n = cJSON_GetArraySize(arr);
    named_id *v = calloc(n > 0 ? (size_t)n : 1, sizeof *v);
    if (!v) return -1;
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, key);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!cJSON_IsString(name) || !cJSON_IsNumber(id)) continue;
        v[k].name = strdup(name->valuestring);
        if (!v[k].name) break;
        v[k].id = (int64_t)id->valuedouble;
        k++;
    }
    *out = v;
    *n_out = k;
    return 0;
}

vkdetr_status vd_coco_index_load(const char *annotations_json, vd_coco_index **out) {
    *out = NULL;
    char *text;
    size_t size;
    vkdetr_status st = vd_files_read_all(annotations_json, &text, &size);
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength(text, size);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: not a JSON object", annotations_json);
    }
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images");
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(root, "categories");
    if (!cJSON_IsArray(images)) {
        cJSON_Delete(root);
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: no \"images\" array (not a COCO annotations file)",
                            annotations_json);
    }
    vd_coco_index *ix = calloc(1, sizeof *ix);
    if (!ix || read_named(images, "file_name", &ix->images, &ix->n_images) ||
        (cJSON_IsArray(cats) && read_named(cats, "name", &ix->categories, &ix->n_categories))) {
        cJSON_Delete(root);
        vd_coco_index_free(ix);
        return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory reading %s", annotations_json);
    }
    cJSON_Delete(root);
    if (ix->n_images > 1)
        qsort(ix->images, (size_t)ix->n_images, sizeof *ix->images, compare_named);
    *out = ix;
    return VKDETR_OK;
}

void vd_coco_index_free(vd_coco_index *ix) {
    if (!ix) return;
    for (int i = 0; i < ix->n_images; i++) free(ix->images[i].name);
    for (int i = 0; i < ix->n_categories; i++) free(ix->categories[i].name);
    free(ix->images);
    free(ix->categories);
    free(ix);
}

static int64_t find_image(const vd_coco_index *ix, const char *name) {
    named_id key = {(char *)name, 0};
    const named_id *hit = bsearch(&key, ix->images, (size_t)ix->n_images, sizeof key, compare_named);
    return hit ? hit->id : -1;
}

int64_t vd_coco_image_id(const vd_coco_index *ix, const char *path) {
    const char *base = vd_files_basename(path);
    if (ix) {
        int64_t id = find_image(ix, path);
        return id >= 0 ? id : find_image(ix, base);
    }
    char stem[256];
    vd_files_stem(path, stem, sizeof stem);
    if (!stem[0] || strlen(stem) > 18) return -1;
    for (const char *c = stem; *c; c++)
        if (!isdigit((unsigned char)*c)) return -1;
    return strtoll(stem, NULL, 10);
}

int64_t vd_coco_category_id(const vd_coco_index *ix, const char *label, int class_id) {
    if (!ix || ix->n_categories == 0) return class_id;
    if (!label) return -1;
    for (int i = 0; i < ix->n_categories; i++)
        if (!strcmp(ix->categories[i].name, label)) return ix->categories[i].id;
    return -1;
}

int vd_results_coco_append(cJSON *out, const vkdetr_result *r, int64_t image_id,
                           const vd_coco_index *index, int with_masks, int *skipped) {
    for (int i = 0; i < r->count; i++) {
        const vkdetr_detection *d = &r->detections[i];
        int64_t cat = vd_coco_category_id(index, d->label, d->class_id);
        if (cat < 0) {
            if (skipped) (*skipped)++;
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON *bbox = box_json(d->box, 1);
        int ok = o && bbox;
        ok = ok && cJSON_AddNumberToObject(o, "image_id", (double)image_id) != NULL;
        ok = ok && cJSON_AddNumberToObject(o, "category_id", (double)cat) != NULL;
        ok = ok && cJSON_AddItemToObject(o, "bbox", bbox);
        if (ok) bbox = NULL;
        ok = ok && cJSON_AddNumberToObject(o, "score", round_to(d->score, 1e5)) != NULL;
        if (ok && with_masks && d->mask.data) {
            cJSON *m = vd_results_rle_json(d->mask.data, d->mask.width, d->mask.height);
            ok = m && cJSON_AddItemToObject(o, "segmentation", m);
        }
        ok = ok && cJSON_AddItemToArray(out, o);
        if (!ok) {
            cJSON_Delete(bbox);
            cJSON_Delete(o);
            return -1;
        }
    }
    return 0;
}
