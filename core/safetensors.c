#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "half.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the safetensors reader assumes a little-endian host"
#endif

/* JSON numbers are doubles in cJSON: integers above 2^53 cannot be represented exactly, so
 * offsets and dimensions beyond it are rejected (a 9 PB file is not a checkpoint). */
#define MAX_JSON_INT 9007199254740992.0 /* 2^53 */

struct vd_safetensors {
    char *name;          /* path or "<memory>" */
    void *map;           /* the mapping (vd_st_open), or NULL */
    size_t map_size;
    void *copy;          /* the heap copy (vd_st_open_memory), or NULL */
    const uint8_t *base; /* the whole file */
    size_t size;
    const uint8_t *data; /* the data section */
    size_t data_size;
    int n;
    vd_st_tensor *tensors; /* header order */
    char *strings;         /* names and metadata, NUL-separated */
    int32_t *slots;        /* hash table of tensor index + 1; 0 = empty */
    uint32_t slot_mask;
    int n_meta;
    const char **meta; /* key, value pairs */
};

/* ---- dtypes ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} dtypes[VD_ST_DTYPE_COUNT] = {
    [VD_ST_F32] = {"F32", 4}, [VD_ST_F16] = {"F16", 2}, [VD_ST_BF16] = {"BF16", 2},
    [VD_ST_F64] = {"F64", 8}, [VD_ST_I64] = {"I64", 8}, [VD_ST_I32] = {"I32", 4},
    [VD_ST_I16] = {"I16", 2}, [VD_ST_I8] = {"I8", 1},   [VD_ST_U8] = {"U8", 1},
    [VD_ST_BOOL] = {"BOOL", 1},
};

const char *vd_st_dtype_name(vd_st_dtype dtype) {
    return (unsigned)dtype < VD_ST_DTYPE_COUNT ? dtypes[dtype].name : "?";
}

size_t vd_st_dtype_size(vd_st_dtype dtype) {
    return (unsigned)dtype < VD_ST_DTYPE_COUNT ? dtypes[dtype].size : 0;
}

int vd_st_dtype_is_float(vd_st_dtype dtype) {
    return dtype == VD_ST_F32 || dtype == VD_ST_F16 || dtype == VD_ST_BF16 || dtype == VD_ST_F64;
}

static int dtype_from_name(const char *s) {
    for (int i = 0; i < VD_ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0) return i;
    return -1;
}

/* ---- small helpers --------------------------------------------------------------------- */

/* A name made safe for a one-line message: control characters become '?', long names are
 * cut with "...". Returns buf. */
static const char *printable(const char *s, char *buf, size_t size) {
    size_t n = 0;
    for (; *s && n + 4 < size; s++) buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    if (*s) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = 0;
    return buf;
}

/* Returns the offset of the first byte that breaks UTF-8 (overlong forms, surrogates and
 * code points above U+10FFFF included), or size when s is valid. */
static size_t utf8_check(const uint8_t *s, size_t size) {
    size_t i = 0;
    while (i < size) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07, min = 0x10000;
        else return i;
        if (size - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += len;
    }
    return size;
}

/* "[2, 3]" into buf; returns buf. */
static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && n + 24 < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "[", (long long)shape[i]);
    snprintf(buf + n, size - n, ndim ? "]" : "[]");
    return buf;
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* Returns the slot holding name, or the empty slot where it would go. */
static uint32_t find_slot(const vd_safetensors *st, const char *name) {
    uint32_t i = (uint32_t)hash_name(name) & st->slot_mask;
    while (st->slots[i] && strcmp(st->tensors[st->slots[i] - 1].name, name) != 0)
        i = (i + 1) & st->slot_mask;
    return i;
}

/* A JSON number that is an integer in [0, 2^53]: 0 and *out set, else -1. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= MAX_JSON_INT) || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

/* ---- header parsing -------------------------------------------------------------------- */

