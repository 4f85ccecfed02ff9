/* conv2d: act(conv(x, w) + bias + residual) with stride, asymmetric zero padding and groups.
 * Two kernels: an implicit GEMM tiled 64 output channels x 64 pixels (shaders/conv2d.comp),
 * and a direct one-output-per-invocation kernel (shaders/conv2d_direct.comp) for grouped
 * convolutions with few output channels per group (depthwise), where GEMM tiles would be
 * nearly empty. Both take vd_vk_pc_conv2d. */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_conv2d {
    uint32_t N, C, H, W;
    uint32_t O, OH, OW;
    uint32_t kh, kw, sh, sw;
    uint32_t pt, pl;
    uint32_t groups, Cg, Og;
    uint32_t act, flags; /* flags: 1 bias, 2 residual */
} vd_vk_pc_conv2d;
VD_VK_PUSH_CHECK(vd_vk_pc_conv2d);

/* below this many output channels per group the direct kernel is used */
#define DIRECT_MAX_OG 8

vkdetr_status vd_vk_plan_conv2d(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *x = t->src[0], *w = t->src[1];
    const vd_conv2d_params *cp = &t->p.conv;
    vd_vk_pc_conv2d pc = {
        (uint32_t)x->ne[0], (uint32_t)x->ne[1], (uint32_t)x->ne[2], (uint32_t)x->ne[3],
        (uint32_t)t->ne[1], (uint32_t)t->ne[2], (uint32_t)t->ne[3],
        (uint32_t)w->ne[2], (uint32_t)w->ne[3], (uint32_t)cp->stride_h, (uint32_t)cp->stride_w,
        (uint32_t)cp->pad_t, (uint32_t)cp->pad_l,
        (uint32_t)cp->groups, (uint32_t)w->ne[1], (uint32_t)(t->ne[1] / cp->groups),
        (uint32_t)cp->act, (t->src[2] ? 1u : 0u) | (t->src[3] ? 2u : 0u)};
    int direct = pc.Og < DIRECT_MAX_OG;
    vd_vk_call c = {.shader = direct ? VD_VK_SHADER_CONV2D_DIRECT : VD_VK_SHADER_CONV2D,
                    .n_bind = 5, .writes = 1u << 4, .push = &pc, .push_size = sizeof pc};
    for (int i = 0; i < 4; i++) c.bind[i] = vd_vk_plan_tensor(p, t->src[i]);
    c.bind[4] = vd_vk_plan_tensor(p, t);
    uint64_t pixels = (uint64_t)pc.OH * pc.OW;
    if (direct) {
        vd_vk_groups_1d(((uint64_t)vd_nelements(t) + 255) / 256, c.groups);
    } else {
        c.groups[0] = (uint32_t)((pixels + 63) / 64);
        c.groups[1] = (pc.Og + 63) / 64;
        c.groups[2] = pc.N * pc.groups;
    }
    return vd_vk_plan_call(p, &c);
}
