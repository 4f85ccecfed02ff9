/* Compute pipelines: created on first use (keyed by shader, storage variant and
 * specialisation constants) through a VkPipelineCache that persists across runs in
 * <cache dir>/pipeline-<vendor>-<device>-<driver>.bin. The file is checked against the
 * device (Vulkan's cache header: vendor, device, pipelineCacheUUID) before use, and written
 * when the backend is freed (temp file + rename, so a crash never leaves half a file). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/vk/vk_internal.h"

struct vd_vk_pipeline_entry {
    vd_vk_shader shader;
    int f16;
    uint32_t spec[VD_VK_MAX_SPEC];
    VkPipeline pipe;
};

/* ---- the cache file ------------------------------------------------------------------- */

/* 1 if data starts with a VkPipelineCacheHeaderVersionOne for this device */
static int cache_header_ok(const vd_vk_device *d, const uint8_t *data, size_t size) {
    if (size < 32) return 0;
    uint32_t h[4];
    memcpy(h, data, sizeof h);
    return h[0] >= 32 && h[0] <= size && h[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
           h[2] == d->props.vendorID && h[3] == d->props.deviceID &&
           !memcmp(data + 16, d->props.pipelineCacheUUID, VK_UUID_SIZE);
}

static void *read_cache_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *data = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n > 0 && n < (1l << 30) && fseek(f, 0, SEEK_SET) == 0) {
        data = vd_malloc((size_t)n);
        if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
            vd_free(data);
            data = NULL;
        }
    }
    fclose(f);
    *size = data ? (size_t)n : 0;
    return data;
}

/* mkdir -p; 0 on success */
static int make_dirs(const char *dir) {
    char path[1300];
    if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path) return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void save_cache(vd_vk_device *d, vd_vk_pipelines *p) {
    if (!p->cache_path[0] || !p->cache) return;
    size_t size = 0;
    if (vkGetPipelineCacheData(d->dev, p->cache, &size, NULL) != VK_SUCCESS || size == 0) return;
    void *data = vd_malloc(size);
    if (!data) return;
    char dir[1200], tmp[1300];
    snprintf(dir, sizeof dir, "%s", p->cache_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p->cache_path, (long)getpid());
    const char *why = NULL;
    if (vkGetPipelineCacheData(d->dev, p->cache, &size, data) != VK_SUCCESS) {
        why = "vkGetPipelineCacheData failed";
    } else if (make_dirs(dir) != 0) {
        why = strerror(errno);
    } else {
        FILE *f = fopen(tmp, "wb");
        int ok = f && fwrite(data, 1, size, f) == size;
        if (f && fclose(f) != 0) ok = 0;
        if (!ok || rename(tmp, p->cache_path) != 0) {
            why = strerror(errno);
            remove(tmp);
        }
    }
    if (why)
        vd_log_debug("vulkan: pipeline cache not saved to %s: %s", p->cache_path, why);
    else
        vd_log_debug("vulkan: pipeline cache saved to %s (%zu bytes)", p->cache_path, size);
    vd_free(data);
}

/* ---- layouts, cache, pipelines ---------------------------------------------------------- */

vkdetr_status vd_vk_pipelines_init(vd_vk_device *d, const char *cache_dir, vd_vk_pipelines *p) {
    vkdetr_status st = VKDETR_OK;
    void *data = NULL;
    memset(p, 0, sizeof *p);
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        return vd_error(VKDETR_ERR_NO_MEMORY, "vulkan: cannot create a mutex");
    p->lock_init = 1;

    VkDescriptorSetLayoutBinding b[VD_VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < VD_VK_MAX_BINDINGS; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = i,
                                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = VD_VK_MAX_BINDINGS,
        .pBindings = b};
    VD_VK_CHECK(vkCreateDescriptorSetLayout(d->dev, &dci, NULL, &p->set_layout));
    VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = VD_VK_PUSH_MAX};
    VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = 1,
                                      .pSetLayouts = &p->set_layout,
                                      .pushConstantRangeCount = 1,
                                      .pPushConstantRanges = &pcr};
    VD_VK_CHECK(vkCreatePipelineLayout(d->dev, &lci, NULL, &p->layout));

    size_t size = 0;
    if (cache_dir && cache_dir[0]) {
        snprintf(p->cache_path, sizeof p->cache_path, "%s/pipeline-%04x-%04x-%08x.bin",
                 cache_dir, d->props.vendorID, d->props.deviceID, d->props.driverVersion);
        data = read_cache_file(p->cache_path, &size);
        if (data && !cache_header_ok(d, data, size)) {
            vd_log_debug("vulkan: ignoring pipeline cache %s (not for this device/driver)",
                         p->cache_path);
            vd_free(data);
            data = NULL;
            size = 0;
        }
    }
    VkPipelineCacheCreateInfo cci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                     .initialDataSize = size,
                                     .pInitialData = data};
    if (vkCreatePipelineCache(d->dev, &cci, NULL, &p->cache) != VK_SUCCESS) {
        cci.initialDataSize = 0; /* a cache the driver rejects: start empty */
        cci.pInitialData = NULL;
        VD_VK_CHECK(vkCreatePipelineCache(d->dev, &cci, NULL, &p->cache));
    } else if (data) {
        p->cache_loaded = 1;
        vd_log_debug("vulkan: pipeline cache loaded from %s (%zu bytes)", p->cache_path, size);
    }
