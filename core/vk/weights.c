/* The model's weights on the device: uploaded once per backend, the first time a graph
 * reads them, packed into buffers each below maxStorageBufferRange and
 * maxMemoryAllocationSize, and found again by tensor address. Weights are fp16 on devices
 * running fp16 storage, else fp32. The table is shared by the sessions of a model and
 * guarded by a mutex (sessions may be created from several threads at once). */
#include <string.h>

#include "core/vk/vk_internal.h"

struct vd_vk_weight_slot {
    const vd_tensor *t; /* NULL: empty */
    vd_vk_tensor place; /* buf VK_NULL_HANDLE: not uploaded (yet, or a failed batch) */
    unsigned batch;     /* the vd_vk_weights_add call that listed it last */
};

static size_t hash_ptr(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

/* The slot holding t, or the empty slot where it would go. cap must be > count. */
static struct vd_vk_weight_slot *slot(struct vd_vk_weight_slot *slots, int cap, const vd_tensor *t) {
    size_t i = hash_ptr(t) & (size_t)(cap - 1);
    while (slots[i].t && slots[i].t != t) i = (i + 1) & (size_t)(cap - 1);
    return &slots[i];
}

/* Rebuilds the table with capacity cap. */
static vkdetr_status rehash(vd_vk_weights *w, int cap) {
    struct vd_vk_weight_slot *slots = vd_calloc((size_t)cap, sizeof *slots);
    if (!slots) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory in the Vulkan weight table");
    int count = 0;
    for (int i = 0; i < w->cap; i++) {
        if (!w->slots[i].t) continue;
        *slot(slots, cap, w->slots[i].t) = w->slots[i];
        count++;
    }
    vd_free(w->slots);
    w->slots = slots;
    w->cap = cap;
    w->count = count;
    return VKDETR_OK;
}

vkdetr_status vd_vk_weights_init(vd_vk_weights *w, VkDeviceSize limit) {
    memset(w, 0, sizeof *w);
    w->limit = limit;
    w->cap = 256;
    w->slots = vd_calloc((size_t)w->cap, sizeof *w->slots);
    if (!w->slots) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory creating a Vulkan backend");
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        vd_free(w->slots);
        w->slots = NULL;
        return vd_error(VKDETR_ERR_NO_MEMORY, "vulkan: cannot create a mutex");
    }
    w->lock_init = 1;
    return VKDETR_OK;
}

void vd_vk_weights_free(vd_vk_device *d, vd_vk_weights *w) {
    for (int i = 0; i < w->n_bufs; i++) {
        vd_vk_buffer_destroy(d, w->bufs[i]);
        vd_free(w->bufs[i]);
    }
    vd_free(w->bufs);
    vd_free(w->slots);
    if (w->lock_init) pthread_mutex_destroy(&w->lock);
    memset(w, 0, sizeof *w);
}

int vd_vk_weights_find(vd_vk_weights *w, const vd_tensor *t, vd_vk_tensor *out) {
    pthread_mutex_lock(&w->lock);
    struct vd_vk_weight_slot *s = slot(w->slots, w->cap, t);
    int found = s->t == t && s->place.buf != VK_NULL_HANDLE;
    if (found) *out = s->place;
    pthread_mutex_unlock(&w->lock);
    return found;
}

/* Lists the weights of g not on the device yet in *out, each once. */
static vkdetr_status collect_new(vd_vk_weights *w, const vd_graph *g, const vd_tensor ***out,
                                 int *n_out) {
    const vd_tensor **list = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const vd_tensor *node = g->nodes[i];
        for (int s = 0; s < node->n_src; s++) {
            const vd_tensor *t = node->src[s];
            if (!t || !(t->flags & VD_TENSOR_WEIGHT) || t->op != VD_OP_LEAF) continue;
            if ((w->count + 1) * 2 > w->cap && rehash(w, w->cap * 2)) goto oom;
            struct vd_vk_weight_slot *sl = slot(w->slots, w->cap, t);
            if (sl->t && (sl->place.buf || sl->batch == w->batch)) continue;
            if (!t->data) {
                vd_free(list);
                *out = NULL;
                return vd_error(VKDETR_ERR_INTERNAL, "vulkan: weight %s has no data",
                                t->name ? t->name : "?");
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                const vd_tensor **l = vd_realloc(list, (size_t)cap * sizeof *l);
                if (!l) goto oom;
                list = l;
            }
            if (!sl->t) {
                sl->t = t;
                memset(&sl->place, 0, sizeof sl->place);
                w->count++;
            }
            sl->batch = w->batch;
            list[n++] = t;
        }
    }
    *out = list;
    *n_out = n;
    return VKDETR_OK;
