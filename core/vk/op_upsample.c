/* upsample: nearest, integer factor f. The output [N*C, H, f, W, f] (5-D view) reads the
 * input with stride 0 along the two f dims (op_copy.c). */
#include "core/vk/vk_internal.h"

vkdetr_status vd_vk_plan_upsample(vd_vk_plan *p, const vd_tensor *t) {
    const vd_tensor *x = t->src[0];
    int64_t f = t->p.upsample.factor, h = x->ne[2], w = x->ne[3];
    vd_vk_copy_desc d = {5,
                         {x->ne[0] * x->ne[1], h, f, w, f},
                         {h * w, w, 0, 1, 0},
                         {h * f * w * f, f * w * f, w * f, f, 1},
                         0,
                         0};
    return vd_vk_plan_copy(p, x, t, &d);
}
