/* placeholder tables until the kernels land */
#include "core/cpu/cpu.h"
const vd_cpu_op vd_cpu_ref_ops[VD_OP_COUNT];
const vd_cpu_op vd_cpu_fast_ops[VD_OP_COUNT];
