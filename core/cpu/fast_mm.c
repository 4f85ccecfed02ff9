/* A small single-threaded GEMM for the fast kernels: C = epilogue(A B) with A read in place
 * (rows at any stride) and B packed in panels of 16 columns (or read in place, a strip at a
 * time), so that a convolution's weights, a linear layer's input or a Winograd transform can
 * each play A without a copy.
 *
 * The AVX2/FMA micro-kernel keeps a 6x16 block of C in 12 registers: per step of the depth
 * it loads 16 values of B (one panel row) and broadcasts 6 values of A. The depth is split in
 * blocks of MM_KC so that the B block of a 16-column strip (MM_KC x 16 floats, 16 KB) stays
 * in L1 while the rows of A stream past it, MM_MC rows of A at a time (an L2 block; more
 * when the depth is less than MM_KC). The epilogue (bias per row or per column, residual,
 * ReLU / SiLU / sigmoid) is applied in registers after the last depth block; other
 * activations run on the finished tile while it is still in L1.
 *
 * With AVX-512F the micro-kernel of fast_mm_avx512.c keeps 16x16 of C in 16 registers, on
 * the same strips of B; each L2 block of A is first packed 16 rows at a time (a per-thread
 * buffer), so that its 16 rows read one cache line per step. Its results equal AVX2's.
 *
 * Without AVX2 and FMA (checked at run time) a plain C kernel with the same blocking runs. */
#include <pthread.h>

#include "core/cpu/fast_avx2.h"
#include "core/cpu/fast_mm.h"

#define MM_X86 VD_HAVE_AVX2_CODE
#define MM_AVX2 VD_AVX2

#define MM_MR 6
#define MM_KC VD_MM_KC
#define MM_MC 120 /* a multiple of MM_MR */
#define MM_MC512 128 /* AVX-512: a multiple of VD_MM512_MR */
#define MM_PF 8   /* rows of B prefetched ahead when B is read in place */

/* a prefetch hint (rows of B a page apart defeat the hardware prefetcher) */
#if defined(__GNUC__) || defined(__clang__)
#define mm_prefetch(p) __builtin_prefetch((p), 0, 3)
#define mm_prefetch_w(p) __builtin_prefetch((p), 1, 3)
#else
#define mm_prefetch(p) ((void)0)
#define mm_prefetch_w(p) ((void)0)
#endif

static int isa_override = -1;              /* tests: vd_cpu_force_isa */
static const vd_avx512_kernels *avx512_emulated; /* tests: vd_cpu_avx512_emulate */

/* what this CPU runs: 2 AVX-512F (and AVX2 + FMA), 1 AVX2 + FMA, 0 neither */
static int cpu_isa(void) {
#if MM_X86
    /* libgcc initialises the CPU model before main (checking that the OS saves the AVX and
     * AVX-512 registers); each query reads it, no shared state */
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    return __builtin_cpu_supports("avx512f") ? 2 : 1;
#else
    return 0;
#endif
}

static int isa(void) { return isa_override >= 0 ? isa_override : cpu_isa(); }

int vd_cpu_has_avx2(void) { return isa() >= 1; }

int vd_cpu_has_avx512(void) { return isa() >= 2; }

void vd_cpu_force_isa(int level) {
    if (level < 0) isa_override = -1;
    else if (!MM_X86) isa_override = 0;
    else if (level >= 2) isa_override = avx512_emulated || cpu_isa() >= 2 ? 2 : 1;
    else isa_override = level;
}

void vd_cpu_avx512_emulate(const vd_avx512_kernels *k) { avx512_emulated = k; }

const vd_avx512_kernels *vd_cpu_avx512_kernels(void) {
#if MM_X86
    static const vd_avx512_kernels native = {VD_MM512_KERNEL, VD_WG512_INPUT, VD_WG512_OUTPUT};
    if (vd_cpu_has_avx512()) return avx512_emulated ? avx512_emulated : &native;
#endif
    return NULL;
}

/* ---- the AVX-512 kernel's packed A: a buffer per thread, made on first use ------------------ */

#define MM512_AP_FLOATS (MM_MC512 * MM_KC) /* an L2 block of A, at most (see mm_run) */

#if MM_X86
static pthread_key_t ap_key;
static pthread_once_t ap_once = PTHREAD_ONCE_INIT;
static int ap_key_ok;

