/* Pixels to the network input, as transformers' PIL-backend image processors. See
 * preprocess.h. */
#include "preprocess.h"

#include <math.h>
#include <string.h>

#include "base.h"

vd_preprocess vd_preprocess_default_rtdetr(void) {
    vd_preprocess p;
    memset(&p, 0, sizeof p);
    p.do_resize = 1;
    p.size_mode = VD_SIZE_HEIGHT_WIDTH;
    p.height = 640;
    p.width = 640;
    p.resample = VD_RESAMPLE_BILINEAR;
    p.do_rescale = 1;
    p.rescale_factor = 1.0 / 255.0; /* 0.00392156862745098, as written in the configs */
    p.do_normalize = 0;
    const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
    memcpy(p.image_mean, mean, sizeof mean);
    memcpy(p.image_std, std, sizeof std);
    p.do_convert_rgb = 1;
    return p;
}

/* Python's int() of a positive double, guarded against overflow. */
static int to_int(double v) { return v >= 2147483647.0 ? 2147483647 : (int)v; }

/* transformers.image_transforms.get_size_with_aspect_ratio((h, w), size, max_size) */
static void size_with_aspect(int h, int w, int size, int max_size, int *oh, int *ow) {
    double raw = -1.0;
    if (max_size > 0) {
        double mn = (double)VD_MIN(h, w), mx = (double)VD_MAX(h, w);
        if (mx / mn * size > max_size) {
            raw = max_size * mn / mx;
            size = to_int(nearbyint(raw)); /* Python round(): half to even */
        }
    }
    if ((h <= w && h == size) || (w <= h && w == size)) {
        *oh = h;
        *ow = w;
    } else if (w < h) {
        *ow = size;
        *oh = raw >= 0 ? to_int(raw * h / w) : to_int((double)size * h / w);
    } else {
        *oh = size;
        *ow = raw >= 0 ? to_int(raw * w / h) : to_int((double)size * w / h);
    }
}

vkdetr_status vd_preprocess_output_size(const vd_preprocess *cfg, int in_w, int in_h, int *out_w,
                                        int *out_h) {
    if (!cfg || !out_w || !out_h || in_w <= 0 || in_h <= 0)
        return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: invalid input size %dx%d", in_w, in_h);
    int w = in_w, h = in_h;
    if (cfg->do_resize) {
        switch (cfg->size_mode) {
        case VD_SIZE_HEIGHT_WIDTH:
            h = cfg->height;
            w = cfg->width;
            break;
        case VD_SIZE_SHORTEST_EDGE: { /* get_resize_output_image_size, default_to_square=False */
            int s = cfg->shortest_edge;
            int shrt = VD_MIN(in_w, in_h), lng = VD_MAX(in_w, in_h);
            int nl = to_int((double)s * lng / shrt);
            if (in_w <= in_h) {
                w = s;
                h = nl;
            } else {
                h = s;
                w = nl;
            }
            break;
        }
        case VD_SIZE_SHORTEST_LONGEST:
            if (cfg->shortest_edge <= 0)
                return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: shortest_edge %d",
                                cfg->shortest_edge);
            size_with_aspect(in_h, in_w, cfg->shortest_edge, cfg->longest_edge, &h, &w);
            break;
        case VD_SIZE_MAX_HEIGHT_WIDTH: {
            if (cfg->height <= 0 || cfg->width <= 0)
                return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: max size %dx%d", cfg->width,
                                cfg->height);
            double hs = (double)cfg->height / in_h, ws = (double)cfg->width / in_w;
            double s = hs < ws ? hs : ws;
            h = to_int(in_h * s);
            w = to_int(in_w * s);
            break;
        }
        default:
            return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: unknown size mode %d",
                            (int)cfg->size_mode);
        }
    }
    if (w <= 0 || h <= 0)
        return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: output size %dx%d for input %dx%d", w,
                        h, in_w, in_h);
    *out_w = w;
    *out_h = h;
    return VKDETR_OK;
}

vd_preprocess_src vd_preprocess_src_image(const vd_image *img) {
    vd_preprocess_src s;
    memset(&s, 0, sizeof s);
    if (img) {
        s.raster = (vd_raster){img->rgb, img->width, img->height, 3, (size_t)img->width * 3};
    }
    s.rgb[0] = 0;
    s.rgb[1] = 1;
    s.rgb[2] = 2;
    return s;
}

vkdetr_status vd_preprocess_src_pixels(const vkdetr_image *img, vd_preprocess_src *out) {
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: out is NULL");
    memset(out, 0, sizeof *out);
    int ch;
    size_t stride;
    vkdetr_status st = vd_image_check_pixels(img, &ch, &stride);
    if (st != VKDETR_OK) return st;
    /* the raster is only read: casting away const is safe */
    out->raster = (vd_raster){(uint8_t *)(uintptr_t)img->data, img->width, img->height, ch, stride};
    int bgr = img->format == VKDETR_PIXEL_BGR || img->format == VKDETR_PIXEL_BGRA;
    out->rgb[0] = ch == 1 ? 0 : bgr ? 2 : 0;
    out->rgb[1] = ch == 1 ? 0 : 1;
    out->rgb[2] = ch == 1 ? 0 : bgr ? 0 : 2;
    return VKDETR_OK;
}

