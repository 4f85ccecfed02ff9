/* vkdetr info: what a model is, and which backends and devices this machine offers. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "files.h"

typedef struct info_opts {
    cli_model_opts m;
    int json;
} info_opts;

static const cli_option info_options[] = {
    CLI_MODEL_OPTIONS(info_opts),
    {"json", 0, CLI_FLAG, offsetof(info_opts, json), NULL, "print JSON instead of text", NULL, 0,
     0, NULL},
};

static const cli_command info_command = {
    "info",
    "[options] [MODEL]",
    "Describe a model (family, configuration, parameters, input size, classes) and list the "
    "backends and Vulkan devices available here. MODEL is a checkpoint folder or a hub repo id "
    "(as -m); without one, the bundled default model.",
    "Examples:\n"
    "  vkdetr info ./rtdetr_r18vd\n"
    "  vkdetr info --backend vulkan --device llvmpipe PekingU/rtdetr_r18vd\n"
    "  vkdetr info --json ./rtdetr_r18vd",
    info_options,
    (int)(sizeof info_options / sizeof info_options[0]),
    0,
    1,
};

/* config.json keys worth showing, when present (top level or inside backbone_config). */
static const char *const config_keys[] = {
    "model_type",        "d_model",           "encoder_hidden_dim", "encoder_layers",
    "decoder_layers",    "num_queries",       "num_feature_levels", "decoder_n_points",
    "encoder_in_channels", "feat_strides",    "eval_size",          "anchor_image_size",
    "layer_type",        "depths",            "hidden_sizes",       "stem_channels",
};

static cJSON *read_config(const char *dir) {
    char path[PATH_MAX], *text;
    size_t size;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (vd_files_read_all(path, &text, &size)) return NULL;
    cJSON *root = cJSON_ParseWithLength(text, size);
    free(text);
    return root;
}

/* The interesting config entries as one object {"key": value, "backbone.key": value}. */
static cJSON *config_summary(const char *dir) {
    cJSON *root = read_config(dir), *out = cJSON_CreateObject();
    if (!root || !out) {
        cJSON_Delete(root);
        return out;
    }
    const cJSON *bb = cJSON_GetObjectItemCaseSensitive(root, "backbone_config");
    for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, config_keys[i]);
        if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(out, config_keys[i], cJSON_Duplicate(v, 1));
        const cJSON *b = bb ? cJSON_GetObjectItemCaseSensitive(bb, config_keys[i]) : NULL;
        if (b && !cJSON_IsNull(b)) {
            char key[96];
            snprintf(key, sizeof key, "backbone.%s", config_keys[i]);
            cJSON_AddItemToObject(out, key, cJSON_Duplicate(b, 1));
        }
    }
    cJSON_Delete(root);
    return out;
}

static const char *device_type_name(vkdetr_device_type t) {
    switch (t) {
    case VKDETR_DEVICE_INTEGRATED_GPU: return "integrated GPU";
    case VKDETR_DEVICE_DISCRETE_GPU: return "discrete GPU";
    case VKDETR_DEVICE_VIRTUAL_GPU: return "virtual GPU";
    case VKDETR_DEVICE_CPU: return "CPU (software)";
    default: return "other";
    }
}

static cJSON *devices_json(void) {
    cJSON *arr = cJSON_CreateArray();
    int n = 0;
    if (vkdetr_device_list(NULL, 0, &n) || n <= 0) return arr;
    vkdetr_device_info *d = calloc((size_t)n, sizeof *d);
    if (d && vkdetr_device_list(d, n, &n) == VKDETR_OK) {
        for (int i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "index", i);
            cJSON_AddStringToObject(o, "name", d[i].name);
            cJSON_AddStringToObject(o, "type", device_type_name(d[i].type));
            cJSON_AddNumberToObject(o, "memory_bytes", (double)d[i].memory_bytes);
            cJSON_AddBoolToObject(o, "fp16", d[i].fp16);
            cJSON_AddBoolToObject(o, "usable", d[i].usable);
            cJSON_AddItemToArray(arr, o);
        }
    }
    free(d);
    return arr;
}

