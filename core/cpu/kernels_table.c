/* The CPU kernel tables, indexed by vd_op. Ops without a fast kernel (slice, gather: plain
 * copies) use the reference through the executor's fallback. */
#include "core/cpu/kernels.h"

const vd_cpu_op vd_cpu_ref_ops[VD_OP_COUNT] = {
    [VD_OP_CONV2D] = {vd_cpu_ref_conv2d, NULL},
    [VD_OP_LINEAR] = {vd_cpu_ref_linear, NULL},
    [VD_OP_UNARY] = {vd_cpu_ref_unary, NULL},
    [VD_OP_BINARY] = {vd_cpu_ref_binary, NULL},
    [VD_OP_POOL2D] = {vd_cpu_ref_pool2d, NULL},
    [VD_OP_UPSAMPLE] = {vd_cpu_ref_upsample, NULL},
    [VD_OP_CONCAT] = {vd_cpu_ref_concat, NULL},
    [VD_OP_SLICE] = {vd_cpu_ref_slice, NULL},
    [VD_OP_PERMUTE] = {vd_cpu_ref_permute, NULL},
    [VD_OP_LAYER_NORM] = {vd_cpu_ref_layer_norm, NULL},
    [VD_OP_SOFTMAX] = {vd_cpu_ref_softmax, NULL},
    [VD_OP_ATTENTION] = {vd_cpu_ref_attention, vd_cpu_ref_attention_scratch},
    [VD_OP_MSDA] = {vd_cpu_ref_msda, vd_cpu_ref_msda_scratch},
    [VD_OP_REDUCE_MAX] = {vd_cpu_ref_reduce_max, NULL},
    [VD_OP_TOPK] = {vd_cpu_ref_topk, NULL},
    [VD_OP_GATHER] = {vd_cpu_ref_gather, NULL},
    [VD_OP_BOX_REFINE] = {vd_cpu_ref_box_refine, NULL},
};

const vd_cpu_op vd_cpu_fast_ops[VD_OP_COUNT] = {
    [VD_OP_CONV2D] = {vd_cpu_fast_conv2d, vd_cpu_fast_conv2d_scratch},
    [VD_OP_LINEAR] = {vd_cpu_fast_linear, NULL},
    [VD_OP_UNARY] = {vd_cpu_fast_unary, NULL},
    [VD_OP_BINARY] = {vd_cpu_fast_binary, NULL},
    [VD_OP_POOL2D] = {vd_cpu_fast_pool2d, NULL},
    [VD_OP_UPSAMPLE] = {vd_cpu_fast_upsample, NULL},
    [VD_OP_CONCAT] = {vd_cpu_fast_concat, NULL},
    [VD_OP_PERMUTE] = {vd_cpu_fast_permute, NULL},
    [VD_OP_LAYER_NORM] = {vd_cpu_fast_layer_norm, NULL},
    [VD_OP_SOFTMAX] = {vd_cpu_fast_softmax, NULL},
    [VD_OP_ATTENTION] = {vd_cpu_fast_attention, vd_cpu_fast_attention_scratch},
    [VD_OP_MSDA] = {vd_cpu_fast_msda, vd_cpu_fast_msda_scratch},
    [VD_OP_REDUCE_MAX] = {vd_cpu_fast_reduce_max, NULL},
    [VD_OP_TOPK] = {vd_cpu_fast_topk, vd_cpu_fast_topk_scratch},
    [VD_OP_BOX_REFINE] = {vd_cpu_fast_box_refine, NULL},
};
