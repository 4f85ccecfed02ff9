/* safetensors reader and writer, fp16/bf16 conversions. */
#include "support/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/half.h"
#include "core/safetensors.h"

#define assert_msg_contains(sub)                                                              \
    do {                                                                                      \
        if (!strstr(vkdetr_last_error(), (sub))) {                                            \
            fprintf(stderr, "message \"%s\" lacks \"%s\"\n", vkdetr_last_error(), (sub));     \
            fail();                                                                           \
        }                                                                                     \
    } while (0)

/* A file image: 8-byte length, header, data. Caller frees. */
static uint8_t *make_file(uint64_t hlen, const char *hdr, size_t data_bytes, size_t *size) {
    size_t hbytes = strlen(hdr);
    *size = 8 + hbytes + data_bytes;
    uint8_t *p = calloc(1, *size + 1);
    assert_non_null(p);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(p + 8, hdr, hbytes);
    for (size_t i = 0; i < data_bytes; i++) p[8 + hbytes + i] = (uint8_t)(i * 7 + 1);
    return p;
}

static vkdetr_status open_hdr(const char *hdr, size_t data_bytes, vd_safetensors **st) {
    size_t size;
    uint8_t *p = make_file(strlen(hdr), hdr, data_bytes, &size);
    vkdetr_status s = vd_st_open_memory(p, size, st);
    free(p);
    return s;
}

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    if (!tmpdir[0]) snprintf(tmpdir, sizeof tmpdir, "%s", vd_test_tmpdir());
    char *b = buf[k++ & 3];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

/* Removes the files this test wrote and its directory. */
static void remove_tmpdir(void) {
    if (!tmpdir[0] || strcmp(tmpdir, "/tmp") == 0) return;
    DIR *d = opendir(tmpdir);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
        remove(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

/* ---- fp16 / bf16 ----------------------------------------------------------------------- */

static double f16_reference(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    double v = exp == 0 ? ldexp(man, -24) : ldexp(1024 + man, exp - 25);
    return sign ? -v : v;
}

static void test_f16_exhaustive(void **state) {
    (void)state;
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = vd_f16_to_f32(h);
        int exp = (h >> 10) & 31;
        if (exp == 31) {
            if (h & 1023) {
                if (!isnan(f) || !isnan(vd_f16_to_f32(vd_f32_to_f16(f)))) {
                    fprintf(stderr, "nan 0x%04x -> %g\n", h, f);
                    fail();
                }
                assert_int_equal(signbit(f) != 0, (h >> 15) != 0);
            } else {
                assert_true(isinf(f));
                assert_int_equal(vd_f32_to_f16(f), h);
            }
            continue;
        }
        if ((double)f != f16_reference(h) || vd_f32_to_f16(f) != h ||
            (signbit(f) != 0) != ((h >> 15) != 0)) {
            fprintf(stderr, "0x%04x -> %.9g (want %.9g) -> 0x%04x\n", h, f, f16_reference(h),
                    vd_f32_to_f16(f));
            fail();
        }
    }
}

/* Nearest fp16 by search over the sorted positive values, ties to even. */
static uint16_t f16_nearest(float x) {
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs((double)x);
    if (a >= 65520.0) return sign | 0x7c00;
    int lo = 0, hi = 0x7bff; /* largest lo with value(lo) <= a */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (f16_reference((uint16_t)mid) <= a) lo = mid;
        else hi = mid - 1;
    }
    if (lo == 0x7bff) return sign | 0x7bff;
    double d0 = a - f16_reference((uint16_t)lo), d1 = f16_reference((uint16_t)(lo + 1)) - a;
    int pick = d0 < d1 ? lo : d1 < d0 ? lo + 1 : (lo & 1 ? lo + 1 : lo);
    return (uint16_t)(sign | pick);
}

static void check_f32_to_f16(float x) {
    uint16_t got = vd_f32_to_f16(x), want = f16_nearest(x);
    if (got != want) {
        fprintf(stderr, "f32 %.9g (0x%08x) -> 0x%04x, want 0x%04x\n", x, vd_f32_bits(x), got,
                want);
        fail();
    }
#if defined(__FLT16_MAX__) && !defined(__clang__)
    _Float16 c = (_Float16)x;
    uint16_t cb;
    memcpy(&cb, &c, 2);
    if (cb != got) {
        fprintf(stderr, "f32 %.9g -> 0x%04x, compiler says 0x%04x\n", x, got, cb);
        fail();
    }
#endif
}

