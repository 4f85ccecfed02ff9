/* Writing images: PNG or JPEG chosen by the file name's extension, written under a temporary
 * name and renamed when complete (no partial files). Reading goes through the library's
 * vkdetr_image_load, so that the pixels the apps draw on are the pixels that were detected. */
#ifndef VD_APP_IMAGEIO_H
#define VD_APP_IMAGEIO_H

#include <stdint.h>

#include "vkdetr.h"

/* Output formats, from the extension (case-insensitive). */
typedef enum vd_imageio_format {
    VD_IMAGEIO_UNKNOWN = 0,
    VD_IMAGEIO_PNG = 1, /* .png */
    VD_IMAGEIO_JPEG = 2 /* .jpg, .jpeg */
} vd_imageio_format;

vd_imageio_format vd_imageio_format_of(const char *path);

/* Writes 8-bit pixels (channels 1 = gray, 3 = RGB, 4 = RGBA; rows top to bottom, stride
 * width * channels) to path, as PNG or JPEG by its extension (VKDETR_ERR_INVALID_ARG for any
 * other extension). jpeg_quality 1..100 (JPEG only). The file appears only when complete. */
vkdetr_status vd_imageio_write(const char *path, const uint8_t *pixels, int width, int height,
                               int channels, int jpeg_quality);

#endif
