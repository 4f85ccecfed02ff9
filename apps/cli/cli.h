/* Shared parts of the vkdetr commands: the environment (read once), opening a model from a
 * folder, a hub repo id or the bundled default, and small helpers. */
#ifndef VKDETR_CLI_H
#define VKDETR_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "hub.h"
#include "options.h"
#include "vkdetr.h"

/* The environment variables the CLI reads, once, at start. */
typedef struct cli_env {
    const char *default_model; /* VKDETR_DEFAULT_MODEL, else the compiled-in folder */
    const char *hf_endpoint;   /* HF_ENDPOINT */
    const char *hf_token;      /* HF_TOKEN */
    char cache_root[4096];     /* from XDG_CACHE_HOME / HOME; "" when neither is set */
    int stderr_tty;            /* progress bars only on a terminal */
    const char *command;       /* "detect", ... for messages */
} cli_env;

extern cli_env g_cli_env;

void cli_env_init(void);

/* The hub settings from the environment (progress bars when stderr is a terminal). */
vd_hub_config cli_hub_config(int force);

/* Backend and model loading options most commands share. */
typedef struct cli_model_opts {
    const char *model;     /* folder, owner/name[@revision], or NULL for the default */
    const char *backend;   /* "auto", "cpu", "vulkan" */
    const char *device;    /* Vulkan device index or name substring; NULL = automatic */
    const char *precision; /* "auto", "fp32", "fp16" */
} cli_model_opts;

#define CLI_MODEL_OPTIONS(type)                                                               \
    {"model", 'm', CLI_STRING, offsetof(type, m.model), "MODEL",                              \
     "checkpoint folder (config.json, model.safetensors, preprocessor_config.json) or hub "   \
     "repo id owner/name[@revision], downloaded into the cache on first use",                 \
     NULL, 0, 0, "the bundled model; env VKDETR_DEFAULT_MODEL"},                              \
    {"backend", 0, CLI_CHOICE, offsetof(type, m.backend), "B",                                \
     "where the network runs; auto picks a GPU through Vulkan when there is one", "auto|cpu|vulkan", \
     0, 0, NULL},                                                                             \
    {"device", 0, CLI_STRING, offsetof(type, m.device), "DEV",                                \
     "Vulkan device: an index or part of its name (see vkdetr info)", NULL, 0, 0,             \
     "env VKDETR_DEVICE, else the first GPU"},                                                \
    {"precision", 0, CLI_CHOICE, offsetof(type, m.precision), "P",                            \
     "arithmetic precision; fp16 is Vulkan only", "auto|fp32|fp16", 0, 0, NULL}

void cli_model_opts_default(cli_model_opts *m);

/* Resolves m->model to a folder (pulling a hub repo into the cache when needed) and loads it.
 * Prints the problem to stderr and returns CLI_EXIT_MODEL on failure. *dir_out (may be NULL)
 * receives the folder (static storage). */
int cli_open_model(const cli_model_opts *m, vkdetr_model **out, const char **dir_out);

/* Prints "vkdetr CMD: what: message" for a failed library call (the library's last error). */
void cli_report(const char *what, vkdetr_status st);

/* Prints "vkdetr CMD: " and the formatted message to stderr. */
void cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Checks a --size against the model; prints the problem and returns CLI_EXIT_USAGE when it is
 * not a multiple of the model's size_multiple. */
int cli_check_size(const vkdetr_model_info *info, const int size[2]);

/* Percentile (0..100) of n values by linear interpolation; sorts v in place. */
double cli_percentile(double *v, int n, double pct);

/* Monotonic time in milliseconds. */
double cli_now_ms(void);

/* Peak resident set size of this process in kB. */
int64_t cli_peak_rss_kb(void);

/* The commands. argv[0] is the command name. */
int cli_cmd_detect(int argc, char **argv);
int cli_cmd_info(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv);
int cli_cmd_pull(int argc, char **argv);
int cli_cmd_forward(int argc, char **argv);
int cli_cmd_eval(int argc, char **argv);

#endif
