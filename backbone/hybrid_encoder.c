#include "backbone/hybrid_encoder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* RTDetrConvNormLayer: <prefix>.conv, <prefix>.norm */
static void conv_norm(vd_weights *W, vd_conv *c, const char *prefix, int in, int out, int k,
                      int stride, vd_act act, float eps) {
    char cn[VD_NN_NAME_LEN], bn[VD_NN_NAME_LEN];
    vd_nn_conv_bn(W, c, vd_nn_name(cn, "%s.conv", prefix), vd_nn_name(bn, "%s.norm", prefix), in,
                  out, k, stride, act, eps);
}

/* RepVGG: act(BN(conv3x3(x)) + BN(conv1x1(x))) == act(conv3x3'(x) + b'), with the folded
 * 1x1 kernel added at the centre tap. */
static void load_repvgg(vd_weights *W, vd_conv *out, const char *prefix, int ch, vd_act act,
                        float eps) {
    char name[VD_NN_NAME_LEN];
    vd_conv c3, c1;
    conv_norm(W, &c3, vd_nn_name(name, "%s.conv1", prefix), ch, ch, 3, 1, act, eps);
    conv_norm(W, &c1, vd_nn_name(name, "%s.conv2", prefix), ch, ch, 1, 1, act, eps);
    *out = c3;
    if (!c3.w || !c1.w) return;
    int64_t ne[4] = {ch, ch, 3, 3};
    out->w = vd_weights_new(W, 4, ne);
    out->b = vd_weights_new(W, 1, ne);
    if (!out->w || !out->b) return;
    float *w = out->w->data, *b = out->b->data;
    const float *w3 = c3.w->data, *w1 = c1.w->data, *b3 = c3.b->data, *b1 = c1.b->data;
    memcpy(w, w3, (size_t)ch * ch * 9 * sizeof *w);
    for (int o = 0; o < ch; o++) {
        for (int i = 0; i < ch; i++) w[((size_t)o * ch + i) * 9 + 4] += w1[(size_t)o * ch + i];
        b[o] = b3[o] + b1[o];
    }
}

static void load_csprep(vd_weights *W, vd_csprep *c, const char *prefix, const vd_rtdetr_config *cfg) {
    char name[VD_NN_NAME_LEN];
    int e = cfg->encoder_hidden_dim, h = cfg->csp_hidden;
    float eps = cfg->batch_norm_eps;
    conv_norm(W, &c->conv1, vd_nn_name(name, "%s.conv1", prefix), 2 * e, h, 1, 1, cfg->activation, eps);
    conv_norm(W, &c->conv2, vd_nn_name(name, "%s.conv2", prefix), 2 * e, h, 1, 1, cfg->activation, eps);
    c->n_blocks = cfg->csp_blocks;
    for (int i = 0; i < c->n_blocks; i++)
        load_repvgg(W, &c->blocks[i], vd_nn_name(name, "%s.bottlenecks.%d", prefix, i), h,
                    cfg->activation, eps);
    c->has_conv3 = h != e;
    if (c->has_conv3)
        conv_norm(W, &c->conv3, vd_nn_name(name, "%s.conv3", prefix), h, e, 1, 1, cfg->activation, eps);
}

static void load_aifi_layer(vd_weights *W, vd_aifi_layer *l, const char *prefix,
                            const vd_rtdetr_config *cfg) {
    char name[VD_NN_NAME_LEN];
    int d = cfg->encoder_hidden_dim;
    vd_nn_mha_load(W, &l->attn, vd_nn_name(name, "%s.self_attn", prefix), d, cfg->encoder_attention_heads);
    vd_nn_norm_load(W, &l->attn_norm, vd_nn_name(name, "%s.self_attn_layer_norm", prefix), d, cfg->layer_norm_eps);
    vd_nn_linear_load(W, &l->fc1, vd_nn_name(name, "%s.fc1", prefix), d, cfg->encoder_ffn_dim);
    vd_nn_linear_load(W, &l->fc2, vd_nn_name(name, "%s.fc2", prefix), cfg->encoder_ffn_dim, d);
    vd_nn_norm_load(W, &l->final_norm, vd_nn_name(name, "%s.final_layer_norm", prefix), d, cfg->layer_norm_eps);
}

