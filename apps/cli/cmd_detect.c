/* vkdetr detect: images, folders or a list on stdin in; a table, JSON, JSON Lines, COCO
 * results, annotated images and mask PNGs out. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "draw.h"
#include "error.h"
#include "files.h"
#include "imageio.h"
#include "progress.h"
#include "results.h"

typedef struct detect_opts {
    cli_model_opts m;
    float threshold;
    const char *classes;
    int threads;
    int size[2];
    int max_detections;
    const char *output;
    const char *json;
    int jsonl;
    const char *coco;
    const char *coco_annotations;
    const char *masks;
    int recursive;
    int quiet;
    int jpeg_quality;
} detect_opts;

static const cli_option detect_options[] = {
    CLI_MODEL_OPTIONS(detect_opts),
    {"threshold", 't', CLI_FLOAT, offsetof(detect_opts, threshold), "F",
     "keep detections with a score above F", NULL, 0, 1, NULL},
    {"classes", 'c', CLI_STRING, offsetof(detect_opts, classes), "LIST",
     "keep only these classes: comma-separated names or ids (\"person,car\" or \"0,2\")", NULL, 0,
     0, "all"},
    {"max-detections", 0, CLI_INT, offsetof(detect_opts, max_detections), "N",
     "at most N detections per image, best first", NULL, 1, 100000, NULL},
    {"size", 's', CLI_SIZE, offsetof(detect_opts, size), "WxH",
     "network input size, WxH or N for NxN; multiples of the model's size multiple", NULL, 0, 0,
     NULL},
    {"threads", 0, CLI_INT, offsetof(detect_opts, threads), "N",
     "CPU threads, 0 = one per core", NULL, 0, 4096, NULL},
    {"output", 'o', CLI_STRING, offsetof(detect_opts, output), "DIR",
     "write annotated images into DIR (created when missing): the input's base name, .jpg for "
     "JPEG inputs and .png otherwise; with one input, a DIR ending in .png/.jpg is the file name",
     NULL, 0, 0, "none"},
    {"json", 0, CLI_STRING, offsetof(detect_opts, json), "FILE",
     "write all results as one JSON document to FILE (\"-\" = stdout) at the end", NULL, 0, 0,
     "none"},
    {"jsonl", 0, CLI_FLAG, offsetof(detect_opts, jsonl), NULL,
     "print one JSON line per image to stdout as each finishes, instead of the table", NULL, 0, 0,
     NULL},
    {"coco", 0, CLI_STRING, offsetof(detect_opts, coco), "FILE",
     "write COCO results [{image_id, category_id, bbox [x,y,w,h], score}] to FILE", NULL, 0, 0,
     "none"},
    {"coco-annotations", 0, CLI_STRING, offsetof(detect_opts, coco_annotations), "FILE",
     "COCO annotations (instances_*.json) giving image ids by file_name and category ids by "
     "name, for --coco",
     NULL, 0, 0, "ids from numeric file names; category id = class id"},
    {"masks", 0, CLI_STRING, offsetof(detect_opts, masks), "DIR",
     "with a mask model, write one PNG per instance into DIR as <name>_<i>.png (0/255)", NULL, 0,
     0, "none"},
    {"recursive", 'r', CLI_FLAG, offsetof(detect_opts, recursive), NULL,
     "also read images in the subfolders of folder inputs", NULL, 0, 0, NULL},
    {"quiet", 'q', CLI_FLAG, offsetof(detect_opts, quiet), NULL,
     "no table, progress bar or summary (errors are still printed)", NULL, 0, 0, NULL},
    {"jpeg-quality", 0, CLI_INT, offsetof(detect_opts, jpeg_quality), "Q",
     "quality of annotated JPEG images", NULL, 1, 100, NULL},
};

static const cli_command detect_command = {
    "detect",
    "[-m MODEL] [options] INPUT...",
    "Detect objects. INPUT is an image file (JPEG, PNG, BMP, GIF, TGA, PNM), a folder (its "
    "images; with -r also those of subfolders) or - (one path per line on stdin).",
    "Output: without --jsonl, a table per image on stdout, and a summary line (images, "
    "detections, mean and p95 time) on stderr; a progress bar on stderr when it is a terminal "
    "and there are several inputs. Boxes are x0,y0,x1,y1 in pixels of the original image.\n"
    "An unreadable or corrupt input is reported by path and skipped, the others are processed, "
    "and the exit code is 1. Output files are written under a temporary name and renamed when "
    "complete, so a failed run leaves no partial files.\n"
    "Examples:\n"
    "  vkdetr detect -m PekingU/rtdetr_r18vd photo.jpg\n"
    "  vkdetr detect -m ./rtdetr_r50vd -o out/ --json results.json images/\n"
    "  find . -name '*.png' | vkdetr detect -m ./ckpt --jsonl - > results.jsonl",
    detect_options,
    (int)(sizeof detect_options / sizeof detect_options[0]),
    1,
    -1,
};

/* The state of one run. */
typedef struct detect_run {
    const detect_opts *o;
    vkdetr_model *model;
    vkdetr_session *session;
    vkdetr_model_info info;
    unsigned char *keep;      /* [num_classes] 1 = keep; NULL = all */
    vd_font *font;
    vd_coco_index *coco_index;
    cJSON *json_images;       /* --json: array of per-image objects */
    cJSON *json_errors;       /* --json: array of failures */
    cJSON *coco_results;      /* --coco */
    int with_masks;           /* the model has masks and the session computes them */
    int single_output_file;   /* -o names the output file itself */
    vd_pathlist used_names;   /* output stems already written in this run */
    double *times;            /* per successful image, ms */
    int n_done, n_failed, n_output_failed, coco_skipped, coco_no_id;
    int64_t n_detections;
    int fatal;                /* a backend failure: stop */
} detect_run;

