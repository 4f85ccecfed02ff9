#include "model/rtdetr_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/nn.h"

/* ---- labels (PretrainedConfig: id2label wins; else num_labels, names LABEL_i) ------------ */

void vd_config_labels_free(char **labels, int n) {
    if (!labels) return;
    for (int i = 0; i < n; i++) vd_free(labels[i]);
    vd_free(labels);
}

vkdetr_status vd_config_labels(const cJSON *json, char ***labels, int *n) {
    *labels = NULL;
    *n = 0;
    const cJSON *id2label = NULL;
    vkdetr_status st = vd_json_object(json, "id2label", &id2label);
    if (st) return st;
    int count = 2; /* PretrainedConfig's default */
    if (id2label) {
        count = cJSON_GetArraySize(id2label);
    } else if ((st = vd_json_int(json, "num_labels", 2, &count))) {
        return st;
    }
    if (count < 1 || count > 100000)
        return vd_error(VKDETR_ERR_UNSUPPORTED, "%d labels", count);
    char **names = vd_calloc((size_t)count, sizeof *names);
    if (!names) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    for (const cJSON *it = id2label ? id2label->child : NULL; it; it = it->next) {
        char *end;
        long id = strtol(it->string, &end, 10);
        if (*end || end == it->string || id < 0 || id >= count || !cJSON_IsString(it)) {
            vd_config_labels_free(names, count);
            return vd_error(VKDETR_ERR_FORMAT, "key 'id2label': entry '%s' is not a label id "
                            "in [0, %d) with a string name", it->string, count);
        }
        vd_free(names[id]);
        names[id] = vd_strdup(it->valuestring);
        if (!names[id]) goto oom;
    }
    for (int i = 0; i < count; i++) {
        if (names[i]) continue;
        char buf[32];
        snprintf(buf, sizeof buf, "LABEL_%d", i);
        if (!(names[i] = vd_strdup(buf))) goto oom;
    }
    *labels = names;
    *n = count;
    return VKDETR_OK;
oom:
    vd_config_labels_free(names, count);
    return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
}

/* ---- helpers ------------------------------------------------------------------------------ */

static vkdetr_status get_act(const cJSON *json, const char *key, const char *def, vd_act *out) {
    const char *s;
    vkdetr_status st = vd_json_string(json, key, def, &s);
    if (st) return st;
    int a = vd_nn_act_parse(s);
    if (a < 0) return vd_error(VKDETR_ERR_UNSUPPORTED, "key '%s': activation '%s' is not supported", key, s);
    *out = (vd_act)a;
    return VKDETR_OK;
}

static vkdetr_status get_ints(const cJSON *json, const char *key, const int *def, int n_def,
                              int *out, int max, int *n) {
    vkdetr_status st = vd_json_int_array(json, key, out, max, n);
    if (st) return st;
    if (!vd_json_has(json, key)) {
        memcpy(out, def, (size_t)n_def * sizeof *out);
        *n = n_def;
    }
    return VKDETR_OK;
}

#define CHECK(x) do { if ((st = (x))) goto fail; } while (0)
#define REFUSE(...) do { st = vd_error(VKDETR_ERR_UNSUPPORTED, __VA_ARGS__); goto fail; } while (0)

