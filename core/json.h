/* Thin helpers over cJSON for the config readers (config.json, preprocessor_config.json).
 *
 *     cJSON *cfg;
 *     if (vd_json_load_file(path, &cfg)) return ...;   // "config.json: line 3: parse error ..."
 *     int d_model, layers[4], n_layers;
 *     vkdetr_status s = VKDETR_OK;
 *     if (!s) s = vd_json_int(cfg, "d_model", 256, &d_model);
 *     if (!s) s = vd_json_int_array(cfg, "encoder_in_channels", layers, 4, &n_layers);
 *     if (s) s = vd_error_prefix(s, "%s", path);         // "config.json: key 'd_model': ..."
 *     cJSON_Delete(cfg);
 *
 * The typed getters tell three cases apart:
 *   - the key is absent or its value is null: *out = the default, VKDETR_OK;
 *   - the value has the wrong type, is not an integer where one is needed, or is out of
 *     range: VKDETR_ERR_FORMAT with a message naming the key (not the file: the getter does
 *     not know it, so callers prefix it with vd_error_prefix);
 *   - otherwise *out is set, VKDETR_OK.
 * On an error *out is left unchanged. obj may be NULL (every key is then absent) or a
 * non-object (every key is then absent). When a key appears twice the LAST value is used,
 * as Python's json module does (Hugging Face writes these files from Python). */
#ifndef VD_JSON_H
#define VD_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

/* Reads and parses a whole file (a UTF-8 BOM is skipped; trailing whitespace only). On
 * success *out is owned by the caller (cJSON_Delete). Errors: VKDETR_ERR_IO (cannot read,
 * strerror in the message), VKDETR_ERR_FORMAT ("<path>: line 3: parse error near '...'"),
 * VKDETR_ERR_NO_MEMORY. */
vkdetr_status vd_json_load_file(const char *path, cJSON **out);

/* As vd_json_load_file for a buffer of size bytes (no NUL needed); name is used in
 * messages (e.g. "<memory>"). */
vkdetr_status vd_json_load_memory(const char *name, const char *data, size_t size, cJSON **out);

/* The value of key (last occurrence), or NULL when absent or null. Borrowed. */
const cJSON *vd_json_get(const cJSON *obj, const char *key);

/* 1 when key is present with a non-null value. */
int vd_json_has(const cJSON *obj, const char *key);

vkdetr_status vd_json_int(const cJSON *obj, const char *key, int def, int *out);
vkdetr_status vd_json_int64(const cJSON *obj, const char *key, int64_t def, int64_t *out);
/* Any JSON number; for float, a finite value beyond the float range is an error. */
vkdetr_status vd_json_double(const cJSON *obj, const char *key, double def, double *out);
vkdetr_status vd_json_float(const cJSON *obj, const char *key, float def, float *out);
/* JSON true / false only (not 0 / 1). */
vkdetr_status vd_json_bool(const cJSON *obj, const char *key, int def, int *out);
/* Borrowed from obj (valid until cJSON_Delete); def may be NULL. */
vkdetr_status vd_json_string(const cJSON *obj, const char *key, const char *def,
                             const char **out);
/* A JSON object, or NULL when absent or null; an error for any other type. */
vkdetr_status vd_json_object(const cJSON *obj, const char *key, const cJSON **out);

/* Arrays: absent or null -> *n = 0 and out untouched; more than max elements, or an element
 * of the wrong type -> VKDETR_ERR_FORMAT naming the key and the index, out and *n untouched. */
vkdetr_status vd_json_int_array(const cJSON *obj, const char *key, int *out, int max, int *n);
vkdetr_status vd_json_float_array(const cJSON *obj, const char *key, float *out, int max, int *n);
/* Elements borrowed from obj. */
vkdetr_status vd_json_string_array(const cJSON *obj, const char *key, const char **out, int max,
                                   int *n);

#endif /* VD_JSON_H */
