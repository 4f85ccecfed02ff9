/* End-to-end tests of the vkdetr binary: usage and exit codes, detect on a folder of awkward
 * inputs (corrupt JPEG, empty file, text named .png, 1x1, 16-bit PNG, grayscale, 10000x100)
 * with JSON / JSON Lines / COCO / annotated outputs, results against the fixture's reference
 * detections, forward, bench and info. The model tests use the tiny RT-DETR fixture
 * (tests/data/rtdetr_v1_tiny, or $VKDETR_TEST_TINY_MODEL) and are skipped without it. The
 * awkward images are generated into a temporary folder. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tests/support/clirun.h"
#include "tests/support/testutil.h"

#include "files.h"
#include "imageio.h"
#include "tensorfile.h"

static char g_dir[512];      /* temporary folder of this run */
static char g_model[1024];   /* the tiny checkpoint, "" when missing */

static const char *p(const char *fmt, const char *a) {
    static char buf[16][1200];
    static int k;
    char *s = buf[k++ % 16], tmp[1200];
    snprintf(tmp, sizeof tmp, fmt, a); /* a may be an earlier result */
    memcpy(s, tmp, sizeof tmp);
    return s;
}

#define TMP(name) p("%s/" name, g_dir)

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_names(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, needle)) n++;
    if (d) closedir(d);
    return n;
}

static vd_cli_result run(const char *const *args) { return vd_cli_run(args, NULL, NULL, 300); }

/* Runs a model command on the CPU backend: the results are compared with the CPU reference,
 * and "auto" would probe Vulkan drivers (whose loader leaks under LeakSanitizer). */
static vd_cli_result run_cpu_stdin(const char *const *args, const char *stdin_text) {
    const char *argv[64];
    int n = 0;
    argv[n++] = args[0];
    argv[n++] = "--backend";
    argv[n++] = "cpu";
    for (int i = 1; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    return vd_cli_run(argv, NULL, stdin_text, 300);
}

static vd_cli_result run_cpu(const char *const *args) { return run_cpu_stdin(args, NULL); }

#define NEED_MODEL()                                                                          \
    do {                                                                                      \
        if (!g_model[0]) {                                                                    \
            fprintf(stderr, "skip: no tiny model fixture (tests/data/rtdetr_v1_tiny)\n");    \
            skip();                                                                           \
        }                                                                                     \
    } while (0)

/* ---- awkward images ------------------------------------------------------------------- */

static uint32_t crc32_of(const uint8_t *p8, size_t n, uint32_t crc) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p8[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void put32(uint8_t *b, uint32_t v) {
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static void chunk(FILE *f, const char *type, const uint8_t *data, uint32_t n) {
    uint8_t len[4], crc[4];
    put32(len, n);
    uint32_t c = crc32_of((const uint8_t *)type, 4, 0);
    c = crc32_of(data, n, c);
    put32(crc, c);
    fwrite(len, 1, 4, f);
    fwrite(type, 1, 4, f);
    if (n) fwrite(data, 1, n, f);
    fwrite(crc, 1, 4, f);
}

/* A 16-bit RGB PNG (stb_image_write cannot write one): zlib stream of stored blocks. */
static void write_png16(const char *path, int w, int h) {
    size_t row = 1 + (size_t)w * 6, raw_n = row * h;
    uint8_t *raw = calloc(raw_n, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                unsigned v = (unsigned)((x * 2311 + y * 977 + c * 20011) % 65536);
                raw[y * row + 1 + x * 6 + c * 2] = (uint8_t)(v >> 8);
                raw[y * row + 1 + x * 6 + c * 2 + 1] = (uint8_t)v;
            }
    size_t blocks = raw_n / 65535 + 1, z_n = 2 + raw_n + blocks * 5 + 4, k = 0;
    uint8_t *z = malloc(z_n);
    z[k++] = 0x78;
    z[k++] = 0x01;
    uint32_t a = 1, b = 0;
    for (size_t off = 0; off < raw_n || off == 0;) {
        size_t n = raw_n - off > 65535 ? 65535 : raw_n - off;
        z[k++] = off + n == raw_n ? 1 : 0;
        z[k++] = (uint8_t)n;
        z[k++] = (uint8_t)(n >> 8);
        z[k++] = (uint8_t)~n;
        z[k++] = (uint8_t)(~n >> 8);
        memcpy(z + k, raw + off, n);
        k += n;
        for (size_t i = 0; i < n; i++) {
            a = (a + raw[off + i]) % 65521;
            b = (b + a) % 65521;
        }
        off += n;
        if (n == 0) break;
    }
    put32(z + k, (b << 16) | a);
    k += 4;
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)w);
    put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 16;
    ihdr[9] = 2;
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    chunk(f, "IHDR", ihdr, 13);
    chunk(f, "IDAT", z, (uint32_t)k);
    chunk(f, "IEND", NULL, 0);
    fclose(f);
    free(z);
    free(raw);
}

static void write_rgb(const char *path, int w, int h) {
    uint8_t *px = malloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) px[i] = (uint8_t)((i * 37) ^ (i >> 7));
    assert_int_equal(vd_imageio_write(path, px, w, h, 3, 90), VKDETR_OK);
    free(px);
}