/* RTDetrResNetConfig; out_indices index ["stem", "stage1", ...]. */
static vkdetr_status parse_backbone(const cJSON *json, vd_resnet_config *b) {
    vkdetr_status st = VKDETR_OK;
    const cJSON *bc = NULL;
    const char *s = NULL;
    int use_timm = 0;
    CHECK(vd_json_bool(json, "use_timm_backbone", 0, &use_timm));
    CHECK(vd_json_object(json, "backbone_config", &bc));
    CHECK(vd_json_string(json, "backbone", NULL, &s));
    if (use_timm || (s && !bc))
        REFUSE("a timm backbone ('backbone': '%s') is not supported; only the built-in "
               "rt_detr_resnet backbone is", s ? s : "?");
    CHECK(vd_json_string(bc, "model_type", "rt_detr_resnet", &s));
    if (strcmp(s, "rt_detr_resnet"))
        REFUSE("backbone_config.model_type '%s' is not supported (rt_detr_resnet is)", s);

    static const int def_hidden[4] = {256, 512, 1024, 2048}, def_depths[4] = {3, 4, 6, 3};
    int nh = 0, nd = 0;
    CHECK(vd_json_int(bc, "num_channels", 3, &b->num_channels));
    CHECK(vd_json_int(bc, "embedding_size", 64, &b->embedding_size));
    CHECK(get_ints(bc, "hidden_sizes", def_hidden, 4, b->hidden_sizes, VD_RT_MAX_STAGES, &nh));
    CHECK(get_ints(bc, "depths", def_depths, 4, b->depths, VD_RT_MAX_STAGES, &nd));
    if (nh != nd || nh < 1)
        REFUSE("backbone_config: %d hidden_sizes for %d depths", nh, nd);
    b->n_stages = nh;
    CHECK(vd_json_string(bc, "layer_type", "bottleneck", &s));
    if (!strcmp(s, "basic")) b->layer_type = VD_RESNET_BASIC;
    else if (!strcmp(s, "bottleneck")) b->layer_type = VD_RESNET_BOTTLENECK;
    else REFUSE("backbone_config.layer_type '%s' is not supported", s);
    CHECK(get_act(bc, "hidden_act", "relu", &b->hidden_act));
    CHECK(vd_json_bool(bc, "downsample_in_first_stage", 0, &b->downsample_in_first_stage));
    CHECK(vd_json_bool(bc, "downsample_in_bottleneck", 0, &b->downsample_in_bottleneck));
    if (b->num_channels != 3) REFUSE("backbone_config.num_channels %d (3 is supported)", b->num_channels);
    for (int i = 0; i < b->n_stages; i++)
        if (b->hidden_sizes[i] < 1 || b->depths[i] < 1 || b->hidden_sizes[i] > 65536 || b->depths[i] > 1000)
            REFUSE("backbone_config: stage %d has %d channels and depth %d", i, b->hidden_sizes[i],
                   b->depths[i]);
    if (b->embedding_size < 2 || b->embedding_size % 2)
        REFUSE("backbone_config.embedding_size %d", b->embedding_size);

    /* returned stages: out_indices, else out_features, else [2, 3, 4] (RTDetrConfig's default) */
    int idx[VD_RT_MAX_LEVELS], n = 0;
    const char *feats[VD_RT_MAX_LEVELS];
    CHECK(vd_json_int_array(bc, "out_indices", idx, VD_RT_MAX_LEVELS, &n));
    if (!vd_json_has(bc, "out_indices")) {
        CHECK(vd_json_string_array(bc, "out_features", feats, VD_RT_MAX_LEVELS, &n));
        if (vd_json_has(bc, "out_features")) {
            for (int i = 0; i < n; i++) {
                if (strncmp(feats[i], "stage", 5) || atoi(feats[i] + 5) < 1)
                    REFUSE("backbone_config.out_features: '%s' is not a stage", feats[i]);
                idx[i] = atoi(feats[i] + 5);
            }
        } else {
            n = 3;
            idx[0] = 2, idx[1] = 3, idx[2] = 4;
        }
    }
    if (n < 1) REFUSE("backbone_config: no output stages");
    for (int i = 0; i < n; i++) {
        if (idx[i] < 1 || idx[i] > b->n_stages || (i && idx[i] <= idx[i - 1]))
            REFUSE("backbone_config.out_indices: %d is not a stage in increasing order", idx[i]);
        b->out_stages[i] = idx[i] - 1;
    }
    b->n_out = n;
    b->bn_eps = 1e-5f;
fail:
    return st;
}

