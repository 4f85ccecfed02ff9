/* permute: dst dim i = src dim perm[i], as a strided copy (op_copy.c) that walks the
 * output in order and reads the input with permuted strides. */
#include "core/vk/vk_internal.h"

vkdetr_status vd_vk_plan_permute(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *x = t->src[0];
    int64_t ne[4], ds[4], xne[4], xs[4];
    vd_vk_shape4(t, ne, ds);
    vd_vk_shape4(x, xne, xs);
    int pad = VD_MAX_DIMS - x->ndim;
    vd_vk_copy_desc d = {4, {0}, {0}, {0}, 0, 0};
    for (int i = 0; i < 4; i++) {
        d.ne[i] = ne[i];
        d.ds[i] = ds[i];
        d.ss[i] = i < pad ? 0 : xs[pad + t->p.permute.perm[i - pad]];
    }
    return vd_vk_plan_copy(p, x, t, &d);
}
