/* The model and session objects behind the public API, and the interface every family
 * (RT-DETR, ...) implements. */
#ifndef VD_MODEL_H
#define VD_MODEL_H

#include <cjson/cJSON.h>

#include "core/backend.h"
#include "core/preprocess.h"
#include "core/weights.h"

/* What a family's graph exposes to the session. */
typedef struct vd_net_io {
    vd_tensor *pixels; /* input [1, 3, H, W] */
    vd_tensor *logits; /* (Q, C) */
    vd_tensor *boxes;  /* (Q, 4) normalised cxcywh */
    vd_tensor *topk;   /* (K) I32 post-processing top-k over Q x C, best first */
} vd_net_io;

typedef struct vd_family_info {
    const char *family;    /* config model_type */
    int num_labels;
    char **labels;         /* borrowed from the family model */
    int num_queries;
    int size_multiple;     /* input sizes must be multiples of this */
    int has_masks;
} vd_family_info;

typedef struct vd_family {
    const char *model_type;
    /* Reads the configuration and the weights (W stays owned by the caller and alive as long
     * as the family model). */
    vkdetr_status (*load)(const cJSON *config, const char *config_name, vd_weights *W,
                          void **out, vd_family_info *info);
    /* Adds the forward pass for a width x height input to g. stages: mark intermediates. */
    void (*build)(const void *fm, vd_graph *g, int width, int height, int stages, vd_net_io *io);
    void (*free)(void *fm);
} vd_family;

extern const vd_family vd_family_rtdetr;
extern const vd_family vd_family_rtdetr_v2;

struct vkdetr_model {
    const vd_family *family;
    void *fm;
    vd_weights *W;
    vd_family_info info;
    vd_preprocess pre;
    vd_backend *backend;
    vkdetr_model_params params;
    int64_t n_params;
    char family_name[32];
};

/* Parses preprocessor_config.json (NULL: the family defaults) into *pre. */
vkdetr_status vd_preprocess_parse(const cJSON *json, const char *name, vd_preprocess *pre);

#endif
