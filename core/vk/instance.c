/* Vulkan instance, validation layer, device selection, logical device and queue; the
 * backend's configuration from the environment; VkResult to status. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/vk/vk_internal.h"

/* ---- errors ---------------------------------------------------------------------------- */

const char *vd_vk_result_name(VkResult r) {
    switch (r) {
#define NAME(x) \
    case x: return #x;
        NAME(VK_SUCCESS)
        NAME(VK_NOT_READY)
        NAME(VK_TIMEOUT)
        NAME(VK_INCOMPLETE)
        NAME(VK_ERROR_OUT_OF_HOST_MEMORY)
        NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        NAME(VK_ERROR_INITIALIZATION_FAILED)
        NAME(VK_ERROR_DEVICE_LOST)
        NAME(VK_ERROR_MEMORY_MAP_FAILED)
        NAME(VK_ERROR_LAYER_NOT_PRESENT)
        NAME(VK_ERROR_EXTENSION_NOT_PRESENT)
        NAME(VK_ERROR_FEATURE_NOT_PRESENT)
        NAME(VK_ERROR_INCOMPATIBLE_DRIVER)
        NAME(VK_ERROR_TOO_MANY_OBJECTS)
        NAME(VK_ERROR_FORMAT_NOT_SUPPORTED)
        NAME(VK_ERROR_FRAGMENTED_POOL)
        NAME(VK_ERROR_OUT_OF_POOL_MEMORY)
        NAME(VK_ERROR_UNKNOWN)
#undef NAME
    default: return "VkResult";
    }
}

vkdetr_status vd_vk_status(VkResult r, const char *call) {
    /* name the function, not its arguments */
    int len = 0;
    while (call[len] && call[len] != '(' && len < 80) len++;
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY:
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_POOL_MEMORY:
    case VK_ERROR_FRAGMENTED_POOL:
    case VK_ERROR_TOO_MANY_OBJECTS:
        return vd_error(VKDETR_ERR_NO_MEMORY, "vulkan: %.*s: out of memory (%s)", len, call,
                        vd_vk_result_name(r));
    case VK_ERROR_DEVICE_LOST:
        return vd_error(VKDETR_ERR_DEVICE_LOST,
                        "vulkan: the device was lost (%.*s: VK_ERROR_DEVICE_LOST); the GPU "
                        "driver reset it or it hung: create the model again", len, call);
    default:
        return vd_error(VKDETR_ERR_BACKEND, "vulkan: %.*s failed: %s (%d)", len, call,
                        vd_vk_result_name(r), (int)r);
    }
}

/* ---- configuration --------------------------------------------------------------------- */

void vd_vk_config_read(vd_vk_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    const char *s = getenv("VKDETR_DEVICE");
    if (s) snprintf(cfg->device, sizeof cfg->device, "%s", s);
    s = getenv("VKDETR_VALIDATION");
    cfg->validation = s && atoi(s) > 0;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        snprintf(cfg->cache_dir, sizeof cfg->cache_dir, "%s/vkdetr", xdg);
    else if (home && home[0])
        snprintf(cfg->cache_dir, sizeof cfg->cache_dir, "%s/.cache/vkdetr", home);
}

/* ---- instance ---------------------------------------------------------------------------- */

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT type,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)type;
    vd_vk_device *d = user;
    const char *msg = data && data->pMessage ? data->pMessage : "(no message)";
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        atomic_fetch_add(&d->validation_errors, 1);
        vd_log_error("vulkan validation: %s", msg);
    } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        vd_log_warn("vulkan validation: %s", msg);
    } else {
        vd_log_debug("vulkan validation: %s", msg);
    }
    return VK_FALSE;
}

