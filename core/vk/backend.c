/* The Vulkan backend: vd_backend_iface on top of the other files of core/vk/.
 *
 * exec_create (once per session and input size):
 *   1. upload the weights the graph reads that are not on the device yet (once per backend)
 *   2. plan activations with vd_graph_plan (liveness-based reuse) into ONE device buffer;
 *      choose each tensor's storage type (fp16 mode: fp16 except where precision matters)
 *   3. upload the graph's constants; size the scratch buffer
 *   4. plan every node: its op file picks kernels, bindings, push constants and grids
 *      (pipelines created lazily, the first time any session of the backend needs them)
 *   5. allocate and write one descriptor set per dispatch
 *   6. record ONE command buffer for the whole graph (a second with timestamp queries when
 *      the device has them, used by profiled runs)
 * run: the caller's inputs are already in the persistent staging buffer (write); one
 * submit, one fence wait; outputs are then in staging (read). Nothing is allocated or
 * created per run. */
#include <stdio.h>
#include <string.h>

#include "core/half.h"
#include "core/ops.h"
#include "core/vk/vk.h"
#include "core/vk/vk_internal.h"

typedef struct vk_backend {
    vd_backend base;
    vd_vk_config cfg;
    vd_vk_device dev;
    vd_vk_pipelines pipes;
    vd_vk_weights weights;
    vd_vk_buffer dummy; /* bound to the bindings a kernel does not use */
} vk_backend;

typedef struct node_place {
    vd_vk_tensor dev;     /* where the node's data lives (views: their storage) */
    VkDeviceSize staging; /* inputs and outputs: offset in the staging buffer */
    int has_staging;
} node_place;

struct vd_exec {
    vk_backend *be;
    vd_graph *g;
    node_place *place;   /* [n_nodes] */
    uint8_t *f16;        /* [n_nodes] storage is fp16 */
    int *node_query;     /* [n_nodes] timestamp pair, -1: no dispatches */
    vd_vk_buffer act, scratch, staging;
    vd_vk_buffer *consts;
    int n_consts;
    vd_vk_dispatch *disp;
    int n_disp, cap_disp;
    vd_vk_copy *in, *out;
    int n_in, n_out;
    VkDescriptorPool dpool;
    VkCommandPool cpool;
    VkCommandBuffer cb, cb_prof;
    VkFence fence;
    vd_vk_timestamps ts;
    int has_ts, n_barriers;
};

struct vd_vk_plan {
    vd_exec *ex;
    int node;
    vkdetr_status st; /* first error of the node's planning */
};

static const vd_backend_iface vk_iface;

/* ---- helpers for the op files ---------------------------------------------------------- */

void vd_vk_groups_1d(uint64_t n_groups, uint32_t groups[3]) {
    if (n_groups == 0) n_groups = 1;
    uint64_t x = n_groups < VD_VK_MAX_GROUPS ? n_groups : VD_VK_MAX_GROUPS;
    groups[0] = (uint32_t)x;
    groups[1] = (uint32_t)((n_groups + x - 1) / x);
    groups[2] = 1;
}

void vd_vk_shape4(const vd_tensor *t, int64_t ne[4], int64_t stride[4]) {
    int pad = VD_MAX_DIMS - t->ndim;
    for (int i = 0; i < VD_MAX_DIMS; i++) ne[i] = i < pad ? 1 : t->ne[i - pad];
    int64_t s = 1;
    for (int i = VD_MAX_DIMS - 1; i >= 0; i--) {
        stride[i] = s;
        s *= ne[i];
    }
}

const vd_vk_device *vd_vk_plan_device(const vd_vk_plan *p) { return &p->ex->be->dev; }

