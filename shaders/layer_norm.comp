#version 450
// Layer norm over the last dim, one workgroup per row: y = (x - mean) / sqrt(var + eps) *
// gamma + beta, biased variance. Statistics in fp32, two passes over the row (mean, then
// the centred sum of squares), whatever the storage type.
// Push constants: vd_vk_pc_rows (core/vk/op_layer_norm.c).
#include "io.glsl"

#define VD_RED_N 128u
layout(local_size_x = 128) in;
#include "reduce.glsl"

VD_IN(0, x)     // (rows, D)
VD_IN(1, gamma) // (D)
VD_IN(2, beta)  // (D)
VD_OUT(3, y)    // (rows, D)

layout(push_constant) uniform PC {
    uint rows, D;
    float eps;
} pc;

void main() {
    uint row = vd_group_id();
    if (row >= pc.rows) return; // whole workgroup: uniform
    uint t = gl_LocalInvocationID.x, base = row * pc.D;
    float s = 0.0;
    for (uint i = t; i < pc.D; i += VD_RED_N) s += VD_LD(x, 0, base + i);
    float mean = vd_reduce_sum(s) / float(pc.D);
    float q = 0.0;
    for (uint i = t; i < pc.D; i += VD_RED_N) {
        float d = VD_LD(x, 0, base + i) - mean;
        q += d * d;
    }
    float inv = 1.0 / sqrt(vd_reduce_sum(q) / float(pc.D) + pc.eps);
    for (uint i = t; i < pc.D; i += VD_RED_N) {
        float v = (VD_LD(x, 0, base + i) - mean) * inv * VD_LD(gamma, 1, i) + VD_LD(beta, 2, i);
        VD_ST(y, 3, base + i, v);
    }
}
