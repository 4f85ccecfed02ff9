/* The hub downloader (apps/common/hub.c) and `vkdetr pull` against a local server with the
 * hub's URL layout (tests/hub_server.py): complete download, redirect to a CDN, resume after a
 * cut connection and from a leftover .part file, sha256 rejection, 404 and 401 messages. No
 * internet needed; skipped (77) when python3 is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tests/support/clirun.h"
#include "tests/support/testutil.h"

#include "error.h"
#include "files.h"
#include "hub.h"

static char g_root[512], g_log[600], g_cache[600];
static vd_hub_server g_server;
static unsigned char *g_model;
enum { MODEL_SIZE = 300007 };

static const char *p(const char *fmt, const char *a, const char *b) {
    static char buf[8][1200];
    static int k;
    char *s = buf[k++ % 8], tmp[1200];
    snprintf(tmp, sizeof tmp, fmt, a, b); /* a or b may be an earlier result */
    memcpy(s, tmp, sizeof tmp);
    return s;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* A repo folder with the three checkpoint files and a hub.json. */
static void make_repo(const char *name, const char *hub_json) {
    char dir[800];
    snprintf(dir, sizeof dir, "%s/acme/%s", g_root, name);
    assert_int_equal(vd_files_mkdirs(dir), VKDETR_OK);
    const char *cfg = "{\"model_type\": \"rt_detr\"}\n", *pre = "{\"do_resize\": true}\n";
    assert_int_equal(vd_test_write_file(p("%s/%s", dir, "config.json"), cfg, strlen(cfg)), 0);
    assert_int_equal(vd_test_write_file(p("%s/%s", dir, "preprocessor_config.json"), pre, strlen(pre)), 0);
    assert_int_equal(vd_test_write_file(p("%s/%s", dir, "model.safetensors"), g_model, MODEL_SIZE), 0);
    assert_int_equal(vd_test_write_file(p("%s/%s", dir, "hub.json"), hub_json, strlen(hub_json)), 0);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_root, sizeof g_root, "%s", vd_test_tmpdir());
    snprintf(g_log, sizeof g_log, "%s/requests.jsonl", g_root);
    snprintf(g_cache, sizeof g_cache, "%s/cache", g_root);
    g_model = malloc(MODEL_SIZE);
    vd_rng r;
    vd_rng_seed(&r, 11);
    for (int i = 0; i < MODEL_SIZE; i++) g_model[i] = (unsigned char)vd_rng_u32(&r);
    return vd_hub_server_start(&g_server, g_root, g_log);
}

static int teardown(void **state) {
    (void)state;
    vd_hub_server_stop(&g_server);
    free(g_model);
    return 0;
}

static vd_hub_config config(void) {
    vd_hub_config c;
    memset(&c, 0, sizeof c);
    c.endpoint = g_server.url;
    c.cache_root = g_cache;
    c.retries = 3;
    return c;
}

/* Requests logged for path containing needle, with the given Range header (NULL = any). */
static int count_requests(const char *needle, const char *range_prefix, int status) {
    size_t n;
    char *log = vd_test_read_file(g_log, &n);
    int count = 0;
    for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        cJSON *e = cJSON_Parse(line);
        const cJSON *path = cJSON_GetObjectItem(e, "path"), *range = cJSON_GetObjectItem(e, "range");
        const cJSON *st = cJSON_GetObjectItem(e, "status");
        if (cJSON_IsString(path) && strstr(path->valuestring, needle) &&
            (!range_prefix || (cJSON_IsString(range) && !strncmp(range->valuestring, range_prefix, strlen(range_prefix)))) &&
            (status == 0 || (cJSON_IsNumber(st) && st->valueint == status)))
            count++;
        cJSON_Delete(e);
    }
    free(log);
    return count;
}

static void assert_same_as_model(const char *path) {
    size_t n;
    unsigned char *got = vd_test_read_file(path, &n);
    assert_non_null(got);
    assert_int_equal(n, MODEL_SIZE);
    assert_memory_equal(got, g_model, MODEL_SIZE);
    free(got);
}

