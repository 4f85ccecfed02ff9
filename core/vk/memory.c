/* Buffers and their memory, setup-time uploads (with fp16 conversion), and packing many
 * tensors into few buffers that stay under the device's range and allocation limits. */
#include <stdio.h>
#include <string.h>

#include "core/half.h"
#include "core/vk/vk_internal.h"

const char *vd_vk_size_str(VkDeviceSize bytes, char *buf, size_t size) {
    if (bytes >= (1u << 20))
        snprintf(buf, size, "%.1f MB", (double)bytes / (1 << 20));
    else if (bytes >= 1024)
        snprintf(buf, size, "%.1f KB", (double)bytes / 1024);
    else
        snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
    return buf;
}

/* A memory type allowed by `bits` that has all of `need`; among those the one with most of
 * `want` (earlier types first on ties, as drivers order them by preference). -1: none. */
static int find_type(const vd_vk_device *d, uint32_t bits, VkMemoryPropertyFlags need,
                     const VkMemoryPropertyFlags *want, int n_want) {
    int best = -1, best_score = -1;
    for (uint32_t i = 0; i < d->mem_props.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = d->mem_props.memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (f & need) != need) continue;
        int score = 0;
        for (int w = 0; w < n_want; w++) /* earlier wishes weigh more */
            if ((f & want[w]) == want[w]) score += 1 << (n_want - w);
        if (score > best_score) {
            best = (int)i;
            best_score = score;
        }
    }
    return best;
}

vkdetr_status vd_vk_buffer_create(vd_vk_device *d, VkDeviceSize size, vd_vk_mem kind,
                                  const char *what, vd_vk_buffer *b) {
    vkdetr_status st = VKDETR_OK;
    memset(b, 0, sizeof *b);
    size = (size + 15) & ~(VkDeviceSize)15;
    if (size == 0) size = 16;
    char s1[32], s2[32];
    if (size > d->max_alloc)
        return vd_error(VKDETR_ERR_NO_MEMORY, "vulkan: %s needs %s in one buffer; %s allows %s",
                        what, vd_vk_size_str(size, s1, sizeof s1), d->name,
                        vd_vk_size_str(d->max_alloc, s2, sizeof s2));
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                 (kind == VD_VK_MEM_DEVICE ? VK_BUFFER_USAGE_STORAGE_BUFFER_BIT : 0),
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VD_VK_CHECK(vkCreateBuffer(d->dev, &bci, NULL, &b->buf));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(d->dev, b->buf, &req);
    int type;
    if (kind == VD_VK_MEM_DEVICE) {
        VkMemoryPropertyFlags want[] = {VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT};
        type = find_type(d, req.memoryTypeBits, 0, want, 1);
    } else {
        VkMemoryPropertyFlags want[] = {VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                        VK_MEMORY_PROPERTY_HOST_CACHED_BIT};
        type = find_type(d, req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, want, 2);
    }
    if (type < 0) {
        st = vd_error(VKDETR_ERR_BACKEND, "vulkan: %s has no memory type for %s", d->name, what);
        goto fail;
    }
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .allocationSize = req.size,
                                .memoryTypeIndex = (uint32_t)type};
    VkResult r = vkAllocateMemory(d->dev, &mai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        b->mem = VK_NULL_HANDLE;
        st = vd_vk_status(r, "vkAllocateMemory");
        vd_error_prefix(st, "%s (%s)", what, vd_vk_size_str(size, s1, sizeof s1));
        goto fail;
    }
    VD_VK_CHECK(vkBindBufferMemory(d->dev, b->buf, b->mem, 0));
    VkMemoryPropertyFlags f = d->mem_props.memoryTypes[type].propertyFlags;
    b->coherent = (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    if (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)
        VD_VK_CHECK(vkMapMemory(d->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map));
    b->size = size;
    return VKDETR_OK;
fail:
    vd_vk_buffer_destroy(d, b);
    return st;
}

void vd_vk_buffer_destroy(vd_vk_device *d, vd_vk_buffer *b) {
    if (b->buf) vkDestroyBuffer(d->dev, b->buf, NULL);
    if (b->mem) vkFreeMemory(d->dev, b->mem, NULL); /* unmaps */
    memset(b, 0, sizeof *b);
}

vkdetr_status vd_vk_buffer_flush(vd_vk_device *d, const vd_vk_buffer *b) {
    vkdetr_status st = VKDETR_OK;
    if (!b->map || b->coherent) return VKDETR_OK;
    VkMappedMemoryRange range = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                                 .memory = b->mem, .offset = 0, .size = VK_WHOLE_SIZE};
    VD_VK_CHECK(vkFlushMappedMemoryRanges(d->dev, 1, &range));
fail:
    return st;
}

vkdetr_status vd_vk_buffer_invalidate(vd_vk_device *d, const vd_vk_buffer *b) {
    vkdetr_status st = VKDETR_OK;
    if (!b->map || b->coherent) return VKDETR_OK;
    VkMappedMemoryRange range = {.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                                 .memory = b->mem, .offset = 0, .size = VK_WHOLE_SIZE};
    VD_VK_CHECK(vkInvalidateMappedMemoryRanges(d->dev, 1, &range));
fail:
    return st;
}

/* ---- uploads -------------------------------------------------------------------------- */

static void write_elems(void *dst, const void *src, size_t n, int f16) {
    if (!f16) {
        memcpy(dst, src, n * 4);
        return;
    }
    const float *s = src;
    uint16_t *h = dst;
    for (size_t i = 0; i < n; i++) h[i] = vd_f32_to_f16(s[i]);
}

