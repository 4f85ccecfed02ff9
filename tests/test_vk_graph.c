/* The Vulkan backend on whole graphs (tests/support/minidet.c: a tiny detector that uses
 * every op), against the CPU reference backend: outputs, repeated runs, exactly one submit
 * and one host wait per run, timestamps, barriers only where needed, sessions created from
 * two threads at once, weights packed into many buffers, the pipeline cache file, device
 * selection messages and host allocation failures. Runs on lavapipe; exits 77 when no
 * Vulkan device is usable. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/vk/vk.h"
#include "support/minidet.h"
#include "support/testutil.h"
#include "support/vktest.h"

static vd_arena arena;
static vd_minidet_weights weights;
static vd_backend *cpu;
static float input[2][VD_MINIDET_INPUT_N];


/* Output i of the CPU reference for input k. */
static float ref_out[2][VD_MINIDET_OUTS][128];

static vd_backend *make_vk(vkdetr_precision prec) {
    vkdetr_status st;
    vd_backend *be = vd_vk_backend_create("llvmpipe", prec, &st);
    if (!be) fprintf(stderr, "vd_vk_backend_create: %s\n", vkdetr_last_error());
    return be;
}

/* Runs the minidet on be for input k into out[i] (at most 128 values each). */
static int run_minidet(vd_backend *be, int k, float out[VD_MINIDET_OUTS][128], vd_profile *prof) {
    vd_minidet m;
    if (vd_minidet_build(&m, &weights)) return -1;
    vd_exec *ex;
    vkdetr_status st = be->iface->exec_create(be, m.g, 1, &ex);
    if (st) {
        fprintf(stderr, "exec_create: %s\n", vkdetr_last_error());
        vd_graph_free(m.g);
        return -1;
    }
    st = be->iface->write(ex, m.x, input[k]);
    if (!st) st = be->iface->run(ex, prof);
    for (int i = 0; i < VD_MINIDET_OUTS && !st; i++) st = be->iface->read(ex, m.out[i], out[i]);
    be->iface->exec_free(ex);
    vd_graph_free(m.g);
    if (st) fprintf(stderr, "run: %s\n", vkdetr_last_error());
    return st ? -1 : 0;
}

/* 1 when out matches the reference for input k. */
static int check_outputs(const char *what, float out[VD_MINIDET_OUTS][128], int k, double tol) {
    static const int n[VD_MINIDET_OUTS] = {40, 50, 10, 70, 40};
    int ok = memcmp(out[2], ref_out[k][2], 10 * sizeof(int32_t)) == 0;
    if (!ok) {
        fprintf(stderr, "FAIL %s: top-k indices differ:", what);
        for (int i = 0; i < 10; i++)
            fprintf(stderr, " %d/%d", ((int32_t *)out[2])[i], ((int32_t *)ref_out[k][2])[i]);
        fprintf(stderr, "\n");
        return 0;
    }
    for (int i = 0; i < VD_MINIDET_OUTS; i++) {
        if (i == 2) continue;
        char label[96];
        snprintf(label, sizeof label, "%s output %d", what, i);
        ok &= vd_check_close(label, out[i], ref_out[k][i], (size_t)n[i], tol, tol);
    }
    return ok;
}