static void test_f32_to_f16_rounding(void **state) {
    (void)state;
    /* every midpoint between neighbours, and one float ulp either side of it */
    for (uint16_t h = 0; h < 0x7bff; h++) {
        float mid = (float)((f16_reference(h) + f16_reference((uint16_t)(h + 1))) / 2);
        for (int s = 0; s < 2; s++) {
            float m = s ? -mid : mid;
            check_f32_to_f16(m);
            check_f32_to_f16(nextafterf(m, 0));
            check_f32_to_f16(nextafterf(m, s ? -INFINITY : INFINITY));
        }
    }
    vd_rng r;
    vd_rng_seed(&r, 1234);
    for (int i = 0; i < 400000; i++) {
        uint32_t bits = vd_rng_u32(&r);
        if (i & 1) { /* half of them with exponents around the fp16 range */
            uint32_t e = 95 + (bits >> 9) % 55;
            bits = (bits & 0x807fffffu) | (e << 23);
        }
        float x = vd_bits_f32(bits);
        if (isnan(x)) {
            assert_true(isnan(vd_f16_to_f32(vd_f32_to_f16(x))));
            continue;
        }
        check_f32_to_f16(x);
    }
    check_f32_to_f16(65504.0f);
    check_f32_to_f16(65519.996f);
    check_f32_to_f16(65520.0f);
    check_f32_to_f16(1e-8f);
    check_f32_to_f16(1.4e-45f);
    assert_int_equal(vd_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(vd_f32_to_f16(-INFINITY), 0xfc00);
    assert_int_equal(vd_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(vd_f32_to_f16(0x1p-24f), 0x0001);
    assert_int_equal(vd_f32_to_f16(0x1p-25f), 0x0000);     /* tie: to even (zero) */
    assert_int_equal(vd_f32_to_f16(0x1.8p-24f), 0x0002);   /* tie: to even (2) */
    assert_int_equal(vd_f32_to_f16(0x1.ff8p-15f), 0x03ff); /* largest subnormal */
    assert_int_equal(vd_f32_to_f16(0x1.ffcp-15f), 0x0400); /* tie: up to the smallest normal */
}

static void test_bf16(void **state) {
    (void)state;
    assert_true(vd_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(vd_bf16_to_f32(0xc000) == -2.0f);
    assert_true(isinf(vd_bf16_to_f32(0x7f80)));
    assert_true(isnan(vd_bf16_to_f32(0x7fc1)));
    assert_int_equal(vd_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(vd_f32_to_bf16(vd_bits_f32(0x3f808000)), 0x3f80); /* tie, to even */
    assert_int_equal(vd_f32_to_bf16(vd_bits_f32(0x3f818000)), 0x3f82); /* tie, to even */
    assert_int_equal(vd_f32_to_bf16(vd_bits_f32(0x3f808001)), 0x3f81);
    assert_int_equal(vd_f32_to_bf16(vd_bits_f32(0x7f7fffff)), 0x7f80); /* FLT_MAX -> inf */
    assert_true(isnan(vd_bf16_to_f32(vd_f32_to_bf16(vd_bits_f32(0x7f800001)))));
    for (uint32_t i = 0; i < 65536; i++) {
        if ((i & 0x7f80) == 0x7f80 && (i & 0x7f)) continue; /* nan */
        assert_int_equal(vd_f32_to_bf16(vd_bf16_to_f32((uint16_t)i)), i);
    }
}

/* ---- round trip ------------------------------------------------------------------------ */

/* vd_st_release drops a mapped tensor's pages from resident memory, and its data reads the
 * same afterwards (the pages come back from the file). Bytes outside the mapping, NULL and a
 * heap copy are left alone. */
static void test_release(void **state) {
    (void)state;
    enum { N = 4 << 20 }; /* 16 MB of floats */
    float *a = malloc(N * sizeof(float));
    assert_non_null(a);
    for (int i = 0; i < N; i++) a[i] = (float)i * 0.25f;
    vd_st_write_entry e[] = {{"big", VD_ST_F32, 1, {N}, a}};
    const char *path = tmp_path("release.safetensors");
    assert_int_equal(vd_st_write_meta(path, 1, e, 0, NULL), VKDETR_OK);
    vd_safetensors *st;
    assert_int_equal(vd_st_open(path, &st), VKDETR_OK);
    const vd_st_tensor *t = vd_st_find(st, "big");
    assert_non_null(t);
    long before = vd_test_rss_file_kb();
    assert_memory_equal(t->data, a, (size_t)N * sizeof(float)); /* every page touched */
    long touched = vd_test_rss_file_kb();
    vd_st_release(st, t->data, t->nbytes);
    long released = vd_test_rss_file_kb();
    if (before >= 0) {
        assert_true(touched - before > 12 * 1024);
        assert_true(touched - released > 12 * 1024);
    }
    assert_memory_equal(t->data, a, (size_t)N * sizeof(float)); /* read again from the file */
    vd_st_release(st, a, sizeof(float));        /* not in the mapping */
    vd_st_release(st, t->data, t->nbytes + 1);  /* past its end */
    vd_st_release(st, NULL, 16);
    vd_st_release(NULL, t->data, 16);
    assert_memory_equal(t->data, a, (size_t)N * sizeof(float));
    vd_st_close(st);

    size_t size;
    uint8_t *raw = vd_test_read_file(path, &size);
    assert_non_null(raw);
    assert_int_equal(vd_st_open_memory(raw, size, &st), VKDETR_OK);
    t = vd_st_find(st, "big");
    vd_st_release(st, t->data, t->nbytes); /* a heap copy: kept */
    assert_memory_equal(t->data, a, (size_t)N * sizeof(float));
    vd_st_close(st);
    free(raw);
    free(a);
    remove(path);
}

static void test_roundtrip(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 7);
    float a[3 * 5], scalar = 3.25f;
    vd_rng_fill(&r, a, 15, -2, 2);
    int32_t b[7] = {1, -2, 3, -4, 5, 2147483647, -2147483647 - 1};
    vd_st_write_entry e[] = {
        {"a.weight", VD_ST_F32, 2, {3, 5}, a},
        {"b \"quoted\"\\name\n", VD_ST_I32, 1, {7}, b},
        {"scalar", VD_ST_F32, 0, {0}, &scalar},
        {"empty", VD_ST_F32, 2, {0, 4}, NULL},
    };
    const char *kv[] = {"format", "pt", "note", "x\"y"};
    const char *path = tmp_path("roundtrip.safetensors");
    assert_int_equal(vd_st_write_meta(path, 4, e, 2, kv), VKDETR_OK);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);

    size_t size;
    uint8_t *raw = vd_test_read_file(path, &size);
    assert_non_null(raw);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(size, 8 + hlen + sizeof a + sizeof b + 4);
    free(raw);

    vd_safetensors *st;
    assert_int_equal(vd_st_open(path, &st), VKDETR_OK);
    assert_true(vd_st_is_mapped(st));
    assert_string_equal(vd_st_name(st), path);
    assert_int_equal(vd_st_count(st), 4);
    assert_string_equal(vd_st_at(st, 1)->name, e[1].name);
    assert_null(vd_st_at(st, 4));
    assert_null(vd_st_at(st, -1));
    assert_string_equal(vd_st_metadata(st, "format"), "pt");
    assert_string_equal(vd_st_metadata(st, "note"), "x\"y");
    assert_null(vd_st_metadata(st, "nope"));

    const vd_st_tensor *t = vd_st_find(st, "a.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, VD_ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(t->shape[1], 5);
    assert_int_equal(t->nelements, 15);
    assert_int_equal(t->nbytes, 60);
    assert_memory_equal(t->data, a, sizeof a);
    float out[15];
    assert_int_equal(vd_st_read_f32(t, out), VKDETR_OK);
    assert_memory_equal(out, a, sizeof a);

    t = vd_st_find(st, e[1].name);
    assert_non_null(t);
    assert_int_equal(t->dtype, VD_ST_I32);
    assert_memory_equal(t->data, b, sizeof b);
    assert_int_equal(vd_st_read_f32(t, out), VKDETR_ERR_FORMAT);
    assert_msg_contains("dtype I32");

    t = vd_st_find(st, "scalar");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->nelements, 1);
    assert_int_equal(vd_st_read_f32(t, out), VKDETR_OK);
    assert_true(out[0] == 3.25f);

    t = vd_st_find(st, "empty");
    assert_int_equal(t->nelements, 0);
    assert_int_equal(t->nbytes, 0);
    assert_int_equal(vd_st_read_f32(t, NULL), VKDETR_OK);

    assert_null(vd_st_find(st, "a.weigh"));
    assert_null(vd_st_find(st, ""));
    vd_st_close(st);
    vd_st_close(NULL);
}

static void test_many_tensors(void **state) {
    (void)state;
    enum { N = 2000 };
    vd_st_write_entry *e = calloc(N, sizeof *e);
    char(*names)[64] = calloc(N, 64);
    float *vals = calloc(N, sizeof *vals);
    assert_true(e && names && vals);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], 64, "model.layers.%d.weight", i);
        vals[i] = (float)i;
        e[i] = (vd_st_write_entry){names[i], VD_ST_F32, 1, {1}, &vals[i]};
    }
    const char *path = tmp_path("many.safetensors");
    assert_int_equal(vd_st_write(path, N, e), VKDETR_OK);
    vd_safetensors *st;
    assert_int_equal(vd_st_open(path, &st), VKDETR_OK);
    assert_int_equal(vd_st_count(st), N);
    for (int i = N - 1; i >= 0; i--) {
        const vd_st_tensor *t = vd_st_find(st, names[i]);
        assert_non_null(t);
        float v;
        memcpy(&v, t->data, 4);
        assert_true(v == (float)i);
    }
    assert_null(vd_st_find(st, "model.layers.2000.weight"));
    vd_st_close(st);
    free(e);
    free(names);
    free(vals);
}

