/* reduce_max over the last dim, one row per invocation (shaders/reduce_max.comp). */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_reduce_max {
    uint32_t rows, D;
} vd_vk_pc_reduce_max;
VD_VK_PUSH_CHECK(vd_vk_pc_reduce_max);

vkdetr_status vd_vk_plan_reduce_max(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *x = t->src[0];
    uint32_t d = (uint32_t)x->ne[x->ndim - 1];
    vd_vk_pc_reduce_max pc = {(uint32_t)(vd_nelements(x) / d), d};
    vd_vk_call c = {.shader = VD_VK_SHADER_REDUCE_MAX, .n_bind = 2, .writes = 1u << 1,
                    .push = &pc, .push_size = sizeof pc};
    c.bind[0] = vd_vk_plan_tensor(p, x);
    c.bind[1] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d((pc.rows + 63) / 64, c.groups);
    return vd_vk_plan_call(p, &c);
}