oom:
    vd_free(list);
    *out = NULL;
    return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory listing weights");
}

static vkdetr_status upload_new(vd_vk_device *d, vd_vk_weights *w, const vd_tensor **list,
                                int n) {
    vkdetr_status st = VKDETR_OK;
    VkDeviceSize *sizes = vd_calloc((size_t)n, sizeof *sizes);
    VkDeviceSize *offs = vd_calloc((size_t)n, sizeof *offs);
    VkDeviceSize *buf_size = vd_calloc((size_t)n, sizeof *buf_size);
    int *buf_of = vd_calloc((size_t)n, sizeof *buf_of);
    const char **names = vd_calloc((size_t)n, sizeof *names);
    vd_vk_upload_item *items = vd_calloc((size_t)n, sizeof *items);
    int n_bufs = 0, first = w->n_bufs;
    if (!sizes || !offs || !buf_size || !buf_of || !names || !items) {
        st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory uploading weights");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        sizes[i] = vd_vk_tensor_bytes(list[i], d->fp16 && list[i]->type == VD_F32);
        names[i] = list[i]->name;
    }
    st = vd_vk_pack(sizes, n, d->align, w->limit, names, buf_of, offs, buf_size, &n_bufs);
    if (st) goto fail;
    vd_vk_buffer **bufs = vd_realloc(w->bufs, (size_t)(w->n_bufs + n_bufs) * sizeof *bufs);
    if (!bufs) {
        st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory uploading weights");
        goto fail;
    }
    w->bufs = bufs;
    for (int b = 0; b < n_bufs; b++) {
        vd_vk_buffer *buf = vd_calloc(1, sizeof *buf);
        if (!buf) {
            st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory uploading weights");
            goto fail;
        }
        st = vd_vk_buffer_create(d, buf_size[b], VD_VK_MEM_DEVICE, "weights", buf);
        if (st) {
            vd_free(buf);
            goto fail;
        }
        w->bufs[w->n_bufs++] = buf;
    }
    for (int i = 0; i < n; i++) {
        int f16 = d->fp16 && list[i]->type == VD_F32;
        items[i] = (vd_vk_upload_item){list[i]->data, (size_t)vd_nelements(list[i]), f16,
                                       w->bufs[first + buf_of[i]], offs[i]};
    }
    st = vd_vk_upload(d, items, n);
    if (st) goto fail;
    for (int i = 0; i < n; i++) {
        struct vd_vk_weight_slot *sl = slot(w->slots, w->cap, list[i]);
        sl->place = (vd_vk_tensor){items[i].dst->buf, offs[i], (sizes[i] + 3) & ~(VkDeviceSize)3,
                                   items[i].f16, 0};
        w->bytes += sizes[i];
    }
    if (n) vd_log_debug("vulkan: uploaded %d weights in %d buffers (%llu KB in all)", n, n_bufs,
                        (unsigned long long)(w->bytes >> 10));
fail:
    if (st) { /* give back the buffers of this batch */
        while (w->n_bufs > first) {
            vd_vk_buffer *buf = w->bufs[--w->n_bufs];
            vd_vk_buffer_destroy(d, buf);
            vd_free(buf);
        }
    }
    vd_free(sizes);
    vd_free(offs);
    vd_free(buf_size);
    vd_free(buf_of);
    vd_free(names);
    vd_free(items);
    return st;
}

vkdetr_status vd_vk_weights_add(vd_vk_device *d, vd_vk_weights *w, const vd_graph *g) {
    pthread_mutex_lock(&w->lock);
    const vd_tensor **list = NULL;
    int n = 0;
    w->batch++;
    /* after a failure the listed entries stay without placement and are listed again by
     * the next call */
    vkdetr_status st = collect_new(w, g, &list, &n);
    if (!st && n > 0) st = upload_new(d, w, list, n);
    vd_free(list);
    pthread_mutex_unlock(&w->lock);
    return st;
}
