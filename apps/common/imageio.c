#include "imageio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "files.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include "stb_image_write.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

vd_imageio_format vd_imageio_format_of(const char *path) {
    if (vd_files_has_ext(path, ".png")) return VD_IMAGEIO_PNG;
    if (vd_files_has_ext(path, ".jpg") || vd_files_has_ext(path, ".jpeg")) return VD_IMAGEIO_JPEG;
    return VD_IMAGEIO_UNKNOWN;
}

typedef struct sink {
    FILE *f;
    int failed;
} sink;

static void write_to_file(void *ctx, void *data, int size) {
    sink *s = ctx;
    if (size > 0 && fwrite(data, 1, (size_t)size, s->f) != (size_t)size) s->failed = 1;
}

vkdetr_status vd_imageio_write(const char *path, const uint8_t *pixels, int width, int height,
                               int channels, int jpeg_quality) {
    vd_imageio_format fmt = vd_imageio_format_of(path);
    if (fmt == VD_IMAGEIO_UNKNOWN)
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "%s: unknown image format (use .png or .jpg)",
                            path);
    if (!pixels || width <= 0 || height <= 0 || (channels != 1 && channels != 3 && channels != 4))
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "%s: bad image (%dx%d, %d channels)", path,
                            width, height, channels);
    if (jpeg_quality < 1 || jpeg_quality > 100) jpeg_quality = 90;
    vd_outfile of;
    vkdetr_status st = vd_outfile_open(&of, path);
    if (st) return st;
    sink s = {of.f, 0};
    int ok;
    if (fmt == VD_IMAGEIO_PNG)
        ok = stbi_write_png_to_func(write_to_file, &s, width, height, channels, pixels,
                                    width * channels);
    else
        ok = stbi_write_jpg_to_func(write_to_file, &s, width, height, channels, pixels,
                                    jpeg_quality);
    if (!ok || s.failed) {
        st = vd_app_error(VKDETR_ERR_IO, "cannot write %s: %s", path,
                          s.failed ? strerror(errno) : "encoder failed");
        vd_outfile_abort(&of);
        return st;
    }
    return vd_outfile_commit(&of);
}
