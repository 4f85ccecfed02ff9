/* The strided copy behind slice, permute, concat and upsample (shaders/copy.comp). */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_copy {
    uint32_t n;
    uint32_t ne[6];
    uint32_t ss[6];
    uint32_t ds[6];
    uint32_t sbase, dbase;
} vd_vk_pc_copy;
VD_VK_PUSH_CHECK(vd_vk_pc_copy);

vkdetr_status vd_vk_plan_copy(vd_vk_plan *p, const vd_tensor *src, const vd_tensor *dst,
                              const vd_vk_copy_desc *d) {
    vd_vk_pc_copy pc = {1, {1, 1, 1, 1, 1, 1}, {0}, {0}, (uint32_t)d->sbase, (uint32_t)d->dbase};
    int pad = 6 - d->ndim;
    for (int i = 0; i < d->ndim; i++) {
        pc.ne[pad + i] = (uint32_t)d->ne[i];
        pc.ss[pad + i] = (uint32_t)d->ss[i];
        pc.ds[pad + i] = (uint32_t)d->ds[i];
        pc.n *= (uint32_t)d->ne[i];
    }
    vd_vk_call c = {.shader = VD_VK_SHADER_COPY, .n_bind = 2, .writes = 1u << 1,
                    .push = &pc, .push_size = sizeof pc};
    c.bind[0] = vd_vk_plan_tensor(p, src);
    c.bind[1] = vd_vk_plan_tensor(p, dst);
    vd_vk_groups_1d((pc.n + 255) / 256, c.groups);
    return vd_vk_plan_call(p, &c);
}