vkdetr_status vd_hybrid_encoder_load(vd_hybrid_encoder *e, const vd_rtdetr_config *cfg,
                                     vd_weights *W) {
    char name[VD_NN_NAME_LEN], bn[VD_NN_NAME_LEN];
    memset(e, 0, sizeof *e);
    e->cfg = cfg;
    int d = cfg->encoder_hidden_dim, n = cfg->n_enc_in;
    float eps = cfg->batch_norm_eps;
    for (int i = 0; i < n; i++) /* nn.BatchNorm2d with its default eps, not the config's */
        vd_nn_conv_bn(W, &e->in_proj[i], vd_nn_name(name, "model.encoder_input_proj.%d.0", i),
                      vd_nn_name(bn, "model.encoder_input_proj.%d.1", i),
                      cfg->encoder_in_channels[i], d, 1, 1, VD_ACT_NONE, 1e-5f);
    int n_aifi = cfg->n_encode_proj * cfg->encoder_layers;
    if (n_aifi) {
        e->aifi = vd_calloc((size_t)n_aifi, sizeof *e->aifi);
        if (!e->aifi) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    }
    for (int a = 0; a < cfg->n_encode_proj; a++)
        for (int l = 0; l < cfg->encoder_layers; l++)
            load_aifi_layer(W, &e->aifi[a * cfg->encoder_layers + l],
                            vd_nn_name(name, "model.encoder.encoder.%d.layers.%d", a, l), cfg);
    for (int i = 0; i < n - 1; i++) {
        conv_norm(W, &e->lateral[i], vd_nn_name(name, "model.encoder.lateral_convs.%d", i), d, d, 1, 1, cfg->activation, eps);
        load_csprep(W, &e->fpn[i], vd_nn_name(name, "model.encoder.fpn_blocks.%d", i), cfg);
        conv_norm(W, &e->downsample[i], vd_nn_name(name, "model.encoder.downsample_convs.%d", i), d, d, 3, 2, cfg->activation, eps);
        load_csprep(W, &e->pan[i], vd_nn_name(name, "model.encoder.pan_blocks.%d", i), cfg);
    }
    int in = 0;
    for (int l = 0; l < cfg->num_feature_levels; l++) {
        int extra = l >= cfg->n_dec_in;
        in = extra ? (l == cfg->n_dec_in ? cfg->decoder_in_channels[cfg->n_dec_in - 1] : cfg->d_model)
                   : cfg->decoder_in_channels[l];
        vd_nn_conv_bn(W, &e->dec_proj[l], vd_nn_name(name, "model.decoder_input_proj.%d.0", l),
                      vd_nn_name(bn, "model.decoder_input_proj.%d.1", l), in, cfg->d_model,
                      extra ? 3 : 1, extra ? 2 : 1, VD_ACT_NONE, eps);
    }
    return vd_weights_status(W);
}

void vd_hybrid_encoder_free(vd_hybrid_encoder *e) {
    vd_free(e->aifi);
    memset(e, 0, sizeof *e);
}

void vd_sincos_2d(float *out, int h, int w, int dim, double temperature) {
    int pd = dim / 4;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float *row = out + ((size_t)y * w + x) * dim;
            for (int i = 0; i < pd; i++) {
                double omega = 1.0 / pow(temperature, (double)i / pd);
                row[i] = (float)sin(y * omega);
                row[pd + i] = (float)cos(y * omega);
                row[2 * pd + i] = (float)sin(x * omega);
                row[3 * pd + i] = (float)cos(x * omega);
            }
        }
}

static vd_tensor *out_if(vd_graph *g, vd_tensor *t, int stages, const char *name) {
    return stages ? vd_graph_output(g, t, name) : t;
}

/* One post-norm (or pre-norm) transformer encoder layer on tokens (L, D). */
static vd_tensor *aifi_layer(vd_graph *g, const vd_aifi_layer *l, vd_tensor *x, vd_tensor *pos,
                             const vd_rtdetr_config *cfg) {
    if (cfg->normalize_before) {
        vd_tensor *n = vd_nn_norm(g, &l->attn_norm, x);
        x = vd_nn_self_attention(g, &l->attn, n, pos, x);
        n = vd_nn_norm(g, &l->final_norm, x);
        vd_tensor *h = vd_nn_linear(g, &l->fc1, n, NULL, cfg->encoder_activation);
        return vd_nn_linear(g, &l->fc2, h, x, VD_ACT_NONE);
    }
    x = vd_nn_norm(g, &l->attn_norm, vd_nn_self_attention(g, &l->attn, x, pos, x));
    vd_tensor *h = vd_nn_linear(g, &l->fc1, x, NULL, cfg->encoder_activation);
    return vd_nn_norm(g, &l->final_norm, vd_nn_linear(g, &l->fc2, h, x, VD_ACT_NONE));
}

