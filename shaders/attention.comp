#version 450
// Multi-head scaled dot-product attention, fused: one workgroup per (batch, head, query
// row). Keys are visited in chunks of 64 (one per invocation) with an online softmax: the
// running max m and sum l are rescaled when a chunk raises the max, so no score matrix is
// stored and any Lk works. Scores, softmax and the weighted sum are fp32.
// out[b, i, h*dh + d] = sum_j softmax_j(q_h[i] . k_h[j] * scale) v_h[j][d].
// Push constants: vd_vk_pc_attention (core/vk/op_attention.c).
#include "io.glsl"

#define VD_RED_N 64u
#define DH_MAX 256u
layout(local_size_x = 64) in;
#include "reduce.glsl"

VD_IN(0, q)  // (B, Lq, D)
VD_IN(1, k)  // (B, Lk, D)
VD_IN(2, v)  // (B, Lk, D)
VD_OUT(3, y) // (B, Lq, D)

layout(push_constant) uniform PC {
    uint B, Lq, Lk, D;
    uint H, dh; // heads, head size (dh <= DH_MAX)
    float scale;
} pc;

shared float qs[DH_MAX];
shared float ps[64];

void main() {
    uint gid = vd_group_id();
    if (gid >= pc.B * pc.H * pc.Lq) return; // whole workgroup: uniform
    uint t = gl_LocalInvocationID.x;
    uint i = gid % pc.Lq, h = (gid / pc.Lq) % pc.H, b = gid / (pc.Lq * pc.H);
    uint qbase = (b * pc.Lq + i) * pc.D + h * pc.dh;
    uint kvbase = b * pc.Lk * pc.D + h * pc.dh;
    for (uint d = t; d < pc.dh; d += 64u) qs[d] = VD_LD(q, 0, qbase + d);
    barrier();

    float m = uintBitsToFloat(0xff800000u), l = 0.0; // running max (-inf) and sum
    float acc[DH_MAX / 64u];
    [[unroll]] for (uint r = 0u; r < DH_MAX / 64u; r++) acc[r] = 0.0;

    for (uint j0 = 0u; j0 < pc.Lk; j0 += 64u) {
        uint j = j0 + t;
        float s = uintBitsToFloat(0xff800000u);
        if (j < pc.Lk) {
            float dot = 0.0;
            uint kb = kvbase + j * pc.D;
            for (uint d = 0u; d < pc.dh; d++) dot += qs[d] * VD_LD(k, 1, kb + d);
            s = dot * pc.scale;
        }
        float m_new = max(m, vd_reduce_max(s));
        float p = j < pc.Lk ? exp(s - m_new) : 0.0;
        float corr = exp(m - m_new);
        ps[t] = p;
        l = l * corr + vd_reduce_sum(p); // the reduction's barriers also publish ps
        uint nj = min(64u, pc.Lk - j0);
        [[unroll]] for (uint r = 0u; r < DH_MAX / 64u; r++) {
            uint d = t + 64u * r;
            if (d < pc.dh) {
                float a = acc[r] * corr;
                for (uint jj = 0u; jj < nj; jj++)
                    a += ps[jj] * VD_LD(v, 2, kvbase + (j0 + jj) * pc.D + d);
                acc[r] = a;
            }
        }
        m = m_new;
        barrier(); // ps is rewritten by the next chunk
    }
    [[unroll]] for (uint r = 0u; r < DH_MAX / 64u; r++) {
        uint d = t + 64u * r;
        if (d < pc.dh) VD_ST(y, 3, qbase + d, acc[r] / l);
    }
}
