#version 450
// Multi-head scaled dot-product attention, fused (flash-attention style): a workgroup
// takes 64 query rows of one (batch, head), one row per invocation. Keys and values pass
// through shared memory in tiles of TK rows, each loaded once for the 64 queries; every
// invocation keeps its query, a running max m, a running sum l and the weighted sum acc in
// registers (online softmax: acc and l are rescaled when a tile raises the max), so no
// score matrix is stored and any Lk works. All arithmetic is fp32.
// out[b, i, h*DH + d] = sum_j softmax_j(q_h[i] . k_h[j] * scale) v_h[j][d].
// Specialisation: DH (constant_id 1) the head size, TK (2) keys per tile, TK * DH <= 2048
// (16 KB of shared memory for both tiles). Push constants: vd_vk_pc_attention.
#include "io.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 1) const uint DH = 32u;
layout(constant_id = 2) const uint TK = 32u;

VD_IN(0, q)  // (B, Lq, D)
VD_IN(1, k)  // (B, Lk, D)
VD_IN(2, v)  // (B, Lk, D)
VD_OUT(3, y) // (B, Lq, D)

layout(push_constant) uniform PC {
    uint B, Lq, Lk, D;
    uint H;
    uint qblocks; // ceil(Lq / 64)
    float scale;
} pc;

shared float ks[TK * DH];
shared float vs[TK * DH];

void main() {
    uint gid = vd_group_id();
    if (gid >= pc.B * pc.H * pc.qblocks) return; // whole workgroup: uniform
    uint t = gl_LocalInvocationID.x;
    uint qb = gid % pc.qblocks, h = (gid / pc.qblocks) % pc.H, b = gid / (pc.qblocks * pc.H);
    uint i = qb * 64u + t;
    bool live = i < pc.Lq;
    uint qbase = (b * pc.Lq + min(i, pc.Lq - 1u)) * pc.D + h * DH;
    uint kvbase = b * pc.Lk * pc.D + h * DH;

    float qr[DH], acc[DH];
    for (uint d = 0u; d < DH; d++) {
        qr[d] = VD_LD(q, 0, qbase + d) * pc.scale;
        acc[d] = 0.0;
    }
    float m = uintBitsToFloat(0xff800000u), l = 0.0; // -inf, 0

    for (uint j0 = 0u; j0 < pc.Lk; j0 += TK) {
        uint nj = min(TK, pc.Lk - j0);
        barrier(); // the previous tile is consumed
        for (uint e = t; e < nj * DH; e += 64u) {
            uint src = kvbase + (j0 + e / DH) * pc.D + e % DH;
            ks[e] = VD_LD(k, 1, src);
            vs[e] = VD_LD(v, 2, src);
        }
        barrier();
        if (!live) continue;
        float s[TK];
        float mt = m;
        for (uint jj = 0u; jj < nj; jj++) {
            float dot = 0.0;
            for (uint d = 0u; d < DH; d++) dot += qr[d] * ks[jj * DH + d];
            s[jj] = dot;
            mt = max(mt, dot);
        }
        float corr = exp(m - mt); // 0 on the first tile (m = -inf)
        l *= corr;
        for (uint d = 0u; d < DH; d++) acc[d] *= corr;
        for (uint jj = 0u; jj < nj; jj++) {
            float p = exp(s[jj] - mt);
            l += p;
            for (uint d = 0u; d < DH; d++) acc[d] += p * vs[jj * DH + d];
        }
        m = mt;
    }
    if (!live) return;
    uint ybase = (b * pc.Lq + i) * pc.D + h * DH;
    float inv = 1.0 / l;
    for (uint d = 0u; d < DH; d++) VD_ST(y, 3, ybase + d, acc[d] * inv);
}