static void ap_key_make(void) { ap_key_ok = pthread_key_create(&ap_key, vd_aligned_free) == 0; }

/* NULL when it cannot be made (vd_mm then runs the AVX2 kernel) */
static float *ap_buffer(void) {
    pthread_once(&ap_once, ap_key_make);
    if (!ap_key_ok) return NULL;
    float *ap = pthread_getspecific(ap_key);
    if (!ap) {
        ap = vd_aligned_alloc(MM512_AP_FLOATS * sizeof(float));
        if (ap && pthread_setspecific(ap_key, ap) != 0) {
            vd_aligned_free(ap);
            ap = NULL;
        }
    }
    return ap;
}
#endif

/* rows x kc of A (rows at stride lda) into tiles of VD_MM512_MR rows: tile t, step kk, row i
 * at ap[(t * kc + kk) * VD_MM512_MR + i] (rows past the last left unset: no kernel reads
 * them). With AVX2, blocks of 8 rows x 8 steps go through an 8x8 transpose: a value of A
 * meets n / 32 cycles of AVX-512 FMAs (two per cycle), and a scalar copy, about a cycle and
 * a half per value, would cost nearly as much when B has few columns. */
static void pack_a_c(const float *a, int64_t lda, int64_t i0, int64_t rows, int64_t kc,
                     float *ap) {
    for (int64_t i = i0; i < rows; i++) {
        float *dst = ap + (i / VD_MM512_MR) * kc * VD_MM512_MR + i % VD_MM512_MR;
        for (int64_t kk = 0; kk < kc; kk++) dst[kk * VD_MM512_MR] = a[i * lda + kk];
    }
}

#if MM_X86
static MM_AVX2 void pack_a_avx2(const float *a, int64_t lda, int64_t rows, int64_t kc,
                                float *ap) {
    int64_t r8 = rows / 8 * 8, k8 = kc / 8 * 8;
    for (int64_t i0 = 0; i0 < r8; i0 += 8) {
        float *dst = ap + (i0 / VD_MM512_MR) * kc * VD_MM512_MR + i0 % VD_MM512_MR;
        for (int64_t k0 = 0; k0 < k8; k0 += 8) {
            __m256 r[8];
            for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(a + (i0 + q) * lda + k0);
            vd_avx2_transpose8(r); /* r[q]: step k0 + q of rows i0 .. i0 + 7 */
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (k0 + q) * VD_MM512_MR, r[q]);
        }
        for (int64_t kk = k8; kk < kc; kk++)
            for (int q = 0; q < 8; q++) dst[kk * VD_MM512_MR + q] = a[(i0 + q) * lda + kk];
    }
    pack_a_c(a, lda, r8, rows, kc, ap);
}
#endif

/* only where the AVX-512 kernel runs, so with AVX2 */
static void pack_a(const float *a, int64_t lda, int64_t rows, int64_t kc, float *ap) {
#if MM_X86
    pack_a_avx2(a, lda, rows, kc, ap);
#else
    pack_a_c(a, lda, 0, rows, kc, ap);
#endif
}

void vd_mm_pack_a(const float *a, int64_t lda, int64_t m, int64_t k, float *ap) {
    pack_a(a, lda, m, k, ap);
}

void vd_mm_pack_b(const float *b, int64_t ldb, int trans, int64_t k, int64_t n, float *bp) {
    int64_t full = n / VD_MM_NR * VD_MM_NR;
    if (!trans) { /* row by row of B: contiguous reads, 8-float writes into every panel */
        for (int64_t kk = 0; kk < k; kk++) {
            const float *src = b + kk * ldb;
            for (int64_t j0 = 0; j0 < full; j0 += VD_MM_NR) {
                float *dst = bp + j0 * k + kk * VD_MM_NR; /* panel j0 / 16, row kk */
                for (int q = 0; q < VD_MM_NR; q++) dst[q] = src[j0 + q];
            }
            if (full < n) {
                float *dst = bp + full * k + kk * VD_MM_NR;
                for (int q = 0; q < VD_MM_NR; q++) dst[q] = full + q < n ? src[full + q] : 0.0f;
            }
        }
        return;
    }
    for (int64_t j0 = 0; j0 < n; j0 += VD_MM_NR) {
        int64_t nj = VD_MIN(VD_MM_NR, n - j0);
        float *panel = bp + j0 * k;
        for (int64_t kk = 0; kk < k; kk++) {
            float *dst = panel + kk * VD_MM_NR;
            int64_t j = 0;
            for (; j < nj; j++) dst[j] = b[(j0 + j) * ldb + kk];
            for (; j < VD_MM_NR; j++) dst[j] = 0.0f;
        }
    }
}