static void copy_file(const char *from, const char *to) {
    size_t n;
    void *data = vd_test_read_file(from, &n);
    assert_non_null(data);
    assert_int_equal(vd_test_write_file(to, data, n), 0);
    free(data);
}

/* in/: 6 readable images (one in sub/) and 3 that are not. */
static void make_inputs(void) {
    assert_int_equal(vd_files_mkdirs(TMP("in/sub")), VKDETR_OK);
    if (g_model[0]) copy_file(p("%s/input.png", g_model), TMP("in/input.png"));
    else write_rgb(TMP("in/input.png"), 150, 110);
    write_rgb(TMP("in/one.png"), 1, 1);
    uint8_t gray[37 * 23];
    for (int i = 0; i < 37 * 23; i++) gray[i] = (uint8_t)(i * 3);
    assert_int_equal(vd_imageio_write(TMP("in/gray.png"), gray, 37, 23, 1, 0), VKDETR_OK);
    write_png16(TMP("in/deep16.png"), 29, 17);
    write_rgb(TMP("in/wide.png"), 10000, 100);
    write_rgb(TMP("in/sub/nested.jpg"), 64, 48);
    const uint8_t corrupt[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00,
                               0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x00, 0xFF, 0xC0, 0x99};
    assert_int_equal(vd_test_write_file(TMP("in/corrupt.jpg"), corrupt, sizeof corrupt), 0);
    assert_int_equal(vd_test_write_file(TMP("in/zero.jpg"), "", 0), 0);
    const char *text = "this is a text file, not an image\n";
    assert_int_equal(vd_test_write_file(TMP("in/text.png"), text, strlen(text)), 0);
}

static int group_setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", vd_test_tmpdir());
    const char *env = getenv("VKDETR_TEST_TINY_MODEL");
    snprintf(g_model, sizeof g_model, "%s", env && env[0] ? env : vd_test_path("tests/data/rtdetr_v1_tiny"));
    if (!exists(p("%s/model.safetensors", g_model))) g_model[0] = '\0';
    make_inputs();
    return 0;
}

/* ---- no model needed ------------------------------------------------------------------ */

static void test_usage_and_exit_codes(void **state) {
    (void)state;
    struct {
        const char *args[6];
        int status;
        const char *out, *err;
    } cases[] = {
        {{"--version"}, 0, "vkdetr 0.1", NULL},
        {{NULL}, 2, NULL, "usage: vkdetr COMMAND"},
        {{"frobnicate"}, 2, NULL, "unknown command 'frobnicate'"},
        {{"--help"}, 0, "exit codes:", NULL},
        {{"help", "detect"}, 0, "--threshold F", NULL},
        {{"detect"}, 2, NULL, "usage: vkdetr detect"},
        {{"detect", "--bogus", "x.png"}, 2, NULL, "unknown option '--bogus'"},
        {{"detect", "x.png", "--threshold"}, 2, NULL, "needs a value"},
        {{"detect", "--threshold", "2", "x.png"}, 2, NULL, "must be within 0..1"},
        {{"detect", "--size", "12y", "x.png"}, 2, NULL, "expected WxH or N"},
        {{"detect", "--backend", "metal", "x.png"}, 2, NULL, "auto|cpu|vulkan"},
        {{"detect", "--coco-annotations", "a.json", "x.png"}, 2, NULL, "needs --coco"},
        {{"detect", "--jsonl", "--json", "-", "x.png"}, 2, NULL, "stdout"},
        {{"forward", "-m", "x"}, 2, NULL, "--pixels and --out are required"},
        {{"pull"}, 2, NULL, "usage: vkdetr pull"},
        {{"info", "a", "b"}, 2, NULL, "too many arguments"},
        {{"bench", "--runs", "0"}, 2, NULL, "--runs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vd_cli_result r = run(cases[i].args);
        char what[128];
        snprintf(what, sizeof what, "usage case %zu (%s %s)", i, cases[i].args[0] ? cases[i].args[0] : "",
                 cases[i].args[0] && cases[i].args[1] ? cases[i].args[1] : "");
        int ok = vd_cli_expect(&r, cases[i].status, what);
        if (ok && cases[i].out && !strstr(r.out, cases[i].out)) {
            fprintf(stderr, "FAIL %s: stdout lacks '%s':\n%s\n", what, cases[i].out, r.out);
            ok = 0;
        }
        if (ok && cases[i].err && !strstr(r.err, cases[i].err)) {
            fprintf(stderr, "FAIL %s: stderr lacks '%s':\n%s\n", what, cases[i].err, r.err);
            ok = 0;
        }
        vd_cli_result_free(&r);
        assert_true(ok);
    }
}

static void test_every_help_prints_defaults(void **state) {
    (void)state;
    const char *cmds[] = {"detect", "info", "bench", "pull", "forward"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *args[] = {cmds[i], "--help", NULL};
        vd_cli_result r = run(args);
        assert_true(vd_cli_expect(&r, 0, cmds[i]));
        assert_non_null(strstr(r.out, "usage: vkdetr "));
        assert_non_null(strstr(r.out, "default"));
        assert_non_null(strstr(r.out, "exit codes: 0 success; 1 some inputs failed"));
        vd_cli_result_free(&r);
    }
}

static void test_model_not_found(void **state) {
    (void)state;
    const char *missing[] = {"detect", "-m", TMP("no/such/model"), TMP("in/one.png"), NULL};
    vd_cli_result r = run(missing);
    assert_true(vd_cli_expect(&r, 3, "missing model folder"));
    assert_non_null(strstr(r.err, "no such model folder"));
    vd_cli_result_free(&r);
    const char *file[] = {"detect", "-m", TMP("in/one.png"), TMP("in/one.png"), NULL};
    r = run(file);
    assert_true(vd_cli_expect(&r, 3, "model is a file"));
    assert_non_null(strstr(r.err, "is a file"));
    vd_cli_result_free(&r);
    const char *env[] = {"VKDETR_DEFAULT_MODEL=/nonexistent/vkdetr-default", NULL};
    const char *dflt[] = {"detect", TMP("in/one.png"), NULL};
    r = vd_cli_run(dflt, env, NULL, 60);
    assert_true(vd_cli_expect(&r, 3, "default model missing"));
    assert_non_null(strstr(r.err, "bundled default model is not installed"));
    assert_non_null(strstr(r.err, "/nonexistent/vkdetr-default"));
    vd_cli_result_free(&r);
    const char *broken_dir = TMP("broken");
    assert_int_equal(vd_files_mkdirs(broken_dir), VKDETR_OK);
    assert_int_equal(vd_test_write_file(TMP("broken/config.json"), "{not json", 9), 0);
    const char *broken[] = {"info", broken_dir, NULL};
    r = run(broken);
    assert_true(vd_cli_expect(&r, 3, "broken checkpoint"));
    assert_non_null(strstr(r.err, "cannot load model"));
    vd_cli_result_free(&r);
}

/* ---- detect --------------------------------------------------------------------------- */

static cJSON *parse_file(const char *path) {
    size_t n;
    char *text = vd_test_read_file(path, &n);
    assert_non_null(text);
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    assert_non_null(j);
    return j;
}

static const cJSON *find_by_file(const cJSON *arr, const char *suffix) {
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *f = cJSON_GetObjectItem(it, "file");
        size_t n = strlen(f->valuestring), m = strlen(suffix);
        if (n >= m && !strcmp(f->valuestring + n - m, suffix)) return it;
    }
    return NULL;
}

static void check_image(const cJSON *images, const char *name, int w, int h) {
    const cJSON *im = find_by_file(images, name);
    if (!im) fprintf(stderr, "FAIL: %s missing from the JSON images\n", name);
    assert_non_null(im);
    assert_int_equal(cJSON_GetObjectItem(im, "width")->valueint, w);
    assert_int_equal(cJSON_GetObjectItem(im, "height")->valueint, h);
    const cJSON *d;
    double last = 2.0;
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(im, "detections")) {
        double s = cJSON_GetObjectItem(d, "score")->valuedouble;
        assert_true(s > 0.5 && s <= 1.0 && s <= last); /* default threshold, best first */
        last = s;
        const cJSON *box = cJSON_GetObjectItem(d, "box");
        assert_int_equal(cJSON_GetArraySize(box), 4);
        for (int k = 0; k < 4; k++) assert_true(isfinite(cJSON_GetArrayItem(box, k)->valuedouble));
        assert_true(cJSON_IsString(cJSON_GetObjectItem(d, "label")));
    }
}

static void test_detect_folder_with_bad_inputs(void **state) {
    (void)state;
    NEED_MODEL();
    const char *args[] = {"detect", "-m", g_model, "-r", "--json", TMP("out.json"),
                          "-o", TMP("annotated"), TMP("in"), NULL};
    vd_cli_result r = run_cpu(args);
    assert_true(vd_cli_expect(&r, 1, "detect on the folder"));
    cJSON *j = parse_file(TMP("out.json"));
    const cJSON *images = cJSON_GetObjectItem(j, "images"), *errors = cJSON_GetObjectItem(j, "errors");
    assert_int_equal(cJSON_GetArraySize(images), 6);
    assert_int_equal(cJSON_GetArraySize(errors), 3);
    check_image(images, "/in/input.png", 150, 110);
    check_image(images, "/in/one.png", 1, 1);
    check_image(images, "/in/gray.png", 37, 23);
    check_image(images, "/in/deep16.png", 29, 17);
    check_image(images, "/in/wide.png", 10000, 100);
    check_image(images, "/in/sub/nested.jpg", 64, 48);
    const char *bad[] = {"/in/corrupt.jpg", "/in/zero.jpg", "/in/text.png"};
    for (int i = 0; i < 3; i++) {
        const cJSON *e = find_by_file(errors, bad[i]);
        assert_non_null(e);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(e, "error")));
        assert_non_null(strstr(r.err, bad[i])); /* reported by path */
    }
    assert_non_null(strstr(r.err, "6 images (3 failed)"));
    assert_non_null(strstr(r.out, "in/wide.png  10000x100"));
    /* annotated images for the readable inputs only; JPEG in, JPEG out */
    const char *outs[] = {"input.png", "one.png", "gray.png", "deep16.png", "wide.png", "nested.jpg"};
    for (int i = 0; i < 6; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/annotated/%s", g_dir, outs[i]);
        if (!exists(path)) fprintf(stderr, "FAIL: %s not written\n", path);
        assert_true(exists(path));
    }
    assert_int_equal(count_names(TMP("annotated"), "corrupt"), 0);
    assert_int_equal(count_names(TMP("annotated"), "zero"), 0);
    assert_int_equal(count_names(TMP("annotated"), "text"), 0);
    assert_int_equal(count_names(TMP("annotated"), ".tmp-"), 0);
    assert_int_equal(count_names(g_dir, ".tmp-"), 0);
    vkdetr_image im;
    assert_int_equal(vkdetr_image_load(TMP("annotated/wide.png"), &im), VKDETR_OK);
    assert_int_equal(im.width, 10000);
    assert_int_equal(im.height, 100);
    vkdetr_image_free(&im);
    cJSON_Delete(j);
    vd_cli_result_free(&r);
}

static void test_detect_jsonl_from_stdin(void **state) {
    (void)state;
    NEED_MODEL();
    char list[2600];
    snprintf(list, sizeof list, "%s\n\n%s\n%s\n", TMP("in/input.png"), TMP("in/text.png"), TMP("in/sub"));
    const char *args[] = {"detect", "-m", g_model, "--jsonl", "-", NULL};
    vd_cli_result r = run_cpu_stdin(args, list);
    assert_true(vd_cli_expect(&r, 1, "detect --jsonl -"));
    int lines = 0, errors = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        if (cJSON_GetObjectItem(o, "error")) errors++;
        else assert_non_null(cJSON_GetObjectItem(o, "detections"));
        lines++;
        cJSON_Delete(o);
    }
    assert_int_equal(lines, 3);
    assert_int_equal(errors, 1);
    vd_cli_result_free(&r);
}

/* The CLI's detections equal the fixture's reference post-processing output. */
static void test_detect_matches_reference(void **state) {
    (void)state;
    NEED_MODEL();
    vd_tensorfile ref;
    assert_int_equal(vd_tensorfile_read(p("%s/reference.safetensors", g_model), &ref), VKDETR_OK);
    const vd_tensorfile_entry *boxes = vd_tensorfile_find(&ref, "post.boxes");
    const vd_tensorfile_entry *scores = vd_tensorfile_find(&ref, "post.scores");
    const vd_tensorfile_entry *labels = vd_tensorfile_find(&ref, "post.labels");
    assert_non_null(boxes);
    assert_non_null(scores);
    assert_non_null(labels);
    size_t n;
    char *cfg = vd_test_read_file(p("%s/config.json", g_model), &n);
    cJSON *config = cJSON_ParseWithLength(cfg, n);
    free(cfg);
    /* the threshold the reference used, from its metadata */
    char *raw = vd_test_read_file(p("%s/reference.safetensors", g_model), &n);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)(uint8_t)raw[i] << (8 * i);
    cJSON *header = cJSON_ParseWithLength(raw + 8, hl);
    free(raw);
    const char *threshold = cJSON_GetObjectItem(cJSON_GetObjectItem(header, "__metadata__"), "threshold")->valuestring;
    const char *args[] = {"detect", "-m", g_model, "-t", threshold, "--json", "-", TMP("in/input.png"), NULL};
    vd_cli_result r = run_cpu(args);
    assert_true(vd_cli_expect(&r, 0, "detect --json -"));
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    const cJSON *dets = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "images"), 0), "detections");
    int count = (int)scores->shape[0];
    assert_int_equal(cJSON_GetArraySize(dets), count);
    const float *rb = boxes->data, *rs = scores->data;
    const int32_t *rl = labels->data;
    const cJSON *id2label = cJSON_GetObjectItem(config, "id2label");
    for (int i = 0; i < count; i++) {
        const cJSON *d = cJSON_GetArrayItem(dets, i);
        char key[16];
        snprintf(key, sizeof key, "%d", rl[i]);
        assert_int_equal(cJSON_GetObjectItem(d, "class_id")->valueint, rl[i]);
        assert_string_equal(cJSON_GetObjectItem(d, "label")->valuestring,
                            cJSON_GetObjectItem(id2label, key)->valuestring);
        double ds = cJSON_GetObjectItem(d, "score")->valuedouble - rs[i];
        if (fabs(ds) > 1e-3) fprintf(stderr, "FAIL detection %d: score off by %g\n", i, ds);
        assert_true(fabs(ds) < 1e-3);
        for (int k = 0; k < 4; k++) {
            double db = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "box"), k)->valuedouble - rb[i * 4 + k];
            if (fabs(db) > 0.05) fprintf(stderr, "FAIL detection %d box[%d]: off by %g px\n", i, k, db);
            assert_true(fabs(db) < 0.05);
        }
    }
    assert_null(strstr(r.out, "detections\n")); /* stdout holds the JSON only, no table */
    cJSON_Delete(j);
    cJSON_Delete(header);
    cJSON_Delete(config);
    vd_tensorfile_free(&ref);
    vd_cli_result_free(&r);
}

static int count_detections(const char *json_text) {
    cJSON *j = cJSON_Parse(json_text);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "images"), 0), "detections"));
    cJSON_Delete(j);
    return n;
}

static void test_detect_options(void **state) {
    (void)state;
    NEED_MODEL();
    const char *in = TMP("in/input.png");
    const char *all[] = {"detect", "-m", g_model, "-t", "0.3", "--json", "-", in, NULL};
    vd_cli_result r = run_cpu(all);
    assert_true(vd_cli_expect(&r, 0, "-t 0.3"));
    int n_all = count_detections(r.out);
    vd_cli_result_free(&r);
    const char *few[] = {"detect", "-m", g_model, "-t", "0.3", "--max-detections", "2", "--json", "-", in, NULL};
    r = run_cpu(few);
    assert_true(vd_cli_expect(&r, 0, "--max-detections 2"));
    assert_true(count_detections(r.out) <= 2 && count_detections(r.out) <= n_all);
    vd_cli_result_free(&r);
    /* --classes by name keeps only that class */
    const char *cls[] = {"detect", "-m", g_model, "-t", "0.3", "--classes", "disc", "--jsonl", in, NULL};
    r = run_cpu(cls);
    assert_true(vd_cli_expect(&r, 0, "--classes disc"));
    assert_null(strstr(r.out, "\"label\":\"square\""));
    assert_null(strstr(r.out, "\"label\":\"bar\""));
    vd_cli_result_free(&r);
    const char *badcls[] = {"detect", "-m", g_model, "--classes", "unicorn", in, NULL};
    r = run_cpu(badcls);
    assert_true(vd_cli_expect(&r, 2, "--classes unicorn"));
    assert_non_null(strstr(r.err, "unknown class 'unicorn'"));
    vd_cli_result_free(&r);
    const char *badsize[] = {"detect", "-m", g_model, "--size", "100x96", in, NULL};
    r = run_cpu(badsize);
    assert_true(vd_cli_expect(&r, 2, "--size 100x96"));
    assert_non_null(strstr(r.err, "multiples of"));
    vd_cli_result_free(&r);
    const char *size[] = {"detect", "-m", g_model, "--size", "160x64", "-q", in, NULL};
    r = run_cpu(size);
    assert_true(vd_cli_expect(&r, 0, "--size 160x64"));
    assert_string_equal(r.out, ""); /* -q: no table */
    vd_cli_result_free(&r);
    /* -o naming one file */
    const char *single[] = {"detect", "-m", g_model, "-q", "-o", TMP("single.jpg"), in, NULL};
    r = run_cpu(single);
    assert_true(vd_cli_expect(&r, 0, "-o single.jpg"));
    assert_true(exists(TMP("single.jpg")));
    vd_cli_result_free(&r);
    /* the same base name twice does not overwrite */
    const char *twice[] = {"detect", "-m", g_model, "-q", "-o", TMP("twice"), in, in, NULL};
    r = run_cpu(twice);
    assert_true(vd_cli_expect(&r, 0, "same name twice"));
    assert_true(exists(TMP("twice/input.png")) && exists(TMP("twice/input_2.png")));
    vd_cli_result_free(&r);
    /* an output folder that cannot be created: exit 4 */
    const char *noout[] = {"detect", "-m", g_model, "-q", "-o", TMP("in/one.png/x"), in, NULL};
    r = run_cpu(noout);
    assert_true(vd_cli_expect(&r, 4, "unwritable -o"));
    vd_cli_result_free(&r);
}

static void test_detect_coco(void **state) {
    (void)state;
    NEED_MODEL();
    copy_file(TMP("in/input.png"), TMP("000000000042.png"));
    const char *args[] = {"detect", "-m", g_model, "-q", "-t", "0.3", "--coco", TMP("coco.json"),
                          TMP("000000000042.png"), TMP("in/input.png"), NULL};
    vd_cli_result r = run_cpu(args);
    assert_true(vd_cli_expect(&r, 0, "--coco"));
    assert_non_null(strstr(r.err, "no COCO image id")); /* input.png has no numeric name */
    cJSON *j = parse_file(TMP("coco.json"));
    assert_true(cJSON_IsArray(j) && cJSON_GetArraySize(j) > 0);
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        assert_int_equal(cJSON_GetObjectItem(e, "image_id")->valueint, 42);
        int cat = cJSON_GetObjectItem(e, "category_id")->valueint;
        assert_true(cat >= 0 && cat < 5);
        const cJSON *bbox = cJSON_GetObjectItem(e, "bbox");
        assert_true(cJSON_GetArrayItem(bbox, 2)->valuedouble >= 0); /* width */
        assert_true(cJSON_GetObjectItem(e, "score")->valuedouble > 0.3);
    }
    int n = cJSON_GetArraySize(j);
    cJSON_Delete(j);
    vd_cli_result_free(&r);
    /* ids and categories from an annotations file */
    const char *ann = "{\"images\": [{\"id\": 7, \"file_name\": \"input.png\"}],"
                      " \"categories\": [{\"id\": 101, \"name\": \"disc\"}, {\"id\": 102, \"name\": \"square\"},"
                      " {\"id\": 103, \"name\": \"bar\"}, {\"id\": 104, \"name\": \"ring\"}, {\"id\": 105, \"name\": \"cross\"}]}";
    assert_int_equal(vd_test_write_file(TMP("ann.json"), ann, strlen(ann)), 0);
    const char *with_ann[] = {"detect", "-m", g_model, "-q", "-t", "0.3", "--coco", TMP("coco2.json"),
                              "--coco-annotations", TMP("ann.json"), TMP("in/input.png"), NULL};
    r = run_cpu(with_ann);
    assert_true(vd_cli_expect(&r, 0, "--coco-annotations"));
    j = parse_file(TMP("coco2.json"));
    cJSON_ArrayForEach(e, j) {
        assert_int_equal(cJSON_GetObjectItem(e, "image_id")->valueint, 7);
        assert_true(cJSON_GetObjectItem(e, "category_id")->valueint > 100);
    }
    assert_true(cJSON_GetArraySize(j) <= n);
    cJSON_Delete(j);
    vd_cli_result_free(&r);
}

/* ---- forward, bench, info ------------------------------------------------------------- */

