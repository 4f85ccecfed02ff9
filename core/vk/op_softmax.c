/* softmax over the last dim, one workgroup per row, fp32 sums (shaders/softmax.comp). */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_rows {
    uint32_t rows, D;
} vd_vk_pc_rows;
VD_VK_PUSH_CHECK(vd_vk_pc_rows);

vkdetr_status vd_vk_plan_softmax(vd_vk_plan *p, const vd_tensor *t) {
    uint32_t d = (uint32_t)t->ne[t->ndim - 1];
    vd_vk_pc_rows pc = {(uint32_t)(vd_nelements(t) / d), d};
    vd_vk_call c = {.shader = VD_VK_SHADER_SOFTMAX, .n_bind = 2, .writes = 1u << 1,
                    .push = &pc, .push_size = sizeof pc};
    c.bind[0] = vd_vk_plan_tensor(p, t->src[0]);
    c.bind[1] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d(pc.rows, c.groups);
    return vd_vk_plan_call(p, &c);
}