/* Checks the shape of one entry and fills t->ndim, shape, nelements. */
static vkdetr_status parse_shape(const vd_safetensors *st, const char *pname, const cJSON *shape,
                                 vd_st_tensor *t) {
    if (!cJSON_IsArray(shape))
        return vd_error(VKDETR_ERR_FORMAT, "%s: tensor '%s': missing or non-array \"shape\"",
                        st->name, pname);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > VD_ST_MAX_DIMS)
        return vd_error(VKDETR_ERR_FORMAT, "%s: tensor '%s': shape has %d dimensions (at most %d)",
                        st->name, pname, ndim, VD_ST_MAX_DIMS);
    int64_t prod = 1; /* of the non-zero dims, so that any product of dims fits int64 */
    int has_zero = 0, i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        uint64_t v;
        if (json_uint(d, &v)) {
            if (cJSON_IsNumber(d) && d->valuedouble < 0)
                return vd_error(VKDETR_ERR_FORMAT,
                                "%s: tensor '%s': shape has a negative dimension (%g)", st->name,
                                pname, d->valuedouble);
            return vd_error(VKDETR_ERR_FORMAT,
                            "%s: tensor '%s': shape entry %d is not a non-negative integer",
                            st->name, pname, i);
        }
        t->shape[i] = (int64_t)v;
        if (v == 0) {
            has_zero = 1;
        } else {
            if ((uint64_t)prod > ((uint64_t)INT64_MAX / 8) / v) {
                char buf[256];
                return vd_error(VKDETR_ERR_FORMAT,
                                "%s: tensor '%s': shape %s has too many elements", st->name, pname,
                                shape_str(i + 1, t->shape, buf, sizeof buf));
            }
            prod *= (int64_t)v;
        }
    }
    t->ndim = ndim;
    t->nelements = has_zero ? 0 : prod;
    return VKDETR_OK;
}

/* Validates one header entry and fills t (except name, which the caller sets). */
static vkdetr_status parse_entry(const vd_safetensors *st, const cJSON *e, vd_st_tensor *t) {
    char pbuf[200];
    const char *pname = printable(e->string, pbuf, sizeof pbuf);
    if (!cJSON_IsObject(e))
        return vd_error(VKDETR_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object",
                        st->name, pname);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return vd_error(VKDETR_ERR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"",
                        st->name, pname);
    int dtype = dtype_from_name(dt->valuestring);
    if (dtype < 0) {
        char dbuf[40];
        return vd_error(VKDETR_ERR_FORMAT, "%s: tensor '%s': unsupported dtype '%s'", st->name,
                        pname, printable(dt->valuestring, dbuf, sizeof dbuf));
    }
    t->dtype = (vd_st_dtype)dtype;
    vkdetr_status s = parse_shape(st, pname, shape, t);
    if (s) return s;

    uint64_t begin, end;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || json_uint(offs->child, &begin) ||
        json_uint(offs->child->next, &end))
        return vd_error(VKDETR_ERR_FORMAT,
                        "%s: tensor '%s': \"data_offsets\" is not two non-negative integers",
                        st->name, pname);
    if (begin > end)
        return vd_error(VKDETR_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] begin is after end", st->name,
                        pname, (unsigned long long)begin, (unsigned long long)end);
    if (end > st->data_size)
        return vd_error(VKDETR_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] end past the data section "
                        "(%zu bytes)",
                        st->name, pname, (unsigned long long)begin, (unsigned long long)end,
                        st->data_size);
    /* nelements <= INT64_MAX / 8, so this cannot overflow */
    uint64_t nbytes = (uint64_t)t->nelements * vd_st_dtype_size(t->dtype);
    if (end - begin != nbytes) {
        char buf[256];
        return vd_error(VKDETR_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s %s "
                        "needs %llu",
                        st->name, pname, (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)(end - begin), dtypes[t->dtype].name,
                        shape_str(t->ndim, t->shape, buf, sizeof buf),
                        (unsigned long long)nbytes);
    }
    t->offset = (size_t)begin;
    t->nbytes = (size_t)nbytes;
    t->data = st->data + begin;
    return VKDETR_OK;
}

typedef struct range {
    size_t begin, end;
    int index;
} range;

static int cmp_ranges(const void *pa, const void *pb) {
    const range *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return a->index - b->index;
}

