/* Weight lookup by name: shapes, aliases, error accumulation, BN folding, num_params. */
#include "support/testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/half.h"
#include "core/weights.h"

#define assert_msg_contains(msg, sub)                                                         \
    do {                                                                                      \
        if (!strstr((msg), (sub))) {                                                          \
            fprintf(stderr, "message \"%s\" lacks \"%s\"\n", (msg), (sub));                   \
            fail();                                                                           \
        }                                                                                     \
    } while (0)

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    if (!tmpdir[0]) snprintf(tmpdir, sizeof tmpdir, "%s", vd_test_tmpdir());
    char *b = buf[k++ & 3];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

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

/* Writes the entries to a file and opens it as weights. */
static vd_weights *open_weights(const char *file, int n, const vd_st_write_entry *e) {
    const char *path = tmp_path(file);
    assert_int_equal(vd_st_write(path, n, e), VKDETR_OK);
    vd_safetensors *st;
    assert_int_equal(vd_st_open(path, &st), VKDETR_OK);
    vd_weights *W;
    assert_int_equal(vd_weights_create(st, &W), VKDETR_OK);
    return W;
}

static float data[1 << 16]; /* shared test data, seeded in main */

static void test_get_basic(void **state) {
    (void)state;
    vd_st_write_entry e[] = {
        {"model.conv.weight", VD_ST_F32, 4, {8, 3, 3, 3}, data},
        {"model.fc.weight", VD_ST_F32, 2, {5, 7}, data + 300},
        {"model.scale", VD_ST_F32, 0, {0}, data + 400},
    };
    vd_weights *W = open_weights("basic.safetensors", 3, e);
    vd_tensor *w = vd_weights_get(W, "model.%s.weight", VD_SHAPE(8, 3, 3, 3), "conv");
    assert_non_null(w);
    assert_int_equal(w->op, VD_OP_LEAF);
    assert_int_equal(w->type, VD_F32);
    assert_int_equal(w->flags, VD_TENSOR_WEIGHT);
    assert_int_equal(w->id, -1);
    assert_int_equal(w->ndim, 4);
    assert_int_equal(w->ne[0], 8);
    assert_int_equal(w->ne[3], 3);
    assert_string_equal(w->name, "model.conv.weight");
    assert_memory_equal(w->data, data, 8 * 27 * sizeof(float));
    assert_ptr_equal(vd_weights_get(W, "model.conv.weight", VD_SHAPE(-1, 3, -1, 3)), w);

    vd_tensor *fc = vd_weights_get(W, "model.fc.weight", VD_SHAPE(-1, 7));
    assert_non_null(fc);
    assert_int_equal(fc->ne[0], 5);
    assert_memory_equal(fc->data, data + 300, 35 * sizeof(float));
    vd_tensor *sc = vd_weights_get(W, "model.scale", VD_SHAPE_SCALAR);
    assert_non_null(sc);
    assert_int_equal(sc->ndim, 0);
    assert_true(*(float *)sc->data == data[400]);
    assert_ptr_equal(vd_weights_get(W, "model.fc.weight", VD_SHAPE_ANY), fc);

    assert_true(vd_weights_has(W, "model.fc.%s", "weight"));
    assert_false(vd_weights_has(W, "model.fc.bias"));
    assert_int_equal(vd_weights_status(W), VKDETR_OK);
    assert_string_equal(vd_weights_error(W), "");
    assert_int_equal(vd_weights_count_unused(W), 0);
    assert_int_equal(vd_weights_num_params(W), 8 * 27 + 35 + 1);
    vd_weights_free(W);
    vd_weights_free(NULL);
}

