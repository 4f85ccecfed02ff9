// Workgroup reductions through shared memory (no subgroup operations, so any subgroup size
// works). Every invocation of the workgroup must call them, in uniform control flow; the
// result is returned to all. VD_RED_N is the workgroup size, a power of two.
shared float vd_red[VD_RED_N];

float vd_reduce_sum(float v) {
    uint t = gl_LocalInvocationID.x;
    vd_red[t] = v;
    barrier();
    [[unroll]] for (uint s = VD_RED_N / 2u; s > 0u; s >>= 1u) {
        if (t < s) vd_red[t] += vd_red[t + s];
        barrier();
    }
    float r = vd_red[0];
    barrier();
    return r;
}

float vd_reduce_max(float v) {
    uint t = gl_LocalInvocationID.x;
    vd_red[t] = v;
    barrier();
    [[unroll]] for (uint s = VD_RED_N / 2u; s > 0u; s >>= 1u) {
        if (t < s) vd_red[t] = max(vd_red[t], vd_red[t + s]);
        barrier();
    }
    float r = vd_red[0];
    barrier();
    return r;
}