static int parse_classes(detect_run *run, const char *list) {
    int n = run->info.num_classes;
    run->keep = calloc(n > 0 ? (size_t)n : 1, 1);
    if (!run->keep) return CLI_EXIT_MODEL;
    char *copy = strdup(list), *save = NULL;
    if (!copy) return CLI_EXIT_MODEL;
    int rc = CLI_EXIT_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        size_t len = strlen(tok);
        while (len && isspace((unsigned char)tok[len - 1])) tok[--len] = '\0';
        if (!len) continue;
        char *end;
        long id = strtol(tok, &end, 10);
        int found = 0;
        if (*end == '\0' && id >= 0 && id < n) {
            run->keep[id] = found = 1;
        } else {
            for (int i = 0; i < n; i++) {
                const char *name = vkdetr_model_class_name(run->model, i);
                if (name && !strcasecmp(name, tok)) run->keep[i] = found = 1;
            }
        }
        if (!found) {
            cli_errorf("--classes: unknown class '%s' (the model has %d classes; 'vkdetr info' "
                       "lists them)",
                       tok, n);
            rc = CLI_EXIT_USAGE;
            break;
        }
    }
    free(copy);
    return rc;
}

/* A view of r with only the kept classes: the detections array is copied shallowly (masks
 * stay owned by r). */
static vkdetr_result filter_result(const detect_run *run, const vkdetr_result *r,
                                   vkdetr_detection *buf) {
    vkdetr_result v = *r;
    if (!run->keep) return v;
    v.count = 0;
    v.detections = buf;
    for (int i = 0; i < r->count; i++) {
        int c = r->detections[i].class_id;
        if (c >= 0 && c < run->info.num_classes && run->keep[c]) buf[v.count++] = r->detections[i];
    }
    return v;
}

static void print_table(const char *path, const vkdetr_result *r) {
    printf("%s  %dx%d  %.1f ms  %d detection%s\n", path, r->image_width, r->image_height,
           r->time_ms, r->count, r->count == 1 ? "" : "s");
    for (int i = 0; i < r->count; i++) {
        const vkdetr_detection *d = &r->detections[i];
        char label[64];
        if (d->label)
            snprintf(label, sizeof label, "%s", d->label);
        else
            snprintf(label, sizeof label, "class %d", d->class_id);
        printf("  %-16s %.3f  [%7.1f %7.1f %7.1f %7.1f]\n", label, d->score, d->box[0], d->box[1],
               d->box[2], d->box[3]);
    }
    fflush(stdout);
}