static int has_layer(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkLayerProperties *props = vd_malloc(n * sizeof *props);
    if (!props) return 0;
    int found = 0;
    if (vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(props[i].layerName, name);
    vd_free(props);
    return found;
}

static int has_instance_ext(const char *layer, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkExtensionProperties *props = vd_malloc(n * sizeof *props);
    if (!props) return 0;
    int found = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(props[i].extensionName, name);
    vd_free(props);
    return found;
}

/* Workaround: the loader unloads the Vulkan drivers when the last VkInstance is destroyed, and
 * Mesa 22.3's drivers leave allocations behind (radv's atexit records, lavapipe's LLVM state):
 * LeakSanitizer then reports them from an unloaded "<unknown module>", in every program that
 * merely listed the devices. One bare instance kept for the life of the process keeps the
 * drivers loaded, so their memory stays reachable, and later instances skip reloading them.
 * Failure is harmless: the real instance reports it. */
static VkInstance anchor_instance;
static void create_anchor(void) {
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app};
    if (vkCreateInstance(&ci, NULL, &anchor_instance) != VK_SUCCESS)
        anchor_instance = VK_NULL_HANDLE;
}

static vkdetr_status create_instance(const vd_vk_config *cfg, vd_vk_device *d) {
    static pthread_once_t anchor_once = PTHREAD_ONCE_INIT;
    pthread_once(&anchor_once, create_anchor);
    static const char *layer = "VK_LAYER_KHRONOS_validation";
    const char *exts[3];
    uint32_t n_ext = 0;
    int validation = 0, sync_validation = 0;
    if (cfg->validation) {
        validation = has_layer(layer) && has_instance_ext(layer, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
        if (!validation)
            vd_log_warn("vulkan: VKDETR_VALIDATION=1 but %s is not installed", layer);
        sync_validation = validation &&
                          has_instance_ext(layer, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
    }
    if (validation) exts[n_ext++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    if (sync_validation) exts[n_ext++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
    int portability = has_instance_ext(NULL, "VK_KHR_portability_enumeration");
    if (portability) exts[n_ext++] = "VK_KHR_portability_enumeration";

    uint32_t api = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion(&api) != VK_SUCCESS) api = VK_API_VERSION_1_0;
    if (api < VK_API_VERSION_1_1)
        return vd_error(VKDETR_ERR_BACKEND, "vulkan: the Vulkan loader is version %u.%u; "
                        "vkdetr needs 1.1", VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api));
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vkdetr",
        .pEngineName = "vkdetr",
        .engineVersion = VK_MAKE_VERSION(VKDETR_VERSION_MAJOR, VKDETR_VERSION_MINOR,
                                         VKDETR_VERSION_PATCH),
        .apiVersion = api >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : api,
    };
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = debug_message,
        .pUserData = d,
    };
    VkValidationFeatureEnableEXT enables[] = {
        VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .pNext = &dbg,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = enables,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = sync_validation ? (void *)&features : validation ? (void *)&dbg : NULL,
        .flags = portability ? 0x00000001 /* VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR */ : 0,
        .pApplicationInfo = &app,
        .enabledLayerCount = validation ? 1 : 0,
        .ppEnabledLayerNames = validation ? &layer : NULL,
        .enabledExtensionCount = n_ext,
        .ppEnabledExtensionNames = n_ext ? exts : NULL,
    };
    VkResult r = vkCreateInstance(&ci, NULL, &d->instance);
    if (r != VK_SUCCESS) {
        d->instance = VK_NULL_HANDLE;
        if (r == VK_ERROR_OUT_OF_HOST_MEMORY) return vd_vk_status(r, "vkCreateInstance");
        return vd_error(VKDETR_ERR_BACKEND, "vulkan: cannot create an instance (%s): is a "
                        "Vulkan driver installed?", vd_vk_result_name(r));
    }
    if (validation) {
        PFN_vkCreateDebugUtilsMessengerEXT create = (PFN_vkCreateDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr(d->instance, "vkCreateDebugUtilsMessengerEXT");
        if (!create || create(d->instance, &dbg, NULL, &d->messenger) != VK_SUCCESS)
            d->messenger = VK_NULL_HANDLE;
        vd_log_info("vulkan: validation layer enabled%s",
                    sync_validation ? " with synchronisation validation" : "");
    }
    return VKDETR_OK;
}

/* ---- device selection ------------------------------------------------------------------- */

static const char *type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

static int contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

static int all_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

/* "0: name [type], 1: ..." into buf */
static void list_devices(const VkPhysicalDeviceProperties *props, uint32_t n, char *buf,
                         size_t size) {
    size_t at = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < n && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%u: %s [%s]", i ? ", " : "", i,
                               props[i].deviceName, type_name(props[i].deviceType));
}

