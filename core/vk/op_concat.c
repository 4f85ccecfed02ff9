/* concat: one strided copy per source into its part of the output (op_copy.c). The copies
 * write disjoint elements, so they need no barriers between them. */
#include "core/vk/vk_internal.h"

vkdetr_status vd_vk_plan_concat(vd_vk_plan *p, const vd_tensor *t) {
    int64_t ne[4], ds[4];
    vd_vk_shape4(t, ne, ds);
    int axis = t->p.concat.axis + (VD_MAX_DIMS - t->ndim);
    int64_t at = 0;
    for (int s = 0; s < t->n_src; s++) {
        const vd_tensor *x = t->src[s];
        int64_t xne[4], ss[4];
        vd_vk_shape4(x, xne, ss);
        vd_vk_copy_desc d = {4, {0}, {0}, {0}, 0, at * ds[axis]};
        for (int i = 0; i < 4; i++) {
            d.ne[i] = xne[i];
            d.ss[i] = ss[i];
            d.ds[i] = ds[i];
        }
        vkdetr_status st = vd_vk_plan_copy(p, x, t, &d);
        if (st) return st;
        at += xne[axis];
    }
    return VKDETR_OK;
}
