#include "vktest.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

/* LeakSanitizer: leaks inside the Vulkan driver, its LLVM, the validation layer, and code
 * lavapipe compiled at run time (shaders, unmapped with their pipeline: "<unknown module>",
 * never our code, which is always symbolised) are not ours. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libvulkan_\nleak:libLLVM\nleak:libVkLayer_\nleak:<unknown module>\n";
}

void vd_vk_test_setup(void) {
    setenv("VKDETR_DEVICE", "llvmpipe", 1);
    /* never dlclose'd: RTLD_NODELETE keeps it mapped after the loader lets it go */
    /* every Mesa driver is loaded and unloaded with each instance (the loader tries them
     * all), and some register atexit handlers when loaded */
    static const char *names[] = {"libvulkan_lvp.so",          "libvulkan_radeon.so",
                                  "libvulkan_intel.so",        "libvulkan_intel_hasvk.so",
                                  "libVkLayer_MESA_device_select.so",
                                  "libVkLayer_khronos_validation.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        dlopen(names[i], RTLD_NOW | RTLD_NODELETE | RTLD_LOCAL);
}
