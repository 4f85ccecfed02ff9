/* The Vulkan backend under VK_LAYER_KHRONOS_validation with synchronisation validation
 * (VKDETR_VALIDATION=1): backend creation, planning and recording a graph that uses every
 * kernel (tests/support/minidet.c, plus a multi-round top-k), profiled and plain runs, and
 * teardown, in fp32 and fp16 storage, must produce zero validation errors. Synchronisation
 * validation reports a missing barrier between dependent dispatches as an error, so this
 * also checks the recorder's barriers. Exits 77 when no Vulkan device or no validation
 * layer is available. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/ops.h"
#include "core/vk/vk.h"
#include "support/minidet.h"
#include "support/testutil.h"
#include "support/vktest.h"

static atomic_int layer_errors, layer_warnings;

/* Counts the layer's messages (the backend logs them), teardown included. */
static void count_log(vkdetr_log_level level, const char *msg, void *user) {
    (void)user;
    if (!strstr(msg, "vulkan validation:")) return;
    if (level == VKDETR_LOG_ERROR) {
        atomic_fetch_add(&layer_errors, 1);
        fprintf(stderr, "%s\n", msg);
    } else if (level == VKDETR_LOG_WARN) {
        atomic_fetch_add(&layer_warnings, 1);
        fprintf(stderr, "%s\n", msg);
    }
}

static vd_arena arena;
static vd_minidet_weights weights;

static void run_graphs(vd_backend *be) {
    vd_rng r;
    vd_rng_seed(&r, 3);
    static float x[VD_MINIDET_INPUT_N], out[128];
    double node_ms[256];
    vd_profile prof = {.n_nodes = 256, .node_ms = node_ms};

    vd_minidet m;
    assert_int_equal(vd_minidet_build(&m, &weights), 0);
    vd_exec *ex;
    assert_int_equal(be->iface->exec_create(be, m.g, 1, &ex), 0);
    for (int rep = 0; rep < 3; rep++) {
        vd_rng_fill(&r, x, VD_MINIDET_INPUT_N, -1, 1);
        assert_int_equal(be->iface->write(ex, m.x, x), 0);
        assert_int_equal(be->iface->run(ex, rep == 1 ? &prof : NULL), 0);
        for (int i = 0; i < VD_MINIDET_OUTS; i++)
            assert_int_equal(be->iface->read(ex, m.out[i], out), 0);
    }
    be->iface->exec_free(ex);
    vd_graph_free(m.g);

    /* top-k over 5000 values in three rounds through scratch */
    vd_graph *g = vd_graph_create();
    int64_t ne[1] = {5000};
    vd_tensor *in = vd_graph_input(g, "x", VD_F32, 1, ne);
    vd_tensor *idx = vd_graph_output(g, vd_op_topk(g, vd_op_unary(g, in, VD_ACT_SIGMOID), 600),
                                     "idx");
    assert_int_equal(g->status, 0);
    static float v[5000];
    int32_t got[600];
    vd_rng_fill(&r, v, 5000, -4, 4);
    assert_int_equal(be->iface->exec_create(be, g, 1, &ex), 0);
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(be->iface->write(ex, in, v), 0);
        assert_int_equal(be->iface->run(ex, rep ? &prof : NULL), 0);
        assert_int_equal(be->iface->read(ex, idx, got), 0);
    }
    be->iface->exec_free(ex);
    vd_graph_free(g);
}

static void test_validation(void **state) {
    (void)state;
    for (int prec = 0; prec < 2; prec++) {
        vkdetr_status st;
        vd_backend *be = vd_vk_backend_create(
            NULL, prec ? VKDETR_PRECISION_FP16 : VKDETR_PRECISION_FP32, &st);
        if (!be && prec) {
            printf("fp16 storage unsupported: %s\n", vkdetr_last_error());
            continue;
        }
        assert_non_null(be);
        assert_true(vd_vk_backend_validation_enabled(be));
        run_graphs(be);
        int errors = vd_vk_backend_validation_errors(be);
        be->iface->free(be);
        printf("%s: %d validation errors during runs, %d errors and %d warnings in all\n",
               prec ? "fp16" : "fp32", errors, atomic_load(&layer_errors),
               atomic_load(&layer_warnings));
        assert_int_equal(errors, 0);
        assert_int_equal(atomic_load(&layer_errors), 0);
    }
}

int main(void) {
    vd_vk_test_setup();
    setenv("VKDETR_VALIDATION", "1", 1);
    vkdetr_log_set(count_log, NULL, VKDETR_LOG_WARN);
    vkdetr_status st;
    vd_backend *probe = vd_vk_backend_create(NULL, VKDETR_PRECISION_FP32, &st);
    if (!probe) {
        fprintf(stderr, "skipped: %s\n", vkdetr_last_error());
        return 77;
    }
    int enabled = vd_vk_backend_validation_enabled(probe);
    probe->iface->free(probe);
    if (!enabled) {
        fprintf(stderr, "skipped: VK_LAYER_KHRONOS_validation is not installed\n");
        return 77;
    }
    vd_arena_init(&arena, 0);
    if (vd_minidet_weights_init(&weights, &arena, 5)) return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_validation)};
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    vd_arena_free(&arena);
    return failed;
}
