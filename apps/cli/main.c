/* vkdetr: the command line. Each command lives in cmd_<name>.c with its option table. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vkdetr.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"detect", cli_cmd_detect, "detect objects in images, folders or a list of files"},
    {"info", cli_cmd_info, "describe a model and the available backends and devices"},
    {"bench", cli_cmd_bench, "time a model: latency percentiles, per-stage and per-op times"},
    {"pull", cli_cmd_pull, "download a checkpoint from the Hugging Face hub into the cache"},
    {"forward", cli_cmd_forward, "run the network on given pixel values, write every output"},
    {"eval", cli_cmd_eval, "COCO evaluation (AP/AR as pycocotools) of a model or a results file"},
};

static void print_main_help(FILE *f) {
    fprintf(f, "usage: vkdetr COMMAND [options] [arguments]\n"
               "       vkdetr COMMAND --help\n"
               "       vkdetr --version\n\n"
               "DETR-family object detection (RT-DETR and relatives) on Vulkan GPUs and CPUs.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputc('\n', f);
    cli_print_text(f, "environment: VKDETR_DEFAULT_MODEL (the model used without -m), "
                      "VKDETR_DEVICE (Vulkan device), HF_ENDPOINT (default "
                      "https://huggingface.co), HF_TOKEN, XDG_CACHE_HOME (hub cache: "
                      "$XDG_CACHE_HOME/vkdetr/hub, else ~/.cache/vkdetr/hub).");
    fputc('\n', f);
    cli_print_text(f, cli_exit_codes_text);
}

int main(int argc, char **argv) {
    cli_env_init();
    if (argc < 2) {
        print_main_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("vkdetr %s\n", vkdetr_version());
        return CLI_EXIT_OK;
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            /* "vkdetr help detect" = "vkdetr detect --help" */
            char *sub[] = {argv[2], (char *)"--help", NULL};
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (!strcmp(commands[i].name, argv[2])) {
                    g_cli_env.command = commands[i].name;
                    return commands[i].run(2, sub);
                }
        }
        print_main_help(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(commands[i].name, name)) {
            g_cli_env.command = commands[i].name;
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "vkdetr: unknown command '%s'\n\n", name);
    print_main_help(stderr);
    return CLI_EXIT_USAGE;
}