vd_vk_tensor vd_vk_plan_tensor(vd_vk_plan *p, const vd_tensor *t) {
    vd_vk_tensor none = {0};
    if (!t) return none;
    if (t->id >= 0 && t->id < p->ex->g->n_nodes && p->ex->g->nodes[t->id] == t)
        return p->ex->place[t->id].dev;
    vd_vk_tensor w;
    if ((t->flags & VD_TENSOR_WEIGHT) && vd_vk_weights_find(&p->ex->be->weights, t, &w)) return w;
    if (p->st == VKDETR_OK)
        p->st = vd_error(VKDETR_ERR_INTERNAL, "vulkan: tensor %s of node %d is not in the graph",
                         t->name ? t->name : "?", p->node);
    return none;
}

vd_vk_tensor vd_vk_plan_scratch(vd_vk_plan *p, VkDeviceSize offset, VkDeviceSize size) {
    const vd_vk_buffer *s = &p->ex->scratch;
    vd_vk_tensor r = {s->buf, offset, size, 0, 1};
    if (!s->buf || offset + size > s->size) {
        if (p->st == VKDETR_OK) p->st = vd_error(VKDETR_ERR_INTERNAL, "vulkan: scratch overflow");
        memset(&r, 0, sizeof r);
    }
    return r;
}

vkdetr_status vd_vk_plan_call(vd_vk_plan *p, const vd_vk_call *c) {
    vd_exec *ex = p->ex;
    vd_vk_device *d = &ex->be->dev;
    if (p->st) return p->st;
    if (c->push_size > VD_VK_PUSH_MAX || c->n_bind > VD_VK_MAX_BINDINGS)
        return p->st = vd_error(VKDETR_ERR_INTERNAL, "vulkan: bad dispatch");
    for (int i = 0; i < 3; i++)
        if (c->groups[i] == 0 || c->groups[i] > d->props.limits.maxComputeWorkGroupCount[i])
            return p->st = vd_error(VKDETR_ERR_UNSUPPORTED, "vulkan: %s of node %d needs %u "
                                    "workgroups in dimension %d; %s allows %u",
                                    vd_vk_shaders[c->shader].name, p->node, c->groups[i], i,
                                    d->name, d->props.limits.maxComputeWorkGroupCount[i]);
    if (ex->n_disp == ex->cap_disp) {
        int cap = ex->cap_disp ? ex->cap_disp * 2 : 256;
        vd_vk_dispatch *disp = vd_realloc(ex->disp, (size_t)cap * sizeof *disp);
        if (!disp) return p->st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory planning a graph");
        ex->disp = disp;
        ex->cap_disp = cap;
    }
    vd_vk_dispatch *dp = &ex->disp[ex->n_disp];
    memset(dp, 0, sizeof *dp);
    uint32_t spec[VD_VK_MAX_SPEC];
    memcpy(spec, c->spec, sizeof spec);
    spec[0] = 0;
    for (int i = 0; i < c->n_bind; i++)
        if (c->bind[i].buf && c->bind[i].f16) spec[0] |= 1u << i;
    /* absent bindings are never read, so their bit is free: set it in fp16 pipelines, so
     * that e.g. conv2d with and without bias share one pipeline */
    if (spec[0])
        for (int i = 0; i < VD_VK_MAX_BINDINGS; i++)
            if (i >= c->n_bind || !c->bind[i].buf) spec[0] |= 1u << i;
    /* the fp16-storage build of a kernel only where a binding is fp16 */
    vkdetr_status st = vd_vk_pipeline_get(d, &ex->be->pipes, c->shader, spec[0] != 0, spec,
                                          &dp->pipe);
    if (st) return p->st = st;
    dp->node = p->node;
    dp->n_bind = c->n_bind;
    memcpy(dp->bind, c->bind, sizeof dp->bind);
    dp->writes = c->writes;
    dp->barrier_before = c->barrier_before;
    memcpy(dp->groups, c->groups, sizeof dp->groups);
    dp->push_size = c->push_size;
    if (c->push_size) memcpy(dp->push, c->push, c->push_size);
    ex->n_disp++;
    return VKDETR_OK;
}