static int has_device_ext(VkPhysicalDevice phys, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(phys, NULL, &n, NULL) != VK_SUCCESS || !n) return 0;
    VkExtensionProperties *props = vd_malloc(n * sizeof *props);
    if (!props) return 0;
    int found = 0;
    if (vkEnumerateDeviceExtensionProperties(phys, NULL, &n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(props[i].extensionName, name);
    vd_free(props);
    return found;
}

/* The first queue family with compute, -1 if none; its timestampValidBits in *ts_bits. */
static int compute_family(VkPhysicalDevice phys, uint32_t *ts_bits) {
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, NULL);
    VkQueueFamilyProperties qf[16];
    if (nq > 16) nq = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &nq, qf);
    for (uint32_t i = 0; i < nq; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            if (ts_bits) *ts_bits = qf[i].timestampValidBits;
            return (int)i;
        }
    return -1;
}

/* NULL when vkdetr runs on the device, else why not. */
static const char *unusable(VkPhysicalDevice phys, const VkPhysicalDeviceProperties *p) {
    const VkPhysicalDeviceLimits *lim = &p->limits;
    if (p->apiVersion < VK_API_VERSION_1_1) return "it supports only Vulkan 1.0; vkdetr needs 1.1";
    if (lim->maxComputeWorkGroupInvocations < 256 || lim->maxComputeWorkGroupSize[0] < 256 ||
        lim->maxComputeSharedMemorySize < 16384)
        return "vkdetr needs 256 invocations per workgroup and 16 KB of shared memory";
    if (compute_family(phys, NULL) < 0) return "it has no compute queue";
    return NULL;
}

/* 16-bit storage buffers and float16 arithmetic; *ext: the float16 extension is needed
 * (devices before Vulkan 1.2). */
static int query_fp16(VkPhysicalDevice phys, const VkPhysicalDeviceProperties *p, int *ext) {
    *ext = p->apiVersion < VK_API_VERSION_1_2;
    if (*ext && !has_device_ext(phys, "VK_KHR_shader_float16_int8")) return 0;
    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features h16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, .pNext = &s16};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &h16};
    vkGetPhysicalDeviceFeatures2(phys, &f2);
    return s16.storageBuffer16BitAccess && h16.shaderFloat16;
}

/* Index of the device to use, or -1 with the error set. */
static int pick_device(VkPhysicalDevice *devs, const VkPhysicalDeviceProperties *props,
                       uint32_t n, const char *want, vkdetr_status *st) {
    char found[768];
    list_devices(props, n, found, sizeof found);
    if (n == 0) {
        *st = vd_error(VKDETR_ERR_BACKEND, "vulkan: no device found (is a Vulkan driver "
                       "installed?)");
        return -1;
    }
    if (want && want[0]) {
        int pick = -1;
        if (all_digits(want)) {
            long i = strtol(want, NULL, 10);
            if (i >= 0 && i < (long)n) pick = (int)i;
        } else {
            for (uint32_t i = 0; i < n && pick < 0; i++)
                if (contains_nocase(props[i].deviceName, want)) pick = (int)i;
        }
        if (pick < 0) {
            *st = vd_error(VKDETR_ERR_BACKEND, "vulkan: no device matches \"%s\" (found: %s)",
                           want, found);
            return -1;
        }
        const char *why = unusable(devs[pick], &props[pick]);
        if (why) {
            *st = vd_error(VKDETR_ERR_BACKEND, "vulkan: cannot use %s: %s",
                           props[pick].deviceName, why);
            return -1;
        }
        return pick;
    }
    static const VkPhysicalDeviceType order[] = {VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU,
                                                 VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU,
                                                 VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU};
    for (size_t o = 0; o < VD_ARRAY_LEN(order); o++)
        for (uint32_t i = 0; i < n; i++)
            if (props[i].deviceType == order[o] && !unusable(devs[i], &props[i])) return (int)i;
    /* only CPU (or unusable) devices: name the first in the hint */
    char hint[64];
    int len = 0;
    while (props[0].deviceName[len] && props[0].deviceName[len] != ' ' && len < 63) {
        hint[len] = (char)tolower((unsigned char)props[0].deviceName[len]);
        len++;
    }
    hint[len] = 0;
    *st = vd_error(VKDETR_ERR_BACKEND, "vulkan: no usable device (found: %s; set "
                   "VKDETR_DEVICE=%s to use it)", found, hint);
    return -1;
}