/* A stem for the outputs of path that no earlier input of this run used ("a", "a_2", ...). */
static int unique_stem(detect_run *run, const char *path, char *stem, size_t size) {
    char base[PATH_MAX];
    vd_files_stem(path, base, sizeof base);
    snprintf(stem, size, "%s", base);
    for (int k = 2;; k++) {
        int used = 0;
        for (int i = 0; i < run->used_names.count && !used; i++)
            used = !strcmp(run->used_names.items[i], stem);
        if (!used) break;
        if ((size_t)snprintf(stem, size, "%s_%d", base, k) >= size) return -1;
    }
    return vd_pathlist_add(&run->used_names, stem) ? -1 : 0;
}

static int same_file(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

/* 8-bit pixels of any vkdetr_pixel_format to a packed RGB copy (malloc'ed). */
static uint8_t *to_rgb(const vkdetr_image *img) {
    static const int channels[] = {3, 4, 3, 4, 1};
    if ((unsigned)img->format > VKDETR_PIXEL_GRAY) return NULL;
    int ch = channels[img->format];
    size_t stride = img->stride ? (size_t)img->stride : (size_t)img->width * ch;
    uint8_t *rgb = malloc((size_t)img->width * img->height * 3);
    if (!rgb) return NULL;
    int swap = img->format == VKDETR_PIXEL_BGR || img->format == VKDETR_PIXEL_BGRA;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *s = img->data + y * stride;
        uint8_t *d = rgb + (size_t)y * img->width * 3;
        for (int x = 0; x < img->width; x++, s += ch, d += 3) {
            if (ch == 1) {
                d[0] = d[1] = d[2] = s[0];
            } else {
                d[0] = s[swap ? 2 : 0];
                d[1] = s[1];
                d[2] = s[swap ? 0 : 2];
            }
        }
    }
    return rgb;
}

/* The readable table goes to stdout unless a machine-readable output took it. */
static int table_on_stdout(const detect_run *run) {
    int taken = run->o->jsonl || (run->o->json && !strcmp(run->o->json, "-")) ||
                (run->o->coco && !strcmp(run->o->coco, "-"));
    return !run->o->quiet && !taken;
}

static int write_annotated(detect_run *run, const char *path, const char *stem,
                           const vkdetr_image *img, const vkdetr_result *r) {
    char out[PATH_MAX];
    if (run->single_output_file) {
        snprintf(out, sizeof out, "%s", run->o->output);
    } else {
        int jpeg = vd_files_has_ext(path, ".jpg") || vd_files_has_ext(path, ".jpeg");
        size_t dl = strlen(run->o->output);
        while (dl > 1 && run->o->output[dl - 1] == '/') dl--; /* "out/" -> "out/x.png" */
        if ((size_t)snprintf(out, sizeof out, "%.*s/%s%s", (int)dl, run->o->output, stem,
                             jpeg ? ".jpg" : ".png") >= sizeof out) {
            cli_errorf("%s: output path too long", path);
            return -1;
        }
    }
    if (same_file(out, path)) {
        cli_errorf("%s: refusing to overwrite the input with its annotated image", out);
        return -1;
    }
    uint8_t *rgb = to_rgb(img);
    if (!rgb) {
        cli_errorf("%s: out of memory", path);
        return -1;
    }
    vd_canvas canvas = {rgb, img->width, img->height};
    vd_draw_style style = vd_draw_style_for(img->width, img->height);
    vd_draw_detections(&canvas, run->font, &style, r->detections, r->count);
    vkdetr_status st = vd_imageio_write(out, rgb, img->width, img->height, 3, run->o->jpeg_quality);
    free(rgb);
    if (st) {
        cli_errorf("%s", vd_app_last_error());
        return -1;
    }
    if (table_on_stdout(run)) printf("  annotated image: %s\n", out);
    return 0;
}