/* ---- conversions ----------------------------------------------------------------------- */

static void test_read_conversions(void **state) {
    (void)state;
    uint16_t h[] = {0x3c00, 0x0001, 0x8000, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x03ff};
    uint16_t bf[] = {0x3f80, 0xc049, 0x0001, 0x7f80};
    double d[] = {1.5, -1e-50, 1e300, -1e300, 3.0e38, 0.1, NAN};
    float f[] = {1.0f, -2.0f, 0.5f};
    /* F16 first (16 bytes), then F32 at byte 16+2 to make it unaligned */
    uint8_t data[16 + 2 + 12 + 2 + 8 + 56];
    memset(data, 0, sizeof data);
    memcpy(data, h, 16);
    memcpy(data + 18, f, 12);
    memcpy(data + 32, bf, 8);
    memcpy(data + 40, d, 56);
    const char *hdr = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[0,16]},"
                      "\"f\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[18,30]},"
                      "\"bf\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[32,40]},"
                      "\"d\":{\"dtype\":\"F64\",\"shape\":[7],\"data_offsets\":[40,96]}}";
    size_t size;
    uint8_t *p = make_file(strlen(hdr), hdr, 0, &size);
    uint8_t *file = malloc(size + sizeof data);
    memcpy(file, p, size);
    memcpy(file + size, data, sizeof data);
    vd_safetensors *st;
    assert_int_equal(vd_st_open_memory(file, size + sizeof data, &st), VKDETR_OK);
    free(p);
    memset(file, 0, size + sizeof data); /* the reader must hold its own copy */
    free(file);
    assert_false(vd_st_is_mapped(st));

    float out[8];
    assert_int_equal(vd_st_read_f32(vd_st_find(st, "h"), out), VKDETR_OK);
    assert_true(out[0] == 1.0f);
    assert_true(out[1] == 0x1p-24f);
    assert_true(out[2] == 0.0f && signbit(out[2]));
    assert_true(out[3] == 65504.0f);
    assert_true(isinf(out[4]) && out[4] > 0);
    assert_true(isinf(out[5]) && out[5] < 0);
    assert_true(isnan(out[6]));
    assert_true(out[7] == 1023 * 0x1p-24f);

    assert_int_equal(vd_st_read_f32(vd_st_find(st, "f"), out), VKDETR_OK);
    assert_memory_equal(out, f, 12);

    assert_int_equal(vd_st_read_f32(vd_st_find(st, "bf"), out), VKDETR_OK);
    assert_true(out[0] == 1.0f);
    assert_true(out[1] == vd_bits_f32(0xc0490000));
    assert_true(out[2] == vd_bits_f32(0x00010000));
    assert_true(isinf(out[3]));

    assert_int_equal(vd_st_read_f32(vd_st_find(st, "d"), out), VKDETR_OK);
    assert_true(out[0] == 1.5f);
    assert_true(out[1] == 0.0f && signbit(out[1]));
    assert_true(isinf(out[2]) && out[2] > 0);
    assert_true(isinf(out[3]) && out[3] < 0);
    assert_true(out[4] == 3.0e38f);
    assert_true(out[5] == 0.1f);
    assert_true(isnan(out[6]));
    vd_st_close(st);
}

