/* box_refine: sigmoid(delta + inverse_sigmoid(ref)), elementwise (shaders/box_refine.comp).
 * The output and ref are kept fp32 in fp16 mode (backend.c). */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_n {
    uint32_t n;
} vd_vk_pc_n;
VD_VK_PUSH_CHECK(vd_vk_pc_n);

vkdetr_status vd_vk_plan_box_refine(vd_vk_plan *p, const vd_tensor *t) {
    vd_vk_pc_n pc = {(uint32_t)vd_nelements(t)};
    vd_vk_call c = {.shader = VD_VK_SHADER_BOX_REFINE, .n_bind = 3, .writes = 1u << 2,
                    .push = &pc, .push_size = sizeof pc};
    c.bind[0] = vd_vk_plan_tensor(p, t->src[0]);
    c.bind[1] = vd_vk_plan_tensor(p, t->src[1]);
    c.bind[2] = vd_vk_plan_tensor(p, t);
    vd_vk_groups_1d((pc.n + 255) / 256, c.groups);
    return vd_vk_plan_call(p, &c);
}
