/* Downloading checkpoints from the Hugging Face hub (or a server with the same URL layout)
 * with libcurl.
 *
 *   URL:   {endpoint}/{owner}/{name}/resolve/{revision}/{file}
 *   cache: {cache_root}/{owner}--{name}/{revision}/{file}
 *          cache_root = $XDG_CACHE_HOME/vkdetr/hub, or ~/.cache/vkdetr/hub
 *
 * A file is downloaded to "{file}.part" and renamed when complete and verified. An interrupted
 * download keeps its .part file and continues from its end (an HTTP Range request), within the
 * same call (a few retries) or the next one. For LFS files the hub publishes the sha256 of the
 * content as X-Linked-Etag (or ETag): when the ETag is 64 hex digits the downloaded file must
 * have that sha256, otherwise it is deleted and the download fails. Small files carry a git
 * blob sha1 as ETag, which is not checked. Redirects are followed; the token is sent as
 * "Authorization: Bearer" to the endpoint's host only. */
#ifndef VD_APP_HUB_H
#define VD_APP_HUB_H

#include <stddef.h>

#include "vkdetr.h"

typedef struct vd_hub_config {
    const char *endpoint;   /* "https://huggingface.co" when NULL (HF_ENDPOINT) */
    const char *token;      /* HF_TOKEN; NULL or "" for none */
    const char *cache_root; /* see vd_hub_default_cache_root */
    int progress;           /* 1: progress bars on stderr */
    int force;              /* 1: download again even when the cache has the file */
    int retries;            /* extra attempts after an interrupted transfer (default 3) */
} vd_hub_config;

/* The files a checkpoint folder needs, in download order. */
extern const char *const vd_hub_checkpoint_files[3];

/* Writes the default cache root: xdg_cache_home/vkdetr/hub when xdg_cache_home is set and
 * absolute, else home/.cache/vkdetr/hub. Fails when neither is usable. */
vkdetr_status vd_hub_default_cache_root(const char *xdg_cache_home, const char *home, char *out,
                                        size_t out_size);

/* Splits "owner/name" or "owner/name@revision" (revision defaults to "main"). Returns 1 when
 * spec has that form (letters, digits, '-', '_', '.'; no leading '.', no ".."), else 0. */
int vd_hub_parse_repo(const char *spec, char *repo, size_t repo_size, char *revision,
                      size_t revision_size);

/* The cache folder of a repo at a revision (the revision's '/' become "%2F"). */
vkdetr_status vd_hub_snapshot_dir(const vd_hub_config *cfg, const char *repo,
                                  const char *revision, char *out, size_t out_size);

/* 1 when dir has every file of vd_hub_checkpoint_files. */
int vd_hub_is_complete(const char *dir);

/* Downloads url to dest (through dest.part). what names the file in messages ("owner/name:
 * config.json"). VKDETR_ERR_IO for network and HTTP errors (404 says "not found"), 
 * VKDETR_ERR_FORMAT for a checksum or size mismatch. */
vkdetr_status vd_hub_download(const vd_hub_config *cfg, const char *url, const char *dest,
                              const char *what);

/* Downloads the checkpoint files of repo at revision (NULL = "main") into the cache, skipping
 * files already there unless cfg->force, and writes the folder to dir_out. */
vkdetr_status vd_hub_pull(const vd_hub_config *cfg, const char *repo, const char *revision,
                          char *dir_out, size_t dir_size);

#endif
