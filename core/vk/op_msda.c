/* msda: multi-scale deformable attention in ONE dispatch (shaders/msda.comp): sampling
 * locations, softmax over each head's points, bilinear zero-padded sampling and the
 * weighted sum, one invocation per (query, channel). */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_msda {
    uint32_t Q, C, Dh, M, L, LP;
    uint32_t h[VD_MAX_LEVELS], w[VD_MAX_LEVELS], pts[VD_MAX_LEVELS];
    uint32_t ref_dim;
    float offset_scale;
    uint32_t cblocks;
} vd_vk_pc_msda;
VD_VK_PUSH_CHECK(vd_vk_pc_msda);

vkdetr_status vd_vk_plan_msda(vd_vk_plan *p, const vd_tensor *t) {
    const vd_msda_params *mp = &t->p.msda;
    uint32_t c_dim = (uint32_t)t->ne[1];
    vd_vk_pc_msda pc = {(uint32_t)t->ne[0], c_dim, c_dim / (uint32_t)mp->n_heads,
                        (uint32_t)mp->n_heads, (uint32_t)mp->n_levels, 0,
                        {0}, {0}, {0}, (uint32_t)mp->ref_dim, mp->offset_scale,
                        (c_dim + 63) / 64};
    for (int l = 0; l < mp->n_levels; l++) {
        pc.h[l] = (uint32_t)mp->h[l];
        pc.w[l] = (uint32_t)mp->w[l];
        pc.pts[l] = (uint32_t)mp->points[l];
        pc.LP += pc.pts[l];
    }
    vd_vk_call c = {.shader = VD_VK_SHADER_MSDA, .n_bind = 6, .writes = 1u << 5,
                    .push = &pc, .push_size = sizeof pc};
    for (int i = 0; i < 5; i++)
        c.bind[i] = vd_vk_plan_tensor(p, i < t->n_src ? t->src[i] : NULL);
    c.bind[5] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d((uint64_t)pc.Q * pc.cblocks, c.groups);
    return vd_vk_plan_call(p, &c);
}