static void test_outputs_and_profile(void **state) {
    (void)state;
    vd_backend *be = make_vk(VKDETR_PRECISION_FP32);
    assert_non_null(be);
    float out[VD_MINIDET_OUTS][128];
    double node_ms[512] = {0};
    vd_profile prof = {.n_nodes = 512, .node_ms = node_ms};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(run_minidet(be, k, out, &prof), 0);
        assert_true(check_outputs("fp32", out, k, 1e-4));
        assert_int_equal(prof.submits, 1);
        assert_int_equal(prof.host_syncs, 1);
        assert_non_null(prof.timing);
        assert_string_equal(prof.timing, "gpu timestamps"); /* lavapipe has 64-bit timestamps */
        double sum = 0;
        for (int i = 0; i < 512; i++) sum += node_ms[i];
        assert_true(sum > 0);
    }
    /* the same session twice: runs do not disturb each other */
    vd_minidet m;
    assert_int_equal(vd_minidet_build(&m, &weights), 0);
    vd_exec *ex;
    assert_int_equal(be->iface->exec_create(be, m.g, 1, &ex), 0);
    int nd = vd_vk_exec_dispatches(ex), nb = vd_vk_exec_barriers(ex);
    printf("minidet: %d nodes, %d dispatches, %d barriers\n", m.g->n_nodes, nd, nb);
    assert_true(nb > 0 && nb < nd); /* independent branches share barriers */
    for (int rep = 0; rep < 3; rep++) {
        int k = rep & 1;
        assert_int_equal(be->iface->write(ex, m.x, input[k]), 0);
        assert_int_equal(be->iface->run(ex, NULL), 0);
        for (int i = 0; i < VD_MINIDET_OUTS; i++)
            assert_int_equal(be->iface->read(ex, m.out[i], out[i]), 0);
        assert_true(check_outputs("fp32 repeated", out, k, 1e-4));
    }
    /* only inputs can be written and outputs read */
    assert_int_equal(be->iface->write(ex, m.out[0], input[0]), VKDETR_ERR_INVALID_ARG);
    assert_int_equal(be->iface->read(ex, m.g->nodes[3], out[0]), VKDETR_ERR_INVALID_ARG);
    be->iface->exec_free(ex);
    vd_graph_free(m.g);
    be->iface->free(be);
}

static void test_fp16(void **state) {
    (void)state;
    vd_backend *be = make_vk(VKDETR_PRECISION_FP16);
    if (!be) skip();
    assert_true(vd_vk_backend_fp16(be));
    float out[VD_MINIDET_OUTS][128];
    assert_int_equal(run_minidet(be, 0, out, NULL), 0);
    /* fp16 storage may reorder near-ties in the top-k; with the same selection the outputs
     * must be close */
    if (memcmp(out[2], ref_out[0][2], 10 * sizeof(int32_t)) == 0)
        assert_true(check_outputs("fp16", out, 0, 3e-2));
    else
        printf("fp16: top-k selection differs from fp32 (near-ties); values not compared\n");
    be->iface->free(be);
}

typedef struct thread_arg {
    vd_backend *be;
    float out[VD_MINIDET_OUTS][128];
    int rc;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    a->rc = run_minidet(a->be, 1, a->out, NULL);
    return NULL;
}

/* Two sessions of one backend created and run at the same time: the first upload of the
 * weights and the first creation of each pipeline race. */
