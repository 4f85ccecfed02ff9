#include "hub.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "files.h"
#include "progress.h"
#include "sha256.h"

const char *const vd_hub_checkpoint_files[3] = {"config.json", "preprocessor_config.json",
                                                "model.safetensors"};

#define DEFAULT_ENDPOINT "https://huggingface.co"

vkdetr_status vd_hub_default_cache_root(const char *xdg_cache_home, const char *home, char *out,
                                        size_t out_size) {
    int n;
    if (xdg_cache_home && xdg_cache_home[0] == '/')
        n = snprintf(out, out_size, "%s/vkdetr/hub", xdg_cache_home);
    else if (home && home[0])
        n = snprintf(out, out_size, "%s/.cache/vkdetr/hub", home);
    else
        return vd_app_error(VKDETR_ERR_INVALID_ARG,
                            "no cache folder: neither XDG_CACHE_HOME nor HOME is set");
    if (n < 0 || (size_t)n >= out_size) return vd_app_error(VKDETR_ERR_INVALID_ARG, "cache path too long");
    return VKDETR_OK;
}

static int repo_char(int c) { return isalnum(c) || c == '-' || c == '_' || c == '.'; }

static int valid_part(const char *s, size_t n) {
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        if (!repo_char((unsigned char)s[i])) return 0;
        if (i + 1 < n && s[i] == '.' && s[i + 1] == '.') return 0;
    }
    return 1;
}

int vd_hub_parse_repo(const char *spec, char *repo, size_t repo_size, char *revision,
                      size_t revision_size) {
    const char *slash = strchr(spec, '/');
    if (!slash) return 0;
    const char *at = strchr(slash, '@');
    const char *end = at ? at : spec + strlen(spec);
    if (!valid_part(spec, (size_t)(slash - spec)) || !valid_part(slash + 1, (size_t)(end - slash - 1)))
        return 0;
    const char *rev = at ? at + 1 : "main";
    if (!rev[0] || strstr(rev, "..") || rev[0] == '/') return 0;
    for (const char *c = rev; *c; c++)
        if (!repo_char((unsigned char)*c) && *c != '/') return 0;
    if ((size_t)(end - spec) >= repo_size || strlen(rev) >= revision_size) return 0;
    memcpy(repo, spec, (size_t)(end - spec));
    repo[end - spec] = '\0';
    snprintf(revision, revision_size, "%s", rev);
    return 1;
}

/* Copies s with each '/' replaced by "%2F" (URL path segment and folder name alike). */
static int escape_slashes(const char *s, char *out, size_t size) {
    size_t k = 0;
    for (; *s; s++) {
        const char *piece = *s == '/' ? "%2F" : NULL;
        size_t n = piece ? 3 : 1;
        if (k + n >= size) return -1;
        if (piece)
            memcpy(out + k, piece, 3);
        else
            out[k] = *s;
        k += n;
    }
    out[k] = '\0';
    return 0;
}

vkdetr_status vd_hub_snapshot_dir(const vd_hub_config *cfg, const char *repo,
                                  const char *revision, char *out, size_t out_size) {
    const char *slash = strchr(repo, '/');
    char rev[256];
    if (!cfg->cache_root || !slash || escape_slashes(revision ? revision : "main", rev, sizeof rev))
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "bad repo id or revision: %s", repo);
    int n = snprintf(out, out_size, "%s/%.*s--%s/%s", cfg->cache_root, (int)(slash - repo), repo,
                     slash + 1, rev);
    if (n < 0 || (size_t)n >= out_size) return vd_app_error(VKDETR_ERR_INVALID_ARG, "cache path too long");
    return VKDETR_OK;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int vd_hub_is_complete(const char *dir) {
    char p[4096];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, vd_hub_checkpoint_files[i]);
        if (!file_exists(p)) return 0;
    }
    return 1;
}

/* ---- one transfer --------------------------------------------------------------------- */

typedef struct transfer {
    FILE *f;
    int64_t start;          /* bytes already in the .part file when this attempt began */
    int64_t written;        /* bytes written by this attempt */
    int responses;          /* response status lines seen (one per redirect hop) */
    char etag_first[160];   /* ETag of the first response (the hub's own) */
    char linked_etag[160];  /* X-Linked-Etag of any response */
    int64_t linked_size;    /* X-Linked-Size, -1 when absent */
    int status;             /* status code of the current (last) response */
    int truncate_checked;
    int write_failed;
    int open_errno;         /* the .part file could not be opened */
    vd_progress progress;
    int64_t expected_total; /* from the final response, -1 unknown */
} transfer;

