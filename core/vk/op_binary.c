/* binary: y = a op b, b broadcast to a's shape by numpy rules (shaders/binary.comp). */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_binary {
    uint32_t n, op;
    uint32_t ne[4];      /* output (= a) shape, padded to 4 dims */
    uint32_t bstride[4]; /* b's stride along each output dim, 0 where b has size 1 */
} vd_vk_pc_binary;
VD_VK_PUSH_CHECK(vd_vk_pc_binary);

vkdetr_status vd_vk_plan_binary(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *b = t->src[1];
    int64_t ne[4], stride[4], bne[4], bstride[4];
    vd_vk_shape4(t, ne, stride);
    vd_vk_shape4(b, bne, bstride); /* right-aligned like the output */
    vd_vk_pc_binary pc = {(uint32_t)vd_nelements(t), (uint32_t)t->p.binary.op, {0}, {0}};
    for (int d = 0; d < 4; d++) {
        pc.ne[d] = (uint32_t)ne[d];
        pc.bstride[d] = bne[d] == 1 ? 0 : (uint32_t)bstride[d];
    }
    vd_vk_call c = {.shader = VD_VK_SHADER_BINARY, .n_bind = 3, .writes = 1u << 2,
                    .push = &pc, .push_size = sizeof pc};
    c.bind[0] = vd_vk_plan_tensor(p, t->src[0]);
    c.bind[1] = vd_vk_plan_tensor(p, b);
    c.bind[2] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d((pc.n + 255) / 256, c.groups);
    return vd_vk_plan_call(p, &c);
}