/* ---- malformed files ------------------------------------------------------------------- */

typedef struct bad_case {
    const char *what;
    const char *hdr;   /* NULL: raw bytes below */
    size_t data_bytes;
    uint64_t hlen;     /* 0: strlen(hdr) */
    const char *expect;
} bad_case;

#define T1(dtype, shape, offs) "{\"t\":{\"dtype\":" dtype ",\"shape\":" shape ",\"data_offsets\":" offs "}}"

static const bad_case bad_cases[] = {
    {"header length past the file", "{}", 0, 100, "header length 100 exceeds the file size (10 bytes)"},
    {"header length 2^31", "{}", 0, 1ull << 31, "exceeds the file size"},
    {"header length 2^63", "{}", 0, 1ull << 63, "exceeds the file size"},
    {"header length 2^64-1", "{}", 0, ~0ull, "exceeds the file size"},
    {"header not JSON", "hello", 0, 0, "header is not valid JSON"},
    {"truncated JSON", "{\"a\":{\"dtype\":\"F32\"", 0, 0, "header is not valid JSON"},
    {"empty header", "", 0, 0, "header is not valid JSON"},
    {"header an array", "[1, 2]", 0, 0, "header is not a JSON object"},
    {"header a string", "\"x\"", 0, 0, "header is not a JSON object"},
    {"trailing garbage", "{} x", 0, 0, "data after the JSON value"},
    {"non-UTF-8", "{\"a\xff\":{}}", 0, 0, "not valid UTF-8 (byte 3"},
    {"overlong UTF-8", "{\"a\xc0\xaf\":{}}", 0, 0, "not valid UTF-8"},
    {"surrogate UTF-8", "{\"a\xed\xa0\x80\":{}}", 0, 0, "not valid UTF-8"},
    {"entry not an object", "{\"t\": 5}", 0, 0, "tensor 't': entry is not a JSON object"},
    {"missing dtype", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, 0, "\"dtype\""},
    {"unknown dtype", T1("\"F8_E5M2\"", "[1]", "[0,1]"), 1, 0, "tensor 't': unsupported dtype 'F8_E5M2'"},
    {"dtype a number", T1("4", "[1]", "[0,4]"), 4, 0, "non-string \"dtype\""},
    {"missing shape", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, 0, "\"shape\""},
    {"negative dim", T1("\"F32\"", "[2,-1]", "[0,8]"), 8, 0, "tensor 't': shape has a negative dimension (-1)"},
    {"fractional dim", T1("\"F32\"", "[1.5]", "[0,4]"), 4, 0, "shape entry 0 is not a non-negative integer"},
    {"string dim", T1("\"F32\"", "[\"2\"]", "[0,8]"), 8, 0, "shape entry 0"},
    {"rank 9", T1("\"U8\"", "[1,1,1,1,1,1,1,1,1]", "[0,1]"), 1, 0, "shape has 9 dimensions (at most 8)"},
    {"huge product", T1("\"F32\"", "[4294967296,4294967296]", "[0,4]"), 4, 0, "has too many elements"},
    {"huge product with a zero", T1("\"F32\"", "[0,4294967296,4294967296]", "[0,0]"), 0, 0, "too many elements"},
    {"dim above 2^53", T1("\"F32\"", "[18014398509481984]", "[0,4]"), 4, 0, "shape entry 0"},
    {"offsets missing", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, 0, "\"data_offsets\" is not two"},
    {"offsets three", T1("\"F32\"", "[1]", "[0,4,8]"), 8, 0, "\"data_offsets\" is not two"},
    {"offsets negative", T1("\"F32\"", "[1]", "[-4,0]"), 8, 0, "\"data_offsets\" is not two"},
    {"offsets strings", T1("\"F32\"", "[1]", "[\"0\",\"4\"]"), 8, 0, "\"data_offsets\" is not two"},
    {"offset above 2^53", T1("\"F32\"", "[1]", "[0,18014398509481984]"), 8, 0, "\"data_offsets\""},
    {"begin after end", T1("\"F32\"", "[1]", "[8,4]"), 8, 0, "tensor 't': data_offsets [8, 4] begin is after end"},
    {"truncated data", T1("\"F32\"", "[4]", "[0,16]"), 8, 0, "tensor 't': data_offsets [0, 16] end past the data section (8 bytes)"},
    {"offsets past the end", T1("\"F32\"", "[100]", "[0,400]"), 120, 0, "data_offsets [0, 400] end past the data section (120 bytes)"},
    {"size mismatch", T1("\"F32\"", "[3]", "[0,16]"), 16, 0, "data_offsets [0, 16] hold 16 bytes, but F32 [3] needs 12"},
    {"size mismatch F16", T1("\"F16\"", "[2,2]", "[0,4]"), 8, 0, "hold 4 bytes, but F16 [2, 2] needs 8"},
    {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
     24, 0, "tensor 'b': data_offsets [8, 24] overlap tensor 'a' [0, 16]"},
    {"overlap inside", "{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
                       "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[32,36]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
     36, 0, "overlap tensor 'a'"},
    {"duplicate names", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, 0, "tensor 'a': duplicate name"},
    {"metadata not an object", "{\"__metadata__\": [1]}", 0, 0, "\"__metadata__\" is not a JSON object"},
    {"metadata non-string", "{\"__metadata__\": {\"k\": 1}}", 0, 0, "value of 'k' is not a string"},
    {"two metadata", "{\"__metadata__\": {}, \"__metadata__\": {}}", 0, 0, "duplicate \"__metadata__\""},
    {"newline in name", "{\"a\\nb\": 5}", 0, 0, "tensor 'a?b': entry is not"},
};

