#version 450
// Multi-scale deformable attention, fused in one dispatch (see vd_msda_params in
// core/graph.h): for query q and channel c of head m, softmax over the head's LP weight
// logits, then for every point k of level l the sampling location from the reference
// point and the offset, bilinear sampling of the head's channel at that location (zero
// padding, align_corners false: pixel = loc * size - 0.5), and the weighted sum.
// One invocation per (query, channel): the 64 invocations of a workgroup read neighbouring
// channels of the same value rows. Locations, weights and sums are fp32.
// Grid: ceil(C / 64) * Q workgroups (2-D split). Push constants: vd_vk_pc_msda.
#include "io.glsl"

layout(local_size_x = 64) in;

VD_IN(0, value)   // (S, C), C = M * Dh, tokens of all levels, level-major
VD_IN(1, offsets) // (Q, M * LP * 2): x, y per head and point
VD_IN(2, logits)  // (Q, M * LP)
VD_IN(3, ref)     // (Q, ref_dim): cx, cy[, w, h] normalised
VD_IN(4, pscale)  // (LP), only with ref_dim 4
VD_OUT(5, y)      // (Q, C)

layout(push_constant) uniform PC {
    uint Q, C, Dh, M, L, LP;
    uint h[4], w[4], pts[4];
    uint ref_dim;
    float offset_scale;
    uint cblocks; // ceil(C / 64)
} pc;

void main() {
    uint gid = vd_group_id();
    uint q = gid / pc.cblocks;
    uint c = (gid % pc.cblocks) * 64u + gl_LocalInvocationID.x;
    if (q >= pc.Q || c >= pc.C) return;
    uint m = c / pc.Dh;
    uint wbase = (q * pc.M + m) * pc.LP;

    float mx = uintBitsToFloat(0xff800000u);
    for (uint k = 0u; k < pc.LP; k++) {
        float lg = VD_LD(logits, 2, wbase + k);
        mx = lg > mx ? lg : mx;
    }
    float sum = 0.0;
    for (uint k = 0u; k < pc.LP; k++) sum += exp(VD_LD(logits, 2, wbase + k) - mx);

    uint rb = q * pc.ref_dim;
    float rx = VD_LD(ref, 3, rb), ry = VD_LD(ref, 3, rb + 1u);
    float rw = 0.0, rh = 0.0;
    if (pc.ref_dim == 4u) {
        rw = VD_LD(ref, 3, rb + 2u);
        rh = VD_LD(ref, 3, rb + 3u);
    }

    float acc = 0.0;
    uint k = 0u, start = 0u;
    for (uint l = 0u; l < pc.L; l++) {
        int W = int(pc.w[l]), H = int(pc.h[l]);
        for (uint pt = 0u; pt < pc.pts[l]; pt++, k++) {
            uint ob = (wbase + k) * 2u;
            float ox = VD_LD(offsets, 1, ob), oy = VD_LD(offsets, 1, ob + 1u);
            precise float lx, ly;
            if (pc.ref_dim == 4u) {
                float s = VD_LD(pscale, 4, k);
                lx = rx + ox * s * rw * pc.offset_scale;
                ly = ry + oy * s * rh * pc.offset_scale;
            } else {
                lx = rx + ox / float(W);
                ly = ry + oy / float(H);
            }
            precise float px = lx * float(W) - 0.5, py = ly * float(H) - 0.5;
            // NaN and far-away points sample nothing
            if (!(px > -1.0 && px < float(W) && py > -1.0 && py < float(H))) continue;
            float fx = floor(px), fy = floor(py);
            int x0 = int(fx), y0 = int(fy);
            float ax = px - fx, ay = py - fy;
            float smp = 0.0;
            [[unroll]] for (int dy = 0; dy < 2; dy++) {
                int yy = y0 + dy;
                if (yy < 0 || yy >= H) continue;
                float wy = dy == 0 ? 1.0 - ay : ay;
                [[unroll]] for (int dx = 0; dx < 2; dx++) {
                    int xx = x0 + dx;
                    if (xx < 0 || xx >= W) continue;
                    float wx = dx == 0 ? 1.0 - ax : ax;
                    uint tok = start + uint(yy * W + xx);
                    smp += wx * wy * VD_LD(value, 0, tok * pc.C + c);
                }
            }
            acc += exp(VD_LD(logits, 2, wbase + k) - mx) / sum * smp;
        }
        start += pc.h[l] * pc.w[l];
    }
    VD_ST(y, 5, q * pc.C + c, acc);
}