static int needs_resize(const vd_preprocess *cfg, const vd_raster *r, int out_w, int out_h) {
    return cfg->do_resize && (r->width != out_w || r->height != out_h);
}

size_t vd_preprocess_scratch_size(const vd_preprocess *cfg, const vd_preprocess_src *src,
                                  int out_w, int out_h) {
    if (!cfg || !src || out_w <= 0 || out_h <= 0) return SIZE_MAX;
    const vd_raster *r = &src->raster;
    if (!needs_resize(cfg, r, out_w, out_h)) return 0;
    size_t rs = vd_resize_scratch_size(r->width, r->height, out_w, out_h, r->channels,
                                       (vd_resample)cfg->resample);
    size_t img;
    if (rs == SIZE_MAX || vd_mul_size((size_t)out_w * out_h, (size_t)r->channels, &img) != 0)
        return SIZE_MAX;
    img = (img + 63) & ~(size_t)63;
    return rs > SIZE_MAX - img ? SIZE_MAX : img + rs;
}

/* lut[c][v]: the float the processor produces for 8-bit value v in channel c. */
static void build_lut(const vd_preprocess *cfg, float lut[3][256]) {
    for (int c = 0; c < 3; c++) {
        float mean = (float)cfg->image_mean[c], std = (float)cfg->image_std[c];
        for (int v = 0; v < 256; v++) {
            /* rescale: image.astype(float64) * scale, then astype(float32) */
            float x = cfg->do_rescale ? (float)((double)v * cfg->rescale_factor) : (float)v;
            /* normalize: float32 (x - mean) / std */
            if (cfg->do_normalize) x = (x - mean) / std;
            lut[c][v] = x;
        }
    }
}

typedef struct lut_job {
    const vd_raster *r;
    const int *rgb;
    float (*lut)[256];
    float *dst;
    int n_tasks;
} lut_job;

static void lut_task(void *arg, int task, int thread) {
    const lut_job *j = arg;
    const vd_raster *r = j->r;
    int y0 = (int)((int64_t)r->height * task / j->n_tasks);
    int y1 = (int)((int64_t)r->height * (task + 1) / j->n_tasks);
    size_t plane = (size_t)r->width * r->height;
    for (int c = 0; c < 3; c++) {
        const float *lut = j->lut[c];
        for (int y = y0; y < y1; y++) {
            const uint8_t *s = r->data + (size_t)y * r->stride + j->rgb[c];
            float *o = j->dst + c * plane + (size_t)y * r->width;
            for (int x = 0; x < r->width; x++, s += r->channels) o[x] = lut[*s];
        }
    }
}

vkdetr_status vd_preprocess_run(const vd_preprocess *cfg, const vd_preprocess_src *src, int out_w,
                                int out_h, float *dst, void *scratch, size_t scratch_size,
                                vd_pool *pool) {
    if (!cfg || !src || !dst || !src->raster.data)
        return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: NULL argument");
    const vd_raster *in = &src->raster;
    for (int c = 0; c < 3; c++)
        if (src->rgb[c] < 0 || src->rgb[c] >= in->channels)
            return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: bad channel map");
    if (cfg->do_normalize)
        for (int c = 0; c < 3; c++)
            if (!((float)cfg->image_std[c] != 0.0f))
                return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: image_std[%d] is %g", c,
                                cfg->image_std[c]);
    if (!cfg->do_resize && (in->width != out_w || in->height != out_h))
        return vd_error(VKDETR_ERR_SHAPE,
                        "preprocess: do_resize is off and the image is %dx%d, the input %dx%d",
                        in->width, in->height, out_w, out_h);
    size_t need = vd_preprocess_scratch_size(cfg, src, out_w, out_h);
    if (need == SIZE_MAX)
        return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: cannot resize %dx%d to %dx%d (%s)",
                        in->width, in->height, out_w, out_h, vd_resample_name(cfg->resample));
    if (need > 0 && (!scratch || scratch_size < need))
        return vd_error(VKDETR_ERR_INVALID_ARG, "preprocess: scratch of %zu bytes, need %zu",
                        scratch ? scratch_size : 0, need);

    vd_raster resized = *in;
    if (needs_resize(cfg, in, out_w, out_h)) {
        size_t img = ((size_t)out_w * out_h * in->channels + 63) & ~(size_t)63;
        resized = (vd_raster){scratch, out_w, out_h, in->channels, (size_t)out_w * in->channels};
        vkdetr_status st = vd_resize_u8(in, &resized, (vd_resample)cfg->resample,
                                        (uint8_t *)scratch + img, scratch_size - img, pool);
        if (st != VKDETR_OK) return st;
    }
    float lut[3][256];
    build_lut(cfg, lut);
    int threads = pool ? vd_pool_threads(pool) : 1;
    lut_job j = {&resized, src->rgb, lut, dst, 1};
    if (threads > 1 && (int64_t)out_w * out_h > 65536) j.n_tasks = VD_MIN(out_h, threads * 2);
    vd_pool_run(j.n_tasks > 1 ? pool : NULL, j.n_tasks, lut_task, &j);
    return VKDETR_OK;
}
