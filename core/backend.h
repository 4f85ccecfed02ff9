/* The backend interface: plain C tables of function pointers, one per backend.
 *
 * A backend instance belongs to a model (it holds the weights in the backend's memory, once).
 * An executor belongs to a session: it plans memory for one graph and runs it. Model code
 * never branches on the backend. */
#ifndef VD_BACKEND_H
#define VD_BACKEND_H

#include "graph.h"

typedef struct vd_backend vd_backend;
typedef struct vd_exec vd_exec;

/* Per-node timings of one run, filled when profiling is on. */
typedef struct vd_profile {
    int n_nodes;
    double *node_ms;    /* [n_nodes], caller-allocated; 0 for leaves and views */
    double total_ms;
    int submits;        /* command-buffer submissions (Vulkan) */
    int host_syncs;     /* waits for the device (Vulkan) */
    /* How node_ms was measured, static storage: "gpu timestamps", or a reason there are
     * no per-node times ("none: the device has no timestamps"); NULL: host clock (CPU). */
    const char *timing;
} vd_profile;

typedef struct vd_backend_iface {
    const char *name;
    /* Plans memory for g and prepares to run it. The graph must stay alive until exec_free.
     * n_threads applies to CPU work. */
    vkdetr_status (*exec_create)(vd_backend *be, vd_graph *g, int n_threads, vd_exec **out);
    /* Copies host data (vd_nbytes(t) bytes) into an input tensor. */
    vkdetr_status (*write)(vd_exec *ex, const vd_tensor *t, const void *data);
    /* Runs the graph; prof may be NULL. */
    vkdetr_status (*run)(vd_exec *ex, vd_profile *prof);
    /* Copies an output tensor to host memory (vd_nbytes(t) bytes). */
    vkdetr_status (*read)(vd_exec *ex, const vd_tensor *t, void *data);
    void (*exec_free)(vd_exec *ex);
    void (*free)(vd_backend *be);
} vd_backend_iface;

struct vd_backend {
    const vd_backend_iface *iface;
    char device_name[256];
};

/* The CPU backend; reference_only selects the reference kernels for every op. Returns NULL
 * when out of memory. */
vd_backend *vd_cpu_backend_create(int reference_only);

/* The Vulkan backend (core/vk/; only in builds with VKDETR_HAVE_VULKAN). device: an index
 * or a case-insensitive name substring; NULL or "": the VKDETR_DEVICE environment variable,
 * else the first discrete, integrated or virtual GPU (CPU implementations such as lavapipe
 * only when named). precision: FP32; FP16 (fp16 storage, VKDETR_ERR_UNSUPPORTED on devices
 * without 16-bit storage); AUTO (fp16 where available). Returns NULL with *st set and the
 * message naming the devices found (VKDETR_ERR_BACKEND when none is usable). */
vd_backend *vd_vk_backend_create(const char *device, vkdetr_precision precision,
                                 vkdetr_status *st);

#endif
