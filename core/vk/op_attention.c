/* attention: fused multi-head attention (shaders/attention.comp): a workgroup per 64 query
 * rows of one head, keys and values through shared memory in tiles, online softmax in
 * registers. The head size is a specialisation constant (one pipeline per head size used);
 * up to 256. */
#include <math.h>

#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_attention {
    uint32_t B, Lq, Lk, D;
    uint32_t H;
    uint32_t qblocks;
    float scale;
} vd_vk_pc_attention;
VD_VK_PUSH_CHECK(vd_vk_pc_attention);

#define DH_MAX 256
#define TILE_FLOATS 2048 /* TK * DH: two tiles of 8 KB, within the 16 KB every device has */

vkdetr_status vd_vk_plan_attention(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *q = t->src[0], *k = t->src[1];
    uint32_t h = (uint32_t)t->p.attn.n_heads, d = (uint32_t)q->ne[q->ndim - 1], dh = d / h;
    uint32_t lq = (uint32_t)q->ne[q->ndim - 2];
    vd_vk_pc_attention pc = {q->ndim == 3 ? (uint32_t)q->ne[0] : 1u, lq,
                             (uint32_t)k->ne[k->ndim - 2], d, h, (lq + 63) / 64,
                             (float)(1.0 / sqrt((double)dh))};
    if (dh > DH_MAX)
        return vd_error(VKDETR_ERR_UNSUPPORTED, "attention head size %u > %d", dh, DH_MAX);
    uint32_t tk = VD_MIN(32u, TILE_FLOATS / dh);
    vd_vk_call c = {.shader = VD_VK_SHADER_ATTENTION, .spec = {0, dh, tk, 0}, .n_bind = 4,
                    .writes = 1u << 3, .push = &pc, .push_size = sizeof pc};
    for (int i = 0; i < 3; i++) c.bind[i] = vd_vk_plan_tensor(p, t->src[i]);
    c.bind[3] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d((uint64_t)pc.B * pc.H * pc.qblocks, c.groups);
    return vd_vk_plan_call(p, &c);
}