static int write_masks(detect_run *run, const char *stem, const vkdetr_result *r) {
    for (int i = 0; i < r->count; i++) {
        const vkdetr_mask *m = &r->detections[i].mask;
        if (!m->data) continue;
        size_t n = (size_t)m->width * m->height;
        uint8_t *png = malloc(n ? n : 1);
        if (!png) return -1;
        for (size_t k = 0; k < n; k++) png[k] = m->data[k] ? 255 : 0;
        char out[PATH_MAX];
        vkdetr_status st = VKDETR_ERR_INVALID_ARG;
        if ((size_t)snprintf(out, sizeof out, "%s/%s_%d.png", run->o->masks, stem, i) < sizeof out)
            st = vd_imageio_write(out, png, m->width, m->height, 1, 0);
        else
            vd_app_error(st, "%s/%s_%d.png: path too long", run->o->masks, stem, i);
        free(png);
        if (st) {
            cli_errorf("%s", vd_app_last_error());
            return -1;
        }
    }
    return 0;
}

static void record_failure(detect_run *run, const char *path, const char *message) {
    run->n_failed++;
    if (!strncmp(message, path, strlen(path)))
        cli_errorf("%s", message); /* the message names the file already */
    else
        cli_errorf("%s: %s", path, message);
    if (run->o->jsonl) {
        cJSON *e = vd_results_error_json(path, message);
        if (e) vd_results_print_line(stdout, e);
        cJSON_Delete(e);
    }
    if (run->json_errors) cJSON_AddItemToArray(run->json_errors, vd_results_error_json(path, message));
}

static void emit_results(detect_run *run, const char *path, const vkdetr_result *v) {
    if (run->o->jsonl || run->json_images) {
        cJSON *item = vd_results_image_json(path, v, run->with_masks);
        if (item && run->o->jsonl) vd_results_print_line(stdout, item);
        if (item && run->json_images)
            cJSON_AddItemToArray(run->json_images, item);
        else
            cJSON_Delete(item);
    }
    if (table_on_stdout(run)) print_table(path, v);
    if (run->coco_results) {
        int64_t id = vd_coco_image_id(run->coco_index, path);
        if (id < 0) {
            if (!run->coco_no_id++)
                cli_errorf("%s: no COCO image id (%s); left out of --coco", path,
                           run->coco_index ? "not in --coco-annotations"
                                           : "the file name is not a number");
        } else {
            vd_results_coco_append(run->coco_results, v, id, run->coco_index, run->with_masks,
                                   &run->coco_skipped);
        }
    }
}

static void process_image(detect_run *run, const char *path) {
    vkdetr_image img;
    memset(&img, 0, sizeof img);
    vkdetr_status st = vkdetr_image_load(path, &img);
    if (st) {
        record_failure(run, path, vkdetr_last_error());
        return;
    }
    vkdetr_result *r = NULL;
    st = vkdetr_session_detect(run->session, &img, &r);
    if (st) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s (%s)", vkdetr_session_last_error(run->session),
                 vkdetr_status_string(st));
        if (st == VKDETR_ERR_DEVICE_LOST || st == VKDETR_ERR_BACKEND || st == VKDETR_ERR_INTERNAL) {
            cli_errorf("%s: %s; stopping", path, msg);
            run->fatal = 1;
        } else {
            record_failure(run, path, msg);
        }
        vkdetr_image_free(&img);
        return;
    }
    vkdetr_detection *buf = run->keep ? calloc(r->count ? (size_t)r->count : 1, sizeof *buf) : NULL;
    if (run->keep && !buf) {
        record_failure(run, path, "out of memory");
    } else {
        vkdetr_result v = filter_result(run, r, buf);
        run->times[run->n_done++] = r->time_ms;
        run->n_detections += v.count;
        emit_results(run, path, &v);
        char stem[PATH_MAX];
        if ((run->o->output || run->o->masks) && unique_stem(run, path, stem, sizeof stem))
            run->n_output_failed++;
        else if ((run->o->output && write_annotated(run, path, stem, &img, &v)) ||
                 (run->o->masks && run->with_masks && write_masks(run, stem, &v)))
            run->n_output_failed++;
    }
    free(buf);
    vkdetr_result_free(r);
    vkdetr_image_free(&img);
}

