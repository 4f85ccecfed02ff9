/* gather: y[i] = x[idx[i] / div] along the first dim (shaders/gather.comp). */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_gather {
    uint32_t n, D, rows, div;
} vd_vk_pc_gather;
VD_VK_PUSH_CHECK(vd_vk_pc_gather);

vkdetr_status vd_vk_plan_gather(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *x = t->src[0];
    uint32_t row = (uint32_t)(vd_nelements(x) / x->ne[0]);
    vd_vk_pc_gather pc = {(uint32_t)vd_nelements(t), row, (uint32_t)x->ne[0],
                          (uint32_t)t->p.gather.div};
    vd_vk_call c = {.shader = VD_VK_SHADER_GATHER, .n_bind = 3, .writes = 1u << 2,
                    .push = &pc, .push_size = sizeof pc};
    c.bind[0] = vd_vk_plan_tensor(p, x);
    c.bind[1] = vd_vk_plan_tensor(p, t->src[1]);
    c.bind[2] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d((pc.n + 255) / 256, c.groups);
    return vd_vk_plan_call(p, &c);
}