static void test_threads(void **state) {
    (void)state;
    vd_backend *be = make_vk(VKDETR_PRECISION_FP32);
    assert_non_null(be);
    thread_arg a[2] = {{.be = be}, {.be = be}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, thread_main, &a[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(a[i].rc, 0);
        assert_true(check_outputs("thread", a[i].out, 1, 1e-4));
    }
    be->iface->free(be);
}

/* Weights packed into buffers of at most 1 KiB: many buffers, same results. */
static void test_weight_packing(void **state) {
    (void)state;
    vd_backend *be = make_vk(VKDETR_PRECISION_FP32);
    assert_non_null(be);
    vd_vk_backend_set_weight_limit(be, 12 << 10); /* the largest weight is 10 KiB */
    float out[VD_MINIDET_OUTS][128];
    assert_int_equal(run_minidet(be, 0, out, NULL), 0);
    printf("weights in %d buffers\n", vd_vk_backend_weight_buffers(be));
    assert_true(vd_vk_backend_weight_buffers(be) > 3);
    assert_true(check_outputs("packed", out, 0, 1e-4));
    /* a second session reuses them */
    int n = vd_vk_backend_weight_buffers(be);
    assert_int_equal(run_minidet(be, 1, out, NULL), 0);
    assert_int_equal(vd_vk_backend_weight_buffers(be), n);
    be->iface->free(be);
}

static void test_pipeline_cache(void **state) {
    (void)state;
    char dir[512], path[600], saved[512] = "", mesa[600];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg) snprintf(saved, sizeof saved, "%s", xdg);
    /* lavapipe keeps compiled shaders in Mesa's cache under the same directory: keep that
     * one where it was, or every kernel is compiled again (seconds each) */
    if (!getenv("MESA_SHADER_CACHE_DIR")) {
        snprintf(mesa, sizeof mesa, "%s/mesa_shader_cache", xdg ? xdg : "");
        if (!xdg) snprintf(mesa, sizeof mesa, "%s/.cache/mesa_shader_cache", home ? home : "/tmp");
        setenv("MESA_SHADER_CACHE_DIR", mesa, 1);
    }
    snprintf(dir, sizeof dir, "%s", vd_test_tmpdir());
    setenv("XDG_CACHE_HOME", dir, 1);
    vd_backend *be = make_vk(VKDETR_PRECISION_FP32);
    assert_non_null(be);
    assert_false(vd_vk_backend_pipeline_cache_loaded(be));
    float out[VD_MINIDET_OUTS][128];
    assert_int_equal(run_minidet(be, 0, out, NULL), 0);
    be->iface->free(be); /* saves the cache */

    snprintf(path, sizeof path, "%s/vkdetr", dir);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls %s/pipeline-*.bin > /dev/null 2>&1", path);
    assert_int_equal(system(cmd), 0);
    be = make_vk(VKDETR_PRECISION_FP32);
    assert_non_null(be);
    assert_true(vd_vk_backend_pipeline_cache_loaded(be));
    be->iface->free(be);

    /* a corrupt cache file is ignored */
    snprintf(cmd, sizeof cmd, "for f in %s/pipeline-*.bin; do echo garbage > $f; done", path);
    assert_int_equal(system(cmd), 0);
    be = make_vk(VKDETR_PRECISION_FP32);
    assert_non_null(be);
    assert_false(vd_vk_backend_pipeline_cache_loaded(be));
    assert_int_equal(run_minidet(be, 0, out, NULL), 0);
    assert_true(check_outputs("after corrupt cache", out, 0, 1e-4));
    be->iface->free(be);
    /* an unwritable cache directory is not an error */
    setenv("XDG_CACHE_HOME", "/proc/vkdetr-no-such-dir", 1);
    be = make_vk(VKDETR_PRECISION_FP32);
    assert_non_null(be);
    be->iface->free(be);
    if (saved[0])
        setenv("XDG_CACHE_HOME", saved, 1);
    else
        unsetenv("XDG_CACHE_HOME");
}

static void test_device_selection(void **state) {
    (void)state;
    vkdetr_device_info info[8];
    int n = -1;
    assert_int_equal(vd_vk_device_list(info, 8, &n), VKDETR_OK);
    assert_true(n >= 1);
    int lvp = -1;
    for (int i = 0; i < n && i < 8; i++) {
        printf("device %d: %s type %d, %llu MB, fp16 %d, usable %d\n", i, info[i].name,
               (int)info[i].type, (unsigned long long)(info[i].memory_bytes >> 20), info[i].fp16,
               info[i].usable);
        if (strstr(info[i].name, "llvmpipe")) lvp = i;
    }
    assert_true(lvp >= 0);
    assert_int_equal(info[lvp].type, VKDETR_DEVICE_CPU);
    assert_true(info[lvp].usable);
    assert_int_equal(vd_vk_device_list(NULL, 0, &n), VKDETR_OK); /* count only */
    assert_true(n >= 1);
    vkdetr_status st;
    vd_backend *be = vd_vk_backend_create("no-such-gpu", VKDETR_PRECISION_FP32, &st);
    assert_null(be);
    assert_int_equal(st, VKDETR_ERR_BACKEND);
    printf("%s\n", vkdetr_last_error());
    assert_non_null(strstr(vkdetr_last_error(), "llvmpipe"));
    be = vd_vk_backend_create("99", VKDETR_PRECISION_FP32, &st);
    assert_null(be);
    assert_int_equal(st, VKDETR_ERR_BACKEND);
    be = vd_vk_backend_create("LLVMPIPE", VKDETR_PRECISION_FP32, &st); /* any case */
    assert_non_null(be);
    assert_non_null(strstr(be->device_name, "llvmpipe"));
    be->iface->free(be);
    /* without a name only GPUs are taken: lavapipe is a CPU device */
    const char *env = getenv("VKDETR_DEVICE");
    char saved[256] = "";
    if (env) snprintf(saved, sizeof saved, "%s", env);
    unsetenv("VKDETR_DEVICE");
    be = vd_vk_backend_create(NULL, VKDETR_PRECISION_FP32, &st);
    if (be) {
        printf("default device: %s (a GPU)\n", be->device_name);
        be->iface->free(be);
    } else {
        printf("%s\n", vkdetr_last_error());
        assert_int_equal(st, VKDETR_ERR_BACKEND);
        assert_non_null(strstr(vkdetr_last_error(), "VKDETR_DEVICE="));
    }
    setenv("VKDETR_DEVICE", "llvmpipe", 1);
    be = vd_vk_backend_create(NULL, VKDETR_PRECISION_FP32, &st); /* from the environment */
    assert_non_null(be);
    be->iface->free(be);
    if (saved[0]) setenv("VKDETR_DEVICE", saved, 1);
}

