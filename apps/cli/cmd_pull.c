/* vkdetr pull: download a checkpoint from the hub into the cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"

typedef struct pull_opts {
    const char *revision;
    int force;
} pull_opts;

static const cli_option pull_options[] = {
    {"revision", 0, CLI_STRING, offsetof(pull_opts, revision), "R",
     "branch, tag or commit to download (also REPO_ID@R)", NULL, 0, 0, NULL},
    {"force", 'f', CLI_FLAG, offsetof(pull_opts, force), NULL,
     "download again even when the cache has the files", NULL, 0, 0, NULL},
};

static const cli_command pull_command = {
    "pull",
    "[--revision R] [--force] REPO_ID",
    "Download config.json, preprocessor_config.json and model.safetensors of a hub repo "
    "(owner/name) into the cache, and print the folder. detect, info and bench -m owner/name "
    "do this on first use.",
    "URL: {HF_ENDPOINT, default https://huggingface.co}/{owner}/{name}/resolve/{revision}/{file}; "
    "HF_TOKEN is sent as a bearer token. Cache: $XDG_CACHE_HOME/vkdetr/hub/{owner}--{name}/"
    "{revision}/ (else ~/.cache/vkdetr/hub/...). Files arrive as {file}.part and are renamed when "
    "complete; an interrupted download resumes from its .part file; the sha256 the hub publishes "
    "for LFS files is checked and a mismatching file is deleted.\n"
    "Example:\n"
    "  vkdetr pull PekingU/rtdetr_r18vd\n"
    "  vkdetr detect -m \"$(vkdetr pull PekingU/rtdetr_r18vd)\" photo.jpg",
    pull_options,
    (int)(sizeof pull_options / sizeof pull_options[0]),
    1,
    1,
};

int cli_cmd_pull(int argc, char **argv) {
    pull_opts o = {"main", 0};
    const char **args = calloc((size_t)argc + 1, sizeof *args);
    int n_args = 0;
    if (!args) return CLI_EXIT_USAGE;
    int rc = cli_parse(&pull_command, argc, argv, &o, args, &n_args);
    if (rc) {
        free(args);
        return rc < 0 ? CLI_EXIT_OK : rc;
    }
    char repo[256], rev[256], dir[4096];
    int ok = vd_hub_parse_repo(args[0], repo, sizeof repo, rev, sizeof rev);
    if (ok && !strchr(args[0], '@')) snprintf(rev, sizeof rev, "%s", o.revision);
    if (!ok || !rev[0]) {
        cli_errorf("'%s' is not a hub repo id (owner/name or owner/name@revision)", args[0]);
        cli_print_usage(&pull_command, stderr);
        free(args);
        return CLI_EXIT_USAGE;
    }
    free(args);
    vd_hub_config hub = cli_hub_config(o.force);
    if (!hub.cache_root) {
        cli_errorf("no cache folder: set XDG_CACHE_HOME or HOME");
        return CLI_EXIT_MODEL;
    }
    if (vd_hub_pull(&hub, repo, rev, dir, sizeof dir)) {
        cli_errorf("%s", vd_app_last_error());
        return CLI_EXIT_MODEL;
    }
    printf("%s\n", dir);
    return CLI_EXIT_OK;
}