static void test_missing_and_misshaped(void **state) {
    (void)state;
    vd_st_write_entry e[] = {
        {"model.encoder.lateral_convs.0.conv.weight", VD_ST_F32, 4, {256, 128, 1, 1}, data},
        {"model.decoder.layers.2.fc1.weight", VD_ST_F32, 2, {16, 8}, data},
        {"bn.num_batches_tracked", VD_ST_I64, 0, {0}, data},
    };
    for (int c = 0; c < 4; c++) {
        vd_weights *W = open_weights("errors.safetensors", 3, e);
        const char *path = tmp_path("errors.safetensors");
        char want[1024];
        vd_tensor *t = NULL;
        vkdetr_status want_status = VKDETR_ERR_SHAPE;
        if (c == 0) {
            t = vd_weights_get(W, "model.decoder.layers.%d.fc2.weight", VD_SHAPE(1024, 256), 2);
            snprintf(want, sizeof want, "%s: missing tensor 'model.decoder.layers.2.fc2.weight' "
                     "(expected [1024, 256])", path);
        } else if (c == 1) {
            t = vd_weights_get(W, "model.encoder.lateral_convs.%d.conv.weight",
                               VD_SHAPE(256, 512, 1, 1), 0);
            snprintf(want, sizeof want, "%s: tensor 'model.encoder.lateral_convs.0.conv.weight' "
                     "has shape [256, 128, 1, 1], expected [256, 512, 1, 1]", path);
        } else if (c == 2) {
            t = vd_weights_get(W, "model.decoder.layers.2.fc1.weight", VD_SHAPE(16, 8, 1));
            snprintf(want, sizeof want, "has shape [16, 8], expected [16, 8, 1]");
        } else {
            t = vd_weights_get(W, "bn.num_batches_tracked", VD_SHAPE_SCALAR);
            snprintf(want, sizeof want, "tensor 'bn.num_batches_tracked' has dtype I64");
            want_status = VKDETR_ERR_FORMAT;
        }
        assert_null(t);
        assert_msg_contains(vkdetr_last_error(), want);
        assert_msg_contains(vd_weights_error(W), want);
        /* later gets fail quietly, even for good names; the first message is kept */
        assert_null(vd_weights_get(W, "model.decoder.layers.2.fc1.weight", VD_SHAPE(16, 8)));
        assert_null(vd_weights_get(W, "nope", VD_SHAPE(1)));
        assert_null(vd_weights_new(W, 1, (int64_t[]){4}));
        assert_true(vd_weights_has(W, "model.decoder.layers.2.fc1.weight"));
        vd_error_clear();
        assert_int_equal(vd_weights_status(W), want_status);
        assert_msg_contains(vkdetr_last_error(), want);
        assert_null(strchr(vkdetr_last_error(), '\n'));
        vd_weights_free(W);
    }

    /* -1 dims print as '?' */
    vd_weights *W = open_weights("errors2.safetensors", 3, e);
    assert_null(vd_weights_get(W, "x.weight", VD_SHAPE(-1, 256)));
    assert_msg_contains(vd_weights_error(W), "missing tensor 'x.weight' (expected [?, 256])");
    vd_weights_free(W);
}

static char log_seen[1024];

static void capture_log(vkdetr_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == VKDETR_LOG_DEBUG && strstr(msg, "exists as"))
        snprintf(log_seen, sizeof log_seen, "%s", msg);
}

static const vd_alias rtdetr_aliases[] = {
    {"out_proj", "o_proj"},
    {".fc1.", ".mlp.fc1."},
    {".fc2.", ".mlp.fc2."},
    {"encoder.encoder.", "encoder.aifi."},
    {"model.decoder.class_embed.", "class_embed."},
};

