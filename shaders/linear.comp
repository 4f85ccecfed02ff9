#version 450
// y[m, o] = act(sum_k x[m, k] * w[o, k] + bias[o] + residual[m, o]): a tiled GEMM with both
// operands k-contiguous. Tiles of 64 rows x 64 outputs per workgroup, 16 k per step through
// shared memory; each of the 256 invocations owns a 4x4 block (rows ty + 16i, outputs
// tx + 16j). Grid: (ceil(O / 64), ceil(M / 64)).
#include "io.glsl"
#include "act.glsl"

#define BM 64u
#define BN 64u
#define BK 16u

layout(local_size_x = 256) in;

VD_IN(0, x)    // (M, K)
VD_IN(1, w)    // (O, K)
VD_IN(2, bias) // (O), when flags & 1
VD_IN(3, res)  // (M, O), when flags & 2
VD_OUT(4, y)   // (M, O)

layout(push_constant) uniform PC {
    uint M, K, O;
    uint act;   // vd_act
    uint flags; // 1: bias, 2: residual
} pc;

shared float As[BK][BM];
shared float Bs[BK][BN];

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % 16u, ty = tid / 16u;
    uint o0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;

    float acc[4][4];
    [[unroll]] for (uint i = 0u; i < 4u; i++)
        [[unroll]] for (uint j = 0u; j < 4u; j++) acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < pc.K; k0 += BK) {
        [[unroll]] for (uint r = 0u; r < 4u; r++) {
            uint e = tid + 256u * r;
            uint row = e / BK, k = e % BK;
            float xv = 0.0, wv = 0.0;
            if (k0 + k < pc.K) {
                if (m0 + row < pc.M) xv = VD_LD(x, 0, (m0 + row) * pc.K + k0 + k);
                if (o0 + row < pc.O) wv = VD_LD(w, 1, (o0 + row) * pc.K + k0 + k);
            }
            As[k][row] = xv;
            Bs[k][row] = wv;
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

    [[unroll]] for (uint j = 0u; j < 4u; j++) {
        uint o = o0 + tx + 16u * j;
        if (o >= pc.O) continue;
        float bv = (pc.flags & 1u) != 0u ? VD_LD(bias, 2, o) : 0.0;
        [[unroll]] for (uint i = 0u; i < 4u; i++) {
            uint m = m0 + ty + 16u * i;
            if (m >= pc.M) continue;
            uint yi = m * pc.O + o;
            float v = acc[i][j] + bv;
            if ((pc.flags & 2u) != 0u) v += VD_LD(res, 3, yi);
            VD_ST(y, 4, yi, vd_act(pc.act, v));
        }
    }
}
