/* RT-DETR and RT-DETRv2 configuration: transformers' RTDetrConfig / RTDetrV2Config and
 * RTDetrResNetConfig read from config.json, with transformers' default for every absent key
 * (hub configs are written as diffs: MODELS.md 2.11). Values we do not run are refused with
 * a message naming the key. */
#ifndef VD_RTDETR_CONFIG_H
#define VD_RTDETR_CONFIG_H

#include <cjson/cJSON.h>

#include "core/graph.h"

#define VD_RT_MAX_STAGES 4
#define VD_RT_MAX_LEVELS VD_MAX_LEVELS

typedef enum vd_resnet_layer { VD_RESNET_BASIC = 0, VD_RESNET_BOTTLENECK = 1 } vd_resnet_layer;

typedef struct vd_resnet_config {
    int num_channels;           /* 3 */
    int embedding_size;         /* stem width */
    int n_stages;
    int hidden_sizes[VD_RT_MAX_STAGES];
    int depths[VD_RT_MAX_STAGES];
    vd_resnet_layer layer_type;
    vd_act hidden_act;
    int downsample_in_first_stage;
    int downsample_in_bottleneck;
    int n_out;                          /* returned feature maps */
    int out_stages[VD_RT_MAX_LEVELS];   /* 0-based stage index of each returned map */
    float bn_eps;                       /* 1e-5 (frozen BN hard-codes it) */
} vd_resnet_config;

typedef struct vd_rtdetr_config {
    int v2;                     /* model_type rt_detr_v2 */
    vd_resnet_config backbone;

    /* hybrid encoder */
    int encoder_hidden_dim;
    int n_enc_in;
    int encoder_in_channels[VD_RT_MAX_LEVELS];
    int feat_strides[VD_RT_MAX_LEVELS];
    int encoder_layers;
    int encoder_ffn_dim;
    int encoder_attention_heads;
    int n_encode_proj;
    int encode_proj_layers[VD_RT_MAX_LEVELS];
    float positional_encoding_temperature;
    vd_act encoder_activation;  /* AIFI FFN */
    vd_act activation;          /* neck convs */
    int aifi_pos_embed;         /* 0 when eval_size is set (transformers then skips it) */
    int normalize_before;
    int csp_hidden;             /* int(encoder_hidden_dim * hidden_expansion) */
    int csp_blocks;             /* 3 */

    /* decoder */
    int d_model;
    int num_queries;
    int n_dec_in;
    int decoder_in_channels[VD_RT_MAX_LEVELS];
    int decoder_ffn_dim;
    int num_feature_levels;
    int decoder_n_points;
    int decoder_layers;
    int decoder_attention_heads;
    vd_act decoder_activation;
    int learn_initial_query;
    int anchor_image_size[2];   /* height, width; 0 when null */
    float decoder_offset_scale; /* v2; v1 uses 0.5 */
    float layer_norm_eps;
    float batch_norm_eps;

    int num_labels;
    char **labels;              /* [num_labels], owned */
} vd_rtdetr_config;

/* Parses a config.json whose model_type is rt_detr or rt_detr_v2. name is the file name for
 * messages. On failure the config is freed. */
vkdetr_status vd_rtdetr_config_parse(const cJSON *json, const char *name, vd_rtdetr_config *cfg);
void vd_rtdetr_config_free(vd_rtdetr_config *cfg);

/* Reads id2label / num_labels into *labels (owned, [*n]). Shared by the families. */
vkdetr_status vd_config_labels(const cJSON *json, char ***labels, int *n);
void vd_config_labels_free(char **labels, int n);

#endif
