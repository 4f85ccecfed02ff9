#include "parity.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/safetensors.h"

vd_parity_opts vd_parity_default_opts(const char *dir) {
    vd_parity_opts o;
    memset(&o, 0, sizeof o);
    o.dir = dir;
    o.backend = VKDETR_BACKEND_CPU;
    o.precision = VKDETR_PRECISION_FP32;
    o.tol_logits = 1e-3;
    o.tol_boxes = 1e-4;
    o.tol_stage = 1e-3;
    o.verbose = 1;
    return o;
}

static float *read_ref(const vd_st_tensor *t) {
    float *buf = malloc((size_t)t->nelements * sizeof *buf + 4);
    if (!buf) return NULL;
    if (t->dtype == VD_ST_I32) {
        const unsigned char *p = t->data;
        for (int64_t i = 0; i < t->nelements; i++) {
            int32_t v;
            memcpy(&v, p + i * 4, 4);
            buf[i] = (float)v;
        }
    } else if (t->dtype == VD_ST_I64) {
        const unsigned char *p = t->data;
        for (int64_t i = 0; i < t->nelements; i++) {
            int64_t v;
            memcpy(&v, p + i * 8, 8);
            buf[i] = (float)v;
        }
    } else if (vd_st_read_f32(t, buf)) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int same_shape(const vd_st_tensor *r, const vkdetr_tensor *o) {
    if (r->ndim != o->ndim) return 0;
    for (int i = 0; i < r->ndim; i++)
        if (r->shape[i] != o->shape[i]) return 0;
    return 1;
}

/* max over the last dim: the selection score of each encoder token */
static float *row_max(const float *x, int64_t rows, int64_t d) {
    float *m = malloc((size_t)rows * sizeof *m);
    for (int64_t r = 0; m && r < rows; r++) {
        float v = -INFINITY;
        for (int64_t j = 0; j < d; j++) v = x[r * d + j] > v ? x[r * d + j] : v;
        m[r] = v;
    }
    return m;
}

/* The decoder is permutation-equivariant over queries (self-attention has no positions), so
 * queries selected in another order only reorder the per-query outputs. With random weights
 * many selection scores lie within 1e-5 of each other, closer than fp32 noise, and
 * frameworks order them differently. We align our query i with the reference's query
 * perm[i] when both selected the same set; a different set is a failure unless the swap is
 * at a near-tie at the selection boundary, which is reported as such. */
typedef struct query_align {
    int k;
    int *perm;      /* ours -> reference position, NULL for the identity */
    int reordered;  /* positions that differ */
    int set_differs;
    double boundary_gap;
} query_align;

static int find_output(vkdetr_session *s, const char *name, vkdetr_tensor *t) {
    int n = vkdetr_session_output_count(s);
    for (int i = 0; i < n; i++)
        if (vkdetr_session_output(s, i, t) == VKDETR_OK && !strcmp(t->name, name)) return 1;
    return 0;
}

static query_align align_queries(vkdetr_session *s, vd_safetensors *ref) {
    query_align a = {0};
    vkdetr_tensor ours;
    const vd_st_tensor *ri = vd_st_find(ref, "query.topk_indices"), *rl = vd_st_find(ref, "query.logits");
    if (!ri || !rl || !find_output(s, "query.topk_indices", &ours)) return a;
    a.k = (int)ri->nelements;
    float *ref_idx = read_ref(ri), *logits = read_ref(rl);
    float *score = row_max(logits, rl->shape[1], rl->shape[2]);
    const int32_t *got = ours.data;
    a.perm = malloc((size_t)a.k * sizeof *a.perm);
    for (int i = 0; i < a.k; i++) {
        a.perm[i] = -1;
        if (got[i] == (int32_t)ref_idx[i]) {
            a.perm[i] = i;
            continue;
        }
        a.reordered++;
        for (int j = 0; j < a.k; j++)
            if ((int32_t)ref_idx[j] == got[i]) a.perm[i] = j;
        if (a.perm[i] < 0) a.set_differs++;
    }
    /* the gap between the last selected and the best unselected reference score */
    float last = score[(int64_t)ref_idx[a.k - 1]], next = -INFINITY;
    char *sel = calloc((size_t)rl->shape[1], 1);
    for (int i = 0; i < a.k; i++) sel[(int64_t)ref_idx[i]] = 1;
    for (int64_t t = 0; t < rl->shape[1]; t++)
        if (!sel[t] && score[t] > next) next = score[t];
    a.boundary_gap = last - next;
    free(sel);
    free(ref_idx);
    free(logits);
    free(score);
    return a;
}

/* Per-query outputs: [1, K, ...] after the selection. */
static int per_query(const char *name) {
    return !strncmp(name, "query.topk_logits", 17) || !strncmp(name, "query.topk_boxes", 16) ||
           !strcmp(name, "query.target") || !strncmp(name, "decoder.layer", 13) ||
           !strcmp(name, "logits") || !strcmp(name, "pred_boxes");
}

static int compare_outputs(vkdetr_session *s, vd_safetensors *ref, const vd_parity_opts *o) {
    int ok = 1, n = vkdetr_session_output_count(s);
    query_align qa = align_queries(s, ref);
    if (qa.reordered && o->verbose)
        printf("  query selection: %d of %d positions in another order (near-ties), %d not in the "
               "reference's set; reference boundary gap %.3g\n", qa.reordered, qa.k,
               qa.set_differs, qa.boundary_gap);
    if (qa.set_differs) {
        fprintf(stderr, "FAIL query selection: %d selected tokens differ from the reference's%s\n",
                qa.set_differs, qa.boundary_gap < 1e-3 ? " (a near-tie at the selection boundary: "
                "regenerate the fixture with another seed)" : "");
        ok = 0;
    }
    if (o->verbose) printf("  %-26s %-18s %12s %12s %10s\n", "stage", "shape", "max|err|", "max|ref|", "limit");
    int compared = 0;
    for (int i = 0; i < n; i++) {
        vkdetr_tensor t;
        if (vkdetr_session_output(s, i, &t)) {
            fprintf(stderr, "output %d: %s\n", i, vkdetr_session_last_error(s));
            ok = 0;
            continue;
        }
        const vd_st_tensor *r = vd_st_find(ref, t.name);
        if (!r) continue;
        char shape[64] = "[";
        for (int d = 0; d < t.ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), d ? ",%lld" : "%lld", (long long)t.shape[d]);
        strcat(shape, "]");
        if (!same_shape(r, &t)) {
            fprintf(stderr, "FAIL %s: shape %s differs from the reference's\n", t.name, shape);
            ok = 0;
            continue;
        }
        compared++;
        int64_t ne = r->nelements;
        float *rv = read_ref(r), *gv = malloc((size_t)ne * sizeof *gv);
        if (!rv || !gv) abort();
        if (t.dtype == VKDETR_DTYPE_I32)
            for (int64_t k = 0; k < ne; k++) gv[k] = (float)((const int32_t *)t.data)[k];
        else
            memcpy(gv, t.data, (size_t)ne * sizeof *gv);
        if (qa.perm && !qa.set_differs && per_query(t.name) && t.ndim >= 2 && t.shape[1] == qa.k) {
            /* bring the reference into our query order */
            int64_t row = ne / qa.k;
            float *tmp = malloc((size_t)ne * sizeof *tmp);
            for (int q = 0; q < qa.k; q++) memcpy(tmp + q * row, rv + qa.perm[q] * row, (size_t)row * sizeof *tmp);
            free(rv);
            rv = tmp;
        }
        if (t.dtype == VKDETR_DTYPE_I32 || r->dtype == VD_ST_I32 || r->dtype == VD_ST_I64) {
            int same = 1;
            for (int64_t k = 0; k < ne; k++) same &= gv[k] == rv[k];
            int tied_only = !same && !strcmp(t.name, "query.topk_indices") && !qa.set_differs;
            if (o->verbose) printf("  %-26s %-18s %12s %12s %10s%s\n", t.name, shape, same ? "equal" : tied_only ? "same set" : "DIFFER", "", "exact", tied_only ? " (near-ties reordered)" : "");
            if (!same && !tied_only) {
                fprintf(stderr, "FAIL %s: indices differ from the reference\n", t.name);
                ok = 0;
            }
        } else {
            double max_err = 0, max_ref = 0;
            int64_t worst = 0, nonfinite = 0;
            for (int64_t k = 0; k < ne; k++) {
                if (rv[k] == FLT_MAX || rv[k] == -FLT_MAX || !isfinite(rv[k])) {
                    /* invalid anchors: +FLT_MAX in transformers; ours must agree exactly */
                    if (!(gv[k] == rv[k] || (gv[k] >= 3e38f && rv[k] >= 3e38f))) nonfinite++;
                    continue;
                }
                if (!isfinite(gv[k])) {
                    nonfinite++;
                    continue;
                }
                double e = fabs((double)gv[k] - rv[k]);
                if (e > max_err) max_err = e, worst = k;
                if (fabs(rv[k]) > max_ref) max_ref = fabs(rv[k]);
            }
            double limit = !strcmp(t.name, "logits") ? o->tol_logits
                           : !strcmp(t.name, "pred_boxes") ? o->tol_boxes
                           : o->tol_stage * (max_ref > 1 ? max_ref : 1);
            int pass = nonfinite == 0 && max_err <= limit;
            if (o->verbose) printf("  %-26s %-18s %12.3g %12.3g %10.3g%s\n", t.name, shape, max_err, max_ref, limit, pass ? "" : "  FAIL");
            if (!pass) {
                fprintf(stderr, "FAIL %s: max |err| %.3g at [%lld] (got %.8g, want %.8g), limit %.3g, %lld non-finite mismatches\n",
                        t.name, max_err, (long long)worst, gv[worst], rv[worst], limit, (long long)nonfinite);
                ok = 0;
            }
        }
        free(rv);
        free(gv);
    }
    free(qa.perm);
    if (compared < 3) {
        fprintf(stderr, "FAIL: only %d outputs matched reference names\n", compared);
        ok = 0;
    }
    return ok;
}

