/* JSON helpers for config readers: loading with line-numbered errors, typed getters. */
#include "support/testutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"

#define assert_msg_contains(sub)                                                              \
    do {                                                                                      \
        if (!strstr(vkdetr_last_error(), (sub))) {                                            \
            fprintf(stderr, "message \"%s\" lacks \"%s\"\n", vkdetr_last_error(), (sub));     \
            fail();                                                                           \
        }                                                                                     \
    } while (0)

static const char config[] =
    "{\n"
    "  \"d_model\": 256,\n"
    "  \"layer_norm_eps\": 1e-05,\n"
    "  \"use_focal_loss\": true,\n"
    "  \"model_type\": \"rt_detr\",\n"
    "  \"nothing\": null,\n"
    "  \"ratio\": 2.5,\n"
    "  \"big\": 3e10,\n"
    "  \"huge\": 1e39,\n"
    "  \"neg\": -7,\n"
    "  \"as_string\": \"256\",\n"
    "  \"as_int\": 1,\n"
    "  \"feat_strides\": [8, 16, 32],\n"
    "  \"mixed\": [1, \"2\", 3],\n"
    "  \"image_mean\": [0.485, 0.456, 0.406],\n"
    "  \"out_features\": [\"stage2\", \"stage3\", \"stage4\"],\n"
    "  \"backbone_config\": {\"depths\": [2, 2, 2, 2], \"hidden_act\": \"relu\"},\n"
    "  \"dup\": 1,\n"
    "  \"dup\": 2\n"
    "}\n";

static cJSON *load_config(void) {
    cJSON *root;
    assert_int_equal(vd_json_load_memory("config.json", config, strlen(config), &root), VKDETR_OK);
    return root;
}

