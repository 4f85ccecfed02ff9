/* linear: act(x @ w^T + bias + residual) over the last dim, a tiled GEMM
 * (shaders/linear.comp): 64 rows x 64 outputs per workgroup. */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_linear {
    uint32_t M, K, O;
    uint32_t act, flags; /* flags: 1 bias, 2 residual */
} vd_vk_pc_linear;
VD_VK_PUSH_CHECK(vd_vk_pc_linear);

vkdetr_status vd_vk_plan_linear(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *x = t->src[0], *w = t->src[1];
    uint32_t k = (uint32_t)w->ne[1];
    vd_vk_pc_linear pc = {(uint32_t)(vd_nelements(x) / k), k, (uint32_t)w->ne[0],
                          (uint32_t)t->p.linear.act,
                          (t->src[2] ? 1u : 0u) | (t->src[3] ? 2u : 0u)};
    vd_vk_call c = {.shader = VD_VK_SHADER_LINEAR, .n_bind = 5, .writes = 1u << 4,
                    .push = &pc, .push_size = sizeof pc};
    for (int i = 0; i < 4; i++) c.bind[i] = vd_vk_plan_tensor(p, t->src[i]);
    c.bind[4] = vd_vk_plan_tensor(p, t);
    c.groups[0] = (pc.O + 63) / 64;
    c.groups[1] = (pc.M + 63) / 64;
    c.groups[2] = 1;
    return vd_vk_plan_call(p, &c);
}