/* Every host allocation of exec_create failing in turn: an error, never a crash or leak
 * (the ASan build checks the leaks). */
static void test_alloc_failures(void **state) {
    (void)state;
    vd_backend *be = make_vk(VKDETR_PRECISION_FP32);
    assert_non_null(be);
    float out[VD_MINIDET_OUTS][128];
    assert_int_equal(run_minidet(be, 0, out, NULL), 0); /* weights and pipelines exist */
    vd_minidet m;
    assert_int_equal(vd_minidet_build(&m, &weights), 0);
    vd_alloc_fail_after(0, 0);
    vd_exec *ex;
    assert_int_equal(be->iface->exec_create(be, m.g, 1, &ex), 0);
    int64_t count = vd_alloc_fail_after(0, 0);
    be->iface->exec_free(ex);
    int failures = 0;
    for (int64_t i = 1; i <= count; i++) {
        vd_alloc_fail_after(i, 1);
        vkdetr_status st = be->iface->exec_create(be, m.g, 1, &ex);
        vd_alloc_fail_after(0, 0);
        if (st == VKDETR_OK) {
            be->iface->exec_free(ex);
            continue;
        }
        failures++;
        assert_int_equal(st, VKDETR_ERR_NO_MEMORY);
    }
    printf("exec_create: %lld allocations, %d failures handled\n", (long long)count, failures);
    assert_true(failures > 0);
    vd_graph_free(m.g);
    /* backend creation too */
    vd_alloc_fail_after(0, 0);
    be->iface->free(be);
    for (int64_t i = 1; i <= 12; i++) {
        vkdetr_status st;
        vd_alloc_fail_after(i, 1);
        vd_backend *b = vd_vk_backend_create("llvmpipe", VKDETR_PRECISION_FP32, &st);
        vd_alloc_fail_after(0, 0);
        if (b)
            b->iface->free(b);
        else
            assert_true(st == VKDETR_ERR_NO_MEMORY || st == VKDETR_ERR_BACKEND);
    }
}

int main(void) {
    vd_vk_test_setup();
    vkdetr_status st;
    vd_backend *probe = vd_vk_backend_create(NULL, VKDETR_PRECISION_FP32, &st);
    if (!probe) {
        fprintf(stderr, "skipped: %s\n", vkdetr_last_error());
        return 77;
    }
    probe->iface->free(probe);
    vd_arena_init(&arena, 0);
    if (vd_minidet_weights_init(&weights, &arena, 42)) return 1;
    vd_rng r;
    vd_rng_seed(&r, 7);
    for (int k = 0; k < 2; k++) vd_rng_fill(&r, input[k], VD_MINIDET_INPUT_N, -1, 1);
    cpu = vd_cpu_backend_create(1);
    for (int k = 0; k < 2; k++)
        if (run_minidet(cpu, k, ref_out[k], NULL)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs_and_profile), cmocka_unit_test(test_fp16),
        cmocka_unit_test(test_threads),             cmocka_unit_test(test_weight_packing),
        cmocka_unit_test(test_pipeline_cache),      cmocka_unit_test(test_device_selection),
        cmocka_unit_test(test_alloc_failures),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    cpu->iface->free(cpu);
    vd_arena_free(&arena);
    return failed;
}