static void test_scalars(void **state) {
    (void)state;
    cJSON *c = load_config();
    int i = -1, b = -1;
    float f = -1;
    double d = -1;
    int64_t l = -1;
    const char *s = NULL;

    assert_int_equal(vd_json_int(c, "d_model", 0, &i), VKDETR_OK);
    assert_int_equal(i, 256);
    assert_int_equal(vd_json_int(c, "absent", 42, &i), VKDETR_OK);
    assert_int_equal(i, 42);
    assert_int_equal(vd_json_int(c, "nothing", 43, &i), VKDETR_OK);
    assert_int_equal(i, 43);
    assert_int_equal(vd_json_int(c, "neg", 0, &i), VKDETR_OK);
    assert_int_equal(i, -7);
    assert_int_equal(vd_json_int(c, "dup", 0, &i), VKDETR_OK);
    assert_int_equal(i, 2); /* the last one, as Python's json */

    i = 5;
    assert_int_equal(vd_json_int(c, "ratio", 0, &i), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'ratio': 2.5 is not an integer");
    assert_int_equal(i, 5);
    assert_int_equal(vd_json_int(c, "big", 0, &i), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'big': 30000000000 is out of range");
    assert_int_equal(vd_json_int(c, "as_string", 0, &i), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'as_string': expected an integer, got a string");
    assert_int_equal(vd_json_int(c, "use_focal_loss", 0, &i), VKDETR_ERR_FORMAT);
    assert_msg_contains("got a boolean");
    assert_int_equal(i, 5);

    assert_int_equal(vd_json_int64(c, "big", 0, &l), VKDETR_OK);
    assert_int_equal(l, 30000000000LL);
    assert_int_equal(vd_json_int64(c, "huge", 0, &l), VKDETR_ERR_FORMAT);

    assert_int_equal(vd_json_float(c, "layer_norm_eps", 0, &f), VKDETR_OK);
    assert_true(f == 1e-5f);
    assert_int_equal(vd_json_float(c, "d_model", 0, &f), VKDETR_OK);
    assert_true(f == 256.0f);
    assert_int_equal(vd_json_float(c, "absent", 0.5f, &f), VKDETR_OK);
    assert_true(f == 0.5f);
    assert_int_equal(vd_json_float(c, "huge", 0, &f), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'huge': 1e+39 is out of the float range");
    assert_int_equal(vd_json_float(c, "model_type", 0, &f), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'model_type': expected a number, got a string");
    assert_int_equal(vd_json_double(c, "huge", 0, &d), VKDETR_OK);
    assert_true(d == 1e39);
    assert_int_equal(vd_json_double(c, "backbone_config", 0, &d), VKDETR_ERR_FORMAT);
    assert_msg_contains("got an object");

    assert_int_equal(vd_json_bool(c, "use_focal_loss", 0, &b), VKDETR_OK);
    assert_int_equal(b, 1);
    assert_int_equal(vd_json_bool(c, "absent", 0, &b), VKDETR_OK);
    assert_int_equal(b, 0);
    assert_int_equal(vd_json_bool(c, "as_int", 0, &b), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'as_int': expected true or false, got a number");

    assert_int_equal(vd_json_string(c, "model_type", NULL, &s), VKDETR_OK);
    assert_string_equal(s, "rt_detr");
    assert_int_equal(vd_json_string(c, "nothing", "dflt", &s), VKDETR_OK);
    assert_string_equal(s, "dflt");
    assert_int_equal(vd_json_string(c, "absent", NULL, &s), VKDETR_OK);
    assert_null(s);
    assert_int_equal(vd_json_string(c, "d_model", NULL, &s), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'd_model': expected a string, got a number");

    const cJSON *o = NULL;
    assert_int_equal(vd_json_object(c, "backbone_config", &o), VKDETR_OK);
    assert_non_null(o);
    assert_int_equal(vd_json_string(o, "hidden_act", NULL, &s), VKDETR_OK);
    assert_string_equal(s, "relu");
    assert_int_equal(vd_json_object(c, "absent", &o), VKDETR_OK);
    assert_null(o);
    assert_int_equal(vd_json_object(c, "feat_strides", &o), VKDETR_ERR_FORMAT);
    assert_msg_contains("expected an object, got an array");

    assert_true(vd_json_has(c, "d_model"));
    assert_false(vd_json_has(c, "nothing"));
    assert_false(vd_json_has(c, "absent"));
    assert_false(vd_json_has(NULL, "d_model"));
    /* NULL or non-object containers: every key absent */
    assert_int_equal(vd_json_int(NULL, "d_model", 9, &i), VKDETR_OK);
    assert_int_equal(i, 9);
    assert_int_equal(vd_json_int(cJSON_GetObjectItem(c, "feat_strides"), "x", 8, &i), VKDETR_OK);
    assert_int_equal(i, 8);

    /* callers add the file name */
    vkdetr_status st = vd_json_int(c, "ratio", 0, &i);
    st = vd_error_prefix(st, "%s", "config.json");
    assert_int_equal(st, VKDETR_ERR_FORMAT);
    assert_msg_contains("config.json: key 'ratio': 2.5 is not an integer");
    cJSON_Delete(c);
}

static void test_arrays(void **state) {
    (void)state;
    cJSON *c = load_config();
    int v[4] = {0}, n = -1;
    assert_int_equal(vd_json_int_array(c, "feat_strides", v, 4, &n), VKDETR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(v[0], 8);
    assert_int_equal(v[2], 32);
    assert_int_equal(vd_json_int_array(c, "absent", v, 4, &n), VKDETR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(v[0], 8);

    int w[2] = {-1, -1};
    n = -1;
    assert_int_equal(vd_json_int_array(c, "feat_strides", w, 2, &n), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'feat_strides': 3 elements, at most 2 supported");
    assert_int_equal(n, -1);
    assert_int_equal(w[0], -1);
    assert_int_equal(vd_json_int_array(c, "mixed", v, 4, &n), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'mixed' element 1: expected an integer, got a string");
    assert_int_equal(v[0], 8); /* untouched on error */
    assert_int_equal(vd_json_int_array(c, "image_mean", v, 4, &n), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'image_mean' element 0: 0.485 is not an integer");
    assert_int_equal(vd_json_int_array(c, "d_model", v, 4, &n), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'd_model': expected an array, got a number");

    float f[3];
    assert_int_equal(vd_json_float_array(c, "image_mean", f, 3, &n), VKDETR_OK);
    assert_int_equal(n, 3);
    assert_true(f[0] == 0.485f && f[2] == 0.406f);
    assert_int_equal(vd_json_float_array(c, "feat_strides", f, 3, &n), VKDETR_OK);
    assert_true(f[1] == 16.0f);
    assert_int_equal(vd_json_float_array(c, "out_features", f, 3, &n), VKDETR_ERR_FORMAT);

    const char *s[4];
    assert_int_equal(vd_json_string_array(c, "out_features", s, 4, &n), VKDETR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(s[2], "stage4");
    assert_int_equal(vd_json_string_array(c, "mixed", s, 4, &n), VKDETR_ERR_FORMAT);
    assert_msg_contains("key 'mixed' element 0: expected a string, got a number");

    const cJSON *bb;
    assert_int_equal(vd_json_object(c, "backbone_config", &bb), VKDETR_OK);
    assert_int_equal(vd_json_int_array(bb, "depths", v, 4, &n), VKDETR_OK);
    assert_int_equal(n, 4);
    cJSON_Delete(c);
}

typedef struct parse_case {
    const char *text;
    const char *expect;
} parse_case;

static void test_parse_errors(void **state) {
    (void)state;
    static const parse_case cases[] = {
        {"{\n  \"a\": 1,\n  \"b\": ]\n}\n", "config.json: line 3: parse error near ']"},
        {"{\"a\": 1,}", "config.json: line 1: parse error near '}'"},
        {"{\"a\": 1} {\"b\": 2}", "config.json: line 1: unexpected data after the JSON value near '{\"b\": 2}'"},
        {"{\"a\": 1}\n\n x", "config.json: line 3: unexpected data after the JSON value near 'x'"},
        {"{\"a\": [1, 2", "config.json: line 1: parse error"},
        {"", "config.json: empty JSON document"},
        {"  \n\t ", "config.json: empty JSON document"},
        {"{\"a\": NaN}", "config.json: line 1: parse error near 'NaN}'"},
    };
    for (size_t i = 0; i < VD_ARRAY_LEN(cases); i++) {
        cJSON *root = (cJSON *)(uintptr_t)1;
        vkdetr_status s =
            vd_json_load_memory("config.json", cases[i].text, strlen(cases[i].text), &root);
        if (s != VKDETR_ERR_FORMAT || root != NULL || !strstr(vkdetr_last_error(), cases[i].expect) ||
            strchr(vkdetr_last_error(), '\n')) {
            fprintf(stderr, "case %zu: status %d, message \"%s\", want \"%s\"\n", i, s,
                    vkdetr_last_error(), cases[i].expect);
            fail();
        }
    }
    /* a BOM, trailing whitespace, and no NUL terminator are fine */
    char buf[16];
    memcpy(buf, "\xef\xbb\xbf{\"a\": 7}  \n", 14);
    memset(buf + 14, 'x', 2); /* bytes past size must not be read */
    cJSON *root;
    assert_int_equal(vd_json_load_memory(NULL, buf, 14, &root), VKDETR_OK);
    int a;
    assert_int_equal(vd_json_int(root, "a", 0, &a), VKDETR_OK);
    assert_int_equal(a, 7);
    cJSON_Delete(root);
}

static void test_files(void **state) {
    (void)state;
    const char *dir = vd_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *root = (cJSON *)(uintptr_t)1;
    assert_int_equal(vd_json_load_file(path, &root), VKDETR_ERR_IO);
    assert_null(root);
    assert_msg_contains("config.json: cannot open: No such file or directory");

    assert_int_equal(vd_test_write_file(path, config, strlen(config)), 0);
    assert_int_equal(vd_json_load_file(path, &root), VKDETR_OK);
    int d;
    assert_int_equal(vd_json_int(root, "d_model", 0, &d), VKDETR_OK);
    assert_int_equal(d, 256);
    cJSON_Delete(root);

    const char *bad = "{\n\"a\": 1,\n\"b\": tru\n}";
    assert_int_equal(vd_test_write_file(path, bad, strlen(bad)), 0);
    assert_int_equal(vd_json_load_file(path, &root), VKDETR_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s: line 3: parse error near", path);
    assert_msg_contains(want);

    assert_int_equal(vd_json_load_file(dir, &root), VKDETR_ERR_IO);
    assert_msg_contains("not a regular file");

    /* allocation failure while reading */
    assert_int_equal(vd_test_write_file(path, config, strlen(config)), 0);
    vd_alloc_fail_after(1, 0);
    assert_int_equal(vd_json_load_file(path, &root), VKDETR_ERR_NO_MEMORY);
    vd_alloc_fail_after(0, 0);
    remove(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