/* The devices and their properties; caller frees both. */
static vkdetr_status enumerate(VkInstance inst, VkPhysicalDevice **devs,
                               VkPhysicalDeviceProperties **props, uint32_t *n) {
    *devs = NULL;
    *props = NULL;
    *n = 0;
    uint32_t count = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, &count, NULL);
    if (r != VK_SUCCESS) return vd_vk_status(r, "vkEnumeratePhysicalDevices");
    *devs = vd_calloc(count ? count : 1, sizeof **devs);
    *props = vd_calloc(count ? count : 1, sizeof **props);
    if (!*devs || !*props) {
        vd_free(*devs);
        vd_free(*props);
        *devs = NULL;
        *props = NULL;
        return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory listing Vulkan devices");
    }
    r = vkEnumeratePhysicalDevices(inst, &count, *devs);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        vd_free(*devs);
        vd_free(*props);
        *devs = NULL;
        *props = NULL;
        return vd_vk_status(r, "vkEnumeratePhysicalDevices");
    }
    for (uint32_t i = 0; i < count; i++) vkGetPhysicalDeviceProperties((*devs)[i], &(*props)[i]);
    *n = count;
    return VKDETR_OK;
}

static vkdetr_status select_physical(vd_vk_device *d, const char *want) {
    VkPhysicalDevice *devs;
    VkPhysicalDeviceProperties *props;
    uint32_t n;
    vkdetr_status st = enumerate(d->instance, &devs, &props, &n);
    if (st) return st;
    int pick = pick_device(devs, props, n, want, &st);
    if (pick >= 0) {
        d->phys = devs[pick];
        d->props = props[pick];
        snprintf(d->name, sizeof d->name, "%s", d->props.deviceName);
    }
    vd_free(devs);
    vd_free(props);
    return st;
}

static vkdetr_status create_device(vd_vk_device *d, int want_fp16) {
    vkdetr_status st = VKDETR_OK;
    int family = compute_family(d->phys, &d->timestamp_bits);
    if (family < 0) return vd_error(VKDETR_ERR_BACKEND, "vulkan: %s has no compute queue", d->name);
    d->queue_family = (uint32_t)family;
    int f16_ext;
    d->has_fp16 = query_fp16(d->phys, &d->props, &f16_ext);
    if (want_fp16 == 2 && !d->has_fp16)
        return vd_error(VKDETR_ERR_UNSUPPORTED, "vulkan: %s has no fp16 storage "
                        "(storageBuffer16BitAccess and shaderFloat16)", d->name);
    d->fp16 = want_fp16 && d->has_fp16;

    /* enable only what the kernels use */
    VkPhysicalDevice16BitStorageFeatures en16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .storageBuffer16BitAccess = VK_TRUE};
    VkPhysicalDeviceShaderFloat16Int8Features enh = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
        .pNext = &en16, .shaderFloat16 = VK_TRUE};
    const char *ext = "VK_KHR_shader_float16_int8";
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = d->queue_family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &priority};
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .pNext = d->fp16 ? &enh : NULL,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qci,
                             .enabledExtensionCount = d->fp16 && f16_ext ? 1 : 0,
                             .ppEnabledExtensionNames = d->fp16 && f16_ext ? &ext : NULL};
    VD_VK_CHECK(vkCreateDevice(d->phys, &ci, NULL, &d->dev));
    vkGetDeviceQueue(d->dev, d->queue_family, 0, &d->queue);
fail:
    return st;
}