static void test_malformed(void **state) {
    (void)state;
    for (size_t i = 0; i < VD_ARRAY_LEN(bad_cases); i++) {
        const bad_case *c = &bad_cases[i];
        size_t size;
        uint8_t *p = make_file(c->hlen ? c->hlen : strlen(c->hdr), c->hdr, c->data_bytes, &size);
        vd_safetensors *st = (vd_safetensors *)(uintptr_t)1;
        vd_error_clear();
        vkdetr_status s = vd_st_open_memory(p, size, &st);
        free(p);
        if (s != VKDETR_ERR_FORMAT || st != NULL || !strstr(vkdetr_last_error(), c->expect) ||
            strncmp(vkdetr_last_error(), "<memory>: ", 10) != 0 ||
            strchr(vkdetr_last_error(), '\n')) {
            fprintf(stderr, "case '%s': status %d, message \"%s\", want \"%s\"\n", c->what, s,
                    vkdetr_last_error(), c->expect);
            fail();
        }
    }
}

static void test_short_files(void **state) {
    (void)state;
    vd_safetensors *st;
    uint8_t seven[7] = {2, 0, 0, 0, 0, 0, 0};
    assert_int_equal(vd_st_open_memory(seven, 0, &st), VKDETR_ERR_FORMAT);
    assert_msg_contains("<memory>: file is empty");
    assert_int_equal(vd_st_open_memory(NULL, 0, &st), VKDETR_ERR_FORMAT);
    assert_int_equal(vd_st_open_memory(seven, 7, &st), VKDETR_ERR_FORMAT);
    assert_msg_contains("file is 7 bytes, too short");
    assert_null(st);

    /* the same on disk */
    const char *path = tmp_path("empty.safetensors");
    assert_int_equal(vd_test_write_file(path, "", 0), 0);
    assert_int_equal(vd_st_open(path, &st), VKDETR_ERR_FORMAT);
    assert_msg_contains("empty.safetensors: file is empty");
    path = tmp_path("seven.safetensors");
    assert_int_equal(vd_test_write_file(path, seven, 7), 0);
    assert_int_equal(vd_st_open(path, &st), VKDETR_ERR_FORMAT);
    assert_msg_contains("seven.safetensors: file is 7 bytes");

    /* minimal valid files: "{}" and "{}" padded, trailing bytes after the data */
    assert_int_equal(open_hdr("{}", 0, &st), VKDETR_OK);
    assert_int_equal(vd_st_count(st), 0);
    assert_null(vd_st_find(st, "a"));
    vd_st_close(st);
    assert_int_equal(open_hdr("{}      ", 5, &st), VKDETR_OK);
    vd_st_close(st);
    assert_int_equal(open_hdr(T1("\"BOOL\"", "[2]", "[1,3]"), 9, &st), VKDETR_OK);
    assert_int_equal(vd_st_find(st, "t")->nbytes, 2);
    vd_st_close(st);
    /* zero-size tensors may share offsets with anything */
    assert_int_equal(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                              "\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                              16, &st),
                     VKDETR_OK);
    vd_st_close(st);
}

