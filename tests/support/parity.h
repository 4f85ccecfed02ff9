/* Stage-by-stage comparison of vkdetr with a reference fixture made by
 * tools/gen_rtdetr_fixtures.py: a checkpoint folder (config.json, model.safetensors,
 * preprocessor_config.json) holding reference.safetensors (every stage's output) and
 * input.png. Used by the CPU and Vulkan parity tests and by tools/parity (real sizes). */
#ifndef VD_PARITY_H
#define VD_PARITY_H

#include "vkdetr.h"

typedef struct vd_parity_opts {
    const char *dir;
    vkdetr_backend backend;
    const char *device;          /* Vulkan device, NULL for the default */
    vkdetr_precision precision;
    int n_threads;
    double tol_logits;           /* max abs error of the final logits */
    double tol_boxes;            /* max abs error of pred_boxes (normalised) */
    double tol_stage;            /* intermediate stages: max abs error / max(1, max |ref|) */
    int verbose;                 /* print the per-stage table */
} vd_parity_opts;

/* Default tolerances for fp32 (the issue's): logits 1e-3, boxes 1e-4, stages 1e-3. */
vd_parity_opts vd_parity_default_opts(const char *dir);

/* 0: pass, 1: fail (reasons printed to stderr), 77: the fixture folder does not exist. */
int vd_parity_run(const vd_parity_opts *o);

#endif