vkdetr_status vd_vk_device_open(const vd_vk_config *cfg, const char *device, int want_fp16,
                                vd_vk_device *d) {
    memset(d, 0, sizeof *d);
    atomic_init(&d->validation_errors, 0);
    vkdetr_status st = create_instance(cfg, d);
    if (st) goto fail;
    st = select_physical(d, device && device[0] ? device : cfg->device);
    if (st) goto fail;
    st = create_device(d, want_fp16);
    if (st) goto fail;
    vkGetPhysicalDeviceMemoryProperties(d->phys, &d->mem_props);
    const VkPhysicalDeviceLimits *lim = &d->props.limits;
    d->max_range = lim->maxStorageBufferRange;
    d->max_alloc = (VkDeviceSize)1 << 30; /* the Vulkan 1.1 guarantee, refined below */
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &m3};
    vkGetPhysicalDeviceProperties2(d->phys, &p2);
    if (m3.maxMemoryAllocationSize) d->max_alloc = m3.maxMemoryAllocationSize;
    d->align = VD_MAX(lim->minStorageBufferOffsetAlignment, 64);
    if (pthread_mutex_init(&d->queue_lock, NULL) != 0) {
        st = vd_error(VKDETR_ERR_NO_MEMORY, "vulkan: cannot create a mutex");
        goto fail;
    }
    d->queue_lock_init = 1;
    vd_log_info("vulkan: %s (%s, Vulkan %u.%u, fp16 storage %s)", d->name,
                type_name(d->props.deviceType), VK_API_VERSION_MAJOR(d->props.apiVersion),
                VK_API_VERSION_MINOR(d->props.apiVersion),
                d->fp16 ? "on" : d->has_fp16 ? "available" : "unsupported");
    return VKDETR_OK;
fail:
    vd_vk_device_close(d);
    return st;
}

void vd_vk_device_close(vd_vk_device *d) {
    if (d->dev) {
        vkDeviceWaitIdle(d->dev);
        vkDestroyDevice(d->dev, NULL);
    }
    if (d->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr(d->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy) destroy(d->instance, d->messenger, NULL);
    }
    if (d->instance) vkDestroyInstance(d->instance, NULL);
    if (d->queue_lock_init) pthread_mutex_destroy(&d->queue_lock);
    d->dev = VK_NULL_HANDLE;
    d->messenger = VK_NULL_HANDLE;
    d->instance = VK_NULL_HANDLE;
    d->queue_lock_init = 0;
}

/* ---- listing ---------------------------------------------------------------------------- */

static vkdetr_device_type public_type(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return VKDETR_DEVICE_DISCRETE_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return VKDETR_DEVICE_INTEGRATED_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return VKDETR_DEVICE_VIRTUAL_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return VKDETR_DEVICE_CPU;
    default: return VKDETR_DEVICE_OTHER;
    }
}

vkdetr_status vd_vk_device_list(vkdetr_device_info *out, int capacity, int *count) {
    *count = 0;
    vd_vk_config cfg;
    vd_vk_device tmp;
    memset(&cfg, 0, sizeof cfg);
    memset(&tmp, 0, sizeof tmp);
    if (create_instance(&cfg, &tmp) != VKDETR_OK) { /* no loader or no driver: no devices */
        vd_error_clear();
        return VKDETR_OK;
    }
    VkPhysicalDevice *devs;
    VkPhysicalDeviceProperties *props;
    uint32_t n;
    vkdetr_status st = enumerate(tmp.instance, &devs, &props, &n);
    if (st == VKDETR_OK) {
        for (uint32_t i = 0; i < n && (int)i < capacity; i++) {
            vkdetr_device_info *o = &out[i];
            memset(o, 0, sizeof *o);
            snprintf(o->name, sizeof o->name, "%s", props[i].deviceName);
            o->type = public_type(props[i].deviceType);
            VkPhysicalDeviceMemoryProperties mp;
            vkGetPhysicalDeviceMemoryProperties(devs[i], &mp);
            for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
                if ((mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
                    mp.memoryHeaps[h].size > o->memory_bytes)
                    o->memory_bytes = mp.memoryHeaps[h].size;
            int ext;
            o->fp16 = query_fp16(devs[i], &props[i], &ext);
            o->usable = unusable(devs[i], &props[i]) == NULL;
        }
        *count = (int)n;
        vd_free(devs);
        vd_free(props);
    }
    vd_vk_device_close(&tmp);
    return st;
}
