#version 450
// Max over the last dim, one row per invocation; a NaN anywhere in the row gives NaN (as
// torch.max and the CPU reference). Push constants: vd_vk_pc_rows (core/vk/op_reduce_max.c).
#include "io.glsl"

layout(local_size_x = 64) in;

VD_IN(0, x)  // (rows, D)
VD_OUT(1, y) // (rows)

layout(push_constant) uniform PC {
    uint rows, D;
} pc;

void main() {
    uint row = vd_group_id() * 64u + gl_LocalInvocationID.x;
    if (row >= pc.rows) return;
    float m = uintBitsToFloat(0xff800000u); // -inf
    for (uint i = 0u; i < pc.D; i++) {
        float v = VD_LD(x, 0, row * pc.D + i);
        if (v > m || isnan(v)) m = v;
        if (isnan(m)) break;
    }
    VD_ST(y, 1, row, m);
}