static void test_aliases(void **state) {
    (void)state;
    /* a file with the legacy (v4) names */
    vd_st_write_entry legacy[] = {
        {"model.decoder.layers.0.self_attn.out_proj.weight", VD_ST_F32, 2, {4, 4}, data},
        {"model.decoder.layers.0.fc1.weight", VD_ST_F32, 2, {8, 4}, data + 16},
        {"model.encoder.encoder.0.layers.0.fc2.weight", VD_ST_F32, 2, {4, 8}, data + 48},
        {"model.encoder.encoder.0.layers.0.self_attn.out_proj.bias", VD_ST_F32, 1, {4}, data + 80},
        {"model.decoder.class_embed.3.weight", VD_ST_F32, 2, {80, 4}, data + 84},
    };
    /* the same tensors under the v5 names */
    vd_st_write_entry v5[] = {
        {"model.decoder.layers.0.self_attn.o_proj.weight", VD_ST_F32, 2, {4, 4}, data},
        {"model.decoder.layers.0.mlp.fc1.weight", VD_ST_F32, 2, {8, 4}, data + 16},
        {"model.encoder.aifi.0.layers.0.mlp.fc2.weight", VD_ST_F32, 2, {4, 8}, data + 48},
        {"model.encoder.aifi.0.layers.0.self_attn.o_proj.bias", VD_ST_F32, 1, {4}, data + 80},
        {"class_embed.3.weight", VD_ST_F32, 2, {80, 4}, data + 84},
    };
    for (int f = 0; f < 2; f++) {
        vd_weights *W = open_weights(f ? "v5.safetensors" : "legacy.safetensors", 5, f ? v5 : legacy);
        assert_int_equal(vd_weights_set_aliases(W, rtdetr_aliases, VD_ARRAY_LEN(rtdetr_aliases)),
                         VKDETR_OK);
        /* both spellings of every tensor resolve to the same stored tensor */
        for (int i = 0; i < 5; i++) {
            const vd_st_write_entry *stored = f ? &v5[i] : &legacy[i];
            vd_shape shape = {stored->ndim, {stored->shape[0], stored->shape[1]}};
            vd_tensor *a = vd_weights_get(W, "%s", shape, legacy[i].name);
            vd_tensor *b = vd_weights_get(W, "%s", shape, v5[i].name);
            if (!a || !b || a != b) {
                fprintf(stderr, "file %d tensor %d: %s\n", f, i, vd_weights_error(W));
                fail();
            }
            assert_string_equal(a->name, stored->name);
            assert_memory_equal(a->data, stored->data, (size_t)vd_nelements(a) * 4);
            assert_true(vd_weights_has(W, "%s", legacy[i].name));
            assert_true(vd_weights_has(W, "%s", v5[i].name));
        }
        /* mixed spellings (one rule applied, the other not) are found too */
        assert_non_null(vd_weights_get(W, "model.encoder.encoder.0.layers.0.mlp.fc2.weight",
                                       VD_SHAPE(4, 8)));
        assert_non_null(vd_weights_get(W, "model.encoder.aifi.0.layers.0.fc2.weight",
                                       VD_SHAPE(4, 8)));
        assert_false(vd_weights_has(W, "model.decoder.layers.0.self_attn.q_proj.weight"));
        assert_null(vd_weights_get(W, "model.decoder.layers.1.fc1.weight", VD_SHAPE(8, 4)));
        assert_msg_contains(vd_weights_error(W),
                            "missing tensor 'model.decoder.layers.1.fc1.weight' (expected [8, 4])");
        vd_weights_free(W);
    }

    /* without aliases only the stored spelling works */
    vd_weights *W = open_weights("legacy.safetensors", 5, legacy);
    assert_false(vd_weights_has(W, "%s", v5[0].name));
    assert_true(vd_weights_has(W, "%s", legacy[0].name));
    /* bad rules */
    vd_alias bad[] = {{"", "x"}};
    assert_int_equal(vd_weights_set_aliases(W, bad, 1), VKDETR_ERR_INVALID_ARG);
    vd_weights_free(W);

    /* both spellings stored: the name as given wins, then fewer rewrites */
    vd_st_write_entry both[] = {
        {"a.out_proj.w", VD_ST_F32, 1, {1}, data},
        {"a.o_proj.w", VD_ST_F32, 1, {1}, data + 1},
    };
    W = open_weights("both.safetensors", 2, both);
    vd_weights_set_aliases(W, rtdetr_aliases, VD_ARRAY_LEN(rtdetr_aliases));
    log_seen[0] = 0;
    vkdetr_log_set(capture_log, NULL, VKDETR_LOG_DEBUG);
    assert_string_equal(vd_weights_get(W, "a.out_proj.w", VD_SHAPE(1))->name, "a.out_proj.w");
    vkdetr_log_set(NULL, NULL, VKDETR_LOG_WARN);
    assert_msg_contains(log_seen, "tensor 'a.out_proj.w' exists as 'a.out_proj.w' and as "
                                  "'a.o_proj.w'; using 'a.out_proj.w'");
    assert_string_equal(vd_weights_get(W, "a.o_proj.w", VD_SHAPE(1))->name, "a.o_proj.w");
    vd_weights_free(W);
}

