/* ResNet-vd ("PResNet") backbone of RT-DETR: deep 3-conv stem, max pool, basic or bottleneck
 * stages with average-pool shortcuts. BatchNorms are folded into the convolutions at load. */
#ifndef VD_RESNET_VD_H
#define VD_RESNET_VD_H

#include "core/nn.h"
#include "model/rtdetr_config.h"

typedef struct vd_resnet_block {
    vd_conv conv[3];   /* basic: 2 used, bottleneck: 3 */
    int has_shortcut;  /* a 1x1 conv + BN on the residual path */
    int shortcut_pool; /* AvgPool2d(2, 2, ceil_mode) before it (vd downsampling) */
    vd_conv shortcut;
} vd_resnet_block;

typedef struct vd_resnet {
    vd_resnet_config cfg;
    vd_conv stem[3];
    int n_blocks[VD_RT_MAX_STAGES];
    vd_resnet_block *blocks[VD_RT_MAX_STAGES]; /* [n_blocks[s]], owned */
} vd_resnet;

/* prefix: "model.backbone.model". Errors accumulate in W. */
vkdetr_status vd_resnet_load(vd_resnet *r, const vd_resnet_config *cfg, vd_weights *W,
                             const char *prefix);
void vd_resnet_free(vd_resnet *r);

/* pixels [1, 3, H, W] -> outs[i] [1, C_i, H/s_i, W/s_i] for the configured output stages. */
void vd_resnet_build(const vd_resnet *r, vd_graph *g, vd_tensor *pixels, vd_tensor **outs);

#endif
