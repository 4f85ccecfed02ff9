/* RT-DETR v1 and v2 end to end on Vulkan (lavapipe here) against transformers, stage by
 * stage, on the committed tiny fixtures.
 *   fp32: the CPU tolerances (logits 1e-3, boxes 1e-4, stages 1e-3 x max(1, max|ref|)).
 *   fp16 storage: logits 1e-1, boxes 1e-2, stages 3e-2 x max(1, max|ref|), and the same
 *   post-processed detections (count, labels, order) as transformers. Not on rtdetr_v1_tiny:
 *   its reference has a gap of 0.011 between the last selected and the first unselected
 *   encoder score, below the ~0.04 error fp16 storage gives those logits, so fp16 may
 *   select another token there (as any fp16 runtime would); the other two fixtures' gaps
 *   are wider.
 * Skips (77) when no Vulkan device is usable. */
#include "support/parity.h"
#include "support/testutil.h"
#include "support/vktest.h"

#include <stdio.h>

static int have_device(void) {
    int n = 0;
    vkdetr_device_info d[8];
    if (vkdetr_device_list(d, 8, &n) != VKDETR_OK) return 0;
    for (int i = 0; i < n && i < 8; i++)
        if (d[i].usable) return 1;
    return 0;
}

static void check(const char *rel, vkdetr_precision precision) {
    if (!have_device()) skip();
    vd_parity_opts o = vd_parity_default_opts(vd_test_path(rel));
    o.backend = VKDETR_BACKEND_VULKAN;
    o.precision = precision;
    if (precision == VKDETR_PRECISION_FP16) {
        o.tol_logits = 1e-1;
        o.tol_boxes = 1e-2;
        o.tol_stage = 3e-2;
    }
    int r = vd_parity_run(&o);
    if (r == 77) skip();
    assert_int_equal(r, 0);
}

static void v1_fp32(void **state) { (void)state; check("tests/data/rtdetr_v1_tiny", VKDETR_PRECISION_FP32); }
static void v2_fp32(void **state) { (void)state; check("tests/data/rtdetr_v2_tiny", VKDETR_PRECISION_FP32); }
static void bottleneck_fp32(void **state) { (void)state; check("tests/data/rtdetr_v1_tiny_bottleneck", VKDETR_PRECISION_FP32); }
static void bottleneck_fp16(void **state) { (void)state; check("tests/data/rtdetr_v1_tiny_bottleneck", VKDETR_PRECISION_FP16); }
static void v2_fp16(void **state) { (void)state; check("tests/data/rtdetr_v2_tiny", VKDETR_PRECISION_FP16); }

int main(void) {
    vd_vk_test_setup();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_fp32), cmocka_unit_test(v2_fp32), cmocka_unit_test(bottleneck_fp32),
        cmocka_unit_test(bottleneck_fp16), cmocka_unit_test(v2_fp16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
