#version 450
// Softmax over the last dim, one workgroup per row, max subtracted, fp32 sums.
// Push constants: vd_vk_pc_rows (core/vk/op_softmax.c).
#include "io.glsl"

#define VD_RED_N 128u
layout(local_size_x = 128) in;
#include "reduce.glsl"

VD_IN(0, x)  // (rows, D)
VD_OUT(1, y) // (rows, D)

layout(push_constant) uniform PC {
    uint rows, D;
} pc;

void main() {
    uint row = vd_group_id();
    if (row >= pc.rows) return; // whole workgroup: uniform
    uint t = gl_LocalInvocationID.x, base = row * pc.D;
    float m = uintBitsToFloat(0xff800000u); // -inf
    for (uint i = t; i < pc.D; i += VD_RED_N) m = max(m, VD_LD(x, 0, base + i));
    m = vd_reduce_max(m);
    float s = 0.0;
    for (uint i = t; i < pc.D; i += VD_RED_N) s += exp(VD_LD(x, 0, base + i) - m);
    float inv = 1.0 / vd_reduce_sum(s);
    for (uint i = t; i < pc.D; i += VD_RED_N)
        VD_ST(y, 1, base + i, exp(VD_LD(x, 0, base + i) - m) * inv);
}