static void test_conversion_and_alignment(void **state) {
    (void)state;
    uint16_t h[6];
    for (int i = 0; i < 6; i++) h[i] = vd_f32_to_f16(data[i]);
    double d[3] = {0.25, -1.5, 1e-3};
    vd_st_write_entry e[] = {
        {"h", VD_ST_F16, 2, {2, 3}, h},         /* 12 bytes: the next one is 4-aligned */
        {"odd", VD_ST_I8, 1, {2}, h},           /* 2 bytes: the next F32 is misaligned */
        {"f", VD_ST_F32, 1, {5}, data},
        {"d", VD_ST_F64, 1, {3}, d},
        {"i", VD_ST_I32, 1, {4}, data},
        {"bn.num_batches_tracked", VD_ST_I64, 0, {0}, d},
    };
    vd_weights *W = open_weights("conv.safetensors", 6, e);
    vd_tensor *th = vd_weights_get(W, "h", VD_SHAPE(2, 3));
    vd_tensor *tf = vd_weights_get(W, "f", VD_SHAPE(5));
    vd_tensor *td = vd_weights_get(W, "d", VD_SHAPE(3));
    assert_true(th && tf && td);
    for (int i = 0; i < 6; i++) assert_true(((float *)th->data)[i] == vd_f16_to_f32(h[i]));
    assert_true(((uintptr_t)tf->data & 3) == 0); /* copied out of the misaligned mapping */
    assert_memory_equal(tf->data, data, 5 * sizeof(float));
    assert_true(((float *)td->data)[1] == -1.5f);
    assert_true(((float *)td->data)[2] == 1e-3f);
    /* 6 + 5 + 3 float elements; I8, I32 and I64 skipped */
    assert_int_equal(vd_weights_num_params(W), 14);
    assert_int_equal(vd_weights_count_unused(W), 0);
    vd_weights_free(W);
}

/* The BN folding reference, all in double. */
static void fold_reference(const float *w, const float *g, const float *b, const float *m,
                           const float *v, double eps, int C, int inner, float *ow, float *ob) {
    for (int o = 0; o < C; o++) {
        double scale = (double)g[o] / sqrt((double)v[o] + eps);
        for (int j = 0; j < inner; j++) ow[o * inner + j] = (float)(w[o * inner + j] * scale);
        ob[o] = (float)(b[o] - m[o] * scale);
    }
}

static void test_fold_bn(void **state) {
    (void)state;
    enum { C = 7, INNER = 5 * 3 * 3 };
    vd_rng r;
    vd_rng_seed(&r, 42);
    static float w[C * INNER], g[C], b[C], m[C], v[C], ow[C * INNER], ob[C];
    vd_rng_fill(&r, w, C * INNER, -1, 1);
    vd_rng_fill(&r, g, C, 0.5f, 2);
    vd_rng_fill(&r, b, C, -1, 1);
    vd_rng_fill(&r, m, C, -1, 1);
    vd_rng_fill(&r, v, C, 0, 3);
    v[0] = 0;     /* eps matters */
    b[2] = -0.25f; /* the "bad" BN uses b as its variance */
    vd_st_write_entry e[] = {
        {"blk.conv.weight", VD_ST_F32, 4, {C, 5, 3, 3}, w},
        {"blk.norm.weight", VD_ST_F32, 1, {C}, g},
        {"blk.norm.bias", VD_ST_F32, 1, {C}, b},
        {"blk.norm.running_mean", VD_ST_F32, 1, {C}, m},
        {"blk.norm.running_var", VD_ST_F32, 1, {C}, v},
        {"blk.norm.num_batches_tracked", VD_ST_I64, 0, {0}, w},
        {"bad.norm.weight", VD_ST_F32, 1, {C}, g},
        {"bad.norm.bias", VD_ST_F32, 1, {C}, b},
        {"bad.norm.running_mean", VD_ST_F32, 1, {C}, m},
        {"bad.norm.running_var", VD_ST_F32, 1, {C}, b}, /* negative entries */
    };
    vd_weights *W = open_weights("bn.safetensors", 10, e);
    assert_int_equal(vd_weights_num_params(W), C * INNER + 8 * C);
    vd_tensor *cw = vd_weights_get(W, "blk.conv.weight", VD_SHAPE(C, -1, 3, 3));
    vd_tensor *fw, *fb;
    assert_int_equal(vd_weights_fold_bn(W, cw, "blk.%s", 1e-5f, &fw, &fb, "norm"), VKDETR_OK);
    fold_reference(w, g, b, m, v, (double)1e-5f, C, INNER, ow, ob);
    assert_int_equal(fw->ndim, 4);
    assert_memory_equal(fw->ne, cw->ne, sizeof fw->ne);
    assert_int_equal(fb->ndim, 1);
    assert_int_equal(fb->ne[0], C);
    assert_int_equal(fw->flags, VD_TENSOR_WEIGHT);
    assert_true(vd_check_close("folded w", fw->data, ow, C * INNER, 0, 1e-7));
    assert_true(vd_check_close("folded b", fb->data, ob, C, 0, 1e-7));
    assert_memory_equal(cw->data, w, sizeof w); /* conv_w untouched */
    /* scale for channel 0 is gamma / sqrt(eps) */
    assert_true(fabs(((float *)fw->data)[0] - w[0] * g[0] / sqrt(1e-5)) < 1e-3 * fabs(w[0] * g[0] / sqrt(1e-5)));
    assert_int_equal(vd_weights_count_unused(W), 4); /* the "bad" BN */

    /* a negative variance is a format error naming the tensor */
    assert_int_equal(vd_weights_fold_bn(W, cw, "bad.norm", 1e-5f, &fw, &fb), VKDETR_ERR_FORMAT);
    assert_null(fw);
    assert_null(fb);
    assert_msg_contains(vd_weights_error(W), "tensor 'bad.norm.running_var' [");
    assert_msg_contains(vd_weights_error(W), "var + eps must be positive");
    vd_weights_free(W);

    /* a missing BN part, and a NULL conv weight after an earlier error */
    W = open_weights("bn.safetensors", 10, e);
    cw = vd_weights_get(W, "blk.conv.weight", VD_SHAPE(C, 5, 3, 3));
    assert_int_equal(vd_weights_fold_bn(W, cw, "blk.bn", 1e-5f, &fw, &fb), VKDETR_ERR_SHAPE);
    assert_msg_contains(vd_weights_error(W), "missing tensor 'blk.bn.weight' (expected [7])");
    assert_int_equal(vd_weights_fold_bn(W, NULL, "blk.norm", 1e-5f, &fw, &fb), VKDETR_ERR_SHAPE);
    vd_weights_free(W);

    /* BN with the wrong channel count */
    W = open_weights("bn.safetensors", 10, e);
    vd_tensor *lin = vd_weights_new(W, 2, (int64_t[]){C + 1, 3});
    assert_non_null(lin);
    assert_int_equal(vd_weights_fold_bn(W, lin, "blk.norm", 1e-5f, &fw, &fb), VKDETR_ERR_SHAPE);
    assert_msg_contains(vd_weights_error(W), "has shape [7], expected [8]");
    vd_weights_free(W);
}

