/* The public API: sessions, detection, raw forward passes, outputs and profiles. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "core/image.h"
#include "core/ops.h"
#include "model/model.h"
#include "postprocess/detect.h"

typedef struct output_slot {
    vd_tensor *t;     /* a named graph output */
    void *host;       /* its copy after the last run, read lazily */
    int fresh;        /* host holds the last run's values */
} output_slot;

struct vkdetr_session {
    vkdetr_model *model;
    vkdetr_session_params params;
    int width, height;       /* network input */
    vd_graph *g;
    vd_exec *ex;
    vd_net_io io;
    float *pixels;           /* (3, height, width) */
    void *pre_scratch;
    size_t pre_scratch_size;
    output_slot *outputs;    /* every graph output */
    int n_outputs;
    int *named;              /* indices of the named outputs, the public list */
    int n_named;
    int have_run;
    /* profiling */
    double *node_ms;
    double stage_ms[VKDETR_STAGE_COUNT];
    double total_ms;
    vkdetr_op_profile ops[VD_OP_COUNT];
    int n_ops;
    vkdetr_node_profile *nodes; /* made on the first vkdetr_session_node_profile */
    int *node_ids;
    char *node_shapes;
    int n_nodes;
    int submits, host_syncs;
    char last_error[1024];
};

/* Records the thread's last error as the session's and returns status. */
static vkdetr_status fail(vkdetr_session *s, vkdetr_status status) {
    if (s) snprintf(s->last_error, sizeof s->last_error, "%s", vkdetr_last_error());
    return status;
}

VKDETR_API vkdetr_session_params vkdetr_session_default_params(void) {
    vkdetr_session_params p;
    memset(&p, 0, sizeof p);
    p.threshold = 0.5f;
    p.max_detections = 300;
    p.masks = VKDETR_MASKS_RLE;
    return p;
}

VKDETR_API void vkdetr_session_free(vkdetr_session *s) {
    if (!s) return;
    if (s->ex) s->model->backend->iface->exec_free(s->ex);
    vd_graph_free(s->g);
    for (int i = 0; i < s->n_outputs; i++) vd_free(s->outputs[i].host);
    vd_free(s->outputs);
    vd_free(s->named);
    vd_free(s->pixels);
    vd_free(s->pre_scratch);
    vd_free(s->node_ms);
    vd_free(s->nodes);
    vd_free(s->node_ids);
    vd_free(s->node_shapes);
    vd_free(s);
}

VKDETR_API vkdetr_status vkdetr_session_create(vkdetr_model *model,
                                               const vkdetr_session_params *params,
                                               vkdetr_session **out) {
    if (!out) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_create: out is NULL");
    *out = NULL;
    if (!model) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_create: model is NULL");
    if (params && (params->input_width < 0 || params->input_height < 0 || params->n_threads < 0 ||
                   isnan(params->threshold) || params->masks < VKDETR_MASKS_NONE ||
                   params->masks > VKDETR_MASKS_BITMAP))
        return vd_error(VKDETR_ERR_INVALID_ARG, "session params: input size %dx%d, n_threads %d, "
                        "threshold %g or masks %d out of range", params->input_width,
                        params->input_height, params->n_threads, (double)params->threshold,
                        params->masks);
    vkdetr_session *s = vd_calloc(1, sizeof *s);
    if (!s) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    s->model = model;
    s->params = params ? *params : vkdetr_session_default_params();
    s->width = s->params.input_width > 0 ? s->params.input_width : model->pre.width;
    s->height = s->params.input_height > 0 ? s->params.input_height : model->pre.height;
    int mult = model->info.size_multiple;
    vkdetr_status st;
    if (s->width < mult || s->height < mult || s->width % mult || s->height % mult ||
        s->width > 8192 || s->height > 8192) {
        st = vd_error(VKDETR_ERR_INVALID_ARG, "input size %dx%d: width and height must be "
                      "multiples of %d between %d and 8192", s->width, s->height, mult, mult);
        goto fail;
    }
    if (s->params.max_detections < 0) s->params.max_detections = 0;
    s->g = vd_graph_create();
    if (!s->g) goto oom;
    model->family->build(model->fm, s->g, s->width, s->height, s->params.stages, &s->io);
    if ((st = s->g->status)) goto fail;
    if ((st = model->backend->iface->exec_create(model->backend, s->g, s->params.n_threads, &s->ex)))
        goto fail;
    s->pixels = vd_malloc((size_t)3 * s->width * s->height * sizeof *s->pixels);
    s->node_ms = vd_calloc((size_t)s->g->n_nodes, sizeof *s->node_ms);
    if (!s->pixels || !s->node_ms) goto oom;
    for (int i = 0; i < s->g->n_nodes; i++) {
        vd_tensor *t = s->g->nodes[i];
        if (!(t->flags & VD_TENSOR_OUTPUT)) continue;
        output_slot *o = vd_realloc(s->outputs, (size_t)(s->n_outputs + 1) * sizeof *o);
        if (!o) goto oom;
        s->outputs = o;
        o = &s->outputs[s->n_outputs++];
        o->t = t;
        o->fresh = 0;
        o->host = vd_malloc(vd_nbytes(t));
        if (!o->host) goto oom;
    }
    s->named = vd_malloc((size_t)(s->n_outputs + 1) * sizeof *s->named);
    if (!s->named) goto oom;
    for (int i = 0; i < s->n_outputs; i++)
        if (s->outputs[i].t->name) s->named[s->n_named++] = i;
    *out = s;
    return VKDETR_OK;
oom:
    st = vd_error(VKDETR_ERR_NO_MEMORY, "out of memory creating a session");
fail:
    vkdetr_session_free(s);
    return st;
}

