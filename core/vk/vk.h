/* The Vulkan backend seen from outside core/vk/: queries and test hooks on a backend made
 * by vd_vk_backend_create (core/backend.h). Each accepts any vd_backend and returns 0 (or
 * does nothing) for one that is not a Vulkan backend.
 *
 *     vkdetr_status st;
 *     vd_backend *be = vd_vk_backend_create("llvmpipe", VKDETR_PRECISION_FP32, &st);
 *     if (!be) return st;              // message: vkdetr_last_error()
 *     vd_exec *ex;
 *     st = be->iface->exec_create(be, graph, 0, &ex);
 *     ...
 *     printf("%d barriers\n", vd_vk_exec_barriers(ex));
 */
#ifndef VD_VK_H
#define VD_VK_H

#include <stddef.h>

#include "core/backend.h"

/* The Vulkan devices in the order of the index vd_vk_backend_create accepts, for
 * vkdetr_device_list (include/vkdetr.h): writes at most capacity entries to out and the
 * number of devices to *count. No loader or no driver: 0 devices and VKDETR_OK.
 * Thread-safe (uses its own short-lived instance). */
vkdetr_status vd_vk_device_list(vkdetr_device_info *out, int capacity, int *count);

/* 1 when be is a Vulkan backend. */
int vd_vk_is_backend(const vd_backend *be);

/* 1 when activations and weights are stored as fp16 on this backend. */
int vd_vk_backend_fp16(const vd_backend *be);

/* Error messages from VK_LAYER_KHRONOS_validation so far (VKDETR_VALIDATION=1), and
 * whether the layer is active. */
int vd_vk_backend_validation_errors(const vd_backend *be);
int vd_vk_backend_validation_enabled(const vd_backend *be);

/* 1 when a valid pipeline cache file was read at creation. */
int vd_vk_backend_pipeline_cache_loaded(const vd_backend *be);

/* Weight buffers and bytes on the device. */
int vd_vk_backend_weight_buffers(const vd_backend *be);

/* Test hook: the largest weight buffer, in bytes (default: the device's storage-buffer
 * range and allocation limits, at most 256 MiB). Applies to weights uploaded later. */
void vd_vk_backend_set_weight_limit(vd_backend *be, size_t bytes);

/* Dispatches and pipeline barriers recorded for an executor of a Vulkan backend. */
int vd_vk_exec_dispatches(const vd_exec *ex);
int vd_vk_exec_barriers(const vd_exec *ex);

#endif
