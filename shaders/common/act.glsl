// Activations, as the CPU reference defines them (core/cpu/ref_elementwise.c). Codes are
// vd_act: 0 none, 1 relu, 2 silu, 3 gelu (exact, erf), 4 sigmoid, 5 inverse sigmoid.
// NaN passes through every one of them.

float vd_sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

// erfc for x >= 0, fractional error below 1.2e-7 (Chebyshev fit of Numerical Recipes,
// section 6.2). GLSL has no erf.
float vd_erfc_pos(float z) {
    float t = 1.0 / (1.0 + 0.5 * z);
    float p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
              t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
              t * (-0.82215223 + t * 0.17087277))))))));
    return t * exp(-z * z + p);
}

// x/2 * (1 + erf(x/sqrt(2))) = x/2 * erfc(-x/sqrt(2)), accurate on both sides.
float vd_gelu(float x) {
    float z = x * 0.70710678118654752;
    float c = z <= 0.0 ? vd_erfc_pos(-z) : 2.0 - vd_erfc_pos(z);
    return 0.5 * x * c;
}

float vd_inv_sigmoid(float x) {
    if (isnan(x)) return x;
    x = clamp(x, 0.0, 1.0);
    return log(max(x, 1e-5) / max(1.0 - x, 1e-5));
}

float vd_act(uint act, float x) {
    switch (act) {
    case 1u: return x < 0.0 ? 0.0 : x;
    case 2u: return x * vd_sigmoid(x);
    case 3u: return vd_gelu(x);
    case 4u: return vd_sigmoid(x);
    case 5u: return vd_inv_sigmoid(x);
    default: return x;
    }
}
