/* vkdetr eval: COCO evaluation (AP/AR as pycocotools' COCOeval) of a model on the images of a
 * COCO annotations file, or of a COCO results file. The evaluation itself is
 * apps/common/cocoeval.c. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cocoeval.h"
#include "error.h"
#include "progress.h"
#include "results.h"

typedef struct eval_opts {
    cli_model_opts m;
    const char *annotations;
    const char *images;
    const char *results;
    const char *iou_type;
    const char *category_map;
    float threshold;
    int max_dets;
    int size[2];
    int threads;
    const char *json;
    const char *predictions;
    int quiet;
} eval_opts;

static const cli_option eval_options[] = {
    CLI_MODEL_OPTIONS(eval_opts),
    {"annotations", 'a', CLI_STRING, offsetof(eval_opts, annotations), "FILE",
     "COCO annotations (instances_*.json): the images, categories and ground truth", NULL, 0, 0,
     "required"},
    {"images", 'i', CLI_STRING, offsetof(eval_opts, images), "DIR",
     "run the model on every image of the annotations, found as DIR/file_name", NULL, 0, 0,
     "none"},
    {"results", 'r', CLI_STRING, offsetof(eval_opts, results), "FILE",
     "evaluate this COCO results file instead of running a model", NULL, 0, 0, "none"},
    {"iou-type", 0, CLI_CHOICE, offsetof(eval_opts, iou_type), "T",
     "what is compared: boxes, masks, or both; auto = both when there are masks, else bbox",
     "auto|bbox|segm|both", 0, 0, NULL},
    {"category-map", 0, CLI_CHOICE, offsetof(eval_opts, category_map), "M",
     "category id of a detection: the category whose name is the model's label, or the class id "
     "itself",
     "by-name|by-id", 0, 0, NULL},
    {"threshold", 't', CLI_FLOAT, offsetof(eval_opts, threshold), "F",
     "keep detections with a score above F (COCO practice: keep nearly all)", NULL, 0, 1, NULL},
    {"max-dets", 0, CLI_INT, offsetof(eval_opts, max_dets), "N",
     "at most N detections per image, best first", NULL, 1, 100000, NULL},
    {"size", 's', CLI_SIZE, offsetof(eval_opts, size), "WxH",
     "network input size, WxH or N for NxN; multiples of the model's size multiple", NULL, 0, 0,
     NULL},
    {"threads", 0, CLI_INT, offsetof(eval_opts, threads), "N", "CPU threads, 0 = one per core",
     NULL, 0, 4096, NULL},
    {"json", 0, CLI_STRING, offsetof(eval_opts, json), "FILE",
     "also write the numbers (the 12 stats and AP per category) as JSON to FILE (\"-\" = stdout)",
     NULL, 0, 0, "none"},
    {"predictions", 0, CLI_STRING, offsetof(eval_opts, predictions), "FILE",
     "with --images, write the detections as COCO results to FILE (for pycocotools)", NULL, 0, 0,
     "none"},
    {"quiet", 'q', CLI_FLAG, offsetof(eval_opts, quiet), NULL,
     "no progress bar or summary line on stderr (errors and warnings are still printed)", NULL, 0,
     0, NULL},
};

static const cli_command eval_command = {
    "eval",
    "--annotations FILE (--images DIR [-m MODEL] | --results FILE) [options]",
    "COCO evaluation: AP and AR exactly as pycocotools' COCOeval computes them (IoU 0.50:0.95, "
    "areas small/medium/large, 1/10/100 detections), printed as its summarize() does. Either the "
    "model runs on every image of the annotations file (--images), or a COCO results file is "
    "evaluated (--results).",
    "Output: for each IoU type, a line \"IoU metric: bbox\" (or segm) and the 12 lines of "
    "COCOeval.summarize() on stdout (not with --json -).\n"
    "With --images, category ids come from the annotations' categories by name (each model "
    "label must equal a category name; labels and categories without a partner are listed on "
    "stderr), or with --category-map by-id the class id is the category id. An image that "
    "cannot be read is reported and counts as an image without detections; the exit code is "
    "then 1.\n"
    "Examples:\n"
    "  vkdetr eval -m PekingU/rtdetr_r18vd --annotations instances_val2017.json --images val2017/\n"
    "  vkdetr eval --annotations instances_val2017.json --results detections.json --json ap.json",
    eval_options,
    (int)(sizeof eval_options / sizeof eval_options[0]),
    0,
    0,
};

/* The state of a model run. */
typedef struct eval_run {
    const eval_opts *o;
    const vd_coco_gt *gt;
    vkdetr_model *model;
    vkdetr_session *session;
    vkdetr_model_info info;
    vd_coco_index *index;  /* by-name: categories by name; NULL for by-id */
    int with_masks;
    cJSON *results;        /* the detections as COCO results */
    int n_done, n_failed, n_size_warned, skipped;
    double time_ms;
} eval_run;