static void test_io_errors(void **state) {
    (void)state;
    vd_safetensors *st = (vd_safetensors *)(uintptr_t)1;
    const char *path = tmp_path("does-not-exist.safetensors");
    assert_int_equal(vd_st_open(path, &st), VKDETR_ERR_IO);
    assert_null(st);
    assert_msg_contains("does-not-exist.safetensors: cannot open: No such file");
    assert_int_equal(vd_st_open(tmpdir, &st), VKDETR_ERR_IO);
    assert_msg_contains("not a regular file");
    assert_int_equal(vd_st_open(NULL, &st), VKDETR_ERR_INVALID_ARG);

    /* writer: unwritable place, bad entries */
    float x = 1;
    vd_st_write_entry e[2] = {{"a", VD_ST_F32, 1, {1}, &x}, {"a", VD_ST_F32, 1, {1}, &x}};
    assert_int_equal(vd_st_write(tmp_path("no/such/dir/x.safetensors"), 1, e), VKDETR_ERR_IO);
    assert_msg_contains("cannot create");
    const char *out = tmp_path("dup.safetensors");
    assert_int_equal(vd_st_write(out, 2, e), VKDETR_ERR_INVALID_ARG);
    assert_msg_contains("duplicate tensor name 'a'");
    assert_int_not_equal(access(out, F_OK), 0);
    e[1].name = "b";
    e[1].shape[0] = -1;
    assert_int_equal(vd_st_write(out, 2, e), VKDETR_ERR_INVALID_ARG);
    e[1].shape[0] = 1;
    e[1].name = "__metadata__";
    assert_int_equal(vd_st_write(out, 2, e), VKDETR_ERR_INVALID_ARG);
    assert_int_not_equal(access(out, F_OK), 0);
}