/* The activations a kernel applies itself; vd_mm runs the others over the stored tile. */
static int inreg_act(int avx2, vd_act act) {
#if MM_X86
    if (avx2) return vd_avx2_act_ok(act);
#endif
    (void)avx2;
    return act == VD_ACT_NONE || act == VD_ACT_RELU;
}

/* ---- plain C kernel -------------------------------------------------------------------------- */

static void kern_c(int rows, int cols, const float *a, int64_t lda, const float *b, int64_t kc,
                   float *c, int64_t ldc, int load_c, const vd_mm_tile_epi *e) {
    float acc[MM_MR][16];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) acc[i][j] = load_c ? c[i * ldc + j] : 0.0f;
    for (int64_t kk = 0; kk < kc; kk++)
        for (int i = 0; i < rows; i++) {
            float av = a[i * lda + kk];
            for (int j = 0; j < cols; j++) acc[i][j] += av * b[kk * 16 + j];
        }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float v = acc[i][j];
            if (e) {
                if (e->bias_row) v += e->bias_row[i];
                if (e->bias_col) v += e->bias_col[j];
                if (e->res) v += e->res[i * e->ldr + j];
                if (e->act == VD_ACT_RELU) v = v < 0.0f ? 0.0f : v;
            }
            c[i * ldc + j] = v;
        }
}

/* ---- AVX2 kernel ------------------------------------------------------------------------------ */

#if MM_X86
/* Named accumulators (an array of __m256 is kept on the stack by GCC 12 and stored back on
 * every step). ROWS(X) expands X for each of the 6 rows; rows past `rows` are dead code
 * after inlining with constant rows. */
#define ROWS VD_MM_ROWS6

/* rows <= 6 and two (16 columns) or one (8 columns) halves of each row of B (kc rows of 16),
 * compile-time constants after inlining; full tiles only (the driver handles ragged edges
 * through a scratch tile). */
