/* safetensors reader (and a small writer).
 *
 * Format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data
 * section. The JSON maps each tensor name to {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]} (byte offsets relative to the start of the data section),
 * plus an optional "__metadata__" object of string -> string.
 *
 *     vd_safetensors *st;
 *     if (vd_st_open("model.safetensors", &st) != VKDETR_OK) return ...;  // message set
 *     const vd_st_tensor *t = vd_st_find(st, "model.enc_score_head.weight");
 *     float *w = malloc(t->nelements * sizeof(float));
 *     vd_st_read_f32(t, w);   // F32, F16, BF16 or F64 -> f32
 *     vd_st_close(st);
 *
 * Everything in the header is validated when the file is opened (header length, JSON,
 * dtypes, shapes, offsets inside the data section, sizes matching shapes, no overlapping
 * byte ranges, no duplicate names, UTF-8), so that a reader that opened successfully never
 * reads out of bounds. Errors are one line naming the file (or "<memory>"), the tensor and
 * the problem. VKDETR_ERR_IO: the file cannot be opened, mapped or read;
 * VKDETR_ERR_FORMAT: malformed content; VKDETR_ERR_NO_MEMORY.
 *
 * Files are mapped read-only (mmap, MAP_PRIVATE): tensor data is never copied by the reader.
 * As with any mmap, truncating the file while it is open makes later reads fault.
 *
 * Thread safety: an open reader is immutable; any number of threads may read it. */
#ifndef VD_SAFETENSORS_H
#define VD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"

#define VD_ST_MAX_DIMS 8

typedef enum vd_st_dtype {
    VD_ST_F32 = 0,
    VD_ST_F16,
    VD_ST_BF16,
    VD_ST_F64,
    VD_ST_I64,
    VD_ST_I32,
    VD_ST_I16,
    VD_ST_I8,
    VD_ST_U8,
    VD_ST_BOOL,
    VD_ST_DTYPE_COUNT
} vd_st_dtype;

/* "F32", "BF16", ... (the safetensors spelling); "?" for an invalid value. */
const char *vd_st_dtype_name(vd_st_dtype dtype);
/* Bytes per element; 0 for an invalid value. */
size_t vd_st_dtype_size(vd_st_dtype dtype);
/* F32, F16, BF16, F64: the dtypes vd_st_read_f32 converts. */
int vd_st_dtype_is_float(vd_st_dtype dtype);

typedef struct vd_st_tensor {
    const char *name;  /* owned by the reader */
    const char *file;  /* the reader's file name (or "<memory>"), for messages */
    vd_st_dtype dtype;
    int ndim;          /* 0 (a scalar) .. VD_ST_MAX_DIMS */
    int64_t shape[VD_ST_MAX_DIMS]; /* outermost first; entries past ndim are 0 */
    int64_t nelements; /* product of shape (1 for a scalar) */
    size_t nbytes;     /* nelements * dtype size */
    size_t offset;     /* byte offset inside the data section */
    /* The bytes, little-endian, inside the mapping (or the reader's copy); valid until
     * vd_st_close. NOT necessarily aligned: use memcpy or vd_st_read_f32. */
    const void *data;
} vd_st_tensor;

typedef struct vd_safetensors vd_safetensors;

/* Opens and maps path, validates the header. On success *out is owned by the caller (free
 * with vd_st_close); on failure *out is NULL. */
vkdetr_status vd_st_open(const char *path, vd_safetensors **out);

/* Parses a file held in memory. The reader copies the bytes: data is borrowed only for the
 * duration of the call. Messages name the file "<memory>". */
vkdetr_status vd_st_open_memory(const void *data, size_t size, vd_safetensors **out);

/* Accepts NULL. */
void vd_st_close(vd_safetensors *st);

/* The path given to vd_st_open, or "<memory>". */
const char *vd_st_name(const vd_safetensors *st);

/* Number of tensors, and the i-th (0 <= i < count) in the order of the header. */
int vd_st_count(const vd_safetensors *st);
const vd_st_tensor *vd_st_at(const vd_safetensors *st, int i);

/* The tensor with this exact name, or NULL. O(1) (hash table). */
const vd_st_tensor *vd_st_find(const vd_safetensors *st, const char *name);

/* A "__metadata__" value, or NULL when absent. Borrowed, valid until vd_st_close. */
const char *vd_st_metadata(const vd_safetensors *st, const char *key);

/* 1 when tensor data points into a read-only file mapping (vd_st_open), 0 for a reader
 * that owns a heap copy (vd_st_open_memory). */
int vd_st_is_mapped(const vd_safetensors *st);

/* Tells a mapped reader that the bytes [p, p + bytes) of its data are not needed for now
 * (a weight that was converted or folded into a copy): their whole pages leave the process's
 * resident memory, and are read from the file again if touched later, so the data stays
 * valid. No-op for a heap copy or for bytes outside the mapping. */
void vd_st_release(const vd_safetensors *st, const void *p, size_t bytes);

/* Converts t's data to f32 into dst (t->nelements floats). F32 is copied, F16 (subnormals,
 * inf and nan kept), BF16 and F64 (rounded to nearest) are converted. Other dtypes:
 * VKDETR_ERR_FORMAT naming the tensor and dtype. */
vkdetr_status vd_st_read_f32(const vd_st_tensor *t, float *dst);

/* ---- writer ---------------------------------------------------------------------------- */

typedef struct vd_st_write_entry {
    const char *name;
    vd_st_dtype dtype;
    int ndim;
    int64_t shape[VD_ST_MAX_DIMS];
    const void *data; /* nelements * dtype size bytes, little-endian; borrowed */
} vd_st_write_entry;

/* Writes n tensors (any dtype; F32 and I32 are the ones our tools need) to path: the data
 * in the order given, contiguous, the header padded with spaces to a multiple of 8 bytes.
 * The file is written to "<path>.tmp" and renamed, so path never holds a partial file.
 * Names must be unique and non-empty, not "__metadata__". VKDETR_ERR_IO on write failures
 * (the temporary file is removed), VKDETR_ERR_INVALID_ARG on bad entries. */
vkdetr_status vd_st_write(const char *path, int n, const vd_st_write_entry *entries);

/* As vd_st_write, with a "__metadata__" object: n_meta (key, value) pairs in kv[2*i],
 * kv[2*i+1]. */
vkdetr_status vd_st_write_meta(const char *path, int n, const vd_st_write_entry *entries,
                               int n_meta, const char *const *kv);

#endif /* VD_SAFETENSORS_H */
