// Push constants of the conv2d kernels: vd_vk_pc_conv2d (core/vk/op_conv2d.c).
layout(push_constant) uniform PC {
    uint N, C, H, W;     // input (N, C, H, W)
    uint O, OH, OW;      // output (N, O, OH, OW)
    uint kh, kw, sh, sw; // kernel, stride
    uint pt, pl;         // top and left zero padding (bottom/right are implied by OH, OW)
    uint groups, Cg, Og; // groups; input and output channels per group
    uint act;            // vd_act, applied after bias and residual
    uint flags;          // 1: bias, 2: residual
} pc;