/* Rejects tensors whose non-empty byte ranges intersect. */
static vkdetr_status check_overlaps(const vd_safetensors *st) {
    range *order = vd_malloc((size_t)st->n * sizeof *order + 1);
    if (!order) return vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", st->name);
    for (int i = 0; i < st->n; i++)
        order[i] = (range){st->tensors[i].offset, st->tensors[i].offset + st->tensors[i].nbytes, i};
    qsort(order, (size_t)st->n, sizeof *order, cmp_ranges);
    vkdetr_status s = VKDETR_OK;
    const vd_st_tensor *last = NULL; /* the non-empty range that ends furthest */
    for (int i = 0; i < st->n && !s; i++) {
        const vd_st_tensor *t = &st->tensors[order[i].index];
        if (t->nbytes == 0) continue;
        if (last && t->offset < last->offset + last->nbytes) {
            char a[160], b[160];
            s = vd_error(VKDETR_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s' [%zu, %zu]",
                         st->name, printable(t->name, a, sizeof a), t->offset,
                         t->offset + t->nbytes, printable(last->name, b, sizeof b), last->offset,
                         last->offset + last->nbytes);
        }
        if (!last || t->offset + t->nbytes > last->offset + last->nbytes) last = t;
    }
    vd_free(order);
    return s;
}

static vkdetr_status parse_metadata(vd_safetensors *st, const cJSON *m, char **strings) {
    if (!cJSON_IsObject(m))
        return vd_error(VKDETR_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", st->name);
    int n = cJSON_GetArraySize(m);
    st->meta = vd_malloc((size_t)n * 2 * sizeof *st->meta + 1);
    if (!st->meta) return vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", st->name);
    for (const cJSON *kv = m->child; kv; kv = kv->next) {
        char buf[100];
        if (!cJSON_IsString(kv))
            return vd_error(VKDETR_ERR_FORMAT, "%s: \"__metadata__\" value of '%s' is not a string",
                            st->name, printable(kv->string, buf, sizeof buf));
        const char *pair[2] = {kv->string, kv->valuestring};
        for (int k = 0; k < 2; k++) {
            size_t len = strlen(pair[k]) + 1;
            memcpy(*strings, pair[k], len);
            st->meta[2 * st->n_meta + k] = *strings;
            *strings += len;
        }
        st->n_meta++;
    }
    return VKDETR_OK;
}

/* Copies names (and metadata) into one block, fills the tensor table and the hash table. */
static vkdetr_status build_tables(vd_safetensors *st, const cJSON *root, const cJSON *meta) {
    size_t string_bytes = 1;
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        string_bytes += strlen(e->string) + 1;
        if (e != meta) n++;
    }
    if (meta && cJSON_IsObject(meta))
        for (const cJSON *kv = meta->child; kv; kv = kv->next)
            string_bytes += strlen(kv->string) + 1 +
                            (cJSON_IsString(kv) ? strlen(kv->valuestring) + 1 : 0);
    /* the header is shorter than the file, so n and string_bytes are bounded by its size */
    if (n > (1 << 28))
        return vd_error(VKDETR_ERR_FORMAT, "%s: header lists %d tensors", st->name, n);
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)n) cap *= 2;
    st->tensors = vd_calloc((size_t)n + 1, sizeof *st->tensors);
    st->strings = vd_malloc(string_bytes);
    st->slots = vd_calloc(cap, sizeof *st->slots);
    if (!st->tensors || !st->strings || !st->slots)
        return vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", st->name);
    st->slot_mask = cap - 1;
    char *strings = st->strings;
    if (meta) {
        vkdetr_status s = parse_metadata(st, meta, &strings);
        if (s) return s;
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e == meta) continue;
        vd_st_tensor *t = &st->tensors[st->n];
        vkdetr_status s = parse_entry(st, e, t);
        if (s) return s;
        size_t len = strlen(e->string) + 1;
        memcpy(strings, e->string, len);
        t->name = strings;
        t->file = st->name;
        strings += len;
        uint32_t slot = find_slot(st, t->name);
        if (st->slots[slot]) {
            char buf[200];
            return vd_error(VKDETR_ERR_FORMAT, "%s: tensor '%s': duplicate name in the header",
                            st->name, printable(t->name, buf, sizeof buf));
        }
        st->slots[slot] = ++st->n;
    }
    return check_overlaps(st);
}

