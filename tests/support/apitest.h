/* Helpers for the public-API tests (test_api*.c, test_vk_api_threads.c): fixture models,
 * synthetic images in every pixel layout, bitwise comparison of results. They use only
 * vkdetr.h, as an embedding program would. */
#ifndef VD_APITEST_H
#define VD_APITEST_H

#include <stdint.h>

#include "vkdetr.h"

/* Loads tests/data/<fixture> with the given backend (device: NULL or a name, for Vulkan).
 * Returns NULL and prints the error on failure. */
vkdetr_model *vd_api_load(const char *fixture, vkdetr_backend backend, const char *device);

/* A test image derived from the fixture's input.png: image i of a reproducible series with
 * varied sizes, crops, noise, pixel layouts (RGB, BGR, RGBA, BGRA, gray) and row padding.
 * The pixels are owned by the caller (free(img->data)). Returns 0 on success. */
int vd_api_test_image(const char *fixture, int i, vkdetr_image *img);

/* Converts an 8-bit RGB image (tight rows) to the layout fmt with stride bytes per row (0:
 * tight). The pixels are owned by the caller (free()). Gray takes the R channel. */
vkdetr_image vd_api_convert(const vkdetr_image *rgb, vkdetr_pixel_format fmt, int stride);

/* 1 when a and b hold the same detections bit for bit (boxes, scores, classes, labels, sizes,
 * masks); otherwise prints what differs (prefixed with what) and returns 0. */
int vd_api_results_equal(const vkdetr_result *a, const vkdetr_result *b, const char *what);

/* The thread-safety check: runs n_images test images (vd_api_test_image) through one session
 * of m on the calling thread, the reference; then n_threads threads at once, each creating
 * its own session (concurrently) with the same params and running every image n_rounds
 * times, starting at a different image. Every result and the raw outputs "logits" and
 * "pred_boxes" must equal the reference bit for bit. Prints each difference; returns the
 * number of differing or failed runs (0 = pass), or -1 when the setup failed. */
int vd_api_threads_check(vkdetr_model *m, const char *fixture, const vkdetr_session_params *sp,
                         int n_threads, int n_images, int n_rounds);

#endif
