/* Internals of the Vulkan backend, shared by the files of core/vk/ (one concept each):
 *
 *   instance.c     configuration (the environment, read once), instance, validation layer,
 *                  device selection, logical device and queue
 *   memory.c       buffers, memory types, uploads, packing tensors under the range limits
 *   weights.c      the model's weights on the device, uploaded once per backend
 *   pipeline.c     shader modules and compute pipelines, created lazily, on-disk cache
 *   descriptors.c  descriptor pools and sets
 *   command.c      recording a planned graph: dispatches, the barriers they need, copies
 *   timestamps.c   timestamp queries for per-node profiles
 *   backend.c      vd_backend_iface: plan a graph, record it once, run it
 *   op_<name>.c    one planning function per op: shader, bindings, push constants, groups
 *
 * Thread safety: a backend is shared by the sessions of a model; its weight table, pipeline
 * table and queue each have a mutex. Everything in an executor belongs to its session. */
#ifndef VD_VK_INTERNAL_H
#define VD_VK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

#include "core/backend.h"
#include "vk_shaders.h"

#define VD_VK_MAX_BINDINGS 8  /* storage buffers per dispatch, inputs first then outputs */
#define VD_VK_MAX_SPEC 4      /* specialisation constants, ids 0..3; id 0 is the fp16 mask */
#define VD_VK_PUSH_MAX 128    /* bytes of push constants, the smallest limit devices have */
#define VD_VK_MAX_GROUPS 65535u /* workgroups per grid dimension every device supports */