static vkdetr_status parse(vd_safetensors *st) {
    if (st->size == 0) return vd_error(VKDETR_ERR_FORMAT, "%s: file is empty", st->name);
    if (st->size < 8)
        return vd_error(VKDETR_ERR_FORMAT,
                        "%s: file is %zu bytes, too short for the 8-byte header length",
                        st->name, st->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | st->base[i];
    if (hlen > st->size - 8)
        return vd_error(VKDETR_ERR_FORMAT,
                        "%s: header length %llu exceeds the file size (%zu bytes)", st->name,
                        (unsigned long long)hlen, st->size);
    const char *hdr = (const char *)st->base + 8;
    st->data = st->base + 8 + hlen;
    st->data_size = st->size - 8 - (size_t)hlen;
    size_t bad = utf8_check((const uint8_t *)hdr, (size_t)hlen);
    if (bad != hlen)
        return vd_error(VKDETR_ERR_FORMAT, "%s: header is not valid UTF-8 (byte %zu of %llu)",
                        st->name, bad, (unsigned long long)hlen);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= hdr && end <= hdr + hlen ? (size_t)(end - hdr) : 0;
        return vd_error(VKDETR_ERR_FORMAT, "%s: header is not valid JSON (error at byte %zu of %llu)",
                        st->name, at, (unsigned long long)hlen);
    }
    vkdetr_status s = VKDETR_OK;
    for (const char *p = end; p < hdr + hlen; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            s = vd_error(VKDETR_ERR_FORMAT, "%s: header has data after the JSON value (byte %zu)",
                         st->name, (size_t)(p - hdr));
            goto fail;
        }
    }
    if (!cJSON_IsObject(root)) {
        s = vd_error(VKDETR_ERR_FORMAT, "%s: header is not a JSON object", st->name);
        goto fail;
    }
    const cJSON *meta = NULL;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") != 0) continue;
        if (meta) {
            s = vd_error(VKDETR_ERR_FORMAT, "%s: duplicate \"__metadata__\" in the header", st->name);
            goto fail;
        }
        meta = e;
    }
    s = build_tables(st, root, meta);
fail:
    cJSON_Delete(root);
    return s;
}

/* ---- open / close ---------------------------------------------------------------------- */

static vkdetr_status open_common(vd_safetensors *st, vd_safetensors **out) {
    vkdetr_status s = parse(st);
    if (s) {
        vd_st_close(st);
        return s;
    }
    *out = st;
    return VKDETR_OK;
}