/* Folding BN, and converting another dtype, leave the stored weight's pages of the mapping
 * out of resident memory (the model keeps its copy); the stored tensor still reads right. */
static void test_release_after_copy(void **state) {
    (void)state;
    enum { C = 256, INNER = 512 * 9, N = C * INNER }; /* 4.5 MB of f32, 2.25 MB of f16 */
    float *w = malloc(N * sizeof(float)), *ones = malloc(C * sizeof(float));
    float *zeros = calloc(C, sizeof(float));
    uint16_t *h = malloc(N * sizeof(uint16_t));
    assert_true(w && ones && zeros && h);
    for (int i = 0; i < N; i++) w[i] = (float)(i % 1000) * 0.001f;
    for (int i = 0; i < N; i++) h[i] = vd_f32_to_f16(w[i]);
    for (int i = 0; i < C; i++) ones[i] = 1.0f;
    vd_st_write_entry e[] = {
        {"conv.weight", VD_ST_F32, 4, {C, 512, 3, 3}, w},
        {"bn.weight", VD_ST_F32, 1, {C}, ones},
        {"bn.bias", VD_ST_F32, 1, {C}, zeros},
        {"bn.running_mean", VD_ST_F32, 1, {C}, zeros},
        {"bn.running_var", VD_ST_F32, 1, {C}, ones},
        {"half", VD_ST_F16, 1, {N}, h},
    };
    vd_weights *W = open_weights("release.safetensors", 6, e);
    long before = vd_test_rss_file_kb();
    vd_tensor *cw = vd_weights_get(W, "conv.weight", VD_SHAPE(C, 512, 3, 3)), *fw, *fb;
    assert_int_equal(vd_weights_fold_bn(W, cw, "bn", 0.0f, &fw, &fb), VKDETR_OK);
    vd_tensor *ht = vd_weights_get(W, "half", VD_SHAPE(N));
    assert_non_null(ht);
    long after = vd_test_rss_file_kb();
    if (before >= 0) /* 6.75 MB read from the file, at most a few pages of it still resident */
        assert_true(after - before < 1024);
    assert_memory_equal(cw->data, w, (size_t)N * sizeof(float)); /* read from the file again */
    assert_true(vd_check_close("folded", fw->data, w, N, 0, 1e-6));
    for (int i = 0; i < N; i += 997) assert_true(((float *)ht->data)[i] == vd_f16_to_f32(h[i]));
    vd_weights_free(W);
    free(w);
    free(ones);
    free(zeros);
    free(h);
}

