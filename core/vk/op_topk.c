/* topk on the GPU, in rounds (shaders/topk.comp): round 0 sorts chunks of 2048 values in
 * shared memory (bitonic, by (value desc, index asc)) and keeps each chunk's best k as
 * (key, index) candidates in scratch; each later round does the same to the candidates,
 * ping-ponging between two scratch halves, until one chunk is left, whose best k indices
 * are the output. N = 30000, k = 300: rounds of 15, 3 and 1 chunks. Needs k <= 1024 so
 * that every round shrinks the candidate set. */
#include "core/vk/vk_internal.h"

typedef struct vd_vk_pc_topk {
    uint32_t n, k, mode, last;
} vd_vk_pc_topk;
VD_VK_PUSH_CHECK(vd_vk_pc_topk);

#define CHUNK 2048 /* shaders/topk.comp */
#define HALF_ALIGN 256 /* the largest minStorageBufferOffsetAlignment Vulkan allows */

static VkDeviceSize half_bytes(const vd_tensor *t) {
    uint64_t chunks = ((uint64_t)vd_nelements(t->src[0]) + CHUNK - 1) / CHUNK;
    VkDeviceSize b = chunks * (uint64_t)t->p.topk.k * 8;
    return (b + HALF_ALIGN - 1) / HALF_ALIGN * HALF_ALIGN;
}

VkDeviceSize vd_vk_topk_scratch(const vd_tensor *t) {
    return vd_nelements(t->src[0]) <= CHUNK ? 0 : 2 * half_bytes(t);
}

vkdetr_status vd_vk_plan_topk(vd_vk_plan *p, const vd_tensor *t) {
    uint32_t k = (uint32_t)t->p.topk.k;
    if (k > CHUNK / 2) return vd_error(VKDETR_ERR_UNSUPPORTED, "top-k with k = %u > %d", k, CHUNK / 2);
    VkDeviceSize half = half_bytes(t);
    uint64_t n = (uint64_t)vd_nelements(t->src[0]);
    for (int round = 0;; round++) {
        uint64_t chunks = (n + CHUNK - 1) / CHUNK;
        int last = chunks == 1;
        vd_vk_pc_topk pc = {(uint32_t)n, k, round > 0, (uint32_t)last};
        vd_vk_call c = {.shader = VD_VK_SHADER_TOPK, .n_bind = 4, .push = &pc,
                        .push_size = sizeof pc, .barrier_before = round > 0};
        VkDeviceSize src = (round & 1) ? 0 : half, dst = (round & 1) ? half : 0;
        if (round == 0)
            c.bind[0] = vd_vk_plan_tensor(p, t->src[0]);
        else
            c.bind[1] = vd_vk_plan_scratch(p, src, n * 8);
        /* Both outputs are always bound to real memory (the kernel writes one of them):
         * the shared dummy buffer must never be a write binding, or validation sees
         * dispatches "writing" and others "reading" it. */
        c.bind[3] = vd_vk_plan_tensor(p, t);
        c.bind[2] = last ? c.bind[3] : vd_vk_plan_scratch(p, dst, chunks * k * 8);
        c.writes = 1u << 2 | 1u << 3;
        vd_vk_groups_1d(chunks, c.groups);
        vkdetr_status st = vd_vk_plan_call(p, &c);
        if (st || last) return st;
        n = chunks * k;
    }
}
