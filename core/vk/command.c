/* Recording a planned graph into one command buffer, and submitting it.
 *
 * Layout of the command buffer:
 *   copies of the inputs, staging -> device; one barrier (transfer -> compute)
 *   the dispatches, in node order, with a barrier only where needed (below)
 *   one barrier (compute -> transfer); copies of the outputs, device -> staging;
 *   one barrier (transfer -> host)
 *
 * Barriers. Since the last barrier, the recorder remembers the byte ranges written and read
 * by the dispatches (activations and scratch only: weights and constants never change
 * during a run). A dispatch that reads or writes a range written since then (read after
 * write, write after write), or writes a range read since then (write after read), gets a
 * pipeline barrier first, with a buffer memory barrier for each buffer written since the
 * last one. Dispatches of one node never conflict with each other (concat writes disjoint
 * parts of its output) unless the op asks for a barrier (barrier_before: top-k rounds).
 * Independent nodes (the branches of a block) run without barriers between them. */
#include <string.h>

#include "core/vk/vk_internal.h"

typedef struct range {
    VkBuffer buf;
    VkDeviceSize lo, hi;
    int node;
} range;

typedef struct tracker {
    range *w, *r; /* pending writes and reads since the last barrier */
    int n_w, n_r, cap;
} tracker;

static int overlaps(const range *a, const vd_vk_tensor *b, int node) {
    return a->buf == b->buf && a->node != node && a->lo < b->offset + b->size &&
           b->offset < a->hi;
}

static int needs_barrier(const tracker *t, const vd_vk_dispatch *d) {
    if (d->barrier_before) return 1;
    for (int i = 0; i < d->n_bind; i++) {
        const vd_vk_tensor *b = &d->bind[i];
        if (!b->buf || !b->tracked) continue;
        for (int j = 0; j < t->n_w; j++)
            if (overlaps(&t->w[j], b, d->node)) return 1;
        if (d->writes & (1u << i))
            for (int j = 0; j < t->n_r; j++)
                if (overlaps(&t->r[j], b, d->node)) return 1;
    }
    return 0;
}

/* One barrier: makes every pending write available and visible to later compute work;
 * one buffer memory barrier per buffer (the union of its written ranges). */
static void emit_barrier(VkCommandBuffer cb, tracker *t) {
    VkBufferMemoryBarrier bmb[VD_VK_MAX_BINDINGS * 2];
    uint32_t n = 0;
    for (int j = 0; j < t->n_w; j++) {
        const range *w = &t->w[j];
        uint32_t k = 0;
        while (k < n && bmb[k].buffer != w->buf) k++;
        if (k == n) {
            if (n == VD_ARRAY_LEN(bmb)) { /* many buffers: one global barrier instead */
                n = 0;
                break;
            }
            bmb[n++] = (VkBufferMemoryBarrier){
                .sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
                .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                .buffer = w->buf,
                .offset = w->lo,
                .size = w->hi - w->lo};
        } else {
            VkDeviceSize lo = VD_MIN(bmb[k].offset, w->lo);
            VkDeviceSize hi = VD_MAX(bmb[k].offset + bmb[k].size, w->hi);
            bmb[k].offset = lo;
            bmb[k].size = hi - lo;
        }
    }
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    int global = n == 0 && t->n_w > 0;
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, global ? 1 : 0, &mb, n, bmb, 0,
                         NULL);
    t->n_w = t->n_r = 0;
}

static void remember(tracker *t, const vd_vk_dispatch *d) {
    for (int i = 0; i < d->n_bind; i++) {
        const vd_vk_tensor *b = &d->bind[i];
        if (!b->buf || !b->tracked) continue;
        range r = {b->buf, b->offset, b->offset + b->size, d->node};
        if (d->writes & (1u << i))
            t->w[t->n_w++] = r;
        else
            t->r[t->n_r++] = r;
    }
}

/* Transfer <-> compute/host barriers around the copies: one buffer barrier per copy. */
static void copy_barrier(VkCommandBuffer cb, const vd_vk_copy *c, int n, int to_device,
                         VkAccessFlags src_access, VkAccessFlags dst_access,
                         VkPipelineStageFlags src_stage, VkPipelineStageFlags dst_stage) {
    VkBufferMemoryBarrier bmb[16];
    int at = 0;
    while (at < n) {
        uint32_t k = 0;
        for (; k < VD_ARRAY_LEN(bmb) && at < n; k++, at++)
            bmb[k] = (VkBufferMemoryBarrier){
                .sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                .srcAccessMask = src_access,
                .dstAccessMask = dst_access,
                .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                .buffer = to_device ? c[at].dst : c[at].src,
                .offset = to_device ? c[at].dst_offset : c[at].src_offset,
                .size = c[at].size};
        vkCmdPipelineBarrier(cb, src_stage, dst_stage, 0, 0, NULL, k, bmb, 0, NULL);
    }
}