static void copy_header_value(const char *v, size_t n, char *out, size_t size) {
    while (n && (*v == ' ' || *v == '\t')) v++, n--;
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    if (n >= size) n = size - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static int header_is(const char *line, size_t n, const char *name, const char **value,
                     size_t *vlen) {
    size_t k = strlen(name);
    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0) return 0;
    *value = line + k + 1;
    *vlen = n - k - 1;
    return 1;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *user) {
    transfer *t = user;
    size_t n = size * nitems;
    const char *v;
    size_t vn;
    char tmp[64];
    if (n >= 5 && !strncmp(buf, "HTTP/", 5)) {
        t->responses++;
        const char *sp = memchr(buf, ' ', n);
        t->status = sp ? atoi(sp + 1) : 0;
    } else if (header_is(buf, n, "ETag", &v, &vn)) {
        if (t->responses == 1) copy_header_value(v, vn, t->etag_first, sizeof t->etag_first);
    } else if (header_is(buf, n, "X-Linked-Etag", &v, &vn)) {
        copy_header_value(v, vn, t->linked_etag, sizeof t->linked_etag);
    } else if (header_is(buf, n, "X-Linked-Size", &v, &vn)) {
        copy_header_value(v, vn, tmp, sizeof tmp);
        t->linked_size = strtoll(tmp, NULL, 10);
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user) {
    transfer *t = user;
    size_t n = size * nmemb;
    if (t->status >= 400) return n; /* error pages are not content */
    if (!t->truncate_checked) {
        t->truncate_checked = 1;
        /* a resumed request answered with the whole file (200, not 206): start over */
        if (t->start > 0 && t->status == 200) {
            if (fflush(t->f) != 0 || ftruncate(fileno(t->f), 0) != 0 || fseek(t->f, 0, SEEK_SET)) {
                t->write_failed = 1;
                return 0;
            }
            t->start = 0;
        }
    }
    if (fwrite(data, 1, n, t->f) != n) {
        t->write_failed = 1;
        return 0;
    }
    t->written += (int64_t)n;
    vd_progress_update(&t->progress, t->start + t->written, 0);
    return n;
}

static int on_xfer(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow) {
    transfer *t = user;
    if (dltotal > 0 && t->status < 300) t->progress.total = t->start + (int64_t)dltotal;
    return 0;
}

/* Strips W/ and quotes: the form huggingface_hub normalises ETags to. */
static void normalize_etag(const char *in, char *out, size_t size) {
    if (!strncmp(in, "W/", 2)) in += 2;
    size_t n = strlen(in);
    if (n >= 2 && in[0] == '"' && in[n - 1] == '"') in++, n -= 2;
    if (n >= size) n = size - 1;
    memcpy(out, in, n);
    out[n] = '\0';
}

static int is_sha256_hex(const char *s) {
    if (strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* One attempt. Returns the curl code; *http the final status. */
static CURLcode attempt(const vd_hub_config *cfg, const char *url, const char *part,
                        const char *what, transfer *t, long *http) {
    memset(t, 0, sizeof *t);
    t->linked_size = -1;
    *http = 0;
    int64_t have = file_size(part);
    t->start = have > 0 ? have : 0;
    t->f = fopen(part, t->start > 0 ? "r+b" : "wb");
    if (!t->f) {
        t->open_errno = errno ? errno : EIO;
        return CURLE_WRITE_ERROR;
    }
    if (t->start > 0) fseek(t->f, 0, SEEK_END);
    CURL *c = curl_easy_init();
    if (!c) {
        fclose(t->f);
        return CURLE_FAILED_INIT;
    }
    struct curl_slist *headers = NULL;
    char auth[1024];
    if (cfg->token && cfg->token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->token);
        headers = curl_slist_append(headers, auth);
    }
    vd_progress_begin(&t->progress, what, -1, VD_PROGRESS_BYTES, cfg->progress);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vkdetr/" "0.1");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* give up on a stalled connection: less than 1 kB/s for 60 s */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    if (t->start > 0) curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)t->start);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
    vd_progress_update(&t->progress, t->start + t->written, 1);
    vd_progress_end(&t->progress);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (fclose(t->f) != 0) t->write_failed = 1;
    t->f = NULL;
    if (t->write_failed && rc == CURLE_OK) rc = CURLE_WRITE_ERROR;
    return rc;
}

static int retryable(CURLcode rc) {
    return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_SEND_ERROR;
}

static vkdetr_status verify(const char *part, const char *what, const transfer *t) {
    char etag[160];
    normalize_etag(t->linked_etag[0] ? t->linked_etag : t->etag_first, etag, sizeof etag);
    int64_t size = file_size(part);
    if (t->linked_size >= 0 && size != t->linked_size)
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: size mismatch: got %lld bytes, the hub says %lld",
                            what, (long long)size, (long long)t->linked_size);
    if (!is_sha256_hex(etag)) return VKDETR_OK; /* a git blob sha1 or no ETag: nothing to check */
    char hex[VD_SHA256_HEX_SIZE];
    vkdetr_status st = vd_sha256_file(part, hex);
    if (st) return st;
    for (char *c = etag; *c; c++) *c = (char)tolower((unsigned char)*c);
    if (strcmp(hex, etag) != 0)
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: checksum mismatch: sha256 %s, expected %s",
                            what, hex, etag);
    return VKDETR_OK;
}

