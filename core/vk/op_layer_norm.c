/* layer_norm over the last dim, one workgroup per row, fp32 statistics
 * (shaders/layer_norm.comp). */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_layer_norm {
    uint32_t rows, D;
    float eps;
} vd_vk_pc_layer_norm;
VD_VK_PUSH_CHECK(vd_vk_pc_layer_norm);

vkdetr_status vd_vk_plan_layer_norm(vd_vk_plan *p, const vd_tensor *t) {
    uint32_t d = (uint32_t)t->ne[t->ndim - 1];
    vd_vk_pc_layer_norm pc = {(uint32_t)(vd_nelements(t) / d), d, t->p.norm.eps};
    vd_vk_call c = {.shader = VD_VK_SHADER_LAYER_NORM, .n_bind = 4, .writes = 1u << 3,
                    .push = &pc, .push_size = sizeof pc};
    for (int i = 0; i < 3; i++) c.bind[i] = vd_vk_plan_tensor(p, t->src[i]);
    c.bind[3] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d(pc.rows, c.groups);
    return vd_vk_plan_call(p, &c);
}