VKDETR_API const char *vkdetr_session_last_error(const vkdetr_session *s) {
    return s ? s->last_error : "no session";
}

/* A node that computes something (leaves hold data, views reinterpret it). */
static int computes(const vd_tensor *t) { return t->op != VD_OP_LEAF && t->op != VD_OP_VIEW; }

/* Aggregates the per-node times of the last run into stages and op types. */
static void collect_profile(vkdetr_session *s) {
    memset(s->stage_ms + 1, 0, sizeof s->stage_ms - sizeof s->stage_ms[0]);
    memset(s->ops, 0, sizeof s->ops);
    int slot[VD_OP_COUNT];
    for (int i = 0; i < VD_OP_COUNT; i++) slot[i] = -1;
    s->n_ops = 0;
    for (int i = 0; i < s->g->n_nodes; i++) {
        const vd_tensor *t = s->g->nodes[i];
        if (!computes(t)) continue;
        if (t->stage > 0 && t->stage < VKDETR_STAGE_COUNT) s->stage_ms[t->stage] += s->node_ms[i];
        if (slot[t->op] < 0) {
            slot[t->op] = s->n_ops++;
            s->ops[slot[t->op]].op = vd_op_name(t->op);
        }
        vkdetr_op_profile *p = &s->ops[slot[t->op]];
        p->count++;
        p->ms += s->node_ms[i];
        p->gflop += vd_op_flops(t) * 1e-9;
    }
}

#define SHAPES_LEN 128 /* bytes of one node's shapes text */

/* Appends to the text at d, never past end (which stays a NUL); returns the new end. */
static char *put(char *d, char *end, const char *fmt, ...) VD_PRINTF(3, 4);
static char *put(char *d, char *end, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(d, (size_t)(end - d) + 1, fmt, ap);
    va_end(ap);
    return n < 0 || n > end - d ? end : d + n;
}

/* "AxBxC" of t */
static char *put_shape(char *d, char *end, const vd_tensor *t) {
    for (int i = 0; i < t->ndim; i++) d = put(d, end, "%s%lld", i ? "x" : "", (long long)t->ne[i]);
    return d;
}

/* The per-node table: one entry per compute node, op, stage, shapes and FLOPs (fixed for the
 * graph); the times are filled in by vkdetr_session_node_profile. */
static vkdetr_status make_node_table(vkdetr_session *s) {
    int n = 0;
    for (int i = 0; i < s->g->n_nodes; i++) n += computes(s->g->nodes[i]);
    s->nodes = vd_calloc((size_t)VD_MAX(n, 1), sizeof *s->nodes);
    s->node_ids = vd_calloc((size_t)VD_MAX(n, 1), sizeof *s->node_ids);
    s->node_shapes = vd_calloc((size_t)VD_MAX(n, 1), SHAPES_LEN);
    if (!s->nodes || !s->node_ids || !s->node_shapes) {
        vd_free(s->nodes), vd_free(s->node_ids), vd_free(s->node_shapes);
        s->nodes = NULL, s->node_ids = NULL, s->node_shapes = NULL;
        return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory making the node profile");
    }
    int k = 0;
    for (int i = 0; i < s->g->n_nodes; i++) {
        const vd_tensor *t = s->g->nodes[i];
        if (!computes(t)) continue;
        char *text = s->node_shapes + (size_t)k * SHAPES_LEN, *d = text;
        char *end = text + SHAPES_LEN - 1;
        for (int j = 0; j < 2 && j < t->n_src; j++) {
            if (!t->src[j]) continue;
            if (d != text) d = put(d, end, ", ");
            d = put_shape(d, end, t->src[j]);
        }
        put_shape(put(d, end, " -> "), end, t);
        s->nodes[k] = (vkdetr_node_profile){vd_op_name(t->op), text, t->stage, 0.0,
                                            vd_op_flops(t) * 1e-9};
        s->node_ids[k++] = i;
    }
    s->n_nodes = n;
    return VKDETR_OK;
}

