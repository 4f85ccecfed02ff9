#version 450
// y[i, :] = x[idx[i] / div, :]; an index outside x gives a row of zeros. 32-bit rows are
// copied as raw words (F32 or I32); fp16 storage on either side converts.
// Push constants: vd_vk_pc_gather (core/vk/op_gather.c).
#include "io.glsl"

layout(local_size_x = 256) in;

VD_IN_U32(0, x)   // (rows, D)
VD_IN_U32(1, idx) // (K) int32
VD_OUT_U32(2, y)  // (K, D)
#ifdef VD_F16
layout(std430, set = 0, binding = 0) readonly buffer x_f16 { float16_t x_h[]; };
layout(std430, set = 0, binding = 2) writeonly buffer y_f16 { float16_t y_h[]; };
#endif

layout(push_constant) uniform PC {
    uint n;    // K * D
    uint D;    // elements per row
    uint rows; // rows of x
    uint div;
} pc;

void main() {
    uint i = vd_group_id() * 256u + gl_LocalInvocationID.x;
    if (i >= pc.n) return;
    uint k = i / pc.D, d = i % pc.D;
    int ix = int(idx[k]);
    int row = ix < 0 ? -1 : ix / int(pc.div);
    bool ok = row >= 0 && uint(row) < pc.rows;
    uint si = ok ? uint(row) * pc.D + d : 0u;
#ifdef VD_F16
    if (VD_IS_F16(0) && VD_IS_F16(2)) {
        y_h[i] = ok ? x_h[si] : float16_t(0.0);
    } else if (VD_IS_F16(0)) {
        y[i] = ok ? floatBitsToUint(float(x_h[si])) : 0u;
    } else if (VD_IS_F16(2)) {
        y_h[i] = ok ? float16_t(uintBitsToFloat(x[si])) : float16_t(0.0);
    } else {
        y[i] = ok ? x[si] : 0u;
    }
#else
    y[i] = ok ? x[si] : 0u;
#endif
}
