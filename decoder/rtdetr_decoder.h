/* RT-DETR's query selection ("encoder head") and decoder: anchors and valid mask, top-k
 * selection of the encoder's proposals, decoder layers (self-attention, multi-scale
 * deformable cross-attention, FFN) with iterative box refinement, class and box heads. */
#ifndef VD_RTDETR_DECODER_H
#define VD_RTDETR_DECODER_H

#include "core/nn.h"
#include "model/rtdetr_config.h"

typedef struct vd_rtdetr_layer {
    vd_mha self_attn;
    vd_norm self_attn_norm;
    vd_linear sampling_offsets, attention_weights, value_proj, output_proj;
    vd_tensor *point_scale;  /* (levels * points): v2's stored n_points_scale, v1 constant */
    vd_norm cross_norm;      /* encoder_attn_layer_norm */
    vd_linear fc1, fc2;
    vd_norm final_norm;
    vd_linear class_head;    /* class_embed.<i> */
    vd_mlp box_head;         /* bbox_embed.<i> */
} vd_rtdetr_layer;

typedef struct vd_rtdetr_decoder {
    const vd_rtdetr_config *cfg; /* borrowed */
    vd_linear enc_output;        /* enc_output.0 */
    vd_norm enc_norm;            /* enc_output.1 */
    vd_linear enc_score;         /* enc_score_head */
    vd_mlp enc_box;              /* enc_bbox_head */
    vd_tensor *query_embed;      /* weight_embedding (learn_initial_query) or NULL */
    vd_mlp query_pos;            /* decoder.query_pos_head */
    vd_rtdetr_layer *layers;     /* [decoder_layers], owned */
} vd_rtdetr_decoder;

vkdetr_status vd_rtdetr_decoder_load(vd_rtdetr_decoder *d, const vd_rtdetr_config *cfg,
                                     vd_weights *W);
void vd_rtdetr_decoder_free(vd_rtdetr_decoder *d);

/* maps: the decoder's input maps [1, d_model, h_l, w_l], fine to coarse. Returns logits
 * (num_queries, num_labels) and boxes (num_queries, 4: cx, cy, w, h normalised). */
void vd_rtdetr_decoder_build(const vd_rtdetr_decoder *d, vd_graph *g, vd_tensor *const *maps,
                             vd_tensor **logits, vd_tensor **boxes, int stages);

/* Anchors in logit space (invalid ones +FLT_MAX) and the valid mask (1 or 0), for the given
 * level sizes: anchors (S, 4), valid (S). Buffers of S*4 and S floats. */
void vd_rtdetr_anchors(int n_levels, const int *h, const int *w, float *anchors, float *valid);

#endif
