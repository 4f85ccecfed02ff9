/* The public API: version, parameters, models. Sessions are in session.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/image.h"
#include "core/json.h"
#include "model/model.h"
#include "postprocess/mask.h"
#ifdef VKDETR_HAVE_VULKAN
#include "core/vk/vk.h"
#endif

#define STR_(x) #x
#define STR(x) STR_(x)

VKDETR_API const char *vkdetr_version(void) {
    return STR(VKDETR_VERSION_MAJOR) "." STR(VKDETR_VERSION_MINOR) "." STR(VKDETR_VERSION_PATCH);
}

VKDETR_API vkdetr_model_params vkdetr_model_default_params(void) {
    vkdetr_model_params p;
    memset(&p, 0, sizeof p);
    p.backend = VKDETR_BACKEND_AUTO;
    p.precision = VKDETR_PRECISION_FP32;
    p.device = NULL;
    return p;
}

static const vd_family *const families[] = {&vd_family_rtdetr, &vd_family_rtdetr_v2};

/* The few environment settings the library reads, read once per model load. */
typedef struct env_config {
    int cpu_reference; /* VKDETR_CPU_REFERENCE=1: reference kernels only */
} env_config;

static env_config env_read(void) {
    env_config e = {0};
    const char *s = getenv("VKDETR_CPU_REFERENCE");
    e.cpu_reference = s && *s && strcmp(s, "0") != 0;
    return e;
}


static vkdetr_status create_backend(vkdetr_model *m) {
    env_config env = env_read();
    vkdetr_backend want = m->params.backend;
    if (want == VKDETR_BACKEND_VULKAN || want == VKDETR_BACKEND_AUTO) {
#ifdef VKDETR_HAVE_VULKAN
        vkdetr_status st = VKDETR_OK;
        /* without a device named, only a real GPU is taken (lavapipe only when asked for) */
        m->backend = vd_vk_backend_create(m->params.device, m->params.precision, &st);
        if (m->backend) return VKDETR_OK;
        if (want == VKDETR_BACKEND_VULKAN) return st;
        vd_log_info("no Vulkan GPU (%s); using the CPU", vkdetr_last_error());
#else
        if (want == VKDETR_BACKEND_VULKAN)
            return vd_error(VKDETR_ERR_BACKEND, "vulkan: this build of vkdetr has no Vulkan backend");
#endif
    }
    m->backend = vd_cpu_backend_create(env.cpu_reference);
    if (!m->backend) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    return VKDETR_OK;
}