static int check_options(const detect_opts *o, int n_inputs) {
    if (o->coco_annotations && !o->coco) {
        cli_errorf("--coco-annotations needs --coco FILE");
        return CLI_EXIT_USAGE;
    }
    if (o->jsonl && o->json && !strcmp(o->json, "-")) {
        cli_errorf("--jsonl and --json - both write to stdout; give --json a file name");
        return CLI_EXIT_USAGE;
    }
    if (o->coco && !strcmp(o->coco, "-") && (o->jsonl || (o->json && !strcmp(o->json, "-")))) {
        cli_errorf("only one of --jsonl, --json -, --coco - can write to stdout");
        return CLI_EXIT_USAGE;
    }
    (void)n_inputs;
    return CLI_EXIT_OK;
}

/* Loads the model, creates the session and everything the outputs need. */
static int setup(detect_run *run, int n_inputs) {
    const detect_opts *o = run->o;
    int rc = cli_open_model(&o->m, &run->model, NULL);
    if (rc) return rc;
    vkdetr_status st = vkdetr_model_get_info(run->model, &run->info);
    if (st) {
        cli_report("model info", st);
        return CLI_EXIT_MODEL;
    }
    if ((rc = cli_check_size(&run->info, o->size))) return rc;
    if (o->classes && (rc = parse_classes(run, o->classes))) return rc;
    if (o->masks && !run->info.has_masks)
        cli_errorf("warning: --masks: this model (%s) predicts no masks; no mask files are written",
                   run->info.family);
    int want_masks = o->output || o->masks || o->json || o->jsonl || o->coco;
    run->with_masks = run->info.has_masks && want_masks;
    vkdetr_session_params sp = vkdetr_session_default_params();
    sp.input_width = o->size[0];
    sp.input_height = o->size[1];
    sp.n_threads = o->threads;
    sp.threshold = o->threshold;
    sp.max_detections = o->max_detections;
    sp.masks = run->with_masks ? VKDETR_MASKS_BITMAP : VKDETR_MASKS_NONE; /* drawn and saved as PNG */
    if ((st = vkdetr_session_create(run->model, &sp, &run->session))) {
        cli_report("cannot create a session", st);
        return CLI_EXIT_MODEL;
    }
    if (o->output) {
        run->single_output_file = n_inputs == 1 && !vd_files_is_dir(o->output) &&
                                  vd_imageio_format_of(o->output) != VD_IMAGEIO_UNKNOWN;
        if (!run->single_output_file && vd_files_mkdirs(o->output)) {
            cli_errorf("%s", vd_app_last_error());
            return CLI_EXIT_OUTPUT;
        }
        if (vd_font_load_default(&run->font)) {
            cli_errorf("font: %s", vd_app_last_error());
            return CLI_EXIT_OUTPUT;
        }
    }
    if (o->masks && run->with_masks && vd_files_mkdirs(o->masks)) {
        cli_errorf("%s", vd_app_last_error());
        return CLI_EXIT_OUTPUT;
    }
    return CLI_EXIT_OK;
}

static int finish(detect_run *run, int fatal_rc) {
    const detect_opts *o = run->o;
    int rc = CLI_EXIT_OK;
    if (!fatal_rc && o->json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "model", o->m.model ? o->m.model : g_cli_env.default_model);
        cJSON_AddStringToObject(doc, "backend", run->info.backend ? run->info.backend : "");
        cJSON_AddItemToObject(doc, "images", run->json_images);
        cJSON_AddItemToObject(doc, "errors", run->json_errors);
        run->json_images = run->json_errors = NULL;
        if (vd_results_write_json(o->json, doc)) {
            cli_errorf("%s", vd_app_last_error());
            rc = CLI_EXIT_OUTPUT;
        }
        cJSON_Delete(doc);
    }
    if (!fatal_rc && o->coco) {
        if (run->coco_skipped)
            cli_errorf("warning: %d detections left out of --coco: their labels are not category "
                       "names in --coco-annotations",
                       run->coco_skipped);
        if (run->coco_no_id > 1)
            cli_errorf("warning: %d images without a COCO image id left out of --coco",
                       run->coco_no_id);
        if (vd_results_write_json(o->coco, run->coco_results)) {
            cli_errorf("%s", vd_app_last_error());
            rc = CLI_EXIT_OUTPUT;
        }
    }
    if (!o->quiet && (run->n_done || run->n_failed)) {
        int n = run->n_done;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += run->times[i];
        double mean = n ? sum / n : 0.0, p95 = cli_percentile(run->times, n, 95.0);
        fprintf(stderr, "vkdetr: %d image%s", n, n == 1 ? "" : "s");
        if (run->n_failed) fprintf(stderr, " (%d failed)", run->n_failed);
        fprintf(stderr, ", %lld detection%s, %.1f ms mean, %.1f ms p95 per image (%s)\n",
                (long long)run->n_detections, run->n_detections == 1 ? "" : "s", mean, p95,
                run->info.backend ? run->info.backend : "?");
    }
    if (fatal_rc) return fatal_rc;
    if (rc) return rc;
    if (run->n_output_failed) return CLI_EXIT_OUTPUT;
    return run->n_failed ? CLI_EXIT_SOME_FAILED : CLI_EXIT_OK;
}

