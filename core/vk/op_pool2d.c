/* pool2d: max / average pooling with PyTorch's window and divisor rules
 * (shaders/pool2d.comp), one output per invocation. */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_pool2d {
    uint32_t n;
    uint32_t H, W, OH, OW;
    uint32_t kh, kw, sh, sw, ph, pw;
    uint32_t kind, count_include_pad;
} vd_vk_pc_pool2d;
VD_VK_PUSH_CHECK(vd_vk_pc_pool2d);

vkdetr_status vd_vk_plan_pool2d(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *x = t->src[0];
    const vd_pool_params *pp = &t->p.pool;
    vd_vk_pc_pool2d pc = {(uint32_t)vd_nelements(t),
                          (uint32_t)x->ne[2], (uint32_t)x->ne[3],
                          (uint32_t)t->ne[2], (uint32_t)t->ne[3],
                          (uint32_t)pp->k_h, (uint32_t)pp->k_w,
                          (uint32_t)pp->stride_h, (uint32_t)pp->stride_w,
                          (uint32_t)pp->pad_h, (uint32_t)pp->pad_w,
                          pp->kind == VD_POOL_AVG ? 1u : 0u, pp->count_include_pad ? 1u : 0u};
    vd_vk_call c = {.shader = VD_VK_SHADER_POOL2D, .n_bind = 2, .writes = 1u << 1,
                    .push = &pc, .push_size = sizeof pc};
    c.bind[0] = vd_vk_plan_tensor(p, x);
    c.bind[1] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d((pc.n + 255) / 256, c.groups);
    return vd_vk_plan_call(p, &c);
}
