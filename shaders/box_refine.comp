#version 450
// y = sigmoid(delta + inverse_sigmoid(ref)), elementwise (DETR iterative box refinement).
// Push constants: vd_vk_pc_n (core/vk/op_box_refine.c).
#include "io.glsl"
#include "act.glsl"

layout(local_size_x = 256) in;

VD_IN(0, delta)
VD_IN(1, ref)
VD_OUT(2, y)

layout(push_constant) uniform PC {
    uint n;
} pc;

void main() {
    uint i = vd_group_id() * 256u + gl_LocalInvocationID.x;
    if (i >= pc.n) return;
    float v = VD_LD(delta, 0, i) + vd_inv_sigmoid(VD_LD(ref, 1, i));
    VD_ST(y, 2, i, vd_sigmoid(v));
}
