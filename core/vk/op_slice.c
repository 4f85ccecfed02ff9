/* slice: [begin, end) along one axis, as a strided copy (op_copy.c). */
#include "core/vk/vk_internal.h"

vkdetr_status vd_vk_plan_slice(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *x = t->src[0];
    int64_t ne[4], ds[4], xne[4], ss[4];
    vd_vk_shape4(t, ne, ds);
    vd_vk_shape4(x, xne, ss);
    int axis = t->p.slice.axis + (VD_MAX_DIMS - x->ndim);
    vd_vk_copy_desc d = {4, {0}, {0}, {0}, t->p.slice.begin * ss[axis], 0};
    for (int i = 0; i < 4; i++) {
        d.ne[i] = ne[i];
        d.ss[i] = ss[i];
        d.ds[i] = ds[i];
    }
    return vd_vk_plan_copy(p, x, t, &d);
}