static const vd_vk_op vk_ops[VD_OP_COUNT] = {
    [VD_OP_LEAF] = {NULL, NULL},
    [VD_OP_VIEW] = {NULL, NULL},
    [VD_OP_CONV2D] = {vd_vk_plan_conv2d, NULL},
    [VD_OP_LINEAR] = {vd_vk_plan_linear, NULL},
    [VD_OP_UNARY] = {vd_vk_plan_unary, NULL},
    [VD_OP_BINARY] = {vd_vk_plan_binary, NULL},
    [VD_OP_POOL2D] = {vd_vk_plan_pool2d, NULL},
    [VD_OP_UPSAMPLE] = {vd_vk_plan_upsample, NULL},
    [VD_OP_CONCAT] = {vd_vk_plan_concat, NULL},
    [VD_OP_SLICE] = {vd_vk_plan_slice, NULL},
    [VD_OP_PERMUTE] = {vd_vk_plan_permute, NULL},
    [VD_OP_LAYER_NORM] = {vd_vk_plan_layer_norm, NULL},
    [VD_OP_SOFTMAX] = {vd_vk_plan_softmax, NULL},
    [VD_OP_ATTENTION] = {vd_vk_plan_attention, NULL},
    [VD_OP_MSDA] = {vd_vk_plan_msda, NULL},
    [VD_OP_REDUCE_MAX] = {vd_vk_plan_reduce_max, NULL},
    [VD_OP_TOPK] = {vd_vk_plan_topk, vd_vk_topk_scratch},
    [VD_OP_GATHER] = {vd_vk_plan_gather, NULL},
    [VD_OP_BOX_REFINE] = {vd_vk_plan_box_refine, NULL},
};

/* ---- planning ----------------------------------------------------------------------------- */

static void keep_fp32(vd_exec *ex, const vd_tensor *t) {
    if (!t) return;
    const vd_tensor *s = vd_tensor_storage(t);
    if (s->id >= 0 && s->id < ex->g->n_nodes && ex->g->nodes[s->id] == s) ex->f16[s->id] = 0;
}

/* Storage types. fp32 mode: everything 32-bit. fp16 mode: computed F32 tensors are fp16,
 * except what needs full precision: box refinement outputs and the reference points they
 * feed (MSDA and box_refine read them), top-k keys, and graph outputs. Inputs and constants
 * stay fp32 (constants hold anchors with +FLT_MAX). Weights are fp16 (weights.c). */
static void choose_types(vd_exec *ex) {
    vd_graph *g = ex->g;
    int fp16 = ex->be->dev.fp16;
    for (int i = 0; i < g->n_nodes; i++) {
        const vd_tensor *t = g->nodes[i];
        ex->f16[i] = fp16 && t->type == VD_F32 && t->op != VD_OP_LEAF && t->op != VD_OP_VIEW;
    }
    if (!fp16) return;
    for (int i = 0; i < g->n_nodes; i++) {
        const vd_tensor *t = g->nodes[i];
        if (t->flags & VD_TENSOR_OUTPUT) keep_fp32(ex, t);
        if (t->op == VD_OP_BOX_REFINE) {
            ex->f16[i] = 0;
            keep_fp32(ex, t->src[1]);
        } else if (t->op == VD_OP_MSDA) {
            keep_fp32(ex, t->src[3]);
        } else if (t->op == VD_OP_TOPK) {
            keep_fp32(ex, t->src[0]);
        }
    }
}