static void test_pull_complete_with_redirect(void **state) {
    (void)state;
    make_repo("plain", "{\"lfs\": [\"model.safetensors\"]}");
    vd_hub_config c = config();
    char dir[1024];
    assert_int_equal(vd_hub_pull(&c, "acme/plain", "main", dir, sizeof dir), VKDETR_OK);
    assert_string_equal(dir, p("%s/%s", g_cache, "acme--plain/main"));
    assert_true(vd_hub_is_complete(dir));
    assert_same_as_model(p("%s/%s", dir, "model.safetensors"));
    assert_false(exists(p("%s/%s", dir, "model.safetensors.part")));
    /* the LFS file came through the redirect */
    assert_int_equal(count_requests("/acme/plain/resolve/main/model.safetensors", NULL, 302), 1);
    assert_int_equal(count_requests("/cdn/acme/plain/model.safetensors", NULL, 200), 1);
    /* a second pull finds everything in the cache */
    int before = count_requests("/acme/plain/", NULL, 0);
    assert_int_equal(vd_hub_pull(&c, "acme/plain", NULL, dir, sizeof dir), VKDETR_OK);
    assert_int_equal(count_requests("/acme/plain/", NULL, 0), before);
}

static void test_resume_after_cut(void **state) {
    (void)state;
    make_repo("cut", "{\"lfs\": [\"model.safetensors\"], \"cut_once\": [\"model.safetensors\"]}");
    vd_hub_config c = config();
    char dir[1024];
    assert_int_equal(vd_hub_pull(&c, "acme/cut", "main", dir, sizeof dir), VKDETR_OK);
    assert_same_as_model(p("%s/%s", dir, "model.safetensors"));
    /* the first transfer was cut at half; the second asked for the rest */
    char range[64];
    snprintf(range, sizeof range, "bytes=%d-", MODEL_SIZE / 2);
    assert_int_equal(count_requests("/cdn/acme/cut/model.safetensors", range, 206), 1);
}

static void test_resume_from_part_file(void **state) {
    (void)state;
    make_repo("part", "{\"lfs\": [\"model.safetensors\"]}");
    vd_hub_config c = config();
    char dir[1024];
    assert_int_equal(vd_hub_snapshot_dir(&c, "acme/part", "main", dir, sizeof dir), VKDETR_OK);
    assert_int_equal(vd_files_mkdirs(dir), VKDETR_OK);
    /* an earlier run left the first 1000 bytes */
    assert_int_equal(vd_test_write_file(p("%s/%s", dir, "model.safetensors.part"), g_model, 1000), 0);
    assert_int_equal(vd_hub_pull(&c, "acme/part", "main", dir, sizeof dir), VKDETR_OK);
    assert_same_as_model(p("%s/%s", dir, "model.safetensors"));
    assert_int_equal(count_requests("/cdn/acme/part/model.safetensors", "bytes=1000-", 206), 1);
    assert_int_equal(count_requests("/cdn/acme/part/model.safetensors", NULL, 200), 0);
}

static void test_part_file_restarted_when_range_ignored(void **state) {
    (void)state;
    make_repo("norange", "{\"lfs\": [\"model.safetensors\"], \"ignore_range\": true}");
    vd_hub_config c = config();
    char dir[1024];
    assert_int_equal(vd_hub_snapshot_dir(&c, "acme/norange", "main", dir, sizeof dir), VKDETR_OK);
    assert_int_equal(vd_files_mkdirs(dir), VKDETR_OK);
    assert_int_equal(vd_test_write_file(p("%s/%s", dir, "model.safetensors.part"), "garbage", 7), 0);
    assert_int_equal(vd_hub_pull(&c, "acme/norange", "main", dir, sizeof dir), VKDETR_OK);
    assert_same_as_model(p("%s/%s", dir, "model.safetensors"));
}

static void test_bad_checksum_rejected(void **state) {
    (void)state;
    make_repo("badsha", "{\"lfs\": [\"model.safetensors\"], \"bad_sha\": [\"model.safetensors\"]}");
    vd_hub_config c = config();
    char dir[1024];
    assert_int_equal(vd_hub_pull(&c, "acme/badsha", "main", dir, sizeof dir), VKDETR_ERR_FORMAT);
    const char *msg = vd_app_last_error();
    assert_non_null(strstr(msg, "acme/badsha: model.safetensors"));
    assert_non_null(strstr(msg, "checksum mismatch"));
    assert_int_equal(vd_hub_snapshot_dir(&c, "acme/badsha", "main", dir, sizeof dir), VKDETR_OK);
    assert_false(exists(p("%s/%s", dir, "model.safetensors")));
    assert_false(exists(p("%s/%s", dir, "model.safetensors.part")));
    assert_true(exists(p("%s/%s", dir, "config.json"))); /* small files need no sha256 */
}