static void record_copies(VkCommandBuffer cb, const vd_vk_copy *c, int n) {
    for (int i = 0; i < n; i++) {
        VkBufferCopy region = {c[i].src_offset, c[i].dst_offset, c[i].size};
        vkCmdCopyBuffer(cb, c[i].src, c[i].dst, 1, &region);
    }
}

static void record_dispatches(VkCommandBuffer cb, const vd_vk_recording *rec, tracker *t,
                              int *n_barriers) {
    VkPipeline bound = VK_NULL_HANDLE;
    int node = -1;
    for (int i = 0; i < rec->n_disp; i++) {
        const vd_vk_dispatch *d = &rec->disp[i];
        int first = d->node != node;
        if (first && rec->ts && node >= 0 && rec->node_query[node] >= 0)
            vd_vk_timestamps_write(cb, rec->ts, 2 * (uint32_t)rec->node_query[node] + 1);
        if (needs_barrier(t, d)) {
            emit_barrier(cb, t);
            (*n_barriers)++;
        }
        if (first && rec->ts && rec->node_query[d->node] >= 0)
            vd_vk_timestamps_write(cb, rec->ts, 2 * (uint32_t)rec->node_query[d->node]);
        node = d->node;
        if (d->pipe != bound) {
            vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipe);
            bound = d->pipe;
        }
        vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, rec->layout, 0, 1, &d->set, 0,
                                NULL);
        if (d->push_size)
            vkCmdPushConstants(cb, rec->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, d->push_size,
                               d->push);
        vkCmdDispatch(cb, d->groups[0], d->groups[1], d->groups[2]);
        remember(t, d);
    }
    if (rec->ts && node >= 0 && rec->node_query[node] >= 0)
        vd_vk_timestamps_write(cb, rec->ts, 2 * (uint32_t)rec->node_query[node] + 1);
}

vkdetr_status vd_vk_record(vd_vk_device *d, VkCommandBuffer cb, const vd_vk_recording *rec,
                           int *n_barriers) {
    vkdetr_status st = VKDETR_OK;
    tracker t = {0};
    *n_barriers = 0;
    int cap = rec->n_disp * VD_VK_MAX_BINDINGS + 1;
    t.w = vd_malloc((size_t)cap * sizeof *t.w);
    t.r = vd_malloc((size_t)cap * sizeof *t.r);
    if (!t.w || !t.r) {
        st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory recording a command buffer");
        goto fail;
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VD_VK_CHECK(vkBeginCommandBuffer(cb, &bi));
    if (rec->ts) vd_vk_timestamps_reset(cb, rec->ts);
    if (rec->n_in) {
        record_copies(cb, rec->in, rec->n_in);
        copy_barrier(cb, rec->in, rec->n_in, 1, VK_ACCESS_TRANSFER_WRITE_BIT,
                     VK_ACCESS_SHADER_READ_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
                     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT);
    }
    record_dispatches(cb, rec, &t, n_barriers);
    if (rec->n_out) {
        copy_barrier(cb, rec->out, rec->n_out, 0, VK_ACCESS_SHADER_WRITE_BIT,
                     VK_ACCESS_TRANSFER_READ_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                     VK_PIPELINE_STAGE_TRANSFER_BIT);
        record_copies(cb, rec->out, rec->n_out);
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
        vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
                             &mb, 0, NULL, 0, NULL);
    }
    VD_VK_CHECK(vkEndCommandBuffer(cb));
fail:
    vd_free(t.w);
    vd_free(t.r);
    return st;
}

vkdetr_status vd_vk_submit_wait(vd_vk_device *d, VkCommandBuffer cb, VkFence fence,
                                int counts[2]) {
    vkdetr_status st = VKDETR_OK;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &cb};
    pthread_mutex_lock(&d->queue_lock);
    VkResult r = vkQueueSubmit(d->queue, 1, &si, fence);
    pthread_mutex_unlock(&d->queue_lock);
    if (r != VK_SUCCESS) {
        st = vd_vk_status(r, "vkQueueSubmit");
        goto fail;
    }
    if (counts) counts[0]++;
    r = vkWaitForFences(d->dev, 1, &fence, VK_TRUE, UINT64_MAX);
    if (counts) counts[1]++;
    VD_VK_CHECK(r);
    VD_VK_CHECK(vkResetFences(d->dev, 1, &fence));
fail:
    return st;
}