static void test_forward_matches_reference(void **state) {
    (void)state;
    NEED_MODEL();
    vd_tensorfile ref;
    assert_int_equal(vd_tensorfile_read(p("%s/reference.safetensors", g_model), &ref), VKDETR_OK);
    const vd_tensorfile_entry *px = vd_tensorfile_find(&ref, "pixel_values");
    assert_non_null(px);
    assert_int_equal(vd_tensorfile_write(TMP("pixels.safetensors"), px, 1, NULL), VKDETR_OK);
    const char *args[] = {"forward", "-m", g_model, "--pixels", TMP("pixels.safetensors"), "--out",
                          TMP("outputs.safetensors"), "--stages", NULL};
    vd_cli_result r = run_cpu(args);
    assert_true(vd_cli_expect(&r, 0, "forward --stages"));
    vd_tensorfile out;
    assert_int_equal(vd_tensorfile_read(TMP("outputs.safetensors"), &out), VKDETR_OK);
    assert_true(out.count > 2);
    const char *names[] = {"logits", "pred_boxes", "backbone.0", "encoder.aifi"};
    for (int i = 0; i < 4; i++) {
        const vd_tensorfile_entry *a = vd_tensorfile_find(&out, names[i]), *b = vd_tensorfile_find(&ref, names[i]);
        if (!a) fprintf(stderr, "FAIL: forward output %s missing\n", names[i]);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(a->ndim, b->ndim);
        size_t count = 1;
        for (int d = 0; d < a->ndim; d++) {
            assert_int_equal(a->shape[d], b->shape[d]);
            count *= (size_t)a->shape[d];
        }
        float *fa = malloc(count * sizeof *fa), *fb = malloc(count * sizeof *fb);
        memcpy(fa, a->data, count * sizeof *fa);
        memcpy(fb, b->data, count * sizeof *fb);
        assert_true(vd_check_close(names[i], fa, fb, count, 1e-3, 1e-3));
        free(fa);
        free(fb);
    }
    vd_tensorfile_free(&out);
    vd_cli_result_free(&r);
    /* without --stages: fewer outputs; a pixel file without pixel_values: exit 1 */
    const char *plain[] = {"forward", "-m", g_model, "--pixels", TMP("pixels.safetensors"), "--out",
                           TMP("plain.safetensors"), NULL};
    r = run_cpu(plain);
    assert_true(vd_cli_expect(&r, 0, "forward"));
    assert_int_equal(vd_tensorfile_read(TMP("plain.safetensors"), &out), VKDETR_OK);
    assert_non_null(vd_tensorfile_find(&out, "logits"));
    assert_null(vd_tensorfile_find(&out, "backbone.0"));
    vd_tensorfile_free(&out);
    vd_cli_result_free(&r);
    const char *nopix[] = {"forward", "-m", g_model, "--pixels", TMP("plain.safetensors"), "--out",
                           TMP("never.safetensors"), NULL};
    r = run_cpu(nopix);
    assert_true(vd_cli_expect(&r, 1, "forward without pixel_values"));
    assert_non_null(strstr(r.err, "pixel_values"));
    assert_false(exists(TMP("never.safetensors")));
    vd_cli_result_free(&r);
    vd_tensorfile_free(&ref);
}

