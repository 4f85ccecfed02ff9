// Storage declarations shared by every kernel.
//
// A float tensor is stored as fp32, or as fp16 in the fp16-storage build (VD_F16 defined).
// In that build each float binding is declared twice, aliased: name[] (fp32) and name_h[]
// (fp16), and the specialisation constant VD_F16MASK (constant_id 0) says, bit b for
// binding b, which one a pipeline reads or writes. The backend picks the storage type per
// tensor (weights and activations fp16; box refinement, top-k keys, reference points, graph
// inputs and outputs fp32), so one kernel serves every mix and the untaken branch is folded
// away when the pipeline is created. Arithmetic is always fp32.
//
//   VD_IN(0, x)          readonly float binding 0 named x
//   VD_OUT(2, y)         writeonly float binding 2 named y
//   VD_LD(x, 0, i)       x[i] as float
//   VD_ST(y, 2, i, v);   y[i] = v
//
// Bindings: inputs first, then outputs (house rule). The fp32 build has no 16-bit types,
// so it runs on devices without 16-bit storage.
#extension GL_EXT_control_flow_attributes : enable
#ifdef VD_F16
#extension GL_EXT_shader_16bit_storage : require
#endif

layout(constant_id = 0) const uint VD_F16MASK = 0u;

#define VD_IS_F16(b) ((VD_F16MASK & (1u << (b))) != 0u)

#ifdef VD_F16
#define VD_IN(b, n)                                                                    \
    layout(std430, set = 0, binding = b) readonly buffer n##_f32 { float n[]; };       \
    layout(std430, set = 0, binding = b) readonly buffer n##_f16 { float16_t n##_h[]; };
#define VD_OUT(b, n)                                                                   \
    layout(std430, set = 0, binding = b) writeonly buffer n##_f32 { float n[]; };      \
    layout(std430, set = 0, binding = b) writeonly buffer n##_f16 { float16_t n##_h[]; };
#define VD_LD(n, b, i) (VD_IS_F16(b) ? float(n##_h[i]) : n[i])
#define VD_ST(n, b, i, v)                  \
    do {                                   \
        if (VD_IS_F16(b))                  \
            n##_h[i] = float16_t(v);       \
        else                               \
            n[i] = (v);                    \
    } while (false)
#else
#define VD_IN(b, n) \
    layout(std430, set = 0, binding = b) readonly buffer n##_f32 { float n[]; };
#define VD_OUT(b, n) \
    layout(std430, set = 0, binding = b) writeonly buffer n##_f32 { float n[]; };
#define VD_LD(n, b, i) (n[i])
#define VD_ST(n, b, i, v) n[i] = (v)
#endif

// Raw 32-bit words of a binding (I32 tensors, exact copies).
#define VD_IN_U32(b, n) \
    layout(std430, set = 0, binding = b) readonly buffer n##_u32 { uint n[]; };
#define VD_OUT_U32(b, n) \
    layout(std430, set = 0, binding = b) writeonly buffer n##_u32 { uint n[]; };

// Work items of a 1-D job are spread over a 2-D grid of workgroups (x at most 65535, the
// smallest maxComputeWorkGroupCount a device may report); this is the linear group index.
uint vd_group_id() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }
