#version 450
// y = a op b with b broadcast to a's shape (numpy rules). Shapes are padded to 4 dims;
// bstride[d] is b's stride along output dim d, 0 where b has size 1.
// Push constants: vd_vk_pc_binary (core/vk/op_binary.c).
#include "io.glsl"

layout(local_size_x = 256) in;

VD_IN(0, a)
VD_IN(1, b)
VD_OUT(2, y)

layout(push_constant) uniform PC {
    uint n;
    uint op; // 0 add, 1 mul
    uint ne[4];
    uint bstride[4];
} pc;

void main() {
    uint i = vd_group_id() * 256u + gl_LocalInvocationID.x;
    if (i >= pc.n) return;
    uint r = i, bi = 0u;
    [[unroll]] for (int d = 3; d >= 0; d--) {
        bi += (r % pc.ne[d]) * pc.bstride[d];
        r /= pc.ne[d];
    }
    float av = VD_LD(a, 0, i), bv = VD_LD(b, 1, bi);
    VD_ST(y, 2, i, pc.op == 0u ? av + bv : av * bv);
}
