#include "cli.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "files.h"
#include "progress.h"

#ifndef VKDETR_DEFAULT_MODEL_DIR
#define VKDETR_DEFAULT_MODEL_DIR "assets/models/default"
#endif

cli_env g_cli_env;

void cli_env_init(void) {
    memset(&g_cli_env, 0, sizeof g_cli_env);
    const char *m = getenv("VKDETR_DEFAULT_MODEL");
    g_cli_env.default_model = m && m[0] ? m : VKDETR_DEFAULT_MODEL_DIR;
    g_cli_env.hf_endpoint = getenv("HF_ENDPOINT");
    g_cli_env.hf_token = getenv("HF_TOKEN");
    if (vd_hub_default_cache_root(getenv("XDG_CACHE_HOME"), getenv("HOME"), g_cli_env.cache_root,
                                  sizeof g_cli_env.cache_root))
        g_cli_env.cache_root[0] = '\0';
    g_cli_env.stderr_tty = vd_progress_stderr_is_tty();
    g_cli_env.command = "";
}

vd_hub_config cli_hub_config(int force) {
    vd_hub_config c;
    memset(&c, 0, sizeof c);
    c.endpoint = g_cli_env.hf_endpoint;
    c.token = g_cli_env.hf_token;
    c.cache_root = g_cli_env.cache_root[0] ? g_cli_env.cache_root : NULL;
    c.progress = g_cli_env.stderr_tty;
    c.force = force;
    c.retries = 3;
    return c;
}

void cli_errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cli_print_program(stderr, g_cli_env.command);
    fputs(": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_report(const char *what, vkdetr_status st) {
    cli_errorf("%s: %s (%s)", what, vkdetr_last_error(), vkdetr_status_string(st));
}

void cli_model_opts_default(cli_model_opts *m) {
    /* the library's defaults, so that --help shows what a plain vkdetr_model_load does */
    vkdetr_model_params mp = vkdetr_model_default_params();
    static const char *const backends[] = {"auto", "cpu", "vulkan"};
    static const char *const precisions[] = {"auto", "fp32", "fp16"};
    m->model = NULL;
    m->backend = (unsigned)mp.backend < 3 ? backends[mp.backend] : "auto";
    m->device = NULL;
    m->precision = (unsigned)mp.precision < 3 ? precisions[mp.precision] : "auto";
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* Finds the checkpoint folder for spec; prints the problem and returns -1 on failure. */
static int resolve_model(const char *spec, int is_default, char *dir, size_t size) {
    char repo[256], rev[256];
    if (vd_files_is_dir(spec)) {
        snprintf(dir, size, "%s", spec);
        return 0;
    }
    if (is_file(spec)) {
        cli_errorf("%s is a file; a model is a checkpoint folder (config.json, model.safetensors, "
                   "preprocessor_config.json) or a hub repo id",
                   spec);
        return -1;
    }
    if (is_default) {
        cli_errorf("the bundled default model is not installed (no folder %s); pass -m MODEL "
                   "(a checkpoint folder or a hub repo id owner/name) or set VKDETR_DEFAULT_MODEL",
                   spec);
        return -1;
    }
    if (!vd_hub_parse_repo(spec, repo, sizeof repo, rev, sizeof rev)) {
        cli_errorf("no such model folder: %s (nor is it a hub repo id owner/name)", spec);
        return -1;
    }
    vd_hub_config hub = cli_hub_config(0);
    if (!hub.cache_root) {
        cli_errorf("%s: no cache folder for hub downloads (set XDG_CACHE_HOME or HOME)", spec);
        return -1;
    }
    if (vd_hub_snapshot_dir(&hub, repo, rev, dir, size) == VKDETR_OK && vd_hub_is_complete(dir))
        return 0;
    fprintf(stderr, "vkdetr: %s is not a folder here; pulling %s@%s from %s\n", spec, repo, rev,
            hub.endpoint && hub.endpoint[0] ? hub.endpoint : "https://huggingface.co");
    vkdetr_status st = vd_hub_pull(&hub, repo, rev, dir, size);
    if (st) {
        cli_errorf("cannot pull %s: %s", spec, vd_app_last_error());
        return -1;
    }
    return 0;
}

int cli_open_model(const cli_model_opts *m, vkdetr_model **out, const char **dir_out) {
    static char dir[4096];
    *out = NULL;
    const char *spec = m->model ? m->model : g_cli_env.default_model;
    if (resolve_model(spec, m->model == NULL, dir, sizeof dir)) return CLI_EXIT_MODEL;
    vkdetr_model_params mp = vkdetr_model_default_params();
    mp.backend = !strcmp(m->backend, "cpu")      ? VKDETR_BACKEND_CPU
                 : !strcmp(m->backend, "vulkan") ? VKDETR_BACKEND_VULKAN
                                                 : VKDETR_BACKEND_AUTO;
    mp.precision = !strcmp(m->precision, "fp32")   ? VKDETR_PRECISION_FP32
                   : !strcmp(m->precision, "fp16") ? VKDETR_PRECISION_FP16
                                                   : VKDETR_PRECISION_AUTO;
    mp.device = m->device;
    vkdetr_status st = vkdetr_model_load(dir, &mp, out);
    if (st) {
        char what[4200];
        snprintf(what, sizeof what, "cannot load model %s", dir);
        cli_report(what, st);
        *out = NULL;
        return CLI_EXIT_MODEL;
    }
    if (dir_out) *dir_out = dir;
    return CLI_EXIT_OK;
}

int cli_check_size(const vkdetr_model_info *info, const int size[2]) {
    int m = info->size_multiple > 0 ? info->size_multiple : 1;
    if (size[0] == 0 && size[1] == 0) return CLI_EXIT_OK;
    if (size[0] % m || size[1] % m) {
        cli_errorf("--size %dx%d: width and height must be multiples of %d for this model "
                   "(e.g. %dx%d)",
                   size[0], size[1], m, (size[0] + m - 1) / m * m, (size[1] + m - 1) / m * m);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double cli_percentile(double *v, int n, double pct) {
    if (n <= 0) return 0.0;
    qsort(v, (size_t)n, sizeof *v, compare_double);
    double pos = pct / 100.0 * (n - 1);
    int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

double cli_now_ms(void) { return vd_progress_now_ms(); }

int64_t cli_peak_rss_kb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (int64_t)ru.ru_maxrss; /* kB on Linux */
}