/* Random bytes and random mutations of a valid file must never crash or leak. */
static void test_garbage(void **state) {
    (void)state;
    vd_rng r;
    vd_rng_seed(&r, 99);
    float a[6] = {1, 2, 3, 4, 5, 6};
    vd_st_write_entry e[] = {{"x.weight", VD_ST_F32, 2, {2, 3}, a}, {"y", VD_ST_F16, 1, {2}, a}};
    const char *path = tmp_path("valid.safetensors");
    assert_int_equal(vd_st_write(path, 2, e), VKDETR_OK);
    size_t size;
    uint8_t *valid = vd_test_read_file(path, &size);
    assert_non_null(valid);
    uint8_t *buf = malloc(size);
    float out[64];
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, valid, size);
        size_t n = size;
        if (iter < 200) {
            for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)vd_rng_u32(&r);
            if (iter & 1) { /* a plausible header length */
                buf[0] = (uint8_t)(vd_rng_u32(&r) % 64);
                memset(buf + 1, 0, 7);
            }
        } else {
            int flips = 1 + (int)(vd_rng_u32(&r) % 4);
            for (int k = 0; k < flips; k++) buf[vd_rng_u32(&r) % n] = (uint8_t)vd_rng_u32(&r);
            if (iter % 5 == 0) n = vd_rng_u32(&r) % (size + 1);
        }
        vd_safetensors *st;
        vkdetr_status s = vd_st_open_memory(buf, n, &st);
        if (s == VKDETR_OK) {
            for (int i = 0; i < vd_st_count(st); i++) {
                const vd_st_tensor *t = vd_st_at(st, i);
                if (vd_st_dtype_is_float(t->dtype) && t->nelements <= 64) vd_st_read_f32(t, out);
            }
            vd_st_close(st);
        } else {
            assert_int_equal(s, VKDETR_ERR_FORMAT);
            assert_null(strchr(vkdetr_last_error(), '\n'));
        }
    }
    free(buf);
    free(valid);
}