vkdetr_status vd_rtdetr_config_parse(const cJSON *json, const char *name, vd_rtdetr_config *c) {
    vkdetr_status st = VKDETR_OK;
    memset(c, 0, sizeof *c);
    const char *mt = NULL, *method = NULL;
    CHECK(vd_json_string(json, "model_type", NULL, &mt));
    if (!mt || (strcmp(mt, "rt_detr") && strcmp(mt, "rt_detr_v2")))
        REFUSE("model_type '%s' is not RT-DETR", mt ? mt : "(missing)");
    c->v2 = !strcmp(mt, "rt_detr_v2");
    CHECK(parse_backbone(json, &c->backbone));

    static const int def_enc_in[3] = {512, 1024, 2048}, def_strides[3] = {8, 16, 32},
                     def_proj[1] = {2}, def_dec_in[3] = {256, 256, 256};
    int n_strides = 0;
    CHECK(vd_json_int(json, "encoder_hidden_dim", 256, &c->encoder_hidden_dim));
    CHECK(get_ints(json, "encoder_in_channels", def_enc_in, 3, c->encoder_in_channels, VD_RT_MAX_LEVELS, &c->n_enc_in));
    CHECK(get_ints(json, "feat_strides", def_strides, 3, c->feat_strides, VD_RT_MAX_LEVELS, &n_strides));
    CHECK(vd_json_int(json, "encoder_layers", 1, &c->encoder_layers));
    CHECK(vd_json_int(json, "encoder_ffn_dim", 1024, &c->encoder_ffn_dim));
    CHECK(vd_json_int(json, "encoder_attention_heads", 8, &c->encoder_attention_heads));
    CHECK(get_ints(json, "encode_proj_layers", def_proj, 1, c->encode_proj_layers, VD_RT_MAX_LEVELS, &c->n_encode_proj));
    CHECK(vd_json_float(json, "positional_encoding_temperature", 10000.0f, &c->positional_encoding_temperature));
    CHECK(get_act(json, "encoder_activation_function", "gelu", &c->encoder_activation));
    CHECK(get_act(json, "activation_function", "silu", &c->activation));
    CHECK(vd_json_bool(json, "normalize_before", 0, &c->normalize_before));
    double expansion;
    CHECK(vd_json_double(json, "hidden_expansion", 1.0, &expansion));
    c->aifi_pos_embed = !vd_json_has(json, "eval_size");
    if (!c->aifi_pos_embed)
        vd_log_warn("%s: eval_size is set: like transformers, AIFI runs without its position "
                    "embedding", name);

    CHECK(vd_json_int(json, "d_model", 256, &c->d_model));
    CHECK(vd_json_int(json, "num_queries", 300, &c->num_queries));
    CHECK(get_ints(json, "decoder_in_channels", def_dec_in, 3, c->decoder_in_channels, VD_RT_MAX_LEVELS, &c->n_dec_in));
    CHECK(vd_json_int(json, "decoder_ffn_dim", 1024, &c->decoder_ffn_dim));
    CHECK(vd_json_int(json, "num_feature_levels", 3, &c->num_feature_levels));
    CHECK(vd_json_int(json, "decoder_n_points", 4, &c->decoder_n_points));
    CHECK(vd_json_int(json, "decoder_layers", 6, &c->decoder_layers));
    CHECK(vd_json_int(json, "decoder_attention_heads", 8, &c->decoder_attention_heads));
    CHECK(get_act(json, "decoder_activation_function", "relu", &c->decoder_activation));
    CHECK(vd_json_bool(json, "learn_initial_query", 0, &c->learn_initial_query));
    CHECK(vd_json_float(json, "layer_norm_eps", 1e-5f, &c->layer_norm_eps));
    CHECK(vd_json_float(json, "batch_norm_eps", 1e-5f, &c->batch_norm_eps));
    c->decoder_offset_scale = 0.5f;
    if (c->v2) {
        int n_levels;
        CHECK(vd_json_int(json, "decoder_n_levels", 3, &n_levels));
        CHECK(vd_json_float(json, "decoder_offset_scale", 0.5f, &c->decoder_offset_scale));
        CHECK(vd_json_string(json, "decoder_method", "default", &method));
        if (strcmp(method, "default"))
            REFUSE("decoder_method '%s' (discrete sampling) is not supported", method);
        if (n_levels != c->num_feature_levels)
            REFUSE("decoder_n_levels %d differs from num_feature_levels %d", n_levels,
                   c->num_feature_levels);
    }
    const cJSON *ais = vd_json_get(json, "anchor_image_size");
    if (ais) {
        int n = 0;
        CHECK(vd_json_int_array(json, "anchor_image_size", c->anchor_image_size, 2, &n));
        if (n != 2 || c->anchor_image_size[0] < 1 || c->anchor_image_size[1] < 1)
            REFUSE("anchor_image_size must be [height, width]");
    }
    if (vd_json_has(json, "eval_idx")) {
        int eval_idx;
        CHECK(vd_json_int(json, "eval_idx", -1, &eval_idx));
        if (eval_idx != -1 && eval_idx != c->decoder_layers - 1)
            REFUSE("eval_idx %d (evaluating an intermediate decoder layer, as rtdetr_r50vd_m "
                   "does) is not supported", eval_idx);
    }

    /* consistency: refuse what the graph cannot be built for */
    const vd_resnet_config *b = &c->backbone;
    if (c->n_enc_in != b->n_out)
        REFUSE("encoder_in_channels has %d entries for %d backbone outputs", c->n_enc_in, b->n_out);
    for (int i = 0; i < c->n_enc_in; i++)
        if (c->encoder_in_channels[i] != b->hidden_sizes[b->out_stages[i]])
            REFUSE("encoder_in_channels[%d] = %d but backbone stage %d has %d channels", i,
                   c->encoder_in_channels[i], b->out_stages[i] + 1, b->hidden_sizes[b->out_stages[i]]);
    if (n_strides != c->n_enc_in)
        REFUSE("feat_strides has %d entries for %d feature maps", n_strides, c->n_enc_in);
    for (int i = 0; i < c->n_encode_proj; i++)
        if (c->encode_proj_layers[i] < 0 || c->encode_proj_layers[i] >= c->n_enc_in)
            REFUSE("encode_proj_layers[%d] = %d", i, c->encode_proj_layers[i]);
    if (c->n_dec_in != c->n_enc_in)
        REFUSE("decoder_in_channels has %d entries for %d encoder outputs", c->n_dec_in, c->n_enc_in);
    for (int i = 0; i < c->n_dec_in; i++)
        if (c->decoder_in_channels[i] != c->encoder_hidden_dim)
            REFUSE("decoder_in_channels[%d] = %d differs from encoder_hidden_dim %d", i,
                   c->decoder_in_channels[i], c->encoder_hidden_dim);
    if (c->num_feature_levels < c->n_dec_in || c->num_feature_levels > VD_RT_MAX_LEVELS)
        REFUSE("num_feature_levels %d (between %d and %d supported)", c->num_feature_levels,
               c->n_dec_in, VD_RT_MAX_LEVELS);
    c->csp_hidden = (int)(c->encoder_hidden_dim * expansion);
    c->csp_blocks = 3;
    if (c->encoder_hidden_dim < 4 || c->encoder_hidden_dim % 4 || c->csp_hidden < 1)
        REFUSE("encoder_hidden_dim %d with hidden_expansion %g", c->encoder_hidden_dim, expansion);
    if (c->encoder_layers < 0 || c->encoder_attention_heads < 1 ||
        c->encoder_hidden_dim % c->encoder_attention_heads)
        REFUSE("encoder_attention_heads %d for encoder_hidden_dim %d", c->encoder_attention_heads,
               c->encoder_hidden_dim);
    if (c->d_model < 1 || c->decoder_attention_heads < 1 || c->d_model % c->decoder_attention_heads)
        REFUSE("decoder_attention_heads %d for d_model %d", c->decoder_attention_heads, c->d_model);
    if (c->decoder_layers < 1 || c->num_queries < 1 || c->decoder_n_points < 1 ||
        c->decoder_ffn_dim < 1 || c->encoder_ffn_dim < 1)
        REFUSE("decoder_layers %d, num_queries %d, decoder_n_points %d", c->decoder_layers,
               c->num_queries, c->decoder_n_points);

    CHECK(vd_config_labels(json, &c->labels, &c->num_labels));
    return VKDETR_OK;
fail:
    vd_rtdetr_config_free(c);
    return vd_error_prefix(st, "%s", name);
}

void vd_rtdetr_config_free(vd_rtdetr_config *c) {
    vd_config_labels_free(c->labels, c->num_labels);
    c->labels = NULL;
    c->num_labels = 0;
}