static void cleanup(detect_run *run) {
    vkdetr_session_free(run->session);
    vkdetr_model_free(run->model);
    vd_font_free(run->font);
    vd_coco_index_free(run->coco_index);
    cJSON_Delete(run->json_images);
    cJSON_Delete(run->json_errors);
    cJSON_Delete(run->coco_results);
    vd_pathlist_free(&run->used_names);
    free(run->keep);
    free(run->times);
}

static int run_inputs(detect_run *run, const vd_pathlist *inputs) {
    vd_progress bar;
    vd_progress_begin(&bar, "detect", inputs->count, VD_PROGRESS_ITEMS,
                      g_cli_env.stderr_tty && !run->o->quiet && inputs->count > 1);
    for (int i = 0; i < inputs->count && !run->fatal; i++) {
        vd_progress_update(&bar, i, 0);
        process_image(run, inputs->items[i]);
    }
    vd_progress_update(&bar, inputs->count, 1);
    vd_progress_end(&bar);
    return run->fatal ? CLI_EXIT_MODEL : CLI_EXIT_OK;
}

int cli_cmd_detect(int argc, char **argv) {
    vkdetr_session_params sp = vkdetr_session_default_params();
    detect_opts o;
    memset(&o, 0, sizeof o);
    cli_model_opts_default(&o.m);
    o.threshold = sp.threshold;
    o.max_detections = sp.max_detections;
    o.threads = sp.n_threads;
    o.jpeg_quality = 90;
    const char **args = calloc((size_t)argc + 1, sizeof *args);
    int n_args = 0;
    if (!args) return CLI_EXIT_USAGE;
    int rc = cli_parse(&detect_command, argc, argv, &o, args, &n_args);
    if (rc == 0) rc = check_options(&o, n_args);
    if (rc) {
        free(args);
        return rc < 0 ? CLI_EXIT_OK : rc;
    }
    detect_run run;
    memset(&run, 0, sizeof run);
    run.o = &o;
    vd_pathlist inputs = {0};
    if (vd_files_expand(args, n_args, o.recursive, stdin, &inputs)) {
        cli_errorf("%s", vd_app_last_error());
        rc = CLI_EXIT_SOME_FAILED;
    } else if (inputs.count == 0) {
        cli_errorf("no images found in the inputs");
        rc = CLI_EXIT_SOME_FAILED;
    } else if (o.coco_annotations && vd_coco_index_load(o.coco_annotations, &run.coco_index)) {
        cli_errorf("%s", vd_app_last_error());
        rc = CLI_EXIT_USAGE;
    } else {
        run.times = calloc((size_t)inputs.count, sizeof *run.times);
        if (!run.times) {
            cli_errorf("out of memory");
            rc = CLI_EXIT_SOME_FAILED;
            goto done;
        }
        if (o.json) {
            run.json_images = cJSON_CreateArray();
            run.json_errors = cJSON_CreateArray();
        }
        if (o.coco) run.coco_results = cJSON_CreateArray();
        rc = setup(&run, inputs.count);
        if (rc == CLI_EXIT_OK) rc = finish(&run, run_inputs(&run, &inputs));
    }
done:
    cleanup(&run);
    vd_pathlist_free(&inputs);
    free(args);
    return rc;
}