static vkdetr_status place_consts(vd_exec *ex) {
    vd_graph *g = ex->g;
    vd_vk_device *d = &ex->be->dev;
    vkdetr_status st = VKDETR_OK;
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == VD_OP_LEAF && (g->nodes[i]->flags & VD_TENSOR_CONST)) n++;
    if (n == 0) return VKDETR_OK;
    VkDeviceSize *sizes = vd_calloc((size_t)n, sizeof *sizes);
    VkDeviceSize *offs = vd_calloc((size_t)n, sizeof *offs);
    VkDeviceSize *buf_size = vd_calloc((size_t)n, sizeof *buf_size);
    int *buf_of = vd_calloc((size_t)n, sizeof *buf_of), *ids = vd_calloc((size_t)n, sizeof *ids);
    const char **names = vd_calloc((size_t)n, sizeof *names);
    vd_vk_upload_item *items = vd_calloc((size_t)n, sizeof *items);
    if (!sizes || !offs || !buf_size || !buf_of || !ids || !names || !items) goto oom;
    n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const vd_tensor *t = g->nodes[i];
        if (t->op != VD_OP_LEAF || !(t->flags & VD_TENSOR_CONST)) continue;
        ids[n] = i;
        names[n] = t->name;
        sizes[n++] = vd_nbytes(t);
    }
    VkDeviceSize limit = VD_MIN(d->max_range, d->max_alloc);
    int n_bufs = 0;
    st = vd_vk_pack(sizes, n, d->align, limit, names, buf_of, offs, buf_size, &n_bufs);
    if (st) goto fail;
    ex->consts = vd_calloc((size_t)n_bufs, sizeof *ex->consts);
    if (!ex->consts) goto oom;
    for (; ex->n_consts < n_bufs; ex->n_consts++) {
        st = vd_vk_buffer_create(d, buf_size[ex->n_consts], VD_VK_MEM_DEVICE, "constants",
                                 &ex->consts[ex->n_consts]);
        if (st) goto fail;
    }
    for (int j = 0; j < n; j++) {
        const vd_tensor *t = g->nodes[ids[j]];
        vd_vk_buffer *b = &ex->consts[buf_of[j]];
        items[j] = (vd_vk_upload_item){t->data, (size_t)vd_nelements(t), 0, b, offs[j]};
        ex->place[ids[j]].dev = (vd_vk_tensor){b->buf, offs[j], sizes[j], 0, 0};
    }
    st = vd_vk_upload(d, items, n);
    goto fail;
oom:
    st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory uploading constants");
fail:
    vd_free(sizes);
    vd_free(offs);
    vd_free(buf_size);
    vd_free(buf_of);
    vd_free(ids);
    vd_free(names);
    vd_free(items);
    return st;
}

static vkdetr_status place_nodes(vd_exec *ex) {
    vd_graph *g = ex->g;
    vd_vk_device *d = &ex->be->dev;
    char shape[96];
    for (int i = 0; i < g->n_nodes; i++) {
        const vd_tensor *t = g->nodes[i];
        node_place *pl = &ex->place[i];
        if (t->op == VD_OP_LEAF) {
            if (t->flags & VD_TENSOR_CONST) continue; /* place_consts */
            if (!(t->flags & VD_TENSOR_INPUT))
                return vd_error(VKDETR_ERR_INTERNAL, "vulkan: leaf %s is neither input nor "
                                "constant", t->name ? t->name : "?");
        }
        if (t->op == VD_OP_VIEW) {
            const vd_tensor *s = vd_tensor_storage(t);
            vd_vk_tensor sp;
            if (s->id >= 0 && s->id < g->n_nodes && g->nodes[s->id] == s) {
                sp = ex->place[s->id].dev;
                ex->f16[i] = ex->f16[s->id];
            } else if (!vd_vk_weights_find(&ex->be->weights, s, &sp)) {
                return vd_error(VKDETR_ERR_INTERNAL, "vulkan: view of an unknown tensor");
            }
            pl->dev = sp;
            continue;
        }
        VkDeviceSize size = (vd_vk_tensor_bytes(t, ex->f16[i]) + 3) & ~(VkDeviceSize)3;
        char s1[32], s2[32];
        if (size > d->max_range)
            return vd_error(VKDETR_ERR_UNSUPPORTED, "vulkan: %s output %s needs %s; %s binds at "
                            "most %s per buffer", vd_op_name(t->op),
                            vd_shape_str(t, shape, sizeof shape), vd_vk_size_str(size, s1, sizeof s1),
                            d->name, vd_vk_size_str(d->max_range, s2, sizeof s2));
        pl->dev = (vd_vk_tensor){ex->act.buf, t->offset, size, ex->f16[i], 1};
    }
    return VKDETR_OK;
}

