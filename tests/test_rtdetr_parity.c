/* RT-DETR v1 and v2 on the CPU against transformers, stage by stage, on the committed tiny
 * fixtures (tools/gen_rtdetr_fixtures.py). Tolerances (fp32): final logits max abs error
 * <= 1e-3, pred_boxes <= 1e-4, every intermediate stage <= 1e-3 x max(1, max |reference|),
 * top-k indices identical (reorderings inside runs of equal scores allowed), and the
 * detections of input.png equal in count, labels and order.
 *
 * With arguments, runs the given fixture folders instead (tools/parity-large.sh). */
#include "support/parity.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(const char *rel, int reference_kernels) {
    vd_parity_opts o = vd_parity_default_opts(vd_test_path(rel));
    setenv("VKDETR_CPU_REFERENCE", reference_kernels ? "1" : "0", 1);
    int r = vd_parity_run(&o);
    if (r == 77) skip();
    assert_int_equal(r, 0);
}

static void v1_tiny(void **state) { (void)state; check("tests/data/rtdetr_v1_tiny", 0); }
static void v1_tiny_ref(void **state) { (void)state; check("tests/data/rtdetr_v1_tiny", 1); }
static void v2_tiny(void **state) { (void)state; check("tests/data/rtdetr_v2_tiny", 0); }
static void v1_bottleneck(void **state) { (void)state; check("tests/data/rtdetr_v1_tiny_bottleneck", 0); }

int main(int argc, char **argv) {
    if (argc > 1) {
        int fails = 0;
        for (int i = 1; i < argc; i++) {
            vd_parity_opts o = vd_parity_default_opts(argv[i]);
            const char *t = getenv("VKDETR_THREADS"), *b = getenv("VKDETR_PARITY_BACKEND");
            o.n_threads = t ? atoi(t) : 0;
            if (b && !strcmp(b, "vulkan")) o.backend = VKDETR_BACKEND_VULKAN;
            fails += vd_parity_run(&o) != 0;
        }
        printf("%s\n", fails ? "PARITY FAILED" : "parity passed");
        return fails ? 1 : 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_tiny),
        cmocka_unit_test(v1_tiny_ref),
        cmocka_unit_test(v2_tiny),
        cmocka_unit_test(v1_bottleneck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