static void test_alloc_failures(void **state) {
    (void)state;
    float a[12] = {0};
    int32_t b[3] = {1, 2, 3};
    vd_st_write_entry e[] = {
        {"a", VD_ST_F32, 2, {3, 4}, a}, {"b", VD_ST_I32, 1, {3}, b}, {"c", VD_ST_F32, 0, {0}, a}};
    const char *kv[] = {"format", "pt"};
    const char *path = tmp_path("alloc.safetensors");
    assert_int_equal(vd_st_write_meta(path, 3, e, 1, kv), VKDETR_OK);
    size_t size;
    uint8_t *file = vd_test_read_file(path, &size);
    assert_non_null(file);

    vd_safetensors *st;
    vd_alloc_fail_after(0, 0);
    assert_int_equal(vd_st_open_memory(file, size, &st), VKDETR_OK);
    int64_t count = vd_alloc_fail_after(0, 0);
    vd_st_close(st);
    assert_true(count >= 4);
    for (int sticky = 0; sticky < 2; sticky++) {
        for (int64_t n = 1; n <= count + 1; n++) {
            vd_alloc_fail_after(n, sticky);
            vkdetr_status s = vd_st_open_memory(file, size, &st);
            vd_alloc_fail_after(0, 0);
            if (s == VKDETR_OK) {
                assert_int_equal(vd_st_count(st), 3);
                vd_st_close(st);
            } else if (s != VKDETR_ERR_NO_MEMORY) {
                fprintf(stderr, "allocation %lld: status %d (%s)\n", (long long)n, s,
                        vkdetr_last_error());
                fail();
            }
            if (n <= count) assert_int_equal(s, VKDETR_ERR_NO_MEMORY);
        }
    }
    /* the writer and vd_st_open too */
    for (int64_t n = 1; n <= 8; n++) {
        vd_alloc_fail_after(n, 1);
        vkdetr_status s1 = vd_st_write(tmp_path("alloc2.safetensors"), 3, e);
        vkdetr_status s2 = vd_st_open(path, &st);
        vd_alloc_fail_after(0, 0);
        assert_true(s1 == VKDETR_OK || s1 == VKDETR_ERR_NO_MEMORY);
        assert_true(s2 == VKDETR_OK || s2 == VKDETR_ERR_NO_MEMORY);
        if (s2 == VKDETR_OK) vd_st_close(st);
    }
    free(file);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_exhaustive),   cmocka_unit_test(test_f32_to_f16_rounding),
        cmocka_unit_test(test_bf16),             cmocka_unit_test(test_release),
        cmocka_unit_test(test_roundtrip),        cmocka_unit_test(test_many_tensors),
        cmocka_unit_test(test_read_conversions), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_short_files),      cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_garbage),          cmocka_unit_test(test_alloc_failures),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    remove_tmpdir();
    return failed;
}
