#version 450
// conv2d as an implicit GEMM: for image n and group g, Y[o, p] = sum_k W[o, k] * X[k, p]
// with k = (c, ky, kx) and p = (oy, ox); X is gathered from the input on the fly (zero
// padding, asymmetric allowed). Tiles of 64 output channels x 64 pixels per workgroup,
// 16 k per step through shared memory; each of the 256 invocations owns a 4x4 block
// (rows ty + 16i, columns tx + 16j). Epilogue: act(acc + bias[o] + residual).
// Grid: (ceil(OH*OW / 64), ceil(Og / 64), N * groups).
#include "io.glsl"
#include "act.glsl"

#define BM 64u
#define BN 64u
#define BK 16u

layout(local_size_x = 256) in;

VD_IN(0, x)    // (N, C, H, W)
VD_IN(1, w)    // (O, Cg, kh, kw)
VD_IN(2, bias) // (O), when flags & 1
VD_IN(3, res)  // (N, O, OH, OW), when flags & 2
VD_OUT(4, y)   // (N, O, OH, OW)

#include "conv_pc.glsl"

shared float As[BK][BM];
shared float Bs[BK][BN];

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % 16u, ty = tid / 16u;
    uint P = pc.OH * pc.OW;
    uint p0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
    uint n = gl_WorkGroupID.z / pc.groups, g = gl_WorkGroupID.z % pc.groups;
    uint khw = pc.kh * pc.kw, K = pc.Cg * khw;
    uint xbase = (n * pc.C + g * pc.Cg) * pc.H * pc.W;
    uint wbase = g * pc.Og * K;

    float acc[4][4];
    [[unroll]] for (uint i = 0u; i < 4u; i++)
        [[unroll]] for (uint j = 0u; j < 4u; j++) acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < K; k0 += BK) {
        [[unroll]] for (uint r = 0u; r < 4u; r++) {
            uint e = tid + 256u * r;
            uint m = e / BK, k = e % BK;
            float v = 0.0;
            if (m0 + m < pc.Og && k0 + k < K) v = VD_LD(w, 1, wbase + (m0 + m) * K + k0 + k);
            As[k][m] = v;
        }
        [[unroll]] for (uint r = 0u; r < 4u; r++) {
            uint e = tid + 256u * r;
            uint k = e / BN, p = e % BN;
            uint kk = k0 + k, pp = p0 + p;
            float v = 0.0;
            if (kk < K && pp < P) {
                uint c = kk / khw, rr = kk % khw;
                uint ky = rr / pc.kw, kx = rr % pc.kw;
                uint oy = pp / pc.OW, ox = pp % pc.OW;
                int iy = int(oy * pc.sh + ky) - int(pc.pt);
                int ix = int(ox * pc.sw + kx) - int(pc.pl);
                if (iy >= 0 && iy < int(pc.H) && ix >= 0 && ix < int(pc.W))
                    v = VD_LD(x, 0, xbase + (c * pc.H + uint(iy)) * pc.W + uint(ix));
            }
            Bs[k][p] = v;
        }
        barrier();
        for (uint kk = 0u; kk < BK; kk++) {
            float a[4], b[4];
            [[unroll]] for (uint i = 0u; i < 4u; i++) a[i] = As[kk][ty + 16u * i];
            [[unroll]] for (uint j = 0u; j < 4u; j++) b[j] = Bs[kk][tx + 16u * j];
            [[unroll]] for (uint i = 0u; i < 4u; i++)
                [[unroll]] for (uint j = 0u; j < 4u; j++) acc[i][j] += a[i] * b[j];
        }
        barrier();
    }

    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        uint om = m0 + ty + 16u * i;
        if (om >= pc.Og) continue;
        uint o = g * pc.Og + om;
        float bv = (pc.flags & 1u) != 0u ? VD_LD(bias, 2, o) : 0.0;
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            uint pp = p0 + tx + 16u * j;
            if (pp >= P) continue;
            uint yi = (n * pc.O + o) * P + pp;
            float v = acc[i][j] + bv;
            if ((pc.flags & 2u) != 0u) v += VD_LD(res, 3, yi);
            VD_ST(y, 4, yi, vd_act(pc.act, v));
        }
    }
}
