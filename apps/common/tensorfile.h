/* A small safetensors writer and reader for the apps (the library's reader is internal).
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [1, 3, 640, 640], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value"}}
 * padded with spaces to a multiple of 8, then the tensor bytes (offsets relative to the end
 * of the header). Little-endian hosts only. */
#ifndef VD_APP_TENSORFILE_H
#define VD_APP_TENSORFILE_H

#include <stddef.h>
#include <stdint.h>

#include "vkdetr.h"

#define VD_TENSORFILE_MAX_DIMS 8

typedef struct vd_tensorfile_entry {
    const char *name;
    const char *dtype;    /* "F32", "I32", "I64", "F16", "BF16", "F64", "U8", ... */
    int ndim;
    int64_t shape[VD_TENSORFILE_MAX_DIMS];
    const void *data;     /* element count * dtype size bytes */
} vd_tensorfile_entry;

/* Bytes per element of a safetensors dtype name; 0 for an unknown one. */
size_t vd_tensorfile_dtype_size(const char *dtype);

/* Writes the tensors (in the given order) to path; the file appears only when complete.
 * metadata: NULL, or pairs of strings ending with NULL ("format", "pt", NULL). */
vkdetr_status vd_tensorfile_write(const char *path, const vd_tensorfile_entry *tensors, int n,
                                  const char *const *metadata);

/* A file read into memory. Entries borrow their names and data from it. */
typedef struct vd_tensorfile {
    int count;
    vd_tensorfile_entry *tensors;
    size_t *nbytes;       /* per tensor */
    void *blob_;          /* internal */
    void *names_;         /* internal */
} vd_tensorfile;

/* Reads and checks a whole file: header JSON, dtypes, that the offsets match the shapes and
 * lie inside the file. */
vkdetr_status vd_tensorfile_read(const char *path, vd_tensorfile *out);

/* The tensor named name, or NULL. */
const vd_tensorfile_entry *vd_tensorfile_find(const vd_tensorfile *tf, const char *name);

void vd_tensorfile_free(vd_tensorfile *tf);

#endif