static vkdetr_status plan_staging(vd_exec *ex) {
    vd_graph *g = ex->g;
    VkDeviceSize size = 0;
    int n_in = 0, n_out = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const vd_tensor *t = g->nodes[i];
        if (!(t->flags & (VD_TENSOR_INPUT | VD_TENSOR_OUTPUT))) continue;
        n_in += (t->flags & VD_TENSOR_INPUT) != 0;
        n_out += !(t->flags & VD_TENSOR_INPUT);
        ex->place[i].staging = size;
        ex->place[i].has_staging = 1;
        size += (ex->place[i].dev.size + 63) & ~(VkDeviceSize)63;
    }
    ex->in = vd_calloc((size_t)n_in + 1, sizeof *ex->in);
    ex->out = vd_calloc((size_t)n_out + 1, sizeof *ex->out);
    if (!ex->in || !ex->out) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    vkdetr_status st = vd_vk_buffer_create(&ex->be->dev, size, VD_VK_MEM_STAGING,
                                           "input/output staging", &ex->staging);
    if (st) return st;
    for (int i = 0; i < g->n_nodes; i++) {
        const node_place *pl = &ex->place[i];
        if (!pl->has_staging) continue;
        if (g->nodes[i]->flags & VD_TENSOR_INPUT)
            ex->in[ex->n_in++] = (vd_vk_copy){ex->staging.buf, pl->dev.buf, pl->staging,
                                              pl->dev.offset, pl->dev.size};
        else
            ex->out[ex->n_out++] = (vd_vk_copy){pl->dev.buf, ex->staging.buf, pl->dev.offset,
                                                pl->staging, pl->dev.size};
    }
    return VKDETR_OK;
}

static vkdetr_status plan_nodes(vd_exec *ex) {
    vd_graph *g = ex->g;
    VkDeviceSize scratch = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const vd_tensor *t = g->nodes[i];
        if (vk_ops[t->op].scratch) scratch = VD_MAX(scratch, vk_ops[t->op].scratch(t));
    }
    if (scratch) {
        vkdetr_status st = vd_vk_buffer_create(&ex->be->dev, scratch, VD_VK_MEM_DEVICE,
                                               "scratch", &ex->scratch);
        if (st) return st;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const vd_tensor *t = g->nodes[i];
        if ((unsigned)t->op >= VD_OP_COUNT)
            return vd_error(VKDETR_ERR_INTERNAL, "vulkan: node %d has op %d", i, (int)t->op);
        if (!vk_ops[t->op].plan) continue;
        vd_vk_plan p = {ex, i, VKDETR_OK};
        vkdetr_status st = vk_ops[t->op].plan(&p, t);
        if (!st) st = p.st;
        if (st) {
            char shape[96];
            return vd_error_prefix(st, "vulkan: %s %s (node %d)", vd_op_name(t->op),
                                   vd_shape_str(t, shape, sizeof shape), i);
        }
    }
    return VKDETR_OK;
}