/* A staging buffer and a command buffer that copies batches of it to the device. */
typedef struct stager {
    vd_vk_device *d;
    vd_vk_buffer staging;
    VkCommandPool pool;
    VkCommandBuffer cb;
    VkFence fence;
    VkDeviceSize used;
    int recording;
} stager;

static vkdetr_status stager_open(stager *s, vd_vk_device *d, VkDeviceSize size) {
    vkdetr_status st = VKDETR_OK;
    memset(s, 0, sizeof *s);
    s->d = d;
    st = vd_vk_buffer_create(d, size, VD_VK_MEM_STAGING, "upload staging", &s->staging);
    if (st) return st;
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
                                   .queueFamilyIndex = d->queue_family};
    VD_VK_CHECK(vkCreateCommandPool(d->dev, &pci, NULL, &s->pool));
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = s->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VD_VK_CHECK(vkAllocateCommandBuffers(d->dev, &ai, &s->cb));
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VD_VK_CHECK(vkCreateFence(d->dev, &fci, NULL, &s->fence));
fail:
    return st;
}

static void stager_close(stager *s) {
    vd_vk_device *d = s->d;
    if (!d) return;
    if (s->fence) vkDestroyFence(d->dev, s->fence, NULL);
    if (s->pool) vkDestroyCommandPool(d->dev, s->pool, NULL);
    vd_vk_buffer_destroy(d, &s->staging);
}

/* Submits the copies recorded so far and waits for them. */
static vkdetr_status stager_flush(stager *s) {
    vkdetr_status st = VKDETR_OK;
    vd_vk_device *d = s->d;
    if (!s->recording) return VKDETR_OK;
    /* the data is read by compute shaders in later submissions */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT};
    vkCmdPipelineBarrier(s->cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VD_VK_CHECK(vkEndCommandBuffer(s->cb));
    s->recording = 0;
    st = vd_vk_buffer_flush(d, &s->staging);
    if (!st) st = vd_vk_submit_wait(d, s->cb, s->fence, NULL);
    if (st) goto fail;
    VD_VK_CHECK(vkResetCommandPool(d->dev, s->pool, 0));
    s->used = 0;
fail:
    return st;
}

static vkdetr_status stager_put(stager *s, const vd_vk_upload_item *it) {
    vkdetr_status st = VKDETR_OK;
    size_t esize = it->f16 ? 2 : 4, done = 0;
    while (done < it->n) {
        size_t fit = (size_t)((s->staging.size - s->used) / esize);
        if (fit == 0) {
            if ((st = stager_flush(s))) return st;
            continue;
        }
        size_t n = VD_MIN(fit, it->n - done);
        write_elems((char *)s->staging.map + s->used, (const char *)it->data + done * 4, n,
                    it->f16);
        if (!s->recording) {
            VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                           .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
            VD_VK_CHECK(vkBeginCommandBuffer(s->cb, &bi));
            s->recording = 1;
        }
        VkBufferCopy region = {.srcOffset = s->used,
                               .dstOffset = it->offset + done * esize,
                               .size = n * esize};
        vkCmdCopyBuffer(s->cb, s->staging.buf, it->dst->buf, 1, &region);
        s->used += (n * esize + 15) & ~(size_t)15;
        if (s->used > s->staging.size) s->used = s->staging.size;
        done += n;
    }
fail:
    return st;
}

vkdetr_status vd_vk_upload(vd_vk_device *d, const vd_vk_upload_item *items, int n_items) {
    vkdetr_status st = VKDETR_OK;
    VkDeviceSize staged = 0;
    for (int i = 0; i < n_items; i++) {
        const vd_vk_upload_item *it = &items[i];
        if (it->dst->map)
            write_elems((char *)it->dst->map + it->offset, it->data, it->n, it->f16);
        else
            staged += (VkDeviceSize)it->n * (it->f16 ? 2 : 4) + 16;
    }
    for (int i = 0; i < n_items; i++)
        if (items[i].dst->map && (st = vd_vk_buffer_flush(d, items[i].dst))) return st;
    if (staged == 0) return VKDETR_OK;
    stager s;
    st = stager_open(&s, d, VD_MIN(staged, (VkDeviceSize)32 << 20));
    if (st) goto fail;
    for (int i = 0; i < n_items && !st; i++)
        if (!items[i].dst->map) st = stager_put(&s, &items[i]);
    if (!st) st = stager_flush(&s);
fail:
    stager_close(&s);
    return st;
}

/* ---- packing ---------------------------------------------------------------------------- */

vkdetr_status vd_vk_pack(const VkDeviceSize *sizes, int n, VkDeviceSize align,
                         VkDeviceSize limit, const char *const *names, int *buf_of,
                         VkDeviceSize *off_of, VkDeviceSize *buf_size, int *n_bufs) {
    int nb = 0;
    VkDeviceSize at = 0;
    for (int i = 0; i < n; i++) {
        VkDeviceSize size = sizes[i] ? sizes[i] : 4;
        char s1[32], s2[32];
        if (size > limit)
            return vd_error(VKDETR_ERR_UNSUPPORTED, "vulkan: tensor %s of %s is larger than the "
                            "largest buffer the device binds (%s)",
                            names && names[i] ? names[i] : "?", vd_vk_size_str(size, s1, sizeof s1),
                            vd_vk_size_str(limit, s2, sizeof s2));
        VkDeviceSize off = (at + align - 1) / align * align;
        if (nb == 0 || off + size > limit) {
            if (nb > 0) buf_size[nb - 1] = at;
            nb++;
            off = 0;
        }
        buf_of[i] = nb - 1;
        off_of[i] = off;
        at = off + size;
    }
    if (nb > 0) buf_size[nb - 1] = at;
    *n_bufs = nb;
    return VKDETR_OK;
}
