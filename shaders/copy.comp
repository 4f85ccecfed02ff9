#version 450
// A strided copy over a 6-D iteration space: element (i0..i5) moves from
// x[sbase + sum i_d * ss[d]] to y[dbase + sum i_d * ds[d]]. Slice, permute, concat (one
// dispatch per source) and nearest upsampling are all this kernel with different strides
// (core/vk/op_copy.c). 32-bit tensors (F32 and I32) are copied as raw words, so the copy is
// exact; fp16 storage on either side converts.
#include "io.glsl"

layout(local_size_x = 256) in;

VD_IN_U32(0, x)
VD_OUT_U32(1, y)
#ifdef VD_F16
layout(std430, set = 0, binding = 0) readonly buffer x_f16 { float16_t x_h[]; };
layout(std430, set = 0, binding = 1) writeonly buffer y_f16 { float16_t y_h[]; };
#endif

layout(push_constant) uniform PC {
    uint n;
    uint ne[6];
    uint ss[6];
    uint ds[6];
    uint sbase, dbase;
} pc;

void main() {
    uint i = vd_group_id() * 256u + gl_LocalInvocationID.x;
    if (i >= pc.n) return;
    uint r = i, si = pc.sbase, di = pc.dbase;
    [[unroll]] for (int d = 5; d >= 0; d--) {
        uint c = r % pc.ne[d];
        r /= pc.ne[d];
        si += c * pc.ss[d];
        di += c * pc.ds[d];
    }
#ifdef VD_F16
    if (VD_IS_F16(0) && VD_IS_F16(1)) {
        y_h[di] = x_h[si];
    } else if (VD_IS_F16(0)) {
        y[di] = floatBitsToUint(float(x_h[si]));
    } else if (VD_IS_F16(1)) {
        y_h[di] = float16_t(uintBitsToFloat(x[si]));
    } else {
        y[di] = x[si];
    }
#else
    y[di] = x[si];
#endif
}