/* Takes ownership of st (closed on failure); config/preproc are borrowed. */
static vkdetr_status load_common(const cJSON *config, const char *config_name, vd_safetensors *st,
                                 const cJSON *preproc, const char *preproc_name,
                                 const vkdetr_model_params *params, vkdetr_model **out) {
    vkdetr_status s;
    if (params && ((unsigned)params->backend > VKDETR_BACKEND_VULKAN ||
                   (unsigned)params->precision > VKDETR_PRECISION_FP16)) {
        vd_st_close(st);
        return vd_error(VKDETR_ERR_INVALID_ARG, "model params: backend %d or precision %d is not "
                        "a value of its enum", (int)params->backend, (int)params->precision);
    }
    vkdetr_model *m = vd_calloc(1, sizeof *m);
    if (!m) {
        vd_st_close(st);
        return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    }
    m->params = params ? *params : vkdetr_model_default_params();
    if ((s = vd_weights_create(st, &m->W))) goto fail;
    const char *mt = NULL;
    if ((s = vd_json_string(config, "model_type", NULL, &mt))) {
        s = vd_error_prefix(s, "%s", config_name);
        goto fail;
    }
    for (size_t i = 0; i < VD_ARRAY_LEN(families) && mt; i++)
        if (!strcmp(families[i]->model_type, mt)) m->family = families[i];
    if (!m->family) {
        s = vd_error(VKDETR_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (supported: "
                     "rt_detr, rt_detr_v2)", config_name, mt ? mt : "(missing)");
        goto fail;
    }
    if ((s = m->family->load(config, config_name, m->W, &m->fm, &m->info))) goto fail;
    if ((s = vd_preprocess_parse(preproc, preproc_name, &m->pre))) goto fail;
    if (m->pre.size_mode != VD_SIZE_HEIGHT_WIDTH) {
        s = vd_error(VKDETR_ERR_UNSUPPORTED, "%s: 'size' must give height and width for %s",
                     preproc_name, m->info.family);
        goto fail;
    }
    m->n_params = vd_weights_num_params(m->W);
    snprintf(m->family_name, sizeof m->family_name, "%s", m->info.family);
    if ((s = create_backend(m))) goto fail;
    *out = m;
    return VKDETR_OK;
fail:
    vkdetr_model_free(m);
    return s;
}

VKDETR_API vkdetr_status vkdetr_model_load_files(const char *config_json,
                                                 const char *weights_safetensors,
                                                 const char *preprocessor_json,
                                                 const vkdetr_model_params *params,
                                                 vkdetr_model **out) {
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_model_load: out is NULL");
    *out = NULL;
    if (!config_json || !weights_safetensors)
        return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_model_load: a path is NULL");
    cJSON *config = NULL, *preproc = NULL;
    vd_safetensors *st = NULL;
    vkdetr_status s = vd_json_load_file(config_json, &config);
    if (!s && preprocessor_json) s = vd_json_load_file(preprocessor_json, &preproc);
    if (!s) s = vd_st_open(weights_safetensors, &st);
    if (!s) s = load_common(config, config_json, st, preproc, preprocessor_json ? preprocessor_json : "defaults", params, out);
    cJSON_Delete(config);
    cJSON_Delete(preproc);
    return s;
}

VKDETR_API vkdetr_status vkdetr_model_load(const char *dir, const vkdetr_model_params *params,
                                           vkdetr_model **out) {
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_model_load: out is NULL");
    *out = NULL;
    if (!dir) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_model_load: dir is NULL");
    size_t n = strlen(dir) + 32;
    char *c = vd_malloc(n), *w = vd_malloc(n), *p = vd_malloc(n);
    vkdetr_status s;
    if (!c || !w || !p) {
        s = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    } else {
        snprintf(c, n, "%s/config.json", dir);
        snprintf(w, n, "%s/model.safetensors", dir);
        snprintf(p, n, "%s/preprocessor_config.json", dir);
        FILE *f = fopen(c, "rb");
        if (!f) {
            s = vd_error(VKDETR_ERR_IO, "%s: not a checkpoint folder (no readable config.json)", dir);
        } else {
            fclose(f);
            FILE *pf = fopen(p, "rb");
            if (pf) fclose(pf);
            else vd_log_warn("%s: no preprocessor_config.json; using the family's defaults", dir);
            s = vkdetr_model_load_files(c, w, pf ? p : NULL, params, out);
        }
    }
    vd_free(c);
    vd_free(w);
    vd_free(p);
    return s;
}

VKDETR_API vkdetr_status vkdetr_model_load_memory(const void *config_json, size_t config_size,
                                                  const void *weights, size_t weights_size,
                                                  const void *preprocessor_json,
                                                  size_t preprocessor_size,
                                                  const vkdetr_model_params *params,
                                                  vkdetr_model **out) {
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_model_load_memory: out is NULL");
    *out = NULL;
    if (!config_json || !weights)
        return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_model_load_memory: a buffer is NULL");
    cJSON *config = NULL, *preproc = NULL;
    vd_safetensors *st = NULL;
    vkdetr_status s = vd_json_load_memory("config.json", config_json, config_size, &config);
    if (!s && preprocessor_json)
        s = vd_json_load_memory("preprocessor_config.json", preprocessor_json, preprocessor_size, &preproc);
    if (!s) s = vd_st_open_memory(weights, weights_size, &st);
    if (!s) s = load_common(config, "config.json", st, preproc, "preprocessor_config.json", params, out);
    cJSON_Delete(config);
    cJSON_Delete(preproc);
    return s;
}

VKDETR_API void vkdetr_model_free(vkdetr_model *m) {
    if (!m) return;
    if (m->family) m->family->free(m->fm);
    if (m->backend) m->backend->iface->free(m->backend);
    vd_weights_free(m->W);
    vd_free(m);
}

VKDETR_API vkdetr_status vkdetr_model_get_info(const vkdetr_model *m, vkdetr_model_info *info) {
    if (!m || !info) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_model_get_info: NULL argument");
    memset(info, 0, sizeof *info);
    info->family = m->family_name;
    info->backend = m->backend->iface->name;
    info->device = m->backend->device_name;
    info->input_width = m->pre.width;
    info->input_height = m->pre.height;
    info->size_multiple = m->info.size_multiple;
    info->num_classes = m->info.num_labels;
    info->num_queries = m->info.num_queries;
    info->has_masks = m->info.has_masks;
    info->num_parameters = m->n_params;
    return VKDETR_OK;
}

VKDETR_API const char *vkdetr_model_class_name(const vkdetr_model *m, int class_id) {
    if (!m || class_id < 0 || class_id >= m->info.num_labels) return NULL;
    return m->info.labels[class_id];
}

VKDETR_API vkdetr_status vkdetr_device_list(vkdetr_device_info *out, int capacity, int *count) {
    if (!count || capacity < 0 || (capacity > 0 && !out))
        return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_device_list: bad arguments");
    *count = 0;
#ifdef VKDETR_HAVE_VULKAN
    return vd_vk_device_list(out, capacity, count);
#else
    return VKDETR_OK;
#endif
}

VKDETR_API vkdetr_status vkdetr_image_load(const char *path, vkdetr_image *out) {
    if (!path || !out) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_image_load: NULL argument");
    memset(out, 0, sizeof *out);
    vd_image img;
    vkdetr_status s = vd_image_decode_file(path, &img);
    if (s) return s;
    out->data = img.rgb;
    out->width = img.width;
    out->height = img.height;
    out->stride = img.width * 3;
    out->format = VKDETR_PIXEL_RGB;
    return VKDETR_OK;
}

VKDETR_API void vkdetr_image_free(vkdetr_image *image) {
    if (!image) return;
    vd_image img = {image->width, image->height, (uint8_t *)image->data};
    vd_image_free(&img);
    memset(image, 0, sizeof *image);
}

VKDETR_API vkdetr_status vkdetr_mask_decode(const vkdetr_mask *mask, uint8_t *bitmap) {
    if (!mask || !bitmap) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_mask_decode: NULL argument");
    return vd_mask_rle_decode(mask->counts, mask->n_counts, mask->width, mask->height, bitmap);
}