static vd_tensor *csprep(vd_graph *g, const vd_csprep *c, vd_tensor *x) {
    vd_tensor *a = vd_nn_conv(g, &c->conv1, x, NULL);
    for (int i = 0; i < c->n_blocks; i++) a = vd_nn_conv(g, &c->blocks[i], a, NULL);
    vd_tensor *s = vd_op_add(g, a, vd_nn_conv(g, &c->conv2, x, NULL));
    return c->has_conv3 ? vd_nn_conv(g, &c->conv3, s, NULL) : s;
}

void vd_hybrid_encoder_build(const vd_hybrid_encoder *e, vd_graph *g, vd_tensor *const *feats,
                             vd_tensor **out, int stages) {
    const vd_rtdetr_config *cfg = e->cfg;
    int n = cfg->n_enc_in, d = cfg->encoder_hidden_dim;
    char name[64];
    vd_tensor *maps[VD_RT_MAX_LEVELS] = {0};
    g->stage = VD_STAGE_ENCODER;
    for (int i = 0; i < n; i++) {
        maps[i] = vd_nn_conv(g, &e->in_proj[i], feats[i], NULL);
        snprintf(name, sizeof name, "encoder.proj.%d", i);
        out_if(g, maps[i], stages, name);
    }
    for (int a = 0; a < cfg->n_encode_proj && cfg->encoder_layers > 0; a++) {
        int li = cfg->encode_proj_layers[a];
        vd_tensor *m = maps[li];
        if (!m) return;
        int h = (int)m->ne[2], w = (int)m->ne[3];
        vd_tensor *pos = NULL;
        if (cfg->aifi_pos_embed) {
            float *pe = vd_malloc((size_t)h * w * d * sizeof *pe);
            if (!pe) {
                vd_graph_fail(g, VKDETR_ERR_NO_MEMORY, "out of memory");
                return;
            }
            vd_sincos_2d(pe, h, w, d, cfg->positional_encoding_temperature);
            int64_t ne[2] = {(int64_t)h * w, d};
            pos = vd_graph_const(g, "aifi.pos", VD_F32, 2, ne, pe);
            vd_free(pe);
        }
        vd_tensor *x = vd_nn_map_to_tokens(g, m); /* (h*w, d) */
        for (int l = 0; l < cfg->encoder_layers; l++)
            x = aifi_layer(g, &e->aifi[a * cfg->encoder_layers + l], x, pos, cfg);
        maps[li] = vd_nn_tokens_to_map(g, x, h, w);
        out_if(g, maps[li], stages, a == 0 ? "encoder.aifi" : NULL);
    }
    /* top-down: fpn[0] = coarsest; each step replaces the top by its lateral conv */
    vd_tensor *fpn[VD_RT_MAX_LEVELS]; /* coarse to fine while building */
    int nf = 0;
    fpn[nf++] = maps[n - 1];
    for (int k = 0; k < n - 1; k++) {
        vd_tensor *top = vd_nn_conv(g, &e->lateral[k], fpn[nf - 1], NULL);
        fpn[nf - 1] = top;
        vd_tensor *cat[2] = {vd_op_upsample(g, top, 2), maps[n - 2 - k]};
        fpn[nf++] = csprep(g, &e->fpn[k], vd_op_concat(g, 2, cat, 1));
    }
    /* reverse: fine to coarse */
    vd_tensor *rev[VD_RT_MAX_LEVELS];
    for (int i = 0; i < nf; i++) rev[i] = fpn[nf - 1 - i];
    vd_tensor *pan[VD_RT_MAX_LEVELS];
    pan[0] = rev[0];
    for (int k = 0; k < n - 1; k++) {
        vd_tensor *cat[2] = {vd_nn_conv(g, &e->downsample[k], pan[k], NULL), rev[k + 1]};
        pan[k + 1] = csprep(g, &e->pan[k], vd_op_concat(g, 2, cat, 1));
    }
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "encoder.out.%d", i);
        out_if(g, pan[i], stages, name);
    }
    g->stage = VD_STAGE_DECODER;
    for (int l = 0; l < cfg->num_feature_levels; l++) {
        /* transformers applies every extra level's conv to the coarsest map (the original
         * chains them); we follow transformers */
        vd_tensor *src = l < cfg->n_dec_in ? pan[l] : pan[n - 1];
        out[l] = vd_nn_conv(g, &e->dec_proj[l], src, NULL);
        snprintf(name, sizeof name, "decoder.proj.%d", l);
        out_if(g, out[l], stages, name);
    }
}
