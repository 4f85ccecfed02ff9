/* unary: y = act(x), elementwise (shaders/unary.comp). */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_unary {
    uint32_t n, act;
} vd_vk_pc_unary;
VD_VK_PUSH_CHECK(vd_vk_pc_unary);

vkdetr_status vd_vk_plan_unary(vd_vk_plan *p, const vd_tensor *t) {
    vd_vk_pc_unary pc = {(uint32_t)vd_nelements(t), (uint32_t)t->p.unary.act};
    vd_vk_call c = {.shader = VD_VK_SHADER_UNARY, .n_bind = 2, .writes = 1u << 1,
                    .push = &pc, .push_size = sizeof pc};
    c.bind[0] = vd_vk_plan_tensor(p, t->src[0]);
    c.bind[1] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d((pc.n + 255) / 256, c.groups);
    return vd_vk_plan_call(p, &c);
}
