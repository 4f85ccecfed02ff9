/* fp16 (IEEE binary16) and bf16 (bfloat16) conversions, bit-exact and independent of the
 * compiler's _Float16 support and of the FPU rounding mode.
 *
 *     float x = vd_f16_to_f32(h);      // exact: every fp16 value is a float
 *     uint16_t h = vd_f32_to_f16(x);   // round to nearest, ties to even; overflow to +-inf
 *     float y = vd_bf16_to_f32(b);     // exact: bf16 is the upper half of a float
 *
 * NaNs stay NaNs (quiet, sign and the top payload bits kept); subnormals are handled in both
 * directions. Used by the safetensors reader (F16/BF16 checkpoints) and the Vulkan fp16
 * storage path. */
#ifndef VD_HALF_H
#define VD_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t vd_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float vd_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float vd_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return vd_bits_f32(sign | 0x7f800000u | (man << 13)); /* inf, nan */
    if (exp != 0) return vd_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
    /* zero or subnormal: man * 2^-24, exact in float */
    return vd_bits_f32(sign | vd_f32_bits((float)man * 0x1p-24f));
}

/* Shifts m right by s (1 <= s <= 31), rounding to nearest, ties to even. */
static inline uint32_t vd_shift_rne(uint32_t m, unsigned s) {
    uint32_t r = m >> s;
    uint32_t rem = m & ((1u << s) - 1u);
    uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return r;
}

static inline uint16_t vd_f32_to_f16(float f) {
    uint32_t x = vd_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) /* nan: quiet, keep the top 9 payload bits */
        return (uint16_t)(sign | 0x7e00u | ((x >> 13) & 0x1ffu));
    if (x >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 (or inf): inf */
    if (x >= 0x38800000u) {                                  /* >= 2^-14: normal fp16 */
        /* rebias the exponent (127 -> 15) in place, then round the mantissa; a carry out
         * of the mantissa correctly bumps the exponent */
        return (uint16_t)(sign | vd_shift_rne(x - (112u << 23), 13));
    }
    uint32_t e = x >> 23;
    if (e < 101) return sign; /* < 2^-26 (float subnormals included): rounds to zero */
    /* subnormal fp16: value / 2^-24 = (1.m * 2^23) * 2^(e - 126); e <= 112, so shift >= 14.
     * A result of 0x400 is the smallest normal, which the bit pattern already encodes. */
    uint32_t m = (x & 0x7fffffu) | 0x800000u;
    return (uint16_t)(sign | vd_shift_rne(m, 126u - e));
}

static inline float vd_bf16_to_f32(uint16_t b) { return vd_bits_f32((uint32_t)b << 16); }

/* Round to nearest, ties to even; NaNs stay quiet NaNs. */
static inline uint16_t vd_f32_to_bf16(float f) {
    uint32_t x = vd_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)(vd_shift_rne(x, 16) & 0xffffu);
}

#endif /* VD_HALF_H */
