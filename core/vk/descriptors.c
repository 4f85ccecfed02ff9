/* Descriptor sets: one per dispatch, allocated from a per-executor pool when a graph is
 * planned and written once; every set has the VD_VK_MAX_BINDINGS storage-buffer bindings
 * of the shared layout (pipeline.c). */
#include <string.h>

#include "core/vk/vk_internal.h"

vkdetr_status vd_vk_descriptors_alloc(vd_vk_device *d, VkDescriptorSetLayout layout,
                                      uint32_t n_sets, VkDescriptorPool *pool,
                                      VkDescriptorSet *sets) {
    vkdetr_status st = VKDETR_OK;
    *pool = VK_NULL_HANDLE;
    if (n_sets == 0) return VKDETR_OK;
    VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                 .descriptorCount = n_sets * VD_VK_MAX_BINDINGS};
    VkDescriptorPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .maxSets = n_sets,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &size};
    VD_VK_CHECK(vkCreateDescriptorPool(d->dev, &pci, NULL, pool));
    VkDescriptorSetLayout layouts[64];
    for (int i = 0; i < 64; i++) layouts[i] = layout;
    for (uint32_t at = 0; at < n_sets; at += 64) {
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = *pool,
                                          .descriptorSetCount = VD_MIN(64, n_sets - at),
                                          .pSetLayouts = layouts};
        VD_VK_CHECK(vkAllocateDescriptorSets(d->dev, &ai, sets + at));
    }
    return VKDETR_OK;
fail:
    if (*pool) vkDestroyDescriptorPool(d->dev, *pool, NULL);
    *pool = VK_NULL_HANDLE;
    return st;
}

void vd_vk_descriptors_write(vd_vk_device *d, VkDescriptorSet set, const vd_vk_tensor *b, int n,
                             VkBuffer dummy) {
    VkDescriptorBufferInfo info[VD_VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[VD_VK_MAX_BINDINGS];
    for (int i = 0; i < VD_VK_MAX_BINDINGS; i++) {
        if (i < n && b[i].buf)
            info[i] = (VkDescriptorBufferInfo){b[i].buf, b[i].offset, b[i].size};
        else
            info[i] = (VkDescriptorBufferInfo){dummy, 0, VK_WHOLE_SIZE};
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstSet = set,
                                      .dstBinding = (uint32_t)i,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &info[i]};
    }
    vkUpdateDescriptorSets(d->dev, VD_VK_MAX_BINDINGS, w, 0, NULL);
}
