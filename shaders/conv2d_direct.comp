#version 450
// conv2d computed directly, one output element per invocation: for depthwise and other
// grouped convolutions with few output channels per group, where a 64-channel GEMM tile
// would be mostly empty. Same semantics and push constants as conv2d.comp.
#include "io.glsl"
#include "act.glsl"

layout(local_size_x = 256) in;

VD_IN(0, x)    // (N, C, H, W)
VD_IN(1, w)    // (O, Cg, kh, kw)
VD_IN(2, bias) // (O), when flags & 1
VD_IN(3, res)  // (N, O, OH, OW), when flags & 2
VD_OUT(4, y)   // (N, O, OH, OW)

#include "conv_pc.glsl"

void main() {
    uint i = vd_group_id() * 256u + gl_LocalInvocationID.x;
    uint P = pc.OH * pc.OW;
    if (i >= pc.N * pc.O * P) return;
    uint pp = i % P, o = (i / P) % pc.O, n = i / (P * pc.O);
    uint oy = pp / pc.OW, ox = pp % pc.OW;
    uint g = o / pc.Og;
    uint xbase = (n * pc.C + g * pc.Cg) * pc.H * pc.W;
    uint wbase = o * pc.Cg * pc.kh * pc.kw;
    int iy0 = int(oy * pc.sh) - int(pc.pt), ix0 = int(ox * pc.sw) - int(pc.pl);
    float acc = 0.0;
    for (uint c = 0u; c < pc.Cg; c++) {
        for (uint ky = 0u; ky < pc.kh; ky++) {
            int iy = iy0 + int(ky);
            if (iy < 0 || iy >= int(pc.H)) continue;
            uint xrow = xbase + (c * pc.H + uint(iy)) * pc.W;
            uint wrow = wbase + (c * pc.kh + ky) * pc.kw;
            for (uint kx = 0u; kx < pc.kw; kx++) {
                int ix = ix0 + int(kx);
                if (ix < 0 || ix >= int(pc.W)) continue;
                acc += VD_LD(x, 0, xrow + uint(ix)) * VD_LD(w, 1, wrow + kx);
            }
        }
    }
    if ((pc.flags & 1u) != 0u) acc += VD_LD(bias, 2, o);
    if ((pc.flags & 2u) != 0u) acc += VD_LD(res, 3, i);
    VD_ST(y, 4, i, vd_act(pc.act, acc));
}