#define VD_VK_PUSH_CHECK(type) \
    _Static_assert(sizeof(type) <= VD_VK_PUSH_MAX, #type " exceeds 128 bytes of push constants")

/* ---- errors ----------------------------------------------------------------------------
 * Every VkResult becomes a status in one place: out of host/device memory -> NO_MEMORY,
 * device lost -> DEVICE_LOST, anything else -> BACKEND; the message names the call. */
vkdetr_status vd_vk_status(VkResult r, const char *call);
const char *vd_vk_result_name(VkResult r);

/* Needs `vkdetr_status st` and a `fail:` label in the calling function. */
#define VD_VK_CHECK(call)                                   \
    do {                                                    \
        VkResult vd_vk_r_ = (call);                         \
        if (vd_vk_r_ != VK_SUCCESS) {                       \
            st = vd_vk_status(vd_vk_r_, #call);             \
            goto fail;                                      \
        }                                                   \
    } while (0)

/* ---- configuration (instance.c) ----------------------------------------------------------
 * The only place the Vulkan backend reads the environment, once per backend creation:
 *   VKDETR_DEVICE      device index or case-insensitive name substring
 *   VKDETR_VALIDATION  1: enable VK_LAYER_KHRONOS_validation (with synchronisation
 *                      validation) when installed; messages go to the log
 *   XDG_CACHE_HOME, HOME  where the pipeline cache lives */
typedef struct vd_vk_config {
    char device[256];     /* "" when unset */
    int validation;
    char cache_dir[1024]; /* "$XDG_CACHE_HOME/vkdetr", else "$HOME/.cache/vkdetr", else "" */
} vd_vk_config;

void vd_vk_config_read(vd_vk_config *cfg);

/* ---- instance and device (instance.c) ---------------------------------------------------- */
typedef struct vd_vk_device {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger; /* with validation only */
    atomic_int validation_errors;       /* error messages from the validation layer */
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    pthread_mutex_t queue_lock; /* vkQueueSubmit needs external synchronisation */
    int queue_lock_init;
    uint32_t timestamp_bits;    /* 0: no timestamps on the queue */
    int has_fp16;               /* storageBuffer16BitAccess and shaderFloat16 */
    int fp16;                   /* fp16 storage enabled on this device */
    VkDeviceSize max_range;     /* maxStorageBufferRange */
    VkDeviceSize max_alloc;     /* maxMemoryAllocationSize */
    VkDeviceSize align;         /* descriptor offsets: max(minStorageBufferOffsetAlignment, 64) */
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
} vd_vk_device;

/* Opens the device named by `device` (index or name substring; NULL or "": cfg->device,
 * then the first discrete, integrated or virtual GPU; CPU devices only when named).
 * want_fp16: 1 enables fp16 storage when the device has it, 2 requires it (UNSUPPORTED
 * otherwise). On failure d is left closed. */
vkdetr_status vd_vk_device_open(const vd_vk_config *cfg, const char *device, int want_fp16,
                                vd_vk_device *d);
void vd_vk_device_close(vd_vk_device *d);

/* ---- memory (memory.c) -------------------------------------------------------------------- */
typedef enum vd_vk_mem {
    VD_VK_MEM_DEVICE = 0, /* storage buffer in device-local memory (mapped when host-visible) */
    VD_VK_MEM_STAGING     /* host-visible transfer source and destination, persistently mapped */
} vd_vk_mem;

typedef struct vd_vk_buffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map;    /* host pointer when the memory is host-visible, else NULL */
    int coherent; /* host-coherent: no flush/invalidate needed */
} vd_vk_buffer;

/* size 0 is rounded up to 16 bytes. `what` names the buffer in error messages. */
vkdetr_status vd_vk_buffer_create(vd_vk_device *d, VkDeviceSize size, vd_vk_mem kind,
                                  const char *what, vd_vk_buffer *b);
void vd_vk_buffer_destroy(vd_vk_device *d, vd_vk_buffer *b); /* accepts a zeroed buffer */
/* For non-coherent mapped memory: make host writes visible to the device / device writes
 * visible to the host. No-ops on coherent memory. */
vkdetr_status vd_vk_buffer_flush(vd_vk_device *d, const vd_vk_buffer *b);
vkdetr_status vd_vk_buffer_invalidate(vd_vk_device *d, const vd_vk_buffer *b);

/* One tensor's data to place in device memory: n 32-bit elements, stored as fp16 when f16
 * (the host data is fp32 then). */
typedef struct vd_vk_upload_item {
    const void *data;
    size_t n;
    int f16;
    vd_vk_buffer *dst;
    VkDeviceSize offset;
} vd_vk_upload_item;

/* Writes the items (setup time, not per run): directly into mapped memory, or through a
 * staging buffer and copies on the queue; returns when the data is on the device. */
vkdetr_status vd_vk_upload(vd_vk_device *d, const vd_vk_upload_item *items, int n_items);

/* Assigns n blobs of the given sizes to buffers: offsets aligned to `align`, no buffer
 * larger than `limit`. Writes buf_of[i], off_of[i] and the sizes of the buffers (at most n)
 * to buf_size, their count to *n_bufs. A blob larger than limit gives UNSUPPORTED, naming
 * blob `names[i]` when names is not NULL. */
vkdetr_status vd_vk_pack(const VkDeviceSize *sizes, int n, VkDeviceSize align,
                         VkDeviceSize limit, const char *const *names, int *buf_of,
                         VkDeviceSize *off_of, VkDeviceSize *buf_size, int *n_bufs);

/* "12.0 MB", "3.5 KB", "40 bytes" into buf; returns buf. */
const char *vd_vk_size_str(VkDeviceSize bytes, char *buf, size_t size);

/* Bytes a tensor takes on the device: 2 per element for fp16 storage, else 4. */
static inline VkDeviceSize vd_vk_tensor_bytes(const vd_tensor *t, int f16) {
    return (VkDeviceSize)vd_nelements(t) * (f16 ? 2u : 4u);
}

/* ---- a tensor on the device ------------------------------------------------------------- */
typedef struct vd_vk_tensor {
    VkBuffer buf;             /* VK_NULL_HANDLE: absent (an optional input) */
    VkDeviceSize offset;      /* bytes; a multiple of the descriptor offset alignment */
    VkDeviceSize size;        /* bytes bound */
    int f16;                  /* stored as fp16 */
    int tracked;              /* written during a run (activations, scratch): needs barriers */
} vd_vk_tensor;

/* ---- weights (weights.c) -----------------------------------------------------------------
 * The weight leaves (VD_TENSOR_WEIGHT) graphs of this backend read, each uploaded once, in
 * buffers below the device's range limits; found by tensor address. */
typedef struct vd_vk_weights {
    pthread_mutex_t lock;
    int lock_init;
    vd_vk_buffer **bufs;
    int n_bufs;
    struct vd_vk_weight_slot *slots; /* open addressing, capacity a power of two */
    int cap, count;
    unsigned batch;
    VkDeviceSize limit;              /* largest weight buffer (maxStorageBufferRange etc.) */
    VkDeviceSize bytes;              /* uploaded, for statistics */
} vd_vk_weights;

vkdetr_status vd_vk_weights_init(vd_vk_weights *w, VkDeviceSize limit);
void vd_vk_weights_free(vd_vk_device *d, vd_vk_weights *w);
/* Uploads the weights g reads that are not on the device yet (thread-safe). */
vkdetr_status vd_vk_weights_add(vd_vk_device *d, vd_vk_weights *w, const vd_graph *g);
/* The placement of weight t; 0 if absent (thread-safe). */
int vd_vk_weights_find(vd_vk_weights *w, const vd_tensor *t, vd_vk_tensor *out);

/* ---- pipelines (pipeline.c) --------------------------------------------------------------
 * One descriptor set layout (VD_VK_MAX_BINDINGS storage buffers) and one pipeline layout
 * (128 bytes of push constants) serve every kernel. Pipelines are keyed by shader, storage
 * variant and specialisation constants, created on first use, and go through a
 * VkPipelineCache loaded from and saved to
 * <cache_dir>/pipeline-<vendor>-<device>-<driver>.bin. */
typedef struct vd_vk_pipelines {
    pthread_mutex_t lock;
    int lock_init;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipelineCache cache;
    VkShaderModule modules[VD_VK_SHADER_COUNT][2];
    struct vd_vk_pipeline_entry *items;
    int n, cap;
    char cache_path[1200]; /* "" when there is no cache directory */
    int cache_loaded;      /* 1 when a valid cache file was read */
} vd_vk_pipelines;

vkdetr_status vd_vk_pipelines_init(vd_vk_device *d, const char *cache_dir, vd_vk_pipelines *p);
/* Saves the cache (temp file + rename; failures are logged at debug level) and frees. */
void vd_vk_pipelines_free(vd_vk_device *d, vd_vk_pipelines *p);
vkdetr_status vd_vk_pipeline_get(vd_vk_device *d, vd_vk_pipelines *p, vd_vk_shader shader,
                                 int f16, const uint32_t spec[VD_VK_MAX_SPEC], VkPipeline *out);

/* ---- descriptors (descriptors.c) ---------------------------------------------------------- */
vkdetr_status vd_vk_descriptors_alloc(vd_vk_device *d, VkDescriptorSetLayout layout,
                                      uint32_t n_sets, VkDescriptorPool *pool,
                                      VkDescriptorSet *sets);
/* Points the VD_VK_MAX_BINDINGS bindings of set at b[0..n-1]; absent and unused bindings
 * at `dummy` (never accessed by the kernel). */
void vd_vk_descriptors_write(vd_vk_device *d, VkDescriptorSet set, const vd_vk_tensor *b, int n,
                             VkBuffer dummy);

/* ---- planned work ------------------------------------------------------------------------- */
typedef struct vd_vk_dispatch {
    int node;       /* graph node id */
    VkPipeline pipe;
    int n_bind;
    vd_vk_tensor bind[VD_VK_MAX_BINDINGS];
    uint32_t writes; /* bit b: binding b is written */
    int barrier_before; /* depends on the previous dispatch of the same node */
    uint32_t groups[3];
    uint32_t push_size;
    uint8_t push[VD_VK_PUSH_MAX];
    VkDescriptorSet set;
} vd_vk_dispatch;

typedef struct vd_vk_copy {
    VkBuffer src, dst;
    VkDeviceSize src_offset, dst_offset, size;
} vd_vk_copy;

/* ---- timestamps (timestamps.c) ------------------------------------------------------------ */
typedef struct vd_vk_timestamps {
    VkQueryPool pool;
    uint32_t n;           /* queries */
    uint64_t mask;        /* valid bits */
    double ns_per_tick;   /* timestampPeriod */
    uint64_t *ticks;      /* [n], filled by vd_vk_timestamps_read */
} vd_vk_timestamps;

/* 1 when the device's queue writes timestamps (timestampValidBits > 0). */
int vd_vk_timestamps_supported(const vd_vk_device *d);
vkdetr_status vd_vk_timestamps_create(vd_vk_device *d, uint32_t n, vd_vk_timestamps *ts);
void vd_vk_timestamps_destroy(vd_vk_device *d, vd_vk_timestamps *ts);
void vd_vk_timestamps_reset(VkCommandBuffer cb, const vd_vk_timestamps *ts);
void vd_vk_timestamps_write(VkCommandBuffer cb, const vd_vk_timestamps *ts, uint32_t query);
vkdetr_status vd_vk_timestamps_read(vd_vk_device *d, vd_vk_timestamps *ts);
/* Milliseconds between two queries read by vd_vk_timestamps_read. */
double vd_vk_timestamps_ms(const vd_vk_timestamps *ts, uint32_t from, uint32_t to);

/* ---- recording (command.c) ---------------------------------------------------------------- */
typedef struct vd_vk_recording {
    const vd_vk_dispatch *disp;
    int n_disp;
    const vd_vk_copy *in; /* staging -> device before the dispatches */
    int n_in;
    const vd_vk_copy *out; /* device -> staging after them */
    int n_out;
    VkPipelineLayout layout;
    /* With timestamps: queries 2q and 2q+1 bracket the dispatches of the q-th node that has
     * any (node_query[node] = q, -1 for nodes without dispatches). */
    const vd_vk_timestamps *ts;
    const int *node_query;
} vd_vk_recording;

/* Records the whole graph into cb (begun and ended here). Between dispatches it inserts a
 * pipeline barrier only where one depends on memory an earlier one wrote, or writes memory
 * an earlier one still reads, since the last barrier; *n_barriers counts them. */
vkdetr_status vd_vk_record(vd_vk_device *d, VkCommandBuffer cb, const vd_vk_recording *rec,
                           int *n_barriers);

/* Submits cb once and waits for it once (queue lock held only around the submit); adds the
 * submissions and host waits made to counts[0] and counts[1] (counts may be NULL). */
vkdetr_status vd_vk_submit_wait(vd_vk_device *d, VkCommandBuffer cb, VkFence fence,
                                int counts[2]);

/* ---- op planning (backend.c provides, op_<name>.c use) ------------------------------------ */
typedef struct vd_vk_plan vd_vk_plan;

/* One dispatch of the node being planned. */
typedef struct vd_vk_call {
    vd_vk_shader shader;
    uint32_t spec[VD_VK_MAX_SPEC]; /* spec[0] is filled in from the bindings' f16 flags */
    int n_bind;
    vd_vk_tensor bind[VD_VK_MAX_BINDINGS]; /* inputs first, then outputs */
    uint32_t writes;                        /* bit b: binding b is written */
    const void *push;                       /* the kernel's push-constant block */
    uint32_t push_size;
    uint32_t groups[3];
    int barrier_before; /* reads what the previous dispatch of this node wrote */
} vd_vk_call;

const vd_vk_device *vd_vk_plan_device(const vd_vk_plan *p);
/* Where t lives (follows views; weights from the weight table). A NULL t is absent. */
vd_vk_tensor vd_vk_plan_tensor(vd_vk_plan *p, const vd_tensor *t);
/* [offset, offset + size) of the executor's scratch buffer (sized by the ops' scratch
 * functions before planning). */
vd_vk_tensor vd_vk_plan_scratch(vd_vk_plan *p, VkDeviceSize offset, VkDeviceSize size);
/* Adds a dispatch (creating its pipeline if this backend has not yet). */
vkdetr_status vd_vk_plan_call(vd_vk_plan *p, const vd_vk_call *c);

/* Spreads n_groups over (x, y) with x <= VD_VK_MAX_GROUPS; kernels use vd_group_id(). */
void vd_vk_groups_1d(uint64_t n_groups, uint32_t groups[3]);

typedef struct vd_vk_op {
    vkdetr_status (*plan)(vd_vk_plan *p, const vd_tensor *t); /* NULL: nothing to run */
    VkDeviceSize (*scratch)(const vd_tensor *t);              /* NULL: none */
} vd_vk_op;

vkdetr_status vd_vk_plan_conv2d(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_linear(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_unary(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_binary(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_pool2d(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_upsample(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_concat(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_slice(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_permute(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_layer_norm(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_softmax(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_attention(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_msda(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_reduce_max(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_topk(vd_vk_plan *p, const vd_tensor *t);
VkDeviceSize vd_vk_topk_scratch(const vd_tensor *t);
vkdetr_status vd_vk_plan_gather(vd_vk_plan *p, const vd_tensor *t);
vkdetr_status vd_vk_plan_box_refine(vd_vk_plan *p, const vd_tensor *t);

/* A strided copy (shaders/copy.comp) over an iteration space of up to 6 dims, outermost
 * first: element (i0..i5) goes from src[sbase + sum i*ss] to dst[dbase + sum i*ds]
 * (element units). Used by slice, permute, concat and upsample (op_copy.c). */
typedef struct vd_vk_copy_desc {
    int ndim;
    int64_t ne[6];
    int64_t ss[6], ds[6];
    int64_t sbase, dbase;
} vd_vk_copy_desc;
vkdetr_status vd_vk_plan_copy(vd_vk_plan *p, const vd_tensor *src, const vd_tensor *dst,
                              const vd_vk_copy_desc *c);

/* Row-major strides of t in elements, padded on the left to 4 dims (ne and stride). */
void vd_vk_shape4(const vd_tensor *t, int64_t ne[4], int64_t stride[4]);

#endif
