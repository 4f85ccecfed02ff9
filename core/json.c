#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES ((size_t)64 << 20) /* configs are a few KB */

/* ---- loading --------------------------------------------------------------------------- */

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* "line N: <what> near '<snippet>'" for position at inside data. */
static vkdetr_status syntax_error(const char *name, const char *data, size_t size, size_t at,
                                  const char *what) {
    int line = 1;
    for (size_t i = 0; i < at && i < size; i++) line += data[i] == '\n';
    if (at >= size)
        return vd_error(VKDETR_ERR_FORMAT, "%s: line %d: %s at the end of the input", name, line,
                        what);
    char snip[28];
    size_t n = 0;
    for (size_t i = at; i < size && n < 24 && data[i] != '\n'; i++)
        snip[n++] = (unsigned char)data[i] < 0x20 || data[i] == 0x7f ? '?' : data[i];
    snip[n] = 0;
    return vd_error(VKDETR_ERR_FORMAT, "%s: line %d: %s near '%s'", name, line, what, snip);
}

vkdetr_status vd_json_load_memory(const char *name, const char *data, size_t size, cJSON **out) {
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_json_load_memory: out is NULL");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && size) return vd_error(VKDETR_ERR_INVALID_ARG, "%s: data is NULL", name);
    size_t skip = size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    size_t first = skip;
    while (first < size && is_ws(data[first])) first++;
    if (first == size) return vd_error(VKDETR_ERR_FORMAT, "%s: empty JSON document", name);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(data + skip, size - skip, &end, 0);
    if (!root) {
        size_t at = end && end >= data && end <= data + size ? (size_t)(end - data) : size;
        return syntax_error(name, data, size, at, "parse error");
    }
    for (const char *p = end; p < data + size; p++) {
        if (!is_ws(*p)) {
            cJSON_Delete(root);
            return syntax_error(name, data, size, (size_t)(p - data),
                                "unexpected data after the JSON value");
        }
    }
    *out = root;
    return VKDETR_OK;
}

vkdetr_status vd_json_load_file(const char *path, cJSON **out) {
    if (!out || !path) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_json_load_file: NULL argument");
    *out = NULL;
    char *buf = NULL;
    vkdetr_status s = VKDETR_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vd_error(VKDETR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        s = vd_error(VKDETR_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        s = vd_error(VKDETR_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    if ((uintmax_t)sb.st_size > MAX_FILE_BYTES) {
        s = vd_error(VKDETR_ERR_FORMAT, "%s: %lld bytes is too large for a JSON config", path,
                     (long long)sb.st_size);
        goto fail;
    }
    size_t size = (size_t)sb.st_size, got = 0;
    buf = vd_malloc(size + 1);
    if (!buf) {
        s = vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            s = vd_error(VKDETR_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0) break; /* shrank while reading: parse what is there */
        got += (size_t)r;
    }
    s = vd_json_load_memory(path, buf, got, out);
fail:
    close(fd);
    vd_free(buf);
    return s;
}

/* ---- getters --------------------------------------------------------------------------- */

const cJSON *vd_json_get(const cJSON *obj, const char *key) {
    if (!cJSON_IsObject(obj) || !key) return NULL;
    const cJSON *found = NULL;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && strcmp(c->string, key) == 0) found = c;
    return cJSON_IsNull(found) ? NULL : found;
}

int vd_json_has(const cJSON *obj, const char *key) { return vd_json_get(obj, key) != NULL; }

static const char *type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsNull(v)) return "null";
    return "an invalid value";
}

/* "key 'k'" or "key 'k' element 3" into buf. */
static const char *where(const char *key, int index, char *buf, size_t size) {
    if (index < 0) snprintf(buf, size, "key '%.100s'", key);
    else snprintf(buf, size, "key '%.100s' element %d", key, index);
    return buf;
}

static vkdetr_status wrong_type(const char *key, int index, const char *want, const cJSON *v) {
    char w[140];
    return vd_error(VKDETR_ERR_FORMAT, "%s: expected %s, got %s", where(key, index, w, sizeof w),
                    want, type_name(v));
}

/* An integral number in [lo, hi]. */
static vkdetr_status to_int(const char *key, int index, const cJSON *v, double lo, double hi,
                            int64_t *out) {
    char w[140];
    if (!cJSON_IsNumber(v)) return wrong_type(key, index, "an integer", v);
    double d = v->valuedouble;
    if (d != floor(d) || !isfinite(d))
        return vd_error(VKDETR_ERR_FORMAT, "%s: %g is not an integer",
                        where(key, index, w, sizeof w), d);
    if (d < lo || d > hi)
        return vd_error(VKDETR_ERR_FORMAT, "%s: %.17g is out of range [%.17g, %.17g]",
                        where(key, index, w, sizeof w), d, lo, hi);
    *out = (int64_t)d;
    return VKDETR_OK;
}

