/* RT-DETR's hybrid encoder: input projections, AIFI (transformer layers with a 2D sin-cos
 * position embedding on the coarsest map), the top-down FPN and bottom-up PAN of CSPRep
 * blocks, and the decoder's input projections. RepVGG blocks are fused to one 3x3 conv at
 * load. */
#ifndef VD_HYBRID_ENCODER_H
#define VD_HYBRID_ENCODER_H

#include "core/nn.h"
#include "model/rtdetr_config.h"

typedef struct vd_aifi_layer {
    vd_mha attn;
    vd_norm attn_norm;   /* self_attn_layer_norm */
    vd_linear fc1, fc2;
    vd_norm final_norm;
} vd_aifi_layer;

typedef struct vd_csprep {
    vd_conv conv1, conv2, conv3; /* conv3 unused when has_conv3 is 0 */
    int has_conv3;
    vd_conv blocks[3];           /* fused RepVGG: SiLU(BN(3x3) + BN(1x1)) as one 3x3 */
    int n_blocks;
} vd_csprep;

typedef struct vd_hybrid_encoder {
    const vd_rtdetr_config *cfg; /* borrowed */
    vd_conv in_proj[VD_RT_MAX_LEVELS];
    vd_aifi_layer *aifi;         /* [n_encode_proj * encoder_layers], owned */
    vd_conv lateral[VD_RT_MAX_LEVELS], downsample[VD_RT_MAX_LEVELS];
    vd_csprep fpn[VD_RT_MAX_LEVELS], pan[VD_RT_MAX_LEVELS];
    vd_conv dec_proj[VD_RT_MAX_LEVELS]; /* decoder_input_proj, num_feature_levels of them */
} vd_hybrid_encoder;

vkdetr_status vd_hybrid_encoder_load(vd_hybrid_encoder *e, const vd_rtdetr_config *cfg,
                                     vd_weights *W);
void vd_hybrid_encoder_free(vd_hybrid_encoder *e);

/* feats: backbone maps [1, C_i, h_i, w_i] -> out: the decoder's input maps
 * [1, d_model, h_l, w_l] for l < num_feature_levels, fine to coarse. stages: mark the
 * intermediate maps as outputs (encoder.proj.*, encoder.aifi, encoder.out.*). */
void vd_hybrid_encoder_build(const vd_hybrid_encoder *e, vd_graph *g, vd_tensor *const *feats,
                             vd_tensor **out, int stages);

/* The AIFI 2D sin-cos embedding for an h x w map: (h*w, dim), rows y-major; channels
 * sin(y w_i), cos(y w_i), sin(x w_i), cos(x w_i), w_i = T^(-i/(dim/4)). Computed in double
 * and rounded, as transformers does. out has h*w*dim floats. */
void vd_sincos_2d(float *out, int h, int w, int dim, double temperature);

#endif
