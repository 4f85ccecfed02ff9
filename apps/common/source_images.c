/* A folder of images (or one image) as a frame source: the images in name order
 * (vd_files_expand), decoded by the library's vkdetr_image_load, all delivered at the size of
 * the first readable one (others are scaled with libswscale, aspect ratio not kept). An
 * unreadable image is reported on stderr and skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>

#include "error.h"
#include "files.h"
#include "source.h"

typedef struct images_source {
    vd_source base;
    vd_pathlist list;
    int next;           /* index into list */
    int64_t n;          /* frames delivered */
    int loop;
    int good_in_pass;   /* images decoded since the last wrap */
    struct SwsContext *sws;
} images_source;

static void copy_or_scale(images_source *s, const vkdetr_image *img, uint8_t *rgb) {
    int w = s->base.info.width, h = s->base.info.height;
    int stride = img->stride ? img->stride : img->width * 3;
    if (img->width == w && img->height == h) {
        for (int y = 0; y < h; y++)
            memcpy(rgb + (size_t)y * w * 3, img->data + (size_t)y * stride, (size_t)w * 3);
        return;
    }
    s->sws = sws_getCachedContext(s->sws, img->width, img->height, AV_PIX_FMT_RGB24, w, h,
                                  AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!s->sws) {
        memset(rgb, 0, (size_t)w * h * 3);
        return;
    }
    const uint8_t *src[4] = {img->data, NULL, NULL, NULL};
    int src_stride[4] = {stride, 0, 0, 0};
    uint8_t *dst[4] = {rgb, NULL, NULL, NULL};
    int dst_stride[4] = {w * 3, 0, 0, 0};
    sws_scale(s->sws, src, src_stride, 0, img->height, dst, dst_stride);
}

static int images_read(vd_source *base, vd_frame *f, int timeout_ms) {
    images_source *s = (images_source *)base;
    (void)timeout_ms;
    for (;;) {
        if (s->next >= s->list.count) {
            if (!s->loop || !s->good_in_pass) return VD_SOURCE_END;
            s->next = 0;
            s->good_in_pass = 0;
        }
        const char *path = s->list.items[s->next++];
        vkdetr_image img;
        vkdetr_status st = vkdetr_image_load(path, &img);
        if (st) {
            fprintf(stderr, "vkdetr: skipping an image: %s\n", vkdetr_last_error());
            continue;
        }
        if (img.format != VKDETR_PIXEL_RGB) {
            fprintf(stderr, "vkdetr: skipping %s: not decoded to RGB\n", path);
            vkdetr_image_free(&img);
            continue;
        }
        copy_or_scale(s, &img, f->rgb);
        vkdetr_image_free(&img);
        s->good_in_pass++;
        f->width = base->info.width;
        f->height = base->info.height;
        f->index = s->n;
        f->pts = (double)s->n / base->info.fps;
        f->t_capture = vd_source_now_ms();
        s->n++;
        return VD_SOURCE_FRAME;
    }
}

static void images_close(vd_source *base) {
    images_source *s = (images_source *)base;
    vd_pathlist_free(&s->list);
    sws_freeContext(s->sws);
    free(s);
}

static const vd_source_ops images_ops = {images_read, images_close};

vkdetr_status vd_source_open_images(const vd_source_params *p, vd_source **out) {
    *out = NULL;
    images_source *s = calloc(1, sizeof *s);
    if (!s) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    s->base.ops = &images_ops;
    s->base.info.kind = "images";
    s->base.info.fps = p->fps > 0 ? p->fps : 5.0;
    s->loop = p->loop;
    vkdetr_status st = vd_files_expand(&p->spec, 1, 0, NULL, &s->list);
    if (st) goto fail;
    /* the first readable image sets the size */
    for (int i = 0; i < s->list.count && !s->base.info.width; i++) {
        vkdetr_image img;
        if (vkdetr_image_load(s->list.items[i], &img)) continue;
        s->base.info.width = img.width;
        s->base.info.height = img.height;
        vkdetr_image_free(&img);
    }
    if (!s->base.info.width) {
        st = vd_app_error(VKDETR_ERR_IO, "%s: %s", p->spec,
                          s->list.count ? "none of its images can be read" : "no images in it");
        goto fail;
    }
    snprintf(s->base.info.description, sizeof s->base.info.description,
             "%d image%s from %s, %dx%d at %.4g fps", s->list.count,
             s->list.count == 1 ? "" : "s", p->spec, s->base.info.width, s->base.info.height,
             s->base.info.fps);
    *out = &s->base;
    return VKDETR_OK;
fail:
    images_close(&s->base);
    return st;
}