static vkdetr_status record(vd_exec *ex) {
    vd_vk_device *d = &ex->be->dev;
    vkdetr_status st = VKDETR_OK;
    VkDescriptorSet *sets = vd_calloc((size_t)ex->n_disp + 1, sizeof *sets);
    if (!sets) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    st = vd_vk_descriptors_alloc(d, ex->be->pipes.set_layout, (uint32_t)ex->n_disp, &ex->dpool,
                                 sets);
    if (st) goto fail;
    for (int i = 0; i < ex->n_disp; i++) {
        ex->disp[i].set = sets[i];
        vd_vk_descriptors_write(d, sets[i], ex->disp[i].bind, ex->disp[i].n_bind,
                                ex->be->dummy.buf);
    }
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .queueFamilyIndex = d->queue_family};
    VD_VK_CHECK(vkCreateCommandPool(d->dev, &pci, NULL, &ex->cpool));
    VkCommandBuffer cbs[2];
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ex->cpool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 2};
    VD_VK_CHECK(vkAllocateCommandBuffers(d->dev, &ai, cbs));
    ex->cb = cbs[0];
    ex->cb_prof = cbs[1];
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VD_VK_CHECK(vkCreateFence(d->dev, &fci, NULL, &ex->fence));

    for (int i = 0; i < ex->g->n_nodes; i++) ex->node_query[i] = -1;
    vd_vk_recording rec = {ex->disp, ex->n_disp, ex->in,  ex->n_in, ex->out,
                           ex->n_out, ex->be->pipes.layout, NULL, ex->node_query};
    st = vd_vk_record(d, ex->cb, &rec, &ex->n_barriers);
    if (st) goto fail;
    if (vd_vk_timestamps_supported(d)) {
        uint32_t q = 0;
        for (int i = 0; i < ex->n_disp; i++)
            if (ex->node_query[ex->disp[i].node] < 0) ex->node_query[ex->disp[i].node] = (int)q++;
        st = vd_vk_timestamps_create(d, 2 * q, &ex->ts);
        if (st) goto fail;
        rec.ts = &ex->ts;
        int n_barriers;
        st = vd_vk_record(d, ex->cb_prof, &rec, &n_barriers);
        if (st) goto fail;
        ex->has_ts = 1;
    }
fail:
    vd_free(sets);
    return st;
}

static void exec_free(vd_exec *ex) {
    if (!ex) return;
    vd_vk_device *d = &ex->be->dev;
    if (ex->fence) vkDestroyFence(d->dev, ex->fence, NULL);
    if (ex->cpool) vkDestroyCommandPool(d->dev, ex->cpool, NULL);
    if (ex->dpool) vkDestroyDescriptorPool(d->dev, ex->dpool, NULL);
    vd_vk_timestamps_destroy(d, &ex->ts);
    vd_vk_buffer_destroy(d, &ex->act);
    vd_vk_buffer_destroy(d, &ex->scratch);
    vd_vk_buffer_destroy(d, &ex->staging);
    for (int i = 0; i < ex->n_consts; i++) vd_vk_buffer_destroy(d, &ex->consts[i]);
    vd_free(ex->consts);
    vd_free(ex->disp);
    vd_free(ex->in);
    vd_free(ex->out);
    vd_free(ex->place);
    vd_free(ex->f16);
    vd_free(ex->node_query);
    vd_free(ex);
}

static vkdetr_status exec_create(vd_backend *bep, vd_graph *g, int n_threads, vd_exec **out) {
    (void)n_threads;
    vk_backend *be = (vk_backend *)bep;
    *out = NULL;
    if (g->status) return g->status;
    vd_exec *ex = vd_calloc(1, sizeof *ex);
    if (!ex) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory creating a Vulkan session");
    ex->be = be;
    ex->g = g;
    int n = g->n_nodes;
    ex->place = vd_calloc((size_t)n + 1, sizeof *ex->place);
    ex->f16 = vd_calloc((size_t)n + 1, 1);
    ex->node_query = vd_calloc((size_t)n + 1, sizeof *ex->node_query);
    vkdetr_status st = VKDETR_OK;
    if (!ex->place || !ex->f16 || !ex->node_query) {
        st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory creating a Vulkan session");
        goto fail;
    }
    if ((st = vd_vk_weights_add(&be->dev, &be->weights, g))) goto fail;
    if ((st = vd_graph_plan(g, be->dev.align, NULL, NULL))) goto fail;
    choose_types(ex);
    st = vd_vk_buffer_create(&be->dev, g->act_bytes, VD_VK_MEM_DEVICE, "activations", &ex->act);
    if (st) goto fail;
    if ((st = place_consts(ex))) goto fail;
    if ((st = place_nodes(ex))) goto fail;
    if ((st = plan_staging(ex))) goto fail;
    if ((st = plan_nodes(ex))) goto fail;
    if ((st = record(ex))) goto fail;
    vd_log_debug("vulkan: graph of %d nodes: %d dispatches, %d barriers, %zu KB activations", n,
                 ex->n_disp, ex->n_barriers, g->act_bytes >> 10);
    *out = ex;
    return VKDETR_OK;
fail:
    exec_free(ex);
    return st;
}

