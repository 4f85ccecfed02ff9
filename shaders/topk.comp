#version 450
// One round of top-k: each workgroup sorts a chunk of 2048 (key, index) pairs in shared
// memory with a bitonic network and keeps its best k. The backend runs rounds until one
// chunk is left (core/vk/op_topk.c): round 0 reads the values, later rounds the candidates
// of the previous one; the last writes the k indices.
//
// The order is the CPU reference's, exactly: larger value first, equal values by lower
// index, NaN below every number (NaNs by index), -0 equal to +0. Values become order-
// preserving unsigned keys (sign-flipped bits; NaN is 0, below -inf), compared as integers.
// Push constants: vd_vk_pc_topk.
#include "io.glsl"

#define CH 2048u
layout(local_size_x = 256) in;

VD_IN_U32(0, x)     // (n) values, round 0
VD_IN_U32(1, cin)   // (n, 2) candidates (key, index), later rounds
VD_OUT_U32(2, cout) // (chunks * k, 2) candidates out, all rounds but the last
layout(std430, set = 0, binding = 3) writeonly buffer idx_u32 { int idx[]; }; // (k) last round
#ifdef VD_F16
layout(std430, set = 0, binding = 0) readonly buffer x_f16 { float16_t x_h[]; };
#endif

layout(push_constant) uniform PC {
    uint n;     // elements (round 0) or candidates in this round
    uint k;     // kept per chunk
    uint mode;  // 0: read x, 1: read cin
    uint last;  // 1: one chunk, write idx
} pc;

shared uint skey[CH];
shared uint sidx[CH];

uint order_key(uint u) {
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0u; // NaN
    if ((u & 0x7fffffffu) == 0u) u = 0u;            // -0 == +0
    return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

bool before(uint ka, uint ia, uint kb, uint ib) { return ka > kb || (ka == kb && ia < ib); }

void main() {
    uint t = gl_LocalInvocationID.x, chunk = vd_group_id();
    uint base = chunk * CH;
    [[unroll]] for (uint r = 0u; r < CH / 256u; r++) {
        uint e = t + 256u * r, g = base + e;
        uint key = 0u, ix = 0xffffffffu; // padding ranks after everything
        if (g < pc.n) {
            if (pc.mode == 0u) {
#ifdef VD_F16
                uint bits = VD_IS_F16(0) ? floatBitsToUint(float(x_h[g])) : x[g];
#else
                uint bits = x[g];
#endif
                key = order_key(bits);
                ix = g;
            } else {
                key = cin[2u * g];
                ix = cin[2u * g + 1u];
            }
        }
        skey[e] = key;
        sidx[e] = ix;
    }
    barrier();
    for (uint size = 2u; size <= CH; size <<= 1u) {
        for (uint stride = size >> 1u; stride > 0u; stride >>= 1u) {
            [[unroll]] for (uint r = 0u; r < CH / 512u; r++) {
                uint p = t + 256u * r;
                uint i = 2u * stride * (p / stride) + (p % stride), j = i + stride;
                uint ka = skey[i], ia = sidx[i], kb = skey[j], ib = sidx[j];
                bool up = (i & size) == 0u;
                if (up ? before(kb, ib, ka, ia) : before(ka, ia, kb, ib)) {
                    skey[i] = kb;
                    sidx[i] = ib;
                    skey[j] = ka;
                    sidx[j] = ia;
                }
            }
            barrier();
        }
    }
    for (uint r = t; r < pc.k; r += 256u) {
        if (pc.last != 0u) {
            idx[r] = int(sidx[r]);
        } else {
            uint o = chunk * pc.k + r;
            cout[2u * o] = skey[r];
            cout[2u * o + 1u] = sidx[r];
        }
    }
}