/* Runs the graph on s->pixels. */
static vkdetr_status run(vkdetr_session *s) {
    const vd_backend_iface *be = s->model->backend->iface;
    vd_profile prof = {.n_nodes = s->g->n_nodes, .node_ms = s->node_ms};
    vkdetr_status st = be->write(s->ex, s->io.pixels, s->pixels);
    if (!st) st = be->run(s->ex, &prof);
    if (st) return st;
    s->total_ms = prof.total_ms;
    s->submits = prof.submits;
    s->host_syncs = prof.host_syncs;
    for (int i = 0; i < s->n_outputs; i++) s->outputs[i].fresh = 0;
    s->have_run = 1;
    collect_profile(s);
    return VKDETR_OK;
}

static const void *output_data(vkdetr_session *s, const vd_tensor *t) {
    for (int i = 0; i < s->n_outputs; i++) {
        output_slot *o = &s->outputs[i];
        if (o->t != t) continue;
        if (!o->fresh) {
            if (s->model->backend->iface->read(s->ex, t, o->host)) return NULL;
            o->fresh = 1;
        }
        return o->host;
    }
    return NULL;
}

VKDETR_API vkdetr_status vkdetr_session_forward(vkdetr_session *s, const float *pixels, int width,
                                                int height) {
    if (!s) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_forward: session is NULL");
    s->last_error[0] = 0;
    if (!pixels)
        return fail(s, vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_forward: pixels is NULL"));
    if (width != s->width || height != s->height)
        return fail(s, vd_error(VKDETR_ERR_SHAPE, "pixel values are %dx%d but the session's input "
                                "size is %dx%d", width, height, s->width, s->height));
    memcpy(s->pixels, pixels, (size_t)3 * width * height * sizeof *pixels);
    s->stage_ms[VKDETR_STAGE_PREPROCESS] = 0;
    vkdetr_status st = run(s);
    return st ? fail(s, st) : VKDETR_OK;
}

/* Preprocesses, runs and decodes; src borrowed. */
static vkdetr_status detect(vkdetr_session *s, const vd_preprocess_src *src, double t0,
                            vkdetr_result **out) {
    const vkdetr_model *m = s->model;
    size_t need = vd_preprocess_scratch_size(&m->pre, src, s->width, s->height);
    if (need == SIZE_MAX)
        return vd_error(VKDETR_ERR_INVALID_ARG, "image of %dx%d cannot be preprocessed",
                        src->raster.width, src->raster.height);
    if (need > s->pre_scratch_size) { /* grows only for a larger image than any before */
        void *p = vd_realloc(s->pre_scratch, need);
        if (!p) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
        s->pre_scratch = p;
        s->pre_scratch_size = need;
    }
    double tp = vd_time_ms();
    vkdetr_status st = vd_preprocess_run(&m->pre, src, s->width, s->height, s->pixels,
                                         s->pre_scratch, s->pre_scratch_size, NULL);
    if (st) return st;
    s->stage_ms[VKDETR_STAGE_PREPROCESS] = vd_time_ms() - tp;
    if ((st = run(s))) return st;

    double tpost = vd_time_ms();
    const float *logits = output_data(s, s->io.logits), *boxes = output_data(s, s->io.boxes);
    const int32_t *topk = output_data(s, s->io.topk);
    if (!logits || !boxes || !topk) return vd_error(VKDETR_ERR_INTERNAL, "cannot read the outputs");
    vkdetr_result *r = vd_calloc(1, sizeof *r);
    int k = (int)s->io.topk->ne[0];
    int cap = VD_MIN(k, s->params.max_detections);
    if (!r || !(r->detections = vd_calloc((size_t)(cap > 0 ? cap : 1), sizeof *r->detections))) {
        vd_free(r);
        return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    }
    vd_detect_input in = {logits, boxes, topk, (int)s->io.logits->ne[0], (int)s->io.logits->ne[1],
                          k, src->raster.width, src->raster.height, s->params.threshold, cap};
    r->count = vd_detect_decode(&in, r->detections);
    for (int i = 0; i < r->count; i++) {
        const char *label = vkdetr_model_class_name(m, r->detections[i].class_id);
        r->detections[i].label = label ? label : "";
    }
    /* No family predicts masks yet; a mask head fills detections[i].mask (postprocess/mask.h)
     * and sets has_masks when m->info.has_masks and s->params.masks != VKDETR_MASKS_NONE. */
    r->has_masks = 0;
    r->image_width = src->raster.width;
    r->image_height = src->raster.height;
    s->stage_ms[VKDETR_STAGE_POSTPROCESS] += vd_time_ms() - tpost;
    r->time_ms = vd_time_ms() - t0;
    *out = r;
    return VKDETR_OK;
}

VKDETR_API vkdetr_status vkdetr_session_detect(vkdetr_session *s, const vkdetr_image *image,
                                               vkdetr_result **out) {
    if (!s) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_detect: session is NULL");
    s->last_error[0] = 0;
    if (!out || !image)
        return fail(s, vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_detect: NULL argument"));
    *out = NULL;
    double t0 = vd_time_ms();
    vd_preprocess_src src;
    vkdetr_status st = vd_preprocess_src_pixels(image, &src);
    if (!st) st = detect(s, &src, t0, out);
    return st ? fail(s, st) : VKDETR_OK;
}

VKDETR_API vkdetr_status vkdetr_session_detect_file(vkdetr_session *s, const char *path,
                                                    vkdetr_result **out) {
    if (!s) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_detect_file: session is NULL");
    s->last_error[0] = 0;
    if (!out || !path)
        return fail(s, vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_detect_file: NULL argument"));
    *out = NULL;
    double t0 = vd_time_ms();
    vd_image img;
    vkdetr_status st = vd_image_decode_file(path, &img);
    if (!st) {
        vd_preprocess_src src = vd_preprocess_src_image(&img);
        st = detect(s, &src, t0, out);
        vd_image_free(&img);
    }
    return st ? fail(s, st) : VKDETR_OK;
}

VKDETR_API void vkdetr_result_free(vkdetr_result *r) {
    if (!r) return;
    for (int i = 0; i < r->count; i++) {
        vd_free(r->detections[i].mask.data);
        vd_free(r->detections[i].mask.counts);
    }
    vd_free(r->detections);
    vd_free(r);
}

VKDETR_API int vkdetr_session_output_count(const vkdetr_session *s) {
    return s && s->have_run ? s->n_named : 0;
}

VKDETR_API vkdetr_status vkdetr_session_output(vkdetr_session *s, int i, vkdetr_tensor *out) {
    if (!s) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_output: session is NULL");
    s->last_error[0] = 0;
    if (!out) return fail(s, vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_output: out is NULL"));
    if (!s->have_run || i < 0 || i >= s->n_named)
        return fail(s, vd_error(VKDETR_ERR_INVALID_ARG, "output %d of %d", i,
                                s->have_run ? s->n_named : 0));
    const vd_tensor *t = s->outputs[s->named[i]].t;
    const void *data = output_data(s, t);
    if (!data) return fail(s, vd_error(VKDETR_ERR_INTERNAL, "cannot read output %s", t->name));
    memset(out, 0, sizeof *out);
    out->name = t->name;
    out->dtype = t->type == VD_I32 ? VKDETR_DTYPE_I32 : VKDETR_DTYPE_F32;
    out->ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++) out->shape[d] = t->ne[d];
    out->data = data;
    return VKDETR_OK;
}

VKDETR_API vkdetr_status vkdetr_session_node_profile(vkdetr_session *s,
                                                     const vkdetr_node_profile **nodes,
                                                     int *n_nodes) {
    if (!s) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_node_profile: session is NULL");
    s->last_error[0] = 0;
    if (!nodes || !n_nodes)
        return fail(s, vd_error(VKDETR_ERR_INVALID_ARG,
                                "vkdetr_session_node_profile: nodes or n_nodes is NULL"));
    *nodes = NULL;
    *n_nodes = 0;
    if (!s->have_run) return VKDETR_OK;
    vkdetr_status st = s->nodes ? VKDETR_OK : make_node_table(s);
    if (st) return fail(s, st);
    for (int k = 0; k < s->n_nodes; k++) s->nodes[k].ms = s->node_ms[s->node_ids[k]];
    *nodes = s->nodes;
    *n_nodes = s->n_nodes;
    return VKDETR_OK;
}

VKDETR_API vkdetr_status vkdetr_session_profile(vkdetr_session *s, vkdetr_profile *out) {
    if (!s) return vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_profile: session is NULL");
    s->last_error[0] = 0;
    if (!out) return fail(s, vd_error(VKDETR_ERR_INVALID_ARG, "vkdetr_session_profile: out is NULL"));
    memset(out, 0, sizeof *out);
    memcpy(out->stage_ms, s->stage_ms, sizeof out->stage_ms);
    out->total_ms = s->total_ms + s->stage_ms[VKDETR_STAGE_PREPROCESS];
    out->n_ops = s->n_ops;
    out->ops = s->ops;
    out->submits = s->submits;
    out->host_syncs = s->host_syncs;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) out->peak_rss_kb = ru.ru_maxrss;
    return VKDETR_OK;
}
