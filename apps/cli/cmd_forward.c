/* vkdetr forward: the network on given pixel values; every output to a safetensors file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "tensorfile.h"

typedef struct forward_opts {
    cli_model_opts m;
    const char *pixels;
    const char *out;
    int stages;
    int threads;
} forward_opts;

static const cli_option forward_options[] = {
    CLI_MODEL_OPTIONS(forward_opts),
    {"pixels", 0, CLI_STRING, offsetof(forward_opts, pixels), "IN",
     "safetensors file with pixel_values, F32 [1,3,H,W] (or [3,H,W]), already preprocessed",
     NULL, 0, 0, "required"},
    {"out", 0, CLI_STRING, offsetof(forward_opts, out), "OUT",
     "safetensors file to write the outputs to", NULL, 0, 0, "required"},
    {"stages", 0, CLI_FLAG, offsetof(forward_opts, stages), NULL,
     "also write every intermediate stage output (named as tools/gen_rtdetr_fixtures.py names "
     "them)",
     NULL, 0, 0, NULL},
    {"threads", 0, CLI_INT, offsetof(forward_opts, threads), "N", "CPU threads, 0 = one per core",
     NULL, 0, 4096, NULL},
};

static const cli_command forward_command = {
    "forward",
    "[-m MODEL] --pixels IN.safetensors --out OUT.safetensors [--stages] [options]",
    "Run the network on given pixel values (no image decoding, resizing or postprocessing) and "
    "write every output (logits, pred_boxes, and with --stages the intermediates) to OUT. For "
    "parity checks against the upstream implementation.",
    "Example:\n"
    "  vkdetr forward -m tests/data/rtdetr_v1_tiny --pixels pixels.safetensors --out out.safetensors "
    "--stages",
    forward_options,
    (int)(sizeof forward_options / sizeof forward_options[0]),
    0,
    0,
};

/* Finds pixel_values and copies it to an aligned buffer; prints the problem on failure. */
static float *read_pixels(const char *path, int *w, int *h) {
    vd_tensorfile tf;
    if (vd_tensorfile_read(path, &tf)) {
        cli_errorf("%s", vd_app_last_error());
        return NULL;
    }
    const vd_tensorfile_entry *t = vd_tensorfile_find(&tf, "pixel_values");
    float *px = NULL;
    if (!t) {
        cli_errorf("%s: no tensor named pixel_values", path);
    } else if (strcmp(t->dtype, "F32") ||
               !((t->ndim == 4 && t->shape[0] == 1 && t->shape[1] == 3) ||
                 (t->ndim == 3 && t->shape[0] == 3))) {
        cli_errorf("%s: pixel_values must be F32 [1,3,H,W] or [3,H,W] (got %s with %d dims)", path,
                   t->dtype, t->ndim);
    } else {
        int64_t hh = t->shape[t->ndim - 2], ww = t->shape[t->ndim - 1];
        if (hh <= 0 || ww <= 0 || hh > 16384 || ww > 16384) {
            cli_errorf("%s: pixel_values has a bad size %lldx%lld", path, (long long)ww,
                       (long long)hh);
        } else {
            size_t n = (size_t)3 * hh * ww;
            px = malloc(n * sizeof *px);
            if (px) {
                memcpy(px, t->data, n * sizeof *px);
                *w = (int)ww;
                *h = (int)hh;
            } else {
                cli_errorf("out of memory");
            }
        }
    }
    vd_tensorfile_free(&tf);
    return px;
}

static int write_outputs(vkdetr_session *s, const char *path, const char *model) {
    int n = vkdetr_session_output_count(s);
    vd_tensorfile_entry *e = calloc(n > 0 ? (size_t)n : 1, sizeof *e);
    if (!e) return CLI_EXIT_OUTPUT;
    for (int i = 0; i < n; i++) {
        vkdetr_tensor t;
        vkdetr_status st = vkdetr_session_output(s, i, &t);
        if (st) {
            cli_report("reading an output", st);
            free(e);
            return CLI_EXIT_MODEL;
        }
        e[i].name = t.name;
        e[i].dtype = t.dtype == VKDETR_DTYPE_I32 ? "I32" : "F32";
        e[i].ndim = t.ndim;
        for (int d = 0; d < t.ndim && d < 4; d++) e[i].shape[d] = t.shape[d];
        e[i].data = t.data;
    }
    const char *meta[] = {"format", "pt", "producer", "vkdetr forward", "model", model, NULL};
    vkdetr_status st = vd_tensorfile_write(path, e, n, meta);
    free(e);
    if (st) {
        cli_errorf("%s", vd_app_last_error());
        return CLI_EXIT_OUTPUT;
    }
    fprintf(stderr, "vkdetr: wrote %d output%s to %s\n", n, n == 1 ? "" : "s", path);
    return CLI_EXIT_OK;
}

int cli_cmd_forward(int argc, char **argv) {
    forward_opts o;
    memset(&o, 0, sizeof o);
    cli_model_opts_default(&o.m);
    const char **args = calloc((size_t)argc + 1, sizeof *args);
    int n_args = 0;
    if (!args) return CLI_EXIT_USAGE;
    int rc = cli_parse(&forward_command, argc, argv, &o, args, &n_args);
    free(args);
    if (rc) return rc < 0 ? CLI_EXIT_OK : rc;
    if (!o.pixels || !o.out) {
        cli_errorf("--pixels and --out are required");
        cli_print_usage(&forward_command, stderr);
        return CLI_EXIT_USAGE;
    }
    int w = 0, h = 0;
    float *px = read_pixels(o.pixels, &w, &h);
    if (!px) return CLI_EXIT_SOME_FAILED;
    vkdetr_model *model = NULL;
    vkdetr_session *s = NULL;
    vkdetr_model_info info;
    rc = cli_open_model(&o.m, &model, NULL);
    if (!rc && vkdetr_model_get_info(model, &info) == VKDETR_OK) {
        int size[2] = {w, h};
        rc = cli_check_size(&info, size);
    }
    if (!rc) {
        vkdetr_session_params sp = vkdetr_session_default_params();
        sp.input_width = w;
        sp.input_height = h;
        sp.n_threads = o.threads;
        sp.stages = o.stages;
        vkdetr_status st = vkdetr_session_create(model, &sp, &s);
        if (!st) st = vkdetr_session_forward(s, px, w, h);
        if (st) {
            cli_report(s ? "forward" : "cannot create a session", st);
            rc = CLI_EXIT_MODEL;
        } else {
            rc = write_outputs(s, o.out, o.m.model ? o.m.model : g_cli_env.default_model);
        }
    }
    vkdetr_session_free(s);
    vkdetr_model_free(model);
    free(px);
    return rc;
}