static void test_not_found_and_denied(void **state) {
    (void)state;
    vd_hub_config c = config();
    char dir[1024];
    assert_int_equal(vd_hub_pull(&c, "acme/missing", "main", dir, sizeof dir), VKDETR_ERR_IO);
    const char *msg = vd_app_last_error();
    assert_non_null(strstr(msg, "acme/missing: config.json"));
    assert_non_null(strstr(msg, "not found"));
    assert_false(exists(p("%s/%s", g_cache, "acme--missing"))); /* no empty folders left */
    make_repo("gated", "{\"token\": \"s3cret\"}");
    assert_int_equal(vd_hub_pull(&c, "acme/gated", "main", dir, sizeof dir), VKDETR_ERR_IO);
    assert_non_null(strstr(vd_app_last_error(), "HF_TOKEN"));
    c.token = "s3cret";
    assert_int_equal(vd_hub_pull(&c, "acme/gated", "v1", dir, sizeof dir), VKDETR_OK);
    assert_same_as_model(p("%s/%s", dir, "model.safetensors"));
    /* a plain 404 for one file, by URL */
    char url[512];
    snprintf(url, sizeof url, "%s/acme/plain/resolve/main/nothere.bin", g_server.url);
    assert_int_equal(vd_hub_download(&c, url, p("%s/%s", g_root, "nothere.bin"), "acme/plain: nothere.bin"),
                     VKDETR_ERR_IO);
    assert_non_null(strstr(vd_app_last_error(), "acme/plain: nothere.bin: not found"));
    assert_false(exists(p("%s/%s", g_root, "nothere.bin.part")));
}

static void test_cli_pull(void **state) {
    (void)state;
    make_repo("clirepo", "{\"lfs\": [\"model.safetensors\"], \"cut_once\": [\"model.safetensors\"]}");
    char endpoint[128], cache_env[700];
    snprintf(endpoint, sizeof endpoint, "HF_ENDPOINT=%s", g_server.url);
    snprintf(cache_env, sizeof cache_env, "XDG_CACHE_HOME=%s/xdg", g_root);
    const char *env[] = {endpoint, cache_env, "HF_TOKEN=", NULL};
    const char *ok[] = {"pull", "acme/clirepo", NULL};
    vd_cli_result r = vd_cli_run(ok, env, NULL, 120);
    assert_true(vd_cli_expect(&r, 0, "vkdetr pull acme/clirepo"));
    const char *dir = p("%s/xdg/vkdetr/hub/acme--clirepo/%s", g_root, "main");
    assert_non_null(strstr(r.out, dir));
    assert_same_as_model(p("%s/%s", dir, "model.safetensors"));
    vd_cli_result_free(&r);
    const char *rev[] = {"pull", "--revision", "v2", "acme/clirepo", NULL};
    r = vd_cli_run(rev, env, NULL, 120);
    assert_true(vd_cli_expect(&r, 0, "vkdetr pull --revision v2"));
    assert_non_null(strstr(r.out, "acme--clirepo/v2"));
    vd_cli_result_free(&r);
    const char *missing[] = {"pull", "acme/nothing", NULL};
    r = vd_cli_run(missing, env, NULL, 120);
    assert_true(vd_cli_expect(&r, 3, "vkdetr pull acme/nothing"));
    assert_non_null(strstr(r.err, "acme/nothing: config.json: not found"));
    vd_cli_result_free(&r);
    const char *bad[] = {"pull", "not-a-repo-id", NULL};
    r = vd_cli_run(bad, env, NULL, 60);
    assert_true(vd_cli_expect(&r, 2, "vkdetr pull not-a-repo-id"));
    vd_cli_result_free(&r);
    /* detect -m owner/name pulls on first use; the fake checkpoint then fails to load (3) */
    make_repo("fake", "{}");
    const char *detect[] = {"detect", "-m", "acme/fake", "x.png", NULL};
    r = vd_cli_run(detect, env, NULL, 120);
    assert_true(vd_cli_expect(&r, 3, "vkdetr detect -m acme/fake"));
    assert_non_null(strstr(r.err, "pulling acme/fake"));
    assert_true(exists(p("%s/xdg/vkdetr/hub/acme--fake/main/%s", g_root, "model.safetensors")));
    vd_cli_result_free(&r);
}

int main(void) {
    if (access(vd_cli_binary(), X_OK) != 0) {
        fprintf(stderr, "skip: %s not built\n", vd_cli_binary());
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pull_complete_with_redirect),
        cmocka_unit_test(test_resume_after_cut),
        cmocka_unit_test(test_resume_from_part_file),
        cmocka_unit_test(test_part_file_restarted_when_range_ignored),
        cmocka_unit_test(test_bad_checksum_rejected),
        cmocka_unit_test(test_not_found_and_denied),
        cmocka_unit_test(test_cli_pull),
    };
    if (setup(NULL) != 0) {
        fprintf(stderr, "skip: cannot start tests/hub_server.py (python3 missing?)\n");
        free(g_model);
        return 77;
    }
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    teardown(NULL);
    return rc;
}
