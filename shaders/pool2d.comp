#version 450
// Max / average pooling, one output per invocation, PyTorch's window rules (as the CPU
// reference, core/cpu/ref_conv.c): start = o*stride - pad, end = min(start + k, in + pad),
// then clipped to [0, in). Max skips padding and propagates NaN; avg divides by the
// padded-clipped window with count_include_pad, else by the real-clipped one.
// Push constants: vd_vk_pc_pool2d (core/vk/op_pool2d.c).
#include "io.glsl"

layout(local_size_x = 256) in;

VD_IN(0, x)  // (N*C, H, W)
VD_OUT(1, y) // (N*C, OH, OW)

layout(push_constant) uniform PC {
    uint n; // outputs
    uint H, W, OH, OW;
    uint kh, kw, sh, sw, ph, pw;
    uint kind; // 0 max, 1 avg
    uint count_include_pad;
} pc;

void main() {
    uint i = vd_group_id() * 256u + gl_LocalInvocationID.x;
    if (i >= pc.n) return;
    uint ox = i % pc.OW, oy = (i / pc.OW) % pc.OH, plane = i / (pc.OW * pc.OH);
    int y0 = int(oy * pc.sh) - int(pc.ph), x0 = int(ox * pc.sw) - int(pc.pw);
    int y1 = min(y0 + int(pc.kh), int(pc.H + pc.ph));
    int x1 = min(x0 + int(pc.kw), int(pc.W + pc.pw));
    int padded = (y1 - y0) * (x1 - x0);
    y0 = max(y0, 0);
    x0 = max(x0, 0);
    y1 = min(y1, int(pc.H));
    x1 = min(x1, int(pc.W));
    uint base = plane * pc.H * pc.W;
    float acc = pc.kind == 0u ? uintBitsToFloat(0xff800000u) : 0.0; // -inf
    for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
            float v = VD_LD(x, 0, base + uint(iy) * pc.W + uint(ix));
            if (pc.kind == 1u)
                acc += v;
            else if (v > acc || isnan(v))
                acc = v;
        }
    if (pc.kind == 1u) {
        int div = pc.count_include_pad != 0u ? padded : (y1 - y0) * (x1 - x0);
        acc = div > 0 ? acc / float(div) : 0.0;
    }
    VD_ST(y, 1, i, acc);
}