static inline __attribute__((always_inline)) MM_AVX2 void
kern_avx2(const int rows, const int two, const float *a, int64_t lda, const float *b,
          int64_t kc, float *c, int64_t ldc, int load_c, const vd_mm_tile_epi *e) {
    const __m256 zero = _mm256_setzero_ps();
#define DECL(i)                                                                                 \
    __m256 x##i##0 = zero, x##i##1 = zero;                                                      \
    const float *a##i = a + (i) * lda;                                                          \
    if (load_c && rows > (i)) {                                                                 \
        x##i##0 = _mm256_loadu_ps(c + (i) * ldc);                                               \
        if (two) x##i##1 = _mm256_loadu_ps(c + (i) * ldc + 8);                                  \
    }
    ROWS(DECL)
#undef DECL
    vd_mm_tile_prefetch(rows, e, c, ldc, load_c);
    for (int64_t kk = 0; kk < kc; kk++) {
        __m256 v0 = _mm256_loadu_ps(b + kk * 16);
        __m256 v1 = two ? _mm256_loadu_ps(b + kk * 16 + 8) : v0;
#define STEP(i)                                                                                 \
        if (rows > (i)) {                                                                       \
            __m256 s = _mm256_broadcast_ss(a##i + kk);                                          \
            x##i##0 = _mm256_fmadd_ps(s, v0, x##i##0);                                          \
            if (two) x##i##1 = _mm256_fmadd_ps(s, v1, x##i##1);                                 \
        }
        ROWS(STEP)
#undef STEP
    }
    if (e) {
        __m256 bc0 = zero, bc1 = zero;
        if (e->bias_col) {
            bc0 = _mm256_loadu_ps(e->bias_col);
            if (two) bc1 = _mm256_loadu_ps(e->bias_col + 8);
        }
#define EPI(i)                                                                                  \
        if (rows > (i)) {                                                                       \
            if (e->bias_row) {                                                                  \
                __m256 br = _mm256_broadcast_ss(e->bias_row + (i));                             \
                x##i##0 = _mm256_add_ps(x##i##0, br);                                           \
                if (two) x##i##1 = _mm256_add_ps(x##i##1, br);                                  \
            }                                                                                   \
            if (e->bias_col) {                                                                  \
                x##i##0 = _mm256_add_ps(x##i##0, bc0);                                          \
                if (two) x##i##1 = _mm256_add_ps(x##i##1, bc1);                                 \
            }                                                                                   \
            if (e->res) {                                                                       \
                x##i##0 = _mm256_add_ps(x##i##0, _mm256_loadu_ps(e->res + (i) * e->ldr));      \
                if (two)                                                                        \
                    x##i##1 = _mm256_add_ps(x##i##1, _mm256_loadu_ps(e->res + (i) * e->ldr + 8)); \
            }                                                                                   \
            if (e->act != VD_ACT_NONE) {                                                        \
                x##i##0 = vd_avx2_act(e->act, x##i##0);                                         \
                if (two) x##i##1 = vd_avx2_act(e->act, x##i##1);                                \
            }                                                                                   \
        }
        ROWS(EPI)
#undef EPI
    }
#define STORE(i)                                                                                \
    if (rows > (i)) {                                                                           \
        _mm256_storeu_ps(c + (i) * ldc, x##i##0);                                               \
        if (two) _mm256_storeu_ps(c + (i) * ldc + 8, x##i##1);                                  \
    }
    ROWS(STORE)
#undef STORE
}
#undef ROWS

/* the case of i + 1 rows */
#define KERN_CASE(i)                                                                            \
    case (i) + 1:                                                                               \
        if (two) kern_avx2((i) + 1, 1, a, lda, b, kc, c, ldc, load_c, e);                       \
        else kern_avx2((i) + 1, 0, a, lda, b, kc, c, ldc, load_c, e);                           \
        return;

static MM_AVX2 void kern_avx2_any(int rows, int two, const float *a, int64_t lda,
                                  const float *b, int64_t kc, float *c, int64_t ldc, int load_c,
                                  const vd_mm_tile_epi *e) {
    switch (rows) {
        VD_MM_ROWS6(KERN_CASE)
    default: return;
    }
}
#undef KERN_CASE
#endif

/* ---- driver ----------------------------------------------------------------------------------- */

/* How tiles run: the ISA's kernel, and for AVX-512 the packed A block. */
typedef struct mm_kern {
    int avx2;
    vd_mm512_kernel *k512; /* NULL: AVX2 or plain C */
    int mr;                /* rows per tile */
} mm_kern;

/* One tile of at most mr x 16 (A: its rows in place, or packed for AVX-512), B a strip of kc
 * rows of 16: through the kernel directly when its columns are 16 or 8, else through a
 * scratch tile (the epilogue then applied while copying out). */
static void tile(const mm_kern *mk, int rows, int cols, const float *a, int64_t lda,
                 const float *b, int64_t kc, float *c, int64_t ldc, int load_c,
                 const vd_mm_tile_epi *e) {
    if (cols == 16 || cols == 8) {
        if (mk->k512) mk->k512(rows, cols == 16, a, b, kc, c, ldc, load_c, e);
#if MM_X86
        else if (mk->avx2) kern_avx2_any(rows, cols == 16, a, lda, b, kc, c, ldc, load_c, e);
#endif
        else kern_c(rows, cols, a, lda, b, kc, c, ldc, load_c, e);
        return;
    }
    float t[VD_MM512_MR * 16];
    if (load_c)
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[i * 16 + j] = c[i * ldc + j];
    if (mk->k512) mk->k512(rows, cols > 8, a, b, kc, t, 16, load_c, NULL);
#if MM_X86
    else if (mk->avx2) kern_avx2_any(rows, cols > 8, a, lda, b, kc, t, 16, load_c, NULL);
#endif
    else kern_c(rows, cols, a, lda, b, kc, t, 16, load_c, NULL);
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) {
            float v = t[i * 16 + j];
            if (e) {
                if (e->bias_row) v += e->bias_row[i];
                if (e->bias_col) v += e->bias_col[j];
                if (e->res) v += e->res[i * e->ldr + j];
            }
            c[i * ldc + j] = v;
        }
        if (e && e->act != VD_ACT_NONE) vd_cpu_act_row(e->act, c + i * ldc, cols);
    }
}

/* B either packed (b: panels of depth k, ldb 0) or in place (b: rows at stride ldb, or
 * columns with transb); in place, each strip of 16 columns is copied to bt (kc x 16, 16 KB,
 * stays in L1) */
static void mm_run(const float *a, int64_t lda, const float *pa, const float *b, int64_t ldb,
                   int transb, int64_t k, float *c, int64_t ldc, int64_t m, int64_t n,
                   const vd_mm_epilogue *epi) {
    int level = isa();
    mm_kern mk = {level >= 1, NULL, MM_MR};
    float *ap = NULL; /* AVX-512: the packed A block (unless pa: A packed by the caller) */
#if MM_X86
    if (level >= 2 && (pa || (ap = ap_buffer()) != NULL)) {
        mk.k512 = vd_cpu_avx512_kernels()->mm;
        mk.mr = VD_MM512_MR;
    }
#endif
    vd_act act = epi ? epi->act : VD_ACT_NONE;
    int any_epi = epi && (epi->bias_row || epi->bias_col || epi->res || act != VD_ACT_NONE);
    int inreg = inreg_act(mk.avx2, act);
    float bt[MM_KC * 16];
    if (k == 0) /* no depth: zeros, then the epilogue through a tile with load_c */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = 0.0f;
    /* rows in blocks of mc (A block mc x MM_KC in L2), depth in blocks of MM_KC, then
     * 16-column strips (B strip MM_KC x 16 in L1) against every mr rows of the A block. A
     * shallower A keeps more rows in the same L2 budget: fewer row blocks, so fewer copies of
     * each strip of an in-place B (and no more than MM512_AP_FLOATS of packed A). */
    int64_t mc0 = mk.k512 ? MM_MC512 : MM_MC, mc = mc0;
    if (k < MM_KC) mc = VD_MAX(mc0, mc0 * MM_KC / VD_MAX(k, 1) / mk.mr * mk.mr);
    /* A in place (no buffer to fit): blocks of equal size, a short last block merged into the
     * others, since each block copies the strips of an in-place B again (a 128-channel
     * pointwise conv was 120 + 8 rows: two copies for 1.07 copies' work) */
    if (!mk.k512 && m > mc) {
        int64_t blocks = (m + mc - 1) / mc;
        if (blocks > 1 && m - (blocks - 1) * mc < mc / 2) blocks--;
        mc = ((m + blocks - 1) / blocks + mk.mr - 1) / mk.mr * mk.mr;
    }
    for (int64_t ib = 0; ib < m; ib += mc) {
        int64_t mb = VD_MIN(mc, m - ib);
        int64_t k0 = 0;
        do {
            int64_t kc = VD_MIN(MM_KC, k - k0);
            int last = k0 + kc >= k;
            if (ap) pack_a(a + ib * lda + k0, lda, mb, kc, ap);
            for (int64_t j0 = 0; j0 < n; j0 += 16) {
                int cols = (int)VD_MIN(16, n - j0);
                const float *bs = bt; /* the strip: kc rows of 16 */
                if (!ldb) {
                    bs = b + j0 * k + k0 * VD_MM_NR;
                } else if (!transb) { /* copied: rows a page apart share few L1 sets */
                    const float *src = b + k0 * ldb + j0;
                    if (cols == 16) {
                        for (int64_t kk = 0; kk < kc; kk++) {
                            mm_prefetch(src + (kk + MM_PF) * ldb);
                            for (int q = 0; q < 16; q++) bt[kk * 16 + q] = src[kk * ldb + q];
                        }
                    } else {
                        for (int64_t kk = 0; kk < kc; kk++)
                            for (int q = 0; q < 16; q++)
                                bt[kk * 16 + q] = q < cols ? src[kk * ldb + q] : 0.0f;
                    }
                } else { /* 16 rows of b (columns of B), transposed */
                    for (int q = 0; q < 16; q++) {
                        if (q < cols) {
                            const float *src = b + (j0 + q) * ldb + k0;
                            for (int64_t kk = 0; kk < kc; kk++) bt[kk * 16 + q] = src[kk];
                        } else {
                            for (int64_t kk = 0; kk < kc; kk++) bt[kk * 16 + q] = 0.0f;
                        }
                    }
                }
                /* the next strip of an in-place B: its rows are a page or more apart, too
                 * many streams for the hardware prefetcher, so ask for them a few rows per
                 * tile while this strip computes */
                const float *nx = NULL; /* its first row, nxk rows, nxper per tile */
                int64_t nxk = 0, nxper = 0;
                if (ldb && !transb) {
                    if (j0 + 16 < n) { /* the next strip of this depth block */
                        nx = b + k0 * ldb + j0 + 16;
                        nxk = kc;
                    } else if (!last) { /* the first of the next depth block */
                        nx = b + (k0 + MM_KC) * ldb;
                        nxk = VD_MIN(MM_KC, k - k0 - MM_KC);
                    } else if (ib + mb < m) { /* the first of the next row block */
                        nx = b;
                        nxk = VD_MIN(MM_KC, k);
                    }
                    int64_t tiles = (mb + mk.mr - 1) / mk.mr;
                    nxper = (nxk + tiles - 1) / tiles;
                }
                int split = ((uintptr_t)nx & 63) || (ldb & 15); /* a row's 16 on two lines */
                for (int64_t i0 = ib, t = 0; i0 < ib + mb; i0 += mk.mr, t++) { /* tile t */
                    int rows = (int)VD_MIN(mk.mr, ib + mb - i0);
                    vd_mm_tile_epi e, *ep = NULL;
                    if (nx)
                        for (int64_t r = t * nxper, r1 = VD_MIN(nxk, r + nxper); r < r1; r++) {
                            mm_prefetch(nx + r * ldb);
                            if (split) mm_prefetch(nx + r * ldb + 15);
                        }
                    if (last && any_epi) {
                        e.bias_row = epi->bias_row ? epi->bias_row + i0 : NULL;
                        e.bias_col = epi->bias_col ? epi->bias_col + j0 : NULL;
                        e.res = epi->res ? epi->res + i0 * epi->ldr + j0 : NULL;
                        e.ldr = epi->ldr;
                        e.act = inreg ? act : VD_ACT_NONE;
                        ep = &e;
                    }
                    float *ct = c + i0 * ldc + j0;
                    if (last) /* the next tile's rows of C and of the residual: with a short
                               * depth the kernel's own requests come too late when they
                               * are in memory (a conv's output larger than the caches) */
                        for (int64_t r = i0 + mk.mr; r < VD_MIN(i0 + 2 * mk.mr, ib + mb); r++) {
                            mm_prefetch_w(c + r * ldc + j0);
                            if (epi && epi->res) mm_prefetch(epi->res + r * epi->ldr + j0);
                        }
                    const float *at = pa   ? pa + ((ib / VD_MM512_MR + t) * k + k0) * VD_MM512_MR
                                      : ap   ? ap + t * kc * VD_MM512_MR
                                             : a + i0 * lda + k0; /* A's tile */
                    tile(&mk, rows, cols, at, lda, bs, kc, ct, ldc, k0 > 0 || k == 0, ep);
                    if (last && !inreg)
                        for (int i = 0; i < rows; i++) vd_cpu_act_row(act, ct + i * ldc, cols);
                }
            }
            k0 += MM_KC;
        } while (k0 < k);
    }
}

void vd_mm(const float *a, int64_t lda, const float *bp, int64_t k, float *c, int64_t ldc,
           int64_t m, int64_t n, const vd_mm_epilogue *epi) {
    mm_run(a, lda, NULL, bp, 0, 0, k, c, ldc, m, n, epi);
}

void vd_mm_prepacked(const float *ap, const float *bp, int64_t k, float *c, int64_t ldc,
                     int64_t m, int64_t n, const vd_mm_epilogue *epi) {
    mm_run(NULL, 0, ap, bp, 0, 0, k, c, ldc, m, n, epi);
}

void vd_mm_inplace(const float *a, int64_t lda, const float *b, int64_t ldb, int trans,
                   int64_t k, float *c, int64_t ldc, int64_t m, int64_t n,
                   const vd_mm_epilogue *epi) {
    mm_run(a, lda, NULL, b, ldb, trans, k, c, ldc, m, n, epi);
}
