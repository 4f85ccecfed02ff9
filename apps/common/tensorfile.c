#include "tensorfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "files.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
              {"I16", 2}, {"I8", 1},  {"U8", 1},  {"U16", 2},  {"U32", 4}, {"U64", 8},
              {"BOOL", 1}};

size_t vd_tensorfile_dtype_size(const char *dtype) {
    if (!dtype) return 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(dtypes[i].name, dtype)) return dtypes[i].size;
    return 0;
}

/* Element count * dtype size, or 0 with *ok cleared on a bad shape or overflow. */
static size_t tensor_bytes(const vd_tensorfile_entry *t, int *ok) {
    size_t n = vd_tensorfile_dtype_size(t->dtype);
    if (n == 0 || t->ndim < 0 || t->ndim > VD_TENSORFILE_MAX_DIMS) {
        *ok = 0;
        return 0;
    }
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0 || (t->shape[d] > 0 && n > SIZE_MAX / (size_t)t->shape[d])) {
            *ok = 0;
            return 0;
        }
        n *= (size_t)t->shape[d];
    }
    return n;
}

vkdetr_status vd_tensorfile_write(const char *path, const vd_tensorfile_entry *tensors, int n,
                                  const char *const *metadata) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    vkdetr_status st = VKDETR_OK;
    char *header = NULL;
    vd_outfile of = {0};
    if (metadata && metadata[0]) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; meta && metadata[i] && metadata[i + 1]; i += 2)
            cJSON_AddStringToObject(meta, metadata[i], metadata[i + 1]);
    }
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        const vd_tensorfile_entry *t = &tensors[i];
        int ok = 1;
        size_t bytes = tensor_bytes(t, &ok);
        if (!ok || !t->name || (bytes && !t->data)) {
            st = vd_app_error(VKDETR_ERR_INVALID_ARG, "%s: bad tensor %s (dtype %s)", path,
                              t->name ? t->name : "(unnamed)", t->dtype ? t->dtype : "?");
            goto fail;
        }
        if (cJSON_GetObjectItemCaseSensitive(root, t->name)) {
            st = vd_app_error(VKDETR_ERR_INVALID_ARG, "%s: tensor %s twice", path, t->name);
            goto fail;
        }
        cJSON *o = cJSON_AddObjectToObject(root, t->name);
        double shape[VD_TENSORFILE_MAX_DIMS], offs[2] = {(double)offset, (double)(offset + bytes)};
        for (int d = 0; d < t->ndim; d++) shape[d] = (double)t->shape[d];
        if (!o || !cJSON_AddStringToObject(o, "dtype", t->dtype) ||
            !cJSON_AddItemToObject(o, "shape", cJSON_CreateDoubleArray(shape, t->ndim)) ||
            !cJSON_AddItemToObject(o, "data_offsets", cJSON_CreateDoubleArray(offs, 2))) {
            st = vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
            goto fail;
        }
        offset += bytes;
    }
    header = cJSON_PrintUnformatted(root);
    if (!header) {
        st = vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    size_t hlen = strlen(header), padded = (hlen + 7) & ~(size_t)7;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    if ((st = vd_outfile_open(&of, path))) goto fail;
    int bad = fwrite(len8, 1, 8, of.f) != 8 || fwrite(header, 1, hlen, of.f) != hlen;
    for (size_t i = hlen; !bad && i < padded; i++) bad = fputc(' ', of.f) == EOF;
    for (int i = 0; !bad && i < n; i++) {
        int ok = 1;
        size_t bytes = tensor_bytes(&tensors[i], &ok);
        bad = bytes && fwrite(tensors[i].data, 1, bytes, of.f) != bytes;
    }
    if (bad) {
        st = vd_app_error(VKDETR_ERR_IO, "cannot write %s", path);
        goto fail;
    }
    st = vd_outfile_commit(&of);
    cJSON_free(header);
    cJSON_Delete(root);
    return st;
fail:
    vd_outfile_abort(&of);
    cJSON_free(header);
    cJSON_Delete(root);
    return st;
}

static vkdetr_status parse_entry(const char *path, const cJSON *o, const uint8_t *data,
                                 size_t data_size, vd_tensorfile_entry *t, size_t *nbytes) {
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(o, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(o, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2 || cJSON_GetArraySize(shape) > VD_TENSORFILE_MAX_DIMS)
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: tensor %s: bad header entry", path, o->string);
    t->dtype = dtype->valuestring;
    t->ndim = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape) {
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9.0e15)
            return vd_app_error(VKDETR_ERR_FORMAT, "%s: tensor %s: bad shape", path, o->string);
        t->shape[t->ndim++] = (int64_t)d->valuedouble;
    }
    int ok = 1;
    size_t bytes = tensor_bytes(t, &ok);
    if (!ok)
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: tensor %s: unknown dtype %s or bad shape",
                            path, o->string, t->dtype);
    double b = cJSON_GetArrayItem(offs, 0)->valuedouble, e = cJSON_GetArrayItem(offs, 1)->valuedouble;
    if (!(b >= 0 && e >= b && e <= (double)data_size) || (size_t)(e - b) != bytes)
        return vd_app_error(VKDETR_ERR_FORMAT,
                            "%s: tensor %s: data offsets [%.0f, %.0f] do not match its shape "
                            "or the file size",
                            path, o->string, b, e);
    t->data = data + (size_t)b;
    *nbytes = bytes;
    return VKDETR_OK;
}

vkdetr_status vd_tensorfile_read(const char *path, vd_tensorfile *out) {
    memset(out, 0, sizeof *out);
    char *blob;
    size_t size;
    vkdetr_status st = vd_files_read_all(path, &blob, &size);
    if (st) return st;
    uint64_t hlen = 0;
    if (size >= 8)
        for (int i = 0; i < 8; i++) hlen |= (uint64_t)(uint8_t)blob[i] << (8 * i);
    if (size < 8 || hlen > size - 8) {
        free(blob);
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: not a safetensors file (bad header length)",
                            path);
    }
    cJSON *root = cJSON_ParseWithLength(blob + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        free(blob);
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: not a safetensors file (bad header JSON)", path);
    }
    int n = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, root) if (strcmp(o->string, "__metadata__")) n++;
    out->tensors = calloc(n ? (size_t)n : 1, sizeof *out->tensors);
    out->nbytes = calloc(n ? (size_t)n : 1, sizeof *out->nbytes);
    out->blob_ = blob;
    out->names_ = root;
    if (!out->tensors || !out->nbytes) {
        vd_tensorfile_free(out);
        return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    }
    const uint8_t *data = (const uint8_t *)blob + 8 + hlen;
    cJSON_ArrayForEach(o, root) {
        if (!strcmp(o->string, "__metadata__")) continue;
        vd_tensorfile_entry *t = &out->tensors[out->count];
        t->name = o->string;
        st = parse_entry(path, o, data, size - 8 - (size_t)hlen, t, &out->nbytes[out->count]);
        if (st) {
            vd_tensorfile_free(out);
            return st;
        }
        out->count++;
    }
    return VKDETR_OK;
}

const vd_tensorfile_entry *vd_tensorfile_find(const vd_tensorfile *tf, const char *name) {
    for (int i = 0; i < tf->count; i++)
        if (!strcmp(tf->tensors[i].name, name)) return &tf->tensors[i];
    return NULL;
}

void vd_tensorfile_free(vd_tensorfile *tf) {
    if (!tf) return;
    free(tf->tensors);
    free(tf->nbytes);
    free(tf->blob_);
    cJSON_Delete(tf->names_);
    memset(tf, 0, sizeof *tf);
}