vkdetr_status vd_hub_download(const vd_hub_config *cfg, const char *url, const char *dest,
                              const char *what) {
    size_t n = strlen(dest) + 8;
    char *part = malloc(n);
    if (!part) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    snprintf(part, n, "%s.part", dest);
    int retries = cfg->retries > 0 ? cfg->retries : 3;
    vkdetr_status st = VKDETR_OK;
    transfer t;
    long http = 0;
    CURLcode rc = CURLE_OK;
    for (int i = 0;; i++) {
        rc = attempt(cfg, url, part, what, &t, &http);
        if (t.start > 0 && ((rc == CURLE_OK && http == 416) || rc == CURLE_RANGE_ERROR)) {
            /* the .part is longer than the file, or the server cannot resume: start again */
            remove(part);
            if (i < retries) continue;
        }
        if (rc == CURLE_OK || !retryable(rc) || i >= retries) break;
        if (t.written == 0 && i > 0) break; /* no progress on a retry: give up */
    }
    if (rc != CURLE_OK) {
        if (t.open_errno)
            st = vd_app_error(VKDETR_ERR_IO, "%s: cannot write %s: %s", what, part,
                              strerror(t.open_errno));
        else if (rc == CURLE_WRITE_ERROR)
            st = vd_app_error(VKDETR_ERR_IO, "%s: cannot write %s", what, part);
        else
            st = vd_app_error(VKDETR_ERR_IO, "%s: download failed: %s (%s)", what,
                              curl_easy_strerror(rc), url);
        /* an interrupted transfer keeps its .part for the next run; an empty one goes */
        if (file_size(part) == 0) remove(part);
    } else if (http >= 400 || (http != 200 && http != 206)) {
        remove(part);
        if (http == 404)
            st = vd_app_error(VKDETR_ERR_IO, "%s: not found (HTTP 404 from %s)", what, url);
        else if (http == 401 || http == 403)
            st = vd_app_error(VKDETR_ERR_IO,
                              "%s: access denied (HTTP %ld from %s); a gated or private repo "
                              "needs HF_TOKEN",
                              what, http, url);
        else
            st = vd_app_error(VKDETR_ERR_IO, "%s: HTTP %ld from %s", what, http, url);
    } else if ((st = verify(part, what, &t)) != VKDETR_OK) {
        remove(part);
    } else if (rename(part, dest) != 0) {
        st = vd_app_error(VKDETR_ERR_IO, "%s: cannot rename %s: %s", what, part, strerror(errno));
    }
    free(part);
    return st;
}

vkdetr_status vd_hub_pull(const vd_hub_config *cfg, const char *repo, const char *revision,
                          char *dir_out, size_t dir_size) {
    if (!revision) revision = "main";
    vkdetr_status st = vd_hub_snapshot_dir(cfg, repo, revision, dir_out, dir_size);
    if (st) return st;
    if ((st = vd_files_mkdirs(dir_out))) return st;
    const char *endpoint = cfg->endpoint && cfg->endpoint[0] ? cfg->endpoint : DEFAULT_ENDPOINT;
    size_t elen = strlen(endpoint);
    while (elen > 0 && endpoint[elen - 1] == '/') elen--;
    char rev[256];
    if (escape_slashes(revision, rev, sizeof rev))
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "revision too long: %s", revision);
    for (int i = 0; i < 3; i++) {
        const char *file = vd_hub_checkpoint_files[i];
        char dest[4096], url[4096], what[512];
        snprintf(dest, sizeof dest, "%s/%s", dir_out, file);
        if (!cfg->force && file_exists(dest)) continue;
        snprintf(url, sizeof url, "%.*s/%s/resolve/%s/%s", (int)elen, endpoint, repo, rev, file);
        snprintf(what, sizeof what, "%s: %s", repo, file);
        if ((st = vd_hub_download(cfg, url, dest, what))) {
            /* leave no empty folders behind for a repo that does not exist */
            if (rmdir(dir_out) == 0) {
                char *slash = strrchr(dir_out, '/');
                if (slash) {
                    *slash = '\0';
                    rmdir(dir_out);
                    *slash = '/';
                }
            }
            return st;
        }
    }
    return VKDETR_OK;
}