static const node_place *staged(vd_exec *ex, const vd_tensor *t, int input) {
    const vd_graph *g = ex->g;
    if (!t || t->id < 0 || t->id >= g->n_nodes || g->nodes[t->id] != t) return NULL;
    const node_place *pl = &ex->place[t->id];
    if (!pl->has_staging || (input && !(t->flags & VD_TENSOR_INPUT))) return NULL;
    return pl;
}

static vkdetr_status exec_write(vd_exec *ex, const vd_tensor *t, const void *data) {
    const node_place *pl = staged(ex, t, 1);
    if (!pl) return vd_error(VKDETR_ERR_INVALID_ARG, "vulkan: write to a tensor that is not an "
                             "input of the graph");
    memcpy((char *)ex->staging.map + pl->staging, data, vd_nbytes(t));
    return vd_vk_buffer_flush(&ex->be->dev, &ex->staging);
}

static vkdetr_status exec_read(vd_exec *ex, const vd_tensor *t, void *data) {
    const node_place *pl = staged(ex, t, 0);
    if (!pl) return vd_error(VKDETR_ERR_INVALID_ARG, "vulkan: read of a tensor that is not an "
                             "output of the graph");
    vkdetr_status st = vd_vk_buffer_invalidate(&ex->be->dev, &ex->staging);
    if (st) return st;
    const char *src = (const char *)ex->staging.map + pl->staging;
    if (pl->dev.f16) {
        const uint16_t *h = (const uint16_t *)src;
        float *f = data;
        for (int64_t i = 0; i < vd_nelements(t); i++) f[i] = vd_f16_to_f32(h[i]);
    } else {
        memcpy(data, src, vd_nbytes(t));
    }
    return VKDETR_OK;
}

static vkdetr_status exec_run(vd_exec *ex, vd_profile *prof) {
    vd_vk_device *d = &ex->be->dev;
    double t0 = vd_time_ms();
    int timed = prof && ex->has_ts;
    int counts[2] = {0, 0}; /* submits, host waits */
    vkdetr_status st = vd_vk_submit_wait(d, timed ? ex->cb_prof : ex->cb, ex->fence, counts);
    if (prof) {
        prof->total_ms = vd_time_ms() - t0;
        prof->submits = counts[0];
        prof->host_syncs = counts[1];
    }
    if (st || !prof) return st;
    prof->timing = timed ? "gpu timestamps" : "none: the device has no timestamp queries";
    if (timed && (st = vd_vk_timestamps_read(d, &ex->ts))) return st;
    for (int i = 0; i < prof->n_nodes && i < ex->g->n_nodes; i++) {
        int q = ex->node_query[i];
        prof->node_ms[i] = timed && q >= 0 ? vd_vk_timestamps_ms(&ex->ts, 2u * (uint32_t)q,
                                                                 2u * (uint32_t)q + 1)
                                           : 0.0;
    }
    return VKDETR_OK;
}

/* ---- the backend -------------------------------------------------------------------------- */

static void backend_free(vd_backend *bep) {
    vk_backend *be = (vk_backend *)bep;
    if (!be) return;
    if (be->dev.dev) {
        vkDeviceWaitIdle(be->dev.dev);
        vd_vk_buffer_destroy(&be->dev, &be->dummy);
        vd_vk_weights_free(&be->dev, &be->weights);
        vd_vk_pipelines_free(&be->dev, &be->pipes);
    }
    vd_vk_device_close(&be->dev);
    vd_free(be);
}