static void test_bench_json(void **state) {
    (void)state;
    NEED_MODEL();
    const char *args[] = {"bench", "-m", g_model, "--backend", "cpu", "--runs", "3", "--warmup", "1",
                          "--threads", "1", "--nodes", "3", "--json", "-", NULL};
    vd_cli_result r = run_cpu(args);
    assert_true(vd_cli_expect(&r, 0, "bench --json -"));
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    const char *keys[] = {"p50_ms", "p95_ms", "min_ms", "mean_ms", "peak_rss_kb", "runs"};
    for (int i = 0; i < 6; i++) assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, keys[i])));
    double p50 = cJSON_GetObjectItem(j, "p50_ms")->valuedouble, mn = cJSON_GetObjectItem(j, "min_ms")->valuedouble;
    double p95 = cJSON_GetObjectItem(j, "p95_ms")->valuedouble;
    assert_true(mn > 0 && mn <= p50 && p50 <= p95);
    assert_int_equal(cJSON_GetObjectItem(j, "runs")->valueint, 3);
    const cJSON *stages = cJSON_GetObjectItem(j, "stage_ms");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(stages, "backbone")));
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "ops")));
    assert_string_equal(cJSON_GetObjectItem(j, "backend")->valuestring, "cpu");
    /* --nodes 3: the three slowest nodes, slowest first */
    const cJSON *nodes = cJSON_GetObjectItem(j, "nodes");
    assert_int_equal(cJSON_GetArraySize(nodes), 3);
    double prev = 1e30;
    for (int i = 0; i < 3; i++) {
        const cJSON *n = cJSON_GetArrayItem(nodes, i);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(n, "op")));
        assert_true(cJSON_IsString(cJSON_GetObjectItem(n, "stage")));
        assert_non_null(strstr(cJSON_GetObjectItem(n, "shapes")->valuestring, " -> "));
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(n, "gflop")));
        double ms = cJSON_GetObjectItem(n, "ms")->valuedouble;
        assert_true(ms <= prev);
        prev = ms;
    }
    cJSON_Delete(j);
    vd_cli_result_free(&r);
    const char *text[] = {"bench", "-m", g_model, "--backend", "cpu", "--runs", "2", "--warmup", "0",
                          "--image", TMP("in/gray.png"), "--nodes", "2", NULL};
    r = run_cpu(text);
    assert_true(vd_cli_expect(&r, 0, "bench text"));
    assert_non_null(strstr(r.out, "latency    p50"));
    assert_non_null(strstr(r.out, "peak RSS"));
    assert_non_null(strstr(r.out, "slowest nodes of the last run"));
    vd_cli_result_free(&r);
    /* --scaling 2: a second session on 2 threads, runs paired with the first's */
    const char *scal[] = {"bench", "-m", g_model, "--backend", "cpu", "--runs", "3", "--warmup", "1",
                          "--threads", "1", "--scaling", "2", "--no-op-profile", "--json", "-", NULL};
    r = run_cpu(scal);
    assert_true(vd_cli_expect(&r, 0, "bench --scaling 2"));
    j = cJSON_Parse(r.out);
    assert_non_null(j);
    const cJSON *sc = cJSON_GetObjectItem(j, "scaling");
    assert_int_equal(cJSON_GetObjectItem(sc, "threads")->valueint, 2);
    double s50 = cJSON_GetObjectItem(sc, "p50_ms")->valuedouble, smin = cJSON_GetObjectItem(sc, "min_ms")->valuedouble;
    assert_true(smin > 0 && smin <= s50);
    double q50 = cJSON_GetObjectItem(sc, "speedup_p50")->valuedouble;
    double qmin = cJSON_GetObjectItem(sc, "speedup_min")->valuedouble, qmax = cJSON_GetObjectItem(sc, "speedup_max")->valuedouble;
    assert_true(qmin > 0 && qmin <= q50 && q50 <= qmax);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(sc, "stage_ms"), "backbone")));
    cJSON_Delete(j);
    vd_cli_result_free(&r);
    const char *scal_text[] = {"bench", "-m", g_model, "--backend", "cpu", "--runs", "2", "--warmup", "0",
                               "--threads", "2", "--scaling", "1", NULL};
    r = run_cpu(scal_text);
    assert_true(vd_cli_expect(&r, 0, "bench --scaling text"));
    assert_non_null(strstr(r.out, "scaling    2 -> 1 threads: "));
    vd_cli_result_free(&r);
    /* no thread count means "none" here: 0 (one per core for --threads) is refused, not
     * silently ignored */
    const char *scal_bad[][6] = {{"bench", "-m", g_model, "--scaling", "-1", NULL},
                                 {"bench", "-m", g_model, "--scaling", "0", NULL}};
    for (int i = 0; i < 2; i++) {
        r = run_cpu(scal_bad[i]);
        assert_true(vd_cli_expect(&r, 2, scal_bad[i][4]));
        assert_non_null(strstr(r.err, "--scaling"));
        vd_cli_result_free(&r);
    }
}

static void test_info(void **state) {
    (void)state;
    NEED_MODEL();
    const char *args[] = {"info", "--json", g_model, NULL};
    vd_cli_result r = run_cpu(args);
    assert_true(vd_cli_expect(&r, 0, "info --json"));
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    const cJSON *m = cJSON_GetObjectItem(j, "model");
    assert_string_equal(cJSON_GetObjectItem(m, "family")->valuestring, "rt_detr");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(m, "classes")), 5);
    assert_true(cJSON_GetObjectItem(m, "parameters")->valuedouble > 1000);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "devices")));
    cJSON_Delete(j);
    vd_cli_result_free(&r);
    const char *text[] = {"info", "-m", g_model, NULL};
    r = run_cpu(text);
    assert_true(vd_cli_expect(&r, 0, "info"));
    assert_non_null(strstr(r.out, "family       rt_detr"));
    assert_non_null(strstr(r.out, "0 disc"));
    assert_non_null(strstr(r.out, "backends     cpu"));
    vd_cli_result_free(&r);
}

int main(void) {
    if (access(vd_cli_binary(), X_OK) != 0) {
        fprintf(stderr, "skip: %s not built\n", vd_cli_binary());
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_and_exit_codes),
        cmocka_unit_test(test_every_help_prints_defaults),
        cmocka_unit_test(test_model_not_found),
        cmocka_unit_test(test_detect_folder_with_bad_inputs),
        cmocka_unit_test(test_detect_jsonl_from_stdin),
        cmocka_unit_test(test_detect_matches_reference),
        cmocka_unit_test(test_detect_options),
        cmocka_unit_test(test_detect_coco),
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_bench_json),
        cmocka_unit_test(test_info),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