vkdetr_status vd_st_open(const char *path, vd_safetensors **out) {
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_st_open: out is NULL");
    *out = NULL;
    if (!path) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_st_open: path is NULL");
    vd_safetensors *st = vd_calloc(1, sizeof *st);
    if (!st) return vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", path);
    st->name = vd_strdup(path);
    if (!st->name) {
        vd_free(st);
        return vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    vkdetr_status s = VKDETR_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        s = vd_error(VKDETR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        s = vd_error(VKDETR_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        s = vd_error(VKDETR_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    if ((uintmax_t)sb.st_size > SIZE_MAX) {
        s = vd_error(VKDETR_ERR_IO, "%s: file too large to map", path);
        goto fail;
    }
    st->size = (size_t)sb.st_size;
    if (st->size > 0) {
        void *m = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            s = vd_error(VKDETR_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
            goto fail;
        }
        st->map = m;
        st->map_size = st->size;
        st->base = m;
    }
    close(fd);
    return open_common(st, out);
fail:
    if (fd >= 0) close(fd);
    vd_st_close(st);
    return s;
}

vkdetr_status vd_st_open_memory(const void *data, size_t size, vd_safetensors **out) {
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_st_open_memory: out is NULL");
    *out = NULL;
    if (!data && size)
        return vd_error(VKDETR_ERR_INVALID_ARG, "vd_st_open_memory: data is NULL");
    vd_safetensors *st = vd_calloc(1, sizeof *st);
    if (!st) return vd_error(VKDETR_ERR_NO_MEMORY, "<memory>: out of memory");
    st->name = vd_strdup("<memory>");
    st->copy = vd_malloc(size);
    if (!st->name || !st->copy) {
        vd_st_close(st);
        return vd_error(VKDETR_ERR_NO_MEMORY, "<memory>: out of memory (%zu bytes)", size);
    }
    if (size) memcpy(st->copy, data, size);
    st->base = st->copy;
    st->size = size;
    return open_common(st, out);
}

void vd_st_close(vd_safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_size);
    vd_free(st->copy);
    vd_free(st->tensors);
    vd_free(st->strings);
    vd_free(st->slots);
    vd_free(st->meta);
    vd_free(st->name);
    vd_free(st);
}

const char *vd_st_name(const vd_safetensors *st) { return st ? st->name : "(null)"; }

int vd_st_count(const vd_safetensors *st) { return st ? st->n : 0; }

const vd_st_tensor *vd_st_at(const vd_safetensors *st, int i) {
    return st && i >= 0 && i < st->n ? &st->tensors[i] : NULL;
}

const vd_st_tensor *vd_st_find(const vd_safetensors *st, const char *name) {
    if (!st || !name || !st->slots) return NULL;
    int32_t k = st->slots[find_slot(st, name)];
    return k ? &st->tensors[k - 1] : NULL;
}

const char *vd_st_metadata(const vd_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}

int vd_st_is_mapped(const vd_safetensors *st) { return st && st->map != NULL; }

void vd_st_release(const vd_safetensors *st, const void *p, size_t bytes) {
    if (!st || !st->map || !p) return;
    uintptr_t lo = (uintptr_t)st->map, hi = lo + st->map_size, a = (uintptr_t)p;
    if (a < lo || a >= hi || bytes > hi - a) return;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
    uintptr_t first = (a + page - 1) / page * page, end = (a + bytes) / page * page;
    /* a private read-only file mapping: dropped pages come back from the file */
    if (first < end) madvise((void *)first, end - first, MADV_DONTNEED);
}

/* ---- conversion ------------------------------------------------------------------------ */

static float f64_to_f32(double d) {
    /* at or above the midpoint between FLT_MAX and 2^128 rounds to inf; (float) on such a
     * value is undefined behaviour in ISO C, so it is spelled out */
    if (fabs(d) >= 0x1.ffffffp127) return d > 0 ? INFINITY : -INFINITY;
    return (float)d;
}

vkdetr_status vd_st_read_f32(const vd_st_tensor *t, float *dst) {
    if (!t || (!dst && t->nelements))
        return vd_error(VKDETR_ERR_INVALID_ARG, "vd_st_read_f32: NULL argument");
    const uint8_t *p = t->data;
    size_t n = (size_t)t->nelements;
    switch (t->dtype) {
    case VD_ST_F32:
        if (n) memcpy(dst, p, n * 4);
        return VKDETR_OK;
    case VD_ST_F16:
    case VD_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t->dtype == VD_ST_F16 ? vd_f16_to_f32(h) : vd_bf16_to_f32(h);
        }
        return VKDETR_OK;
    case VD_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = f64_to_f32(d);
        }
        return VKDETR_OK;
    default: {
        char buf[200];
        return vd_error(VKDETR_ERR_FORMAT,
                        "%s: tensor '%s': dtype %s cannot be read as floating point",
                        t->file ? t->file : "?", printable(t->name ? t->name : "?", buf, sizeof buf),
                        vd_st_dtype_name(t->dtype));
    }
    }
}

/* ---- writer ---------------------------------------------------------------------------- */

typedef struct strbuf {
    char *p;
    size_t n, cap;
    int failed;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t len) {
    if (b->failed) return;
    if (b->cap - b->n < len + 1) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < len + 1) {
            if (cap > SIZE_MAX / 2) {
                b->failed = 1;
                return;
            }
            cap *= 2;
        }
        char *p = vd_realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_str(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_string(strbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, s, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks the entries and computes each one's size; returns the header in *hdr. */
static vkdetr_status write_header(const char *path, int n, const vd_st_write_entry *e, int n_meta,
                                  const char *const *kv, strbuf *hdr) {
    const char **names = vd_malloc((size_t)n * sizeof *names + 1);
    if (!names) return vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", path);
    vkdetr_status s = VKDETR_OK;
    uint64_t offset = 0;
    char num[96];
    sb_str(hdr, "{");
    if (n_meta > 0) {
        sb_str(hdr, "\"__metadata__\":{");
        for (int i = 0; i < n_meta && !s; i++) {
            if (!kv[2 * i] || !kv[2 * i + 1]) {
                s = vd_error(VKDETR_ERR_INVALID_ARG, "%s: metadata entry %d is NULL", path, i);
                break;
            }
            if (i) sb_str(hdr, ",");
            sb_json_string(hdr, kv[2 * i]);
            sb_str(hdr, ":");
            sb_json_string(hdr, kv[2 * i + 1]);
        }
        sb_str(hdr, n ? "}," : "}");
    }
    for (int i = 0; i < n && !s; i++) {
        const char *name = e[i].name;
        names[i] = name ? name : "";
        uint64_t count = 1;
        int bad = !name || !*name || strcmp(name, "__metadata__") == 0 ||
                  utf8_check((const uint8_t *)name, strlen(name)) != strlen(name) ||
                  (unsigned)e[i].dtype >= VD_ST_DTYPE_COUNT || e[i].ndim < 0 ||
                  e[i].ndim > VD_ST_MAX_DIMS;
        for (int d = 0; !bad && d < e[i].ndim; d++) {
            uint64_t v = (uint64_t)e[i].shape[d];
            bad = e[i].shape[d] < 0 || (v && count > (UINT64_MAX / 16) / v);
            count *= v;
        }
        uint64_t nbytes = count * (bad ? 0 : dtypes[e[i].dtype].size);
        if (!bad && (!e[i].data && nbytes)) bad = 1;
        if (bad || offset + nbytes > (uint64_t)MAX_JSON_INT) {
            s = vd_error(VKDETR_ERR_INVALID_ARG, "%s: entry %d ('%s') has a bad name, dtype, shape "
                         "or data pointer", path, i, name ? name : "(null)");
            break;
        }
        if (i) sb_str(hdr, ",");
        sb_json_string(hdr, name);
        sb_str(hdr, ":{\"dtype\":\"");
        sb_str(hdr, dtypes[e[i].dtype].name);
        sb_str(hdr, "\",\"shape\":[");
        for (int d = 0; d < e[i].ndim; d++) {
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)e[i].shape[d]);
            sb_str(hdr, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                 (unsigned long long)(offset + nbytes));
        sb_str(hdr, num);
        offset += nbytes;
    }
    sb_str(hdr, "}");
    if (!s) {
        qsort(names, (size_t)n, sizeof *names, cmp_names);
        for (int i = 1; i < n && !s; i++)
            if (strcmp(names[i - 1], names[i]) == 0)
                s = vd_error(VKDETR_ERR_INVALID_ARG, "%s: duplicate tensor name '%s'", path,
                             names[i]);
    }
    while (!s && !hdr->failed && hdr->n % 8) sb_put(hdr, " ", 1);
    if (!s && hdr->failed) s = vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", path);
    vd_free(names);
    return s;
}

vkdetr_status vd_st_write_meta(const char *path, int n, const vd_st_write_entry *entries,
                               int n_meta, const char *const *kv) {
    if (!path || n < 0 || (n && !entries) || n_meta < 0 || (n_meta && !kv))
        return vd_error(VKDETR_ERR_INVALID_ARG, "vd_st_write: bad arguments");
    strbuf hdr = {0};
    char *tmp = NULL;
    FILE *f = NULL;
    int created = 0;
    vkdetr_status s = write_header(path, n, entries, n_meta, kv, &hdr);
    if (s) goto fail;
    size_t plen = strlen(path);
    tmp = vd_malloc(plen + 5);
    if (!tmp) {
        s = vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    f = fopen(tmp, "wb");
    if (!f) {
        s = vd_error(VKDETR_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    created = 1;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hdr.n >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr.p, 1, hdr.n, f) == hdr.n;
    for (int i = 0; ok && i < n; i++) {
        size_t count = 1;
        for (int d = 0; d < entries[i].ndim; d++) count *= (size_t)entries[i].shape[d];
        size_t nbytes = count * dtypes[entries[i].dtype].size;
        ok = !nbytes || fwrite(entries[i].data, 1, nbytes, f) == nbytes;
    }
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    f = NULL;
    if (!ok) {
        s = vd_error(VKDETR_ERR_IO, "%s: write failed: %s", tmp, strerror(err));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        s = vd_error(VKDETR_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    vd_free(tmp);
    vd_free(hdr.p);
    return VKDETR_OK;
fail:
    if (f) fclose(f);
    if (created) remove(tmp);
    vd_free(tmp);
    vd_free(hdr.p);
    return s;
}

vkdetr_status vd_st_write(const char *path, int n, const vd_st_write_entry *entries) {
    return vd_st_write_meta(path, n, entries, 0, NULL);
}