static vkdetr_status to_float(const char *key, int index, const cJSON *v, float *out) {
    char w[140];
    if (!cJSON_IsNumber(v)) return wrong_type(key, index, "a number", v);
    double d = v->valuedouble;
    if (!isfinite(d) || fabs(d) > FLT_MAX)
        return vd_error(VKDETR_ERR_FORMAT, "%s: %g is out of the float range",
                        where(key, index, w, sizeof w), d);
    *out = (float)d;
    return VKDETR_OK;
}

vkdetr_status vd_json_int(const cJSON *obj, const char *key, int def, int *out) {
    const cJSON *v = vd_json_get(obj, key);
    int64_t x = def;
    vkdetr_status s = v ? to_int(key, -1, v, INT_MIN, INT_MAX, &x) : VKDETR_OK;
    if (!s) *out = (int)x;
    return s;
}

vkdetr_status vd_json_int64(const cJSON *obj, const char *key, int64_t def, int64_t *out) {
    const cJSON *v = vd_json_get(obj, key);
    /* doubles are exact up to 2^53: refuse beyond, rather than return a rounded value */
    vkdetr_status s = v ? to_int(key, -1, v, -0x1p53, 0x1p53, &def) : VKDETR_OK;
    if (!s) *out = def;
    return s;
}

vkdetr_status vd_json_double(const cJSON *obj, const char *key, double def, double *out) {
    const cJSON *v = vd_json_get(obj, key);
    if (!v) {
        *out = def;
        return VKDETR_OK;
    }
    if (!cJSON_IsNumber(v)) return wrong_type(key, -1, "a number", v);
    *out = v->valuedouble;
    return VKDETR_OK;
}

vkdetr_status vd_json_float(const cJSON *obj, const char *key, float def, float *out) {
    const cJSON *v = vd_json_get(obj, key);
    if (!v) {
        *out = def;
        return VKDETR_OK;
    }
    return to_float(key, -1, v, out);
}

vkdetr_status vd_json_bool(const cJSON *obj, const char *key, int def, int *out) {
    const cJSON *v = vd_json_get(obj, key);
    if (!v) {
        *out = def;
        return VKDETR_OK;
    }
    if (!cJSON_IsBool(v)) return wrong_type(key, -1, "true or false", v);
    *out = cJSON_IsTrue(v);
    return VKDETR_OK;
}

vkdetr_status vd_json_string(const cJSON *obj, const char *key, const char *def,
                             const char **out) {
    const cJSON *v = vd_json_get(obj, key);
    if (!v) {
        *out = def;
        return VKDETR_OK;
    }
    if (!cJSON_IsString(v)) return wrong_type(key, -1, "a string", v);
    *out = v->valuestring;
    return VKDETR_OK;
}

vkdetr_status vd_json_object(const cJSON *obj, const char *key, const cJSON **out) {
    const cJSON *v = vd_json_get(obj, key);
    if (v && !cJSON_IsObject(v)) return wrong_type(key, -1, "an object", v);
    *out = v;
    return VKDETR_OK;
}

/* The array at key with at most max elements, or NULL (absent / null) with *n = 0. */
static vkdetr_status get_array(const cJSON *obj, const char *key, int max, int *n,
                               const cJSON **arr) {
    const cJSON *v = vd_json_get(obj, key);
    *arr = NULL;
    if (!v) {
        *n = 0;
        return VKDETR_OK;
    }
    if (!cJSON_IsArray(v)) return wrong_type(key, -1, "an array", v);
    int count = cJSON_GetArraySize(v);
    if (count > max)
        return vd_error(VKDETR_ERR_FORMAT, "key '%.100s': %d elements, at most %d supported", key,
                        count, max);
    *arr = v;
    return VKDETR_OK;
}

vkdetr_status vd_json_int_array(const cJSON *obj, const char *key, int *out, int max, int *n) {
    const cJSON *arr;
    vkdetr_status s = get_array(obj, key, max, n, &arr);
    if (s || !arr) return s;
    int i = 0;
    int64_t x;
    for (const cJSON *c = arr->child; c; c = c->next, i++) /* check all before writing */
        if ((s = to_int(key, i, c, INT_MIN, INT_MAX, &x))) return s;
    i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        to_int(key, i, c, INT_MIN, INT_MAX, &x);
        out[i] = (int)x;
    }
    *n = i;
    return VKDETR_OK;
}

vkdetr_status vd_json_float_array(const cJSON *obj, const char *key, float *out, int max, int *n) {
    const cJSON *arr;
    vkdetr_status s = get_array(obj, key, max, n, &arr);
    if (s || !arr) return s;
    int i = 0;
    float x;
    for (const cJSON *c = arr->child; c; c = c->next, i++) /* check all before writing */
        if ((s = to_float(key, i, c, &x))) return s;
    i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) to_float(key, i, c, &out[i]);
    *n = i;
    return VKDETR_OK;
}

vkdetr_status vd_json_string_array(const cJSON *obj, const char *key, const char **out, int max,
                                   int *n) {
    const cJSON *arr;
    vkdetr_status s = get_array(obj, key, max, n, &arr);
    if (s || !arr) return s;
    int i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++)
        if (!cJSON_IsString(c)) return wrong_type(key, i, "a string", c);
    i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) out[i] = c->valuestring;
    *n = i;
    return VKDETR_OK;
}
