/* One model, many threads (issue 6): 4 threads x 20 images, each thread with its own session
 * of one shared CPU model, every result and raw output equal bit for bit to the
 * single-threaded ones. Sessions run 2 pool threads each, so the per-session thread pools
 * run concurrently too. Built with ThreadSanitizer by the tsan preset (label threads). */
// labels: threads
#include "support/testutil.h"

#include <stdio.h>

#include "support/apitest.h"
#include "vkdetr.h"

static void test_threads_cpu(void **state) {
    (void)state;
    vkdetr_model *m = vd_api_load("rtdetr_v1_tiny", VKDETR_BACKEND_CPU, NULL);
    assert_non_null(m);
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.threshold = 0.3f;
    sp.n_threads = 2;
    assert_int_equal(vd_api_threads_check(m, "rtdetr_v1_tiny", &sp, 4, 20, 1), 0);
    vkdetr_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
