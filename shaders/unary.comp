#version 450
// y = act(x), elementwise. Push constants: vd_vk_pc_unary (core/vk/op_unary.c).
#include "io.glsl"
#include "act.glsl"

layout(local_size_x = 256) in;

VD_IN(0, x)
VD_OUT(1, y)

layout(push_constant) uniform PC {
    uint n;
    uint act;
} pc;

void main() {
    uint i = vd_group_id() * 256u + gl_LocalInvocationID.x;
    if (i >= pc.n) return;
    VD_ST(y, 1, i, vd_act(pc.act, VD_LD(x, 0, i)));
}