static const vd_backend_iface vk_iface = {
    "vulkan", exec_create, exec_write, exec_run, exec_read, exec_free, backend_free,
};

vd_backend *vd_vk_backend_create(const char *device, vkdetr_precision precision,
                                 vkdetr_status *st_out) {
    vkdetr_status st = VKDETR_OK;
    vk_backend *be = vd_calloc(1, sizeof *be);
    if (!be) {
        st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory creating the Vulkan backend");
        goto done;
    }
    vd_vk_config_read(&be->cfg);
    int want_fp16 = precision == VKDETR_PRECISION_FP16 ? 2 : precision == VKDETR_PRECISION_AUTO;
    if ((st = vd_vk_device_open(&be->cfg, device, want_fp16, &be->dev))) goto done;
    if ((st = vd_vk_pipelines_init(&be->dev, be->cfg.cache_dir, &be->pipes))) goto done;
    VkDeviceSize limit = VD_MIN(VD_MIN(be->dev.max_range, be->dev.max_alloc),
                                (VkDeviceSize)256 << 20);
    if ((st = vd_vk_weights_init(&be->weights, limit))) goto done;
    if ((st = vd_vk_buffer_create(&be->dev, 16, VD_VK_MEM_DEVICE, "dummy", &be->dummy))) goto done;
    be->base.iface = &vk_iface;
    snprintf(be->base.device_name, sizeof be->base.device_name, "%s", be->dev.name);
done:
    if (st && be) {
        be->base.iface = &vk_iface;
        backend_free(&be->base);
        be = NULL;
    }
    if (st_out) *st_out = st;
    return be ? &be->base : NULL;
}

/* ---- queries and test hooks (vk.h) ---------------------------------------------------------- */

int vd_vk_is_backend(const vd_backend *be) { return be && be->iface == &vk_iface; }

int vd_vk_backend_fp16(const vd_backend *be) {
    return vd_vk_is_backend(be) && ((const vk_backend *)be)->dev.fp16;
}

int vd_vk_backend_validation_errors(const vd_backend *be) {
    if (!vd_vk_is_backend(be)) return 0;
    return atomic_load(&((vk_backend *)be)->dev.validation_errors);
}

int vd_vk_backend_validation_enabled(const vd_backend *be) {
    return vd_vk_is_backend(be) && ((const vk_backend *)be)->dev.messenger != VK_NULL_HANDLE;
}

int vd_vk_backend_pipeline_cache_loaded(const vd_backend *be) {
    return vd_vk_is_backend(be) && ((const vk_backend *)be)->pipes.cache_loaded;
}

int vd_vk_backend_weight_buffers(const vd_backend *be) {
    if (!vd_vk_is_backend(be)) return 0;
    vk_backend *vb = (vk_backend *)be;
    pthread_mutex_lock(&vb->weights.lock);
    int n = vb->weights.n_bufs;
    pthread_mutex_unlock(&vb->weights.lock);
    return n;
}

void vd_vk_backend_set_weight_limit(vd_backend *be, size_t bytes) {
    if (!vd_vk_is_backend(be) || bytes < 16) return;
    vk_backend *vb = (vk_backend *)be;
    pthread_mutex_lock(&vb->weights.lock);
    vb->weights.limit = VD_MIN((VkDeviceSize)bytes, VD_MIN(vb->dev.max_range, vb->dev.max_alloc));
    pthread_mutex_unlock(&vb->weights.lock);
}

int vd_vk_exec_dispatches(const vd_exec *ex) {
    return ex && vd_vk_is_backend(&ex->be->base) ? ex->n_disp : 0;
}

int vd_vk_exec_barriers(const vd_exec *ex) {
    return ex && vd_vk_is_backend(&ex->be->base) ? ex->n_barriers : 0;
}