static int check_options(const eval_opts *o) {
    if (!o->annotations) {
        cli_errorf("--annotations FILE is required");
        return CLI_EXIT_USAGE;
    }
    if (!o->images == !o->results) {
        cli_errorf("give either --images DIR (run a model) or --results FILE (evaluate results)");
        return CLI_EXIT_USAGE;
    }
    if (o->results && (o->m.model || o->predictions)) {
        cli_errorf("%s is for running a model (--images), not with --results",
                   o->m.model ? "-m" : "--predictions");
        return CLI_EXIT_USAGE;
    }
    if (o->json && o->predictions && !strcmp(o->json, "-") && !strcmp(o->predictions, "-")) {
        cli_errorf("only one of --json and --predictions can write to stdout");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* Checks the model's labels against the annotations' categories and reports the ones without
 * a partner. Returns CLI_EXIT_USAGE when nothing matches. */
static int check_categories(eval_run *run) {
    const vd_coco_category *cats = vd_coco_gt_categories(run->gt);
    int nc = vd_coco_gt_category_count(run->gt), n = run->info.num_classes;
    int by_name = run->index != NULL, matched = 0;
    char missing[1024] = "";
    int n_missing = 0;
    for (int c = 0; c < n; c++) {
        const char *label = vkdetr_model_class_name(run->model, c);
        int64_t id = by_name ? vd_coco_category_id(run->index, label, c) : c;
        int found = 0;
        for (int k = 0; k < nc && !found; k++) found = cats[k].id == id;
        matched += found;
        if (!found && n_missing++ < 12) {
            char item[96];
            if (by_name)
                snprintf(item, sizeof item, "%s", label ? label : "(no name)");
            else
                snprintf(item, sizeof item, "%d", c);
            size_t len = strlen(missing);
            snprintf(missing + len, sizeof missing - len, "%s%s", len ? ", " : "", item);
        }
    }
    if (n_missing)
        cli_errorf("warning: %d of the model's %d classes have no category in %s (%s%s%s); their "
                   "detections are left out",
                   n_missing, n, run->o->annotations, by_name ? "names: " : "ids: ", missing,
                   n_missing > 12 ? ", ..." : "");
    if (by_name) {
        char unused[1024] = "";
        int n_unused = 0;
        for (int k = 0; k < nc; k++) {
            int found = 0;
            for (int c = 0; c < n && !found; c++) {
                const char *label = vkdetr_model_class_name(run->model, c);
                found = label && !strcmp(label, cats[k].name);
            }
            if (!found && n_unused++ < 12) {
                size_t len = strlen(unused);
                snprintf(unused + len, sizeof unused - len, "%s%s", len ? ", " : "", cats[k].name);
            }
        }
        if (n_unused)
            cli_errorf("warning: %d categories of %s are not model labels (%s%s); the model "
                       "cannot find them",
                       n_unused, run->o->annotations, unused, n_unused > 12 ? ", ..." : "");
    }
    if (matched == 0) {
        cli_errorf("no model class %s a category of %s%s", by_name ? "name equals the name of" :
                   "id is the id of", run->o->annotations,
                   by_name ? " (try --category-map by-id when the ids agree)" : "");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int setup_model(eval_run *run, int want_segm) {
    const eval_opts *o = run->o;
    int rc = cli_open_model(&o->m, &run->model, NULL);
    if (rc) return rc;
    vkdetr_status st = vkdetr_model_get_info(run->model, &run->info);
    if (st) {
        cli_report("model info", st);
        return CLI_EXIT_MODEL;
    }
    if ((rc = cli_check_size(&run->info, o->size))) return rc;
    if (!strcmp(o->category_map, "by-name") && vd_coco_index_load(o->annotations, &run->index)) {
        cli_errorf("%s", vd_app_last_error());
        return CLI_EXIT_USAGE;
    }
    if ((rc = check_categories(run))) return rc;
    run->with_masks = run->info.has_masks && want_segm;
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.input_width = o->size[0];
    sp.input_height = o->size[1];
    sp.n_threads = o->threads;
    sp.threshold = o->threshold;
    sp.max_detections = o->max_dets;
    sp.masks = run->with_masks ? VKDETR_MASKS_RLE : VKDETR_MASKS_NONE; /* segm IoU works on RLE */
    if ((st = vkdetr_session_create(run->model, &sp, &run->session))) {
        cli_report("cannot create a session", st);
        return CLI_EXIT_MODEL;
    }
    return CLI_EXIT_OK;
}

/* Detects objects in one image of the annotations and appends them to run->results. Returns
 * CLI_EXIT_MODEL on a backend failure (the run stops), else CLI_EXIT_OK. */
static int detect_one(eval_run *run, const vd_coco_image *im) {
    char path[PATH_MAX];
    if (!im->file_name || (size_t)snprintf(path, sizeof path, "%s/%s", run->o->images,
                                           im->file_name) >= sizeof path) {
        run->n_failed++;
        cli_errorf("image %lld: %s", (long long)im->id,
                   im->file_name ? "path too long" : "no file_name in the annotations");
        return CLI_EXIT_OK;
    }
    vkdetr_result *r = NULL;
    vkdetr_status st = vkdetr_session_detect_file(run->session, path, &r);
    if (st) {
        int fatal = st == VKDETR_ERR_DEVICE_LOST || st == VKDETR_ERR_BACKEND ||
                    st == VKDETR_ERR_INTERNAL;
        cli_errorf("%s: %s (%s)%s", path, vkdetr_session_last_error(run->session),
                   vkdetr_status_string(st), fatal ? "; stopping" : "");
        run->n_failed++;
        return fatal ? CLI_EXIT_MODEL : CLI_EXIT_OK;
    }
    if (im->width && im->height && (r->image_width != im->width || r->image_height != im->height) &&
        !run->n_size_warned++)
        cli_errorf("warning: %s is %dx%d, the annotations say %dx%d (boxes are in the image's "
                   "pixels)",
                   path, r->image_width, r->image_height, im->width, im->height);
    int rc = vd_results_coco_append(run->results, r, im->id, run->index, run->with_masks,
                                    &run->skipped);
    run->time_ms += r->time_ms;
    run->n_done++;
    vkdetr_result_free(r);
    if (rc) {
        cli_errorf("out of memory");
        return CLI_EXIT_MODEL;
    }
    return CLI_EXIT_OK;
}

static int run_model(eval_run *run) {
    int n = vd_coco_gt_image_count(run->gt);
    const vd_coco_image *images = vd_coco_gt_images(run->gt);
    vd_progress bar;
    vd_progress_begin(&bar, "eval", n, VD_PROGRESS_ITEMS,
                      g_cli_env.stderr_tty && !run->o->quiet && n > 1);
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < n && !rc; i++) {
        vd_progress_update(&bar, i, 0);
        rc = detect_one(run, &images[i]);
    }
    vd_progress_update(&bar, n, 1);
    vd_progress_end(&bar);
    if (rc) return rc;
    if (!run->o->quiet)
        fprintf(stderr,
                "vkdetr: %d image%s (%d failed), %d detections, %.1f ms mean per image (%s)\n",
                run->n_done, run->n_done == 1 ? "" : "s", run->n_failed,
                cJSON_GetArraySize(run->results), run->n_done ? run->time_ms / run->n_done : 0.0,
                run->info.backend ? run->info.backend : "?");
    if (run->n_failed)
        cli_errorf("warning: %d image%s could not be read; they count as images without "
                   "detections",
                   run->n_failed, run->n_failed == 1 ? "" : "s");
    return CLI_EXIT_OK;
}

/* Which IoU types to evaluate: bit 0 bbox, bit 1 segm. */
static int iou_types(const eval_opts *o, int has_masks) {
    if (!strcmp(o->iou_type, "bbox")) return 1;
    if (!strcmp(o->iou_type, "segm")) return 2;
    if (!strcmp(o->iou_type, "both")) return 3;
    return has_masks ? 3 : 1;
}

/* Evaluates and prints each requested type; adds their numbers to doc. */
static int evaluate(const eval_opts *o, const vd_coco_gt *gt, const cJSON *results, int types,
                    cJSON *doc) {
    static const char *const names[2] = {"bbox", "segm"};
    int to_stdout = !(o->json && !strcmp(o->json, "-")) &&
                    !(o->predictions && !strcmp(o->predictions, "-"));
    for (int t = 0; t < 2; t++) {
        if (!(types & (1 << t))) continue;
        vd_cocoeval e;
        if (vd_cocoeval_run(gt, results, t ? VD_COCOEVAL_SEGM : VD_COCOEVAL_BBOX, &e)) {
            cli_errorf("%s evaluation: %s", names[t], vd_app_last_error());
            return CLI_EXIT_SOME_FAILED;
        }
        if (t == 0 && e.n_results_unused)
            cli_errorf("warning: %lld results of categories that %s does not list are not "
                       "evaluated",
                       (long long)e.n_results_unused, o->annotations);
        if (to_stdout) {
            printf("IoU metric: %s\n", names[t]);
            vd_cocoeval_print(stdout, e.stats);
        }
        cJSON *j = vd_cocoeval_json(&e, gt);
        vd_cocoeval_free(&e);
        if (!j || !cJSON_AddItemToObject(doc, names[t], j)) {
            cJSON_Delete(j);
            cli_errorf("out of memory");
            return CLI_EXIT_SOME_FAILED;
        }
    }
    fflush(stdout);
    return CLI_EXIT_OK;
}

static int has_segmentation(const cJSON *results) {
    const cJSON *first = cJSON_IsArray(results) ? results->child : NULL;
    return first && cJSON_GetObjectItemCaseSensitive(first, "segmentation") != NULL;
}

static int write_json(const char *path, const cJSON *doc) {
    if (vd_results_write_json(path, doc)) {
        cli_errorf("%s", vd_app_last_error());
        return CLI_EXIT_OUTPUT;
    }
    return CLI_EXIT_OK;
}

/* --images: the model on every image, then the evaluation of its detections. */
static int eval_model(const eval_opts *o, const vd_coco_gt *gt, cJSON *doc) {
    eval_run run;
    memset(&run, 0, sizeof run);
    run.o = o;
    run.gt = gt;
    run.results = cJSON_CreateArray();
    int want_segm = strcmp(o->iou_type, "bbox") != 0;
    int rc = run.results ? setup_model(&run, want_segm) : CLI_EXIT_MODEL;
    if (!rc) rc = run_model(&run);
    if (!rc) {
        if (run.skipped)
            cli_errorf("warning: %d detections left out: their labels are not category names",
                       run.skipped);
        cJSON_AddStringToObject(doc, "model", o->m.model ? o->m.model : g_cli_env.default_model);
        cJSON_AddStringToObject(doc, "backend", run.info.backend ? run.info.backend : "");
        cJSON_AddNumberToObject(doc, "images", run.n_done);
        cJSON_AddNumberToObject(doc, "failed_images", run.n_failed);
        cJSON_AddNumberToObject(doc, "detections", cJSON_GetArraySize(run.results));
        if (o->predictions) rc = write_json(o->predictions, run.results);
        int types = iou_types(o, run.info.has_masks);
        if (types & 2 && !run.info.has_masks)
            cli_errorf("warning: the model predicts no masks; segm evaluates its boxes as masks");
        int erc = evaluate(o, gt, run.results, types, doc);
        if (!rc) rc = erc;
        if (!rc && run.n_failed) rc = CLI_EXIT_SOME_FAILED;
    }
    vkdetr_session_free(run.session);
    vkdetr_model_free(run.model);
    vd_coco_index_free(run.index);
    cJSON_Delete(run.results);
    return rc;
}

int cli_cmd_eval(int argc, char **argv) {
    vkdetr_session_params sp = vkdetr_session_default_params();
    eval_opts o;
    memset(&o, 0, sizeof o);
    cli_model_opts_default(&o.m);
    o.iou_type = "auto";
    o.category_map = "by-name";
    o.threshold = 0.001f;
    o.max_dets = 100;
    o.threads = sp.n_threads;
    const char **args = calloc((size_t)argc + 1, sizeof *args);
    int n_args = 0;
    if (!args) return CLI_EXIT_USAGE;
    int rc = cli_parse(&eval_command, argc, argv, &o, args, &n_args);
    free(args);
    if (rc == 0) rc = check_options(&o);
    if (rc) return rc < 0 ? CLI_EXIT_OK : rc;

    vd_coco_gt *gt = NULL;
    cJSON *results = NULL, *doc = cJSON_CreateObject();
    if (!doc) return CLI_EXIT_SOME_FAILED;
    cJSON_AddStringToObject(doc, "annotations", o.annotations);
    if (vd_coco_gt_load(o.annotations, &gt)) {
        cli_errorf("%s", vd_app_last_error());
        rc = CLI_EXIT_USAGE;
    } else if (o.images) {
        rc = eval_model(&o, gt, doc);
    } else if (vd_coco_results_load(o.results, &results)) {
        cli_errorf("%s", vd_app_last_error());
        rc = CLI_EXIT_SOME_FAILED;
    } else {
        cJSON_AddStringToObject(doc, "results", o.results);
        cJSON_AddNumberToObject(doc, "detections", cJSON_GetArraySize(results));
        rc = evaluate(&o, gt, results, iou_types(&o, has_segmentation(results)), doc);
    }
    int evaluated = cJSON_GetObjectItemCaseSensitive(doc, "bbox") != NULL ||
                    cJSON_GetObjectItemCaseSensitive(doc, "segm") != NULL;
    if ((rc == CLI_EXIT_OK || rc == CLI_EXIT_SOME_FAILED) && o.json && evaluated) {
        int wrc = write_json(o.json, doc);
        if (wrc) rc = wrc;
    }
    cJSON_Delete(doc);
    cJSON_Delete(results);
    vd_coco_gt_free(gt);
    return rc;
}
