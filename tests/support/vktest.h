/* Setup shared by the Vulkan tests (tests/test_vk_*.c). */
#ifndef VD_VKTEST_H
#define VD_VKTEST_H

/* Call first in main(): selects lavapipe (VKDETR_DEVICE=llvmpipe, as the Vulkan tests run
 * on it here), and keeps the Vulkan drivers and layers mapped until the process exits. The
 * loader loads and unloads every installed driver with each instance; what they never free
 * (lavapipe's LLVM, atexit records of the radeon driver) would then show up in
 * LeakSanitizer reports as "<unknown module>", impossible to tell from ours. Kept mapped,
 * they are attributed to their libraries and suppressed (__lsan_default_suppressions in
 * vktest.c), and our own leaks still fail the test. */
void vd_vk_test_setup(void);

#endif