fail:
    vd_free(data);
    if (st) vd_vk_pipelines_free(d, p);
    return st;
}

void vd_vk_pipelines_free(vd_vk_device *d, vd_vk_pipelines *p) {
    if (d->dev) {
        save_cache(d, p);
        for (int i = 0; i < p->n; i++) vkDestroyPipeline(d->dev, p->items[i].pipe, NULL);
        for (int s = 0; s < VD_VK_SHADER_COUNT; s++)
            for (int v = 0; v < 2; v++)
                if (p->modules[s][v]) vkDestroyShaderModule(d->dev, p->modules[s][v], NULL);
        if (p->cache) vkDestroyPipelineCache(d->dev, p->cache, NULL);
        if (p->layout) vkDestroyPipelineLayout(d->dev, p->layout, NULL);
        if (p->set_layout) vkDestroyDescriptorSetLayout(d->dev, p->set_layout, NULL);
    }
    vd_free(p->items);
    if (p->lock_init) pthread_mutex_destroy(&p->lock);
    memset(p, 0, sizeof *p);
}

static vkdetr_status create_pipeline(vd_vk_device *d, vd_vk_pipelines *p, vd_vk_shader shader,
                                     int f16, const uint32_t *spec, VkPipeline *out) {
    vkdetr_status st = VKDETR_OK;
    const vd_vk_spirv *sp = &vd_vk_shaders[shader];
    if (!p->modules[shader][f16]) {
        VkShaderModuleCreateInfo mci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                        .codeSize = sp->size[f16],
                                        .pCode = sp->code[f16]};
        VD_VK_CHECK(vkCreateShaderModule(d->dev, &mci, NULL, &p->modules[shader][f16]));
    }
    VkSpecializationMapEntry map[VD_VK_MAX_SPEC];
    for (uint32_t i = 0; i < VD_VK_MAX_SPEC; i++)
        map[i] = (VkSpecializationMapEntry){.constantID = i, .offset = 4 * i, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = VD_VK_MAX_SPEC,
                               .pMapEntries = map,
                               .dataSize = 4 * VD_VK_MAX_SPEC,
                               .pData = spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = p->modules[shader][f16],
                  .pName = "main",
                  .pSpecializationInfo = &si},
        .layout = p->layout};
    double t0 = vd_time_ms();
    VD_VK_CHECK(vkCreateComputePipelines(d->dev, p->cache, 1, &ci, NULL, out));
    vd_log_debug("vulkan: pipeline %s%s (mask %x) created in %.1f ms", sp->name,
                 f16 ? " fp16" : "", spec[0], vd_time_ms() - t0);
fail:
    if (st) vd_error_prefix(st, "shader %s", sp->name);
    return st;
}

vkdetr_status vd_vk_pipeline_get(vd_vk_device *d, vd_vk_pipelines *p, vd_vk_shader shader,
                                 int f16, const uint32_t spec[VD_VK_MAX_SPEC], VkPipeline *out) {
    vkdetr_status st = VKDETR_OK;
    if ((unsigned)shader >= VD_VK_SHADER_COUNT)
        return vd_error(VKDETR_ERR_INTERNAL, "vulkan: shader %d", (int)shader);
    f16 = f16 ? 1 : 0;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n; i++) {
        const struct vd_vk_pipeline_entry *e = &p->items[i];
        if (e->shader == shader && e->f16 == f16 && !memcmp(e->spec, spec, sizeof e->spec)) {
            *out = e->pipe;
            goto done;
        }
    }
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 32;
        struct vd_vk_pipeline_entry *items = vd_realloc(p->items, (size_t)cap * sizeof *items);
        if (!items) {
            st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory creating a pipeline");
            goto done;
        }
        p->items = items;
        p->cap = cap;
    }
    VkPipeline pipe;
    st = create_pipeline(d, p, shader, f16, spec, &pipe);
    if (st) goto done;
    struct vd_vk_pipeline_entry *e = &p->items[p->n++];
    e->shader = shader;
    e->f16 = f16;
    memcpy(e->spec, spec, sizeof e->spec);
    e->pipe = pipe;
    *out = pipe;
done:
    pthread_mutex_unlock(&p->lock);
    return st;
}
