/* One Vulkan model, many threads (issue 6): as test_api_threads.c on lavapipe. 4 threads x 6
 * images, each with its own session (own command buffers and activations) of one shared
 * model (its weights, pipelines and queue shared); every result and raw output equal bit for
 * bit to the single-threaded ones. Exits 77 when no Vulkan device is usable. */
// labels: threads
#include "support/testutil.h"

#include <stdio.h>

#include "support/apitest.h"
#include "support/vktest.h"
#include "vkdetr.h"

static vkdetr_model *model;

static void test_threads_vulkan(void **state) {
    (void)state;
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.threshold = 0.3f;
    assert_int_equal(vd_api_threads_check(model, "rtdetr_v1_tiny", &sp, 4, 6, 1), 0);
}

int main(void) {
    vd_vk_test_setup();
    vkdetr_log_set(NULL, NULL, VKDETR_LOG_ERROR);
    model = vd_api_load("rtdetr_v1_tiny", VKDETR_BACKEND_VULKAN, NULL);
    if (!model) {
        fprintf(stderr, "skipped: %s\n", vkdetr_last_error());
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_vulkan),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    vkdetr_model_free(model);
    return rc;
}