static cJSON *model_json(const char *spec, const char *dir, vkdetr_model *model) {
    vkdetr_model_info info;
    cJSON *o = cJSON_CreateObject();
    if (vkdetr_model_get_info(model, &info)) return o;
    cJSON_AddStringToObject(o, "model", spec);
    cJSON_AddStringToObject(o, "folder", dir);
    cJSON_AddStringToObject(o, "family", info.family ? info.family : "");
    cJSON_AddNumberToObject(o, "parameters", (double)info.num_parameters);
    cJSON_AddNumberToObject(o, "input_width", info.input_width);
    cJSON_AddNumberToObject(o, "input_height", info.input_height);
    cJSON_AddNumberToObject(o, "size_multiple", info.size_multiple);
    cJSON_AddNumberToObject(o, "num_queries", info.num_queries);
    cJSON_AddBoolToObject(o, "masks", info.has_masks);
    cJSON_AddStringToObject(o, "backend", info.backend ? info.backend : "");
    cJSON_AddStringToObject(o, "device", info.device ? info.device : "");
    cJSON_AddItemToObject(o, "config", config_summary(dir));
    cJSON *classes = cJSON_AddArrayToObject(o, "classes");
    for (int i = 0; i < info.num_classes; i++) {
        const char *name = vkdetr_model_class_name(model, i);
        cJSON_AddItemToArray(classes, name ? cJSON_CreateString(name) : cJSON_CreateNull());
    }
    return o;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

static void print_model(const cJSON *m) {
    const char *keys[][2] = {{"model", "model"},   {"folder", "folder"},   {"family", "family"},
                             {"backend", "backend"}, {"device", "device"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, keys[i][0]);
        if (cJSON_IsString(v)) printf("%-12s %s\n", keys[i][1], v->valuestring);
    }
    double params = num(m, "parameters");
    printf("%-12s %.2f M (%.0f)\n", "parameters", params / 1e6, params);
    printf("%-12s %.0fx%.0f (any multiple of %.0f with --size)\n", "input", num(m, "input_width"),
           num(m, "input_height"), num(m, "size_multiple"));
    printf("%-12s %.0f\n", "queries", num(m, "num_queries"));
    printf("%-12s %s\n", "masks",
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "masks")) ? "yes" : "no");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(m, "config"), *v;
    printf("%-12s", "config");
    cJSON_ArrayForEach(v, cfg) {
        char *s = cJSON_PrintUnformatted(v);
        printf(" %s=%s", v->string, s ? s : "?");
        cJSON_free(s);
    }
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(m, "classes");
    printf("\n");
    int i = 0, col = printf("%-12s %d:", "classes", cJSON_GetArraySize(classes));
    cJSON_ArrayForEach(v, classes) {
        char item[96];
        int n = snprintf(item, sizeof item, " %d %s%s", i, cJSON_IsString(v) ? v->valuestring : "?",
                         v->next ? "," : "");
        if (col + n > 96) {
            printf("\n%12s", "");
            col = 12;
        }
        fputs(item, stdout);
        col += n;
        i++;
    }
    printf("\n");
}

static void print_devices(const cJSON *devs) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("%-12s cpu (%ld cores)", "backends", cores);
    int n = cJSON_GetArraySize(devs);
    if (n > 0) printf(", vulkan (%d device%s)", n, n == 1 ? "" : "s");
    else printf("; vulkan: no device (no driver, or built without Vulkan)");
    printf("\n");
    const cJSON *d;
    cJSON_ArrayForEach(d, devs) {
        printf("  device %.0f  %s  [%s, %.1f GiB%s%s]\n", num(d, "index"), str(d, "name"),
               str(d, "type"), num(d, "memory_bytes") / (1 << 30),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "fp16")) ? ", fp16" : "",
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "usable")) ? "" : ", not usable");
    }
}

int cli_cmd_info(int argc, char **argv) {
    info_opts o;
    memset(&o, 0, sizeof o);
    cli_model_opts_default(&o.m);
    const char *args[2] = {NULL, NULL};
    const char **argbuf = calloc((size_t)argc + 1, sizeof *argbuf);
    int n_args = 0;
    if (!argbuf) return CLI_EXIT_USAGE;
    int rc = cli_parse(&info_command, argc, argv, &o, argbuf, &n_args);
    if (rc) {
        free(argbuf);
        return rc < 0 ? CLI_EXIT_OK : rc;
    }
    args[0] = n_args ? argbuf[0] : NULL;
    free(argbuf);
    if (args[0] && o.m.model) {
        cli_errorf("give the model either as -m or as the argument, not both");
        return CLI_EXIT_USAGE;
    }
    if (args[0]) o.m.model = args[0];

    vkdetr_model *model = NULL;
    const char *dir = NULL;
    rc = cli_open_model(&o.m, &model, &dir);
    cJSON *doc = cJSON_CreateObject();
    if (model) {
        const char *spec = o.m.model ? o.m.model : g_cli_env.default_model;
        cJSON_AddItemToObject(doc, "model", model_json(spec, dir, model));
    }
    cJSON_AddItemToObject(doc, "devices", devices_json());
    if (o.json) {
        char *s = cJSON_Print(doc);
        if (s) printf("%s\n", s);
        cJSON_free(s);
    } else {
        if (model) print_model(cJSON_GetObjectItemCaseSensitive(doc, "model"));
        print_devices(cJSON_GetObjectItemCaseSensitive(doc, "devices"));
    }
    cJSON_Delete(doc);
    vkdetr_model_free(model);
    return rc;
}
