/* Weights by name: the loading API model code uses.
 *
 *     vd_safetensors *st;
 *     vd_weights *W;
 *     if (vd_st_open(path, &st) || vd_weights_create(st, &W)) return ...;  // W owns st
 *     vd_weights_set_aliases(W, rtdetr_aliases, n_rtdetr_aliases);
 *     for (int i = 0; i < 2; i++)
 *         m->lateral[i] = vd_weights_get(W, "model.encoder.lateral_convs.%d.conv.weight",
 *                                        VD_SHAPE(256, 256, 1, 1), i);
 *     vd_tensor *proj = vd_weights_get(W, "model.enc_score_head.weight", VD_SHAPE(-1, 256));
 *     int n_classes = proj ? (int)proj->ne[0] : 0;     // -1: any size, read it back
 *     ...
 *     if (vd_weights_status(W)) return ...;             // first error, message set
 *
 * Errors accumulate: the first failing call records a status and a one-line message that
 * names the file, the tensor and the shapes; every later get returns NULL without
 * touching the message, so model code checks once at the end.
 *   VKDETR_ERR_SHAPE   missing tensor, wrong rank or dimension
 *   VKDETR_ERR_FORMAT  a tensor that is not floating point, a bad BN variance
 *   VKDETR_ERR_NO_MEMORY
 *
 * Tensors returned are leaves (VD_OP_LEAF, VD_F32, VD_TENSOR_WEIGHT, id -1) with f32 host
 * data owned by W: F32 data that is 4-byte aligned points straight into the file mapping
 * (read-only memory: never write to weight data), other dtypes are converted once into
 * W's arena (and their stored bytes released from resident memory, vd_st_release). Getting
 * the same stored tensor again returns the same vd_tensor. Everything
 * stays valid until vd_weights_free.
 *
 * Names may be spelled the way the file stores them or through aliases (see
 * vd_weights_set_aliases), because transformers v5 renamed modules while hub files keep
 * the v4 names.
 *
 * Thread safety: none; a vd_weights is used by the one thread loading a model. */
#ifndef VD_WEIGHTS_H
#define VD_WEIGHTS_H

#include <stdint.h>

#include "graph.h"
#include "safetensors.h"

/* An expected shape: ndim dims, -1 for "any size". ndim -1 (VD_SHAPE_ANY) accepts any rank
 * up to VD_MAX_DIMS. */
typedef struct vd_shape {
    int ndim;
    int64_t ne[VD_MAX_DIMS];
} vd_shape;

#define VD_SHAPE_NARGS_(a, b, c, d, n, ...) n
#define VD_SHAPE_NARGS(...) VD_SHAPE_NARGS_(__VA_ARGS__, 4, 3, 2, 1, 0)
/* VD_SHAPE(256, -1, 3, 3): one to four dims. */
#define VD_SHAPE(...) ((vd_shape){VD_SHAPE_NARGS(__VA_ARGS__), {__VA_ARGS__}})
#define VD_SHAPE_SCALAR ((vd_shape){0, {0}})
#define VD_SHAPE_ANY ((vd_shape){-1, {0}})

/* A renaming rule between two spellings of a name: substrings, e.g. {"out_proj", "o_proj"},
 * {".fc1.", ".mlp.fc1."}, {"encoder.encoder.", "encoder.aifi."}. */
typedef struct vd_alias {
    const char *legacy; /* the v4 / on-disk spelling */
    const char *v5;     /* the transformers v5 spelling */
} vd_alias;

typedef struct vd_weights vd_weights;

/* Wraps an open reader. W takes ownership of st in every case (st is closed on failure).
 * On success *out is owned by the caller (free with vd_weights_free). */
vkdetr_status vd_weights_create(vd_safetensors *st, vd_weights **out);

/* Accepts NULL. Closes the reader and frees every tensor handed out. */
void vd_weights_free(vd_weights *W);

/* The reader (borrowed), e.g. to iterate over all tensors. */
const vd_safetensors *vd_weights_file(const vd_weights *W);

/* Sets the alias rules (copied; n <= 32 used). A lookup tries the name as given first, then
 * the name with every combination of the rules that apply to it, each rule used in either
 * direction (legacy -> v5 when the name contains `legacy`, v5 -> legacy when it contains
 * `v5`), fewer rewrites first, rules in the order given. Each rewrite replaces every
 * occurrence of the substring. At most 6 applicable rewrites per name are combined.
 * When several spellings exist in the file the first in that order wins (debug log). */
vkdetr_status vd_weights_set_aliases(vd_weights *W, const vd_alias *rules, int n);

/* The tensor named by the printf-style fmt, checked against the expected shape: the rank
 * must match exactly and every dim that is not -1. NULL on any error, and on every call
 * after the first error. */
vd_tensor *vd_weights_get(vd_weights *W, const char *fmt, vd_shape shape, ...) VD_PRINTF(2, 4);

/* 1 when the name exists under any alias (no shape check, no error recorded), else 0. */
int vd_weights_has(const vd_weights *W, const char *fmt, ...) VD_PRINTF(2, 3);

/* A fresh zeroed f32 tensor (ndim <= VD_MAX_DIMS) owned by W, flagged as a weight, for
 * derived weights (folded BN, fused projections). NULL after an error. */
vd_tensor *vd_weights_new(vd_weights *W, int ndim, const int64_t *ne);

/* Folds the BatchNorm at the formatted prefix into the bias-free convolution (or linear)
 * weight conv_w [C, ...]: reads <prefix>.weight, .bias, .running_mean, .running_var (each
 * [C]) and returns new tensors
 *     scale = gamma / sqrt(var + eps)        (computed in double)
 *     *out_w = conv_w * scale[o]  (shape of conv_w),   *out_b = beta - mean * scale  [C]
 * conv_w is not modified, but its pages of the file mapping leave resident memory
 * (vd_st_release: a model keeps only the folded copy in RAM; conv_w still reads correctly).
 * A NULL conv_w after an earlier error just returns that error.
 * On failure *out_w and *out_b are NULL. Returns W's status. */
vkdetr_status vd_weights_fold_bn(vd_weights *W, const vd_tensor *conv_w, const char *bn_prefix_fmt,
                                 float eps, vd_tensor **out_w, vd_tensor **out_b, ...)
    VD_PRINTF(3, 7);

/* The first error (VKDETR_OK if none); also makes it the calling thread's last error
 * message again, so that `return vd_weights_status(W);` reports it. */
vkdetr_status vd_weights_status(const vd_weights *W);

/* The first error's message ("" if none). Borrowed. */
const char *vd_weights_error(const vd_weights *W);

/* Sum of the element counts of all floating-point tensors in the file (integer tensors
 * such as BatchNorm num_batches_tracked are skipped). */
int64_t vd_weights_num_params(const vd_weights *W);

/* Number of floating-point tensors in the file never returned by vd_weights_get or read
 * by vd_weights_fold_bn; each is logged at debug level. Helps spot misspelt names. */
int vd_weights_count_unused(const vd_weights *W);

#endif /* VD_WEIGHTS_H */