/* The end-to-end path: input.png -> detections, against post.* of the reference. */
static int compare_detections(vkdetr_model *m, vd_safetensors *ref, const vd_parity_opts *o) {
    const vd_st_tensor *rs = vd_st_find(ref, "post.scores"), *rl = vd_st_find(ref, "post.labels"),
                       *rb = vd_st_find(ref, "post.boxes");
    const char *th = vd_st_metadata(ref, "threshold");
    if (!rs || !rl || !rb || !th) {
        fprintf(stderr, "FAIL: the reference has no post-processed detections\n");
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/input.png", o->dir);
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.threshold = (float)atof(th);
    sp.n_threads = o->n_threads;
    vkdetr_session *s;
    vkdetr_result *res = NULL;
    if (vkdetr_session_create(m, &sp, &s) || vkdetr_session_detect_file(s, path, &res)) {
        fprintf(stderr, "FAIL detect %s: %s\n", path, vkdetr_last_error());
        vkdetr_session_free(s);
        return 0;
    }
    float *scores = read_ref(rs), *labels = read_ref(rl), *boxes = read_ref(rb);
    int n = (int)rs->nelements, ok = res->count == n;
    double max_box = 0, max_score = 0;
    float scale = (float)(res->image_width > res->image_height ? res->image_width : res->image_height);
    for (int i = 0; ok && i < n; i++) {
        const vkdetr_detection *d = &res->detections[i];
        if (d->class_id != (int)labels[i]) ok = 0;
        for (int k = 0; k < 4; k++) max_box = fmax(max_box, fabs(d->box[k] - boxes[i * 4 + k]));
        max_score = fmax(max_score, fabs(d->score - scores[i]));
    }
    /* pixel boxes: the normalised tolerance times the image size (x2 for the corner sums) */
    double box_limit = 2 * o->tol_boxes * scale + 1e-3;
    ok = ok && max_box <= box_limit && max_score <= o->tol_logits;
    if (o->verbose)
        printf("  detections from input.png: %d (reference %d), labels %s, max box err %.3g px "
               "(limit %.3g), max score err %.3g\n", res->count, n,
               ok ? "equal" : "?", max_box, box_limit, max_score);
    if (!ok) {
        fprintf(stderr, "FAIL detections: got %d, want %d\n", res->count, n);
        for (int i = 0; i < res->count || i < n; i++) {
            if (i < res->count) {
                const vkdetr_detection *d = &res->detections[i];
                fprintf(stderr, "  got  %d %.4f [%.2f %.2f %.2f %.2f]\n", d->class_id, d->score, d->box[0], d->box[1], d->box[2], d->box[3]);
            }
            if (i < n)
                fprintf(stderr, "  want %d %.4f [%.2f %.2f %.2f %.2f]\n", (int)labels[i], scores[i], boxes[i * 4], boxes[i * 4 + 1], boxes[i * 4 + 2], boxes[i * 4 + 3]);
        }
    }
    free(scores);
    free(labels);
    free(boxes);
    vkdetr_result_free(res);
    vkdetr_session_free(s);
    return ok;
}

int vd_parity_run(const vd_parity_opts *o) {
    char path[4096];
    struct stat sb;
    if (stat(o->dir, &sb) != 0) {
        fprintf(stderr, "skip: no fixture at %s\n", o->dir);
        return 77;
    }
    snprintf(path, sizeof path, "%s/reference.safetensors", o->dir);
    vd_safetensors *ref = NULL;
    if (vd_st_open(path, &ref)) {
        fprintf(stderr, "FAIL: %s\n", vkdetr_last_error());
        return 1;
    }
    vkdetr_model_params mp = vkdetr_model_default_params();
    mp.backend = o->backend;
    mp.device = o->device;
    mp.precision = o->precision;
    vkdetr_model *m = NULL;
    if (vkdetr_model_load(o->dir, &mp, &m)) {
        fprintf(stderr, "FAIL load %s: %s\n", o->dir, vkdetr_last_error());
        vd_st_close(ref);
        return 1;
    }
    const vd_st_tensor *px = vd_st_find(ref, "pixel_values");
    int ok = px && px->ndim == 4;
    vkdetr_session *s = NULL;
    if (ok) {
        vkdetr_session_params sp = vkdetr_session_default_params();
        sp.input_width = (int)px->shape[3];
        sp.input_height = (int)px->shape[2];
        sp.stages = 1;
        sp.n_threads = o->n_threads;
        float *pixels = read_ref(px);
        ok = vkdetr_session_create(m, &sp, &s) == VKDETR_OK &&
             vkdetr_session_forward(s, pixels, sp.input_width, sp.input_height) == VKDETR_OK;
        if (!ok) fprintf(stderr, "FAIL forward: %s\n", vkdetr_last_error());
        free(pixels);
    }
    if (o->verbose) {
        vkdetr_model_info info;
        vkdetr_model_get_info(m, &info);
        printf("%s: %s on %s (%s)\n", o->dir, info.family, info.backend, info.device);
    }
    if (ok) ok = compare_outputs(s, ref, o);
    vkdetr_session_free(s);
    if (ok) ok = compare_detections(m, ref, o);
    vkdetr_model_free(m);
    vd_st_close(ref);
    return ok ? 0 : 1;
}
