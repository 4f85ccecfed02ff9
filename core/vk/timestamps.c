/* Timestamp queries around the dispatches of each node, for profiles. A queue whose
 * timestampValidBits is 0 has none; the backend then says so in the profile. */
#include <string.h>

#include "core/vk/vk_internal.h"

int vd_vk_timestamps_supported(const vd_vk_device *d) {
    return d->timestamp_bits > 0 && d->props.limits.timestampPeriod > 0;
}

vkdetr_status vd_vk_timestamps_create(vd_vk_device *d, uint32_t n, vd_vk_timestamps *ts) {
    vkdetr_status st = VKDETR_OK;
    memset(ts, 0, sizeof *ts);
    if (n == 0) n = 2;
    ts->ticks = vd_calloc(n, sizeof *ts->ticks);
    if (!ts->ticks) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory for timestamps");
    VkQueryPoolCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                 .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                 .queryCount = n};
    VD_VK_CHECK(vkCreateQueryPool(d->dev, &qci, NULL, &ts->pool));
    ts->n = n;
    ts->mask = d->timestamp_bits >= 64 ? ~0ull : (1ull << d->timestamp_bits) - 1;
    ts->ns_per_tick = d->props.limits.timestampPeriod;
    return VKDETR_OK;
fail:
    vd_vk_timestamps_destroy(d, ts);
    return st;
}

void vd_vk_timestamps_destroy(vd_vk_device *d, vd_vk_timestamps *ts) {
    if (ts->pool) vkDestroyQueryPool(d->dev, ts->pool, NULL);
    vd_free(ts->ticks);
    memset(ts, 0, sizeof *ts);
}

void vd_vk_timestamps_reset(VkCommandBuffer cb, const vd_vk_timestamps *ts) {
    vkCmdResetQueryPool(cb, ts->pool, 0, ts->n);
}

/* Written once every earlier command has finished its compute work: the interval between
 * two queries is the device time of the commands recorded between them. */
void vd_vk_timestamps_write(VkCommandBuffer cb, const vd_vk_timestamps *ts, uint32_t query) {
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, ts->pool, query);
}

vkdetr_status vd_vk_timestamps_read(vd_vk_device *d, vd_vk_timestamps *ts) {
    vkdetr_status st = VKDETR_OK;
    VD_VK_CHECK(vkGetQueryPoolResults(d->dev, ts->pool, 0, ts->n, ts->n * sizeof *ts->ticks,
                                      ts->ticks, sizeof *ts->ticks,
                                      VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
fail:
    return st;
}

double vd_vk_timestamps_ms(const vd_vk_timestamps *ts, uint32_t from, uint32_t to) {
    uint64_t a = ts->ticks[from] & ts->mask, b = ts->ticks[to] & ts->mask;
    uint64_t dt = (b - a) & ts->mask; /* wraps within the valid bits */
    return (double)dt * ts->ns_per_tick * 1e-6;
}