static void test_new(void **state) {
    (void)state;
    vd_st_write_entry e[] = {{"x", VD_ST_F32, 1, {3}, data}};
    vd_weights *W = open_weights("new.safetensors", 1, e);
    vd_tensor *t = vd_weights_new(W, 3, (int64_t[]){2, 3, 5});
    assert_non_null(t);
    assert_int_equal(t->op, VD_OP_LEAF);
    assert_int_equal(t->flags, VD_TENSOR_WEIGHT);
    assert_int_equal(t->id, -1);
    assert_int_equal(vd_nelements(t), 30);
    for (int i = 0; i < 30; i++) assert_true(((float *)t->data)[i] == 0.0f);
    ((float *)t->data)[29] = 1; /* writable */
    vd_tensor *big = vd_weights_new(W, 1, (int64_t[]){3 << 20}); /* past the arena block */
    assert_non_null(big);
    assert_true(((float *)big->data)[(3 << 20) - 1] == 0.0f);
    assert_null(vd_weights_new(W, 5, (int64_t[]){1, 1, 1, 1, 1}));
    assert_int_equal(vd_weights_status(W), VKDETR_ERR_INVALID_ARG);
    vd_weights_free(W);
}

/* Every allocation in a load sequence may fail: no crash, no leak, NO_MEMORY reported. */
static void test_alloc_failures(void **state) {
    (void)state;
    uint16_t h[4] = {0x3c00, 0x4000, 0x4200, 0x4400};
    vd_st_write_entry e[] = {
        {"conv.weight", VD_ST_F32, 4, {4, 1, 1, 1}, data},
        {"bn.weight", VD_ST_F16, 1, {4}, h},
        {"bn.bias", VD_ST_F32, 1, {4}, data},
        {"bn.running_mean", VD_ST_F32, 1, {4}, data},
        {"bn.running_var", VD_ST_F16, 1, {4}, h},
        {"a.out_proj.weight", VD_ST_F32, 2, {2, 2}, data},
    };
    const char *path = tmp_path("alloc.safetensors");
    assert_int_equal(vd_st_write(path, 6, e), VKDETR_OK);
    static const vd_alias rules[] = {{"out_proj", "o_proj"}};
    int64_t count = -1;
    for (int64_t n = 0; n <= count || count < 0; n++) {
        vd_alloc_fail_after(n, 1);
        vd_safetensors *st = NULL;
        vd_weights *W = NULL;
        vkdetr_status s = vd_st_open(path, &st);
        if (!s) s = vd_weights_create(st, &W);
        if (!s) s = vd_weights_set_aliases(W, rules, 1);
        if (!s) {
            vd_tensor *cw = vd_weights_get(W, "conv.weight", VD_SHAPE(4, 1, 1, 1));
            vd_tensor *fw, *fb;
            vd_weights_fold_bn(W, cw, "bn", 1e-5f, &fw, &fb);
            vd_weights_get(W, "a.o_proj.weight", VD_SHAPE(2, 2));
            s = vd_weights_status(W);
        }
        int64_t made = vd_alloc_fail_after(0, 0);
        if (n == 0) {
            assert_int_equal(s, VKDETR_OK);
            count = made;
        } else if (s != VKDETR_ERR_NO_MEMORY) {
            fprintf(stderr, "allocation %lld of %lld: status %d (%s)\n", (long long)n,
                    (long long)count, s, vkdetr_last_error());
            fail();
        }
        vd_weights_free(W);
    }
    assert_true(count > 5);
}

int main(void) {
    vd_rng r;
    vd_rng_seed(&r, 5);
    vd_rng_fill(&r, data, VD_ARRAY_LEN(data), -2, 2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_basic),      cmocka_unit_test(test_missing_and_misshaped),
        cmocka_unit_test(test_aliases),        cmocka_unit_test(test_conversion_and_alignment),
        cmocka_unit_test(test_fold_bn),        cmocka_unit_test(test_release_after_copy),
        cmocka_unit_test(test_new),            cmocka_unit_test(test_alloc_failures),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    remove_tmpdir();
    return failed;
}
