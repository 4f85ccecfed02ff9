/* attention: fused multi-head attention, one workgroup per (batch, head, query) with an
 * online softmax over chunks of 64 keys (shaders/attention.comp). Head size <= 256. */
#include <math.h>

#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_attention {
    uint32_t B, Lq, Lk, D;
    uint32_t H, dh;
    float scale;
} vd_vk_pc_attention;
VD_VK_PUSH_CHECK(vd_vk_pc_attention);

#define DH_MAX 256 /* shaders/attention.comp */

vkdetr_status vd_vk_plan_attention(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *q = t->src[0], *k = t->src[1];
    uint32_t h = (uint32_t)t->p.attn.n_heads, d = (uint32_t)q->ne[q->ndim - 1];
    vd_vk_pc_attention pc = {q->ndim == 3 ? (uint32_t)q->ne[0] : 1u,
                             (uint32_t)q->ne[q->ndim - 2], (uint32_t)k->ne[k->ndim - 2], d, h,
                             d / h, (float)(1.0 / sqrt((double)(d / h)))};
    if (pc.dh > DH_MAX)
        return vd_error(VKDETR_ERR_UNSUPPORTED, "attention head size %u > %d", pc.dh, DH_MAX);
    vd_vk_call c = {.shader = VD_VK_SHADER_ATTENTION, .n_bind = 4, .writes = 1u << 3,
                    .push = &pc, .push_size = sizeof pc};
    for (int i = 0; i < 3; i++) c.bind[i] = vd_vk_plan_tensor(p, t->src[i]);
    c.bind[3] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d((uint64_t)pc.B * pc.H * pc.Lq, c.groups);
    return vd_vk_plan_call(p, &c);
}
