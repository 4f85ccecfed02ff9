/* The CPU kernel tables, indexed by vd_op. Ops without a fast kernel (slice, gather: plain
 * copies) use the reference through the executor's fallback. The fast conv2d and linear are
 * the packed-GEMM kernels (fast_conv.c); grouped and depthwise convolutions go on to
 * fast_gemm.c. */
#include "core/cpu/kernels.h"

const vd_cpu_op vd_cpu_ref_ops[VD_OP_COUNT] = {
    [VD_OP_CONV2D] = {vd_cpu_ref_conv2d, NULL, NULL, NULL},
    [VD_OP_LINEAR] = {vd_cpu_ref_linear, NULL, NULL, NULL},
    [VD_OP_UNARY] = {vd_cpu_ref_unary, NULL, NULL, NULL},
    [VD_OP_BINARY] = {vd_cpu_ref_binary, NULL, NULL, NULL},
    [VD_OP_POOL2D] = {vd_cpu_ref_pool2d, NULL, NULL, NULL},
    [VD_OP_UPSAMPLE] = {vd_cpu_ref_upsample, NULL, NULL, NULL},
    [VD_OP_CONCAT] = {vd_cpu_ref_concat, NULL, NULL, NULL},
    [VD_OP_SLICE] = {vd_cpu_ref_slice, NULL, NULL, NULL},
    [VD_OP_PERMUTE] = {vd_cpu_ref_permute, NULL, NULL, NULL},
    [VD_OP_LAYER_NORM] = {vd_cpu_ref_layer_norm, NULL, NULL, NULL},
    [VD_OP_SOFTMAX] = {vd_cpu_ref_softmax, NULL, NULL, NULL},
    [VD_OP_ATTENTION] = {vd_cpu_ref_attention, vd_cpu_ref_attention_scratch, NULL, NULL},
    [VD_OP_MSDA] = {vd_cpu_ref_msda, vd_cpu_ref_msda_scratch, NULL, NULL},
    [VD_OP_REDUCE_MAX] = {vd_cpu_ref_reduce_max, NULL, NULL, NULL},
    [VD_OP_TOPK] = {vd_cpu_ref_topk, NULL, NULL, NULL},
    [VD_OP_GATHER] = {vd_cpu_ref_gather, NULL, NULL, NULL},
    [VD_OP_BOX_REFINE] = {vd_cpu_ref_box_refine, NULL, NULL, NULL},
};

const vd_cpu_op vd_cpu_fast_ops[VD_OP_COUNT] = {
    [VD_OP_CONV2D] = {vd_cpu_packed_conv2d, vd_cpu_packed_conv2d_scratch,
                       vd_cpu_packed_conv2d_prep_key, vd_cpu_packed_conv2d_prep_make,
                       vd_cpu_packed_conv2d_overwrites},
    [VD_OP_LINEAR] = {vd_cpu_packed_linear, NULL, vd_cpu_packed_linear_prep_key,
                       vd_cpu_packed_linear_prep_make},
    [VD_OP_UNARY] = {vd_cpu_fast_unary, NULL, NULL, NULL},
    [VD_OP_BINARY] = {vd_cpu_fast_binary, NULL, NULL, NULL},
    [VD_OP_POOL2D] = {vd_cpu_sep_pool2d, vd_cpu_sep_pool2d_scratch, NULL, NULL},
    [VD_OP_UPSAMPLE] = {vd_cpu_fast_upsample, NULL, NULL, NULL},
    [VD_OP_CONCAT] = {vd_cpu_fast_concat, NULL, NULL, NULL},
    [VD_OP_PERMUTE] = {vd_cpu_fast_permute, NULL, NULL, NULL},
    [VD_OP_LAYER_NORM] = {vd_cpu_fast_layer_norm, NULL, NULL, NULL},
    [VD_OP_SOFTMAX] = {vd_cpu_fast_softmax, NULL, NULL, NULL},
    [VD_OP_ATTENTION] = {vd_cpu_mm_attention, vd_cpu_mm_attention_scratch, NULL, NULL},
    [VD_OP_MSDA] = {vd_cpu_hm_msda, vd_cpu_hm_msda_scratch, vd_cpu_hm_msda_prep_key,
                     vd_cpu_hm_msda_prep_make},
    [VD_OP_REDUCE_MAX] = {vd_cpu_fast_reduce_max, NULL, NULL, NULL},
    [VD_OP_TOPK] = {vd_cpu_fast_topk, vd_cpu_fast_topk_scratch, NULL, NULL},
    [VD_OP_BOX_REFINE] = {vd_cpu_fast_box_refine, NULL, NULL, NULL},
};
