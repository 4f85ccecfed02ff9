#include "decoder/rtdetr_decoder.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void load_layer(vd_weights *W, vd_rtdetr_layer *l, int i, const vd_rtdetr_config *c) {
    char p[VD_NN_NAME_LEN], name[VD_NN_NAME_LEN];
    int d = c->d_model, m = c->decoder_attention_heads, lp = c->num_feature_levels * c->decoder_n_points;
    float eps = c->layer_norm_eps;
    vd_nn_name(p, "model.decoder.layers.%d", i);
    vd_nn_mha_load(W, &l->self_attn, vd_nn_name(name, "%s.self_attn", p), d, m);
    vd_nn_norm_load(W, &l->self_attn_norm, vd_nn_name(name, "%s.self_attn_layer_norm", p), d, eps);
    vd_nn_linear_load(W, &l->sampling_offsets, vd_nn_name(name, "%s.encoder_attn.sampling_offsets", p), d, m * lp * 2);
    vd_nn_linear_load(W, &l->attention_weights, vd_nn_name(name, "%s.encoder_attn.attention_weights", p), d, m * lp);
    vd_nn_linear_load(W, &l->value_proj, vd_nn_name(name, "%s.encoder_attn.value_proj", p), d, d);
    vd_nn_linear_load(W, &l->output_proj, vd_nn_name(name, "%s.encoder_attn.output_proj", p), d, d);
    if (c->v2) {
        /* a persistent buffer: read it, never trust the config over a stored tensor */
        l->point_scale = vd_weights_get(W, "%s.encoder_attn.n_points_scale", VD_SHAPE(lp), p);
    } else {
        int64_t ne[1] = {lp};
        l->point_scale = vd_weights_new(W, 1, ne);
        if (l->point_scale)
            for (int k = 0; k < lp; k++) ((float *)l->point_scale->data)[k] = 1.0f / c->decoder_n_points;
    }
    vd_nn_norm_load(W, &l->cross_norm, vd_nn_name(name, "%s.encoder_attn_layer_norm", p), d, eps);
    vd_nn_linear_load(W, &l->fc1, vd_nn_name(name, "%s.fc1", p), d, c->decoder_ffn_dim);
    vd_nn_linear_load(W, &l->fc2, vd_nn_name(name, "%s.fc2", p), c->decoder_ffn_dim, d);
    vd_nn_norm_load(W, &l->final_norm, vd_nn_name(name, "%s.final_layer_norm", p), d, eps);
    vd_nn_linear_load(W, &l->class_head, vd_nn_name(name, "model.decoder.class_embed.%d", i), d, c->num_labels);
    vd_nn_mlp_load(W, &l->box_head, vd_nn_name(name, "model.decoder.bbox_embed.%d", i), 3, d, d, 4, VD_ACT_RELU);
}

vkdetr_status vd_rtdetr_decoder_load(vd_rtdetr_decoder *d, const vd_rtdetr_config *c,
                                     vd_weights *W) {
    memset(d, 0, sizeof *d);
    d->cfg = c;
    int dm = c->d_model;
    vd_nn_linear_load(W, &d->enc_output, "model.enc_output.0", dm, dm);
    vd_nn_norm_load(W, &d->enc_norm, "model.enc_output.1", dm, c->layer_norm_eps);
    vd_nn_linear_load(W, &d->enc_score, "model.enc_score_head", dm, c->num_labels);
    vd_nn_mlp_load(W, &d->enc_box, "model.enc_bbox_head", 3, dm, dm, 4, VD_ACT_RELU);
    if (c->learn_initial_query)
        d->query_embed = vd_weights_get(W, "model.weight_embedding.weight", VD_SHAPE(c->num_queries, dm));
    vd_nn_mlp_load(W, &d->query_pos, "model.decoder.query_pos_head", 2, 4, 2 * dm, dm, VD_ACT_RELU);
    d->layers = vd_calloc((size_t)c->decoder_layers, sizeof *d->layers);
    if (!d->layers) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < c->decoder_layers; i++) load_layer(W, &d->layers[i], i, c);
    return vd_weights_status(W);
}

void vd_rtdetr_decoder_free(vd_rtdetr_decoder *d) {
    vd_free(d->layers);
    memset(d, 0, sizeof *d);
}

void vd_rtdetr_anchors(int n_levels, const int *h, const int *w, float *anchors, float *valid) {
    const double grid_size = 0.05, eps = 1e-2;
    size_t s = 0;
    for (int l = 0; l < n_levels; l++) {
        /* transformers computes in float32: (i + 0.5) / W and 0.05 * 2^l, then log(a/(1-a)) */
        float wh = (float)(grid_size * pow(2.0, l));
        for (int y = 0; y < h[l]; y++)
            for (int x = 0; x < w[l]; x++, s++) {
                float a[4] = {((float)x + 0.5f) / (float)w[l], ((float)y + 0.5f) / (float)h[l], wh, wh};
                int ok = 1;
                for (int k = 0; k < 4; k++) ok &= a[k] > (float)eps && a[k] < (float)(1 - eps);
                valid[s] = ok ? 1.0f : 0.0f;
                for (int k = 0; k < 4; k++)
                    anchors[s * 4 + k] = ok ? logf(a[k] / (1.0f - a[k])) : FLT_MAX;
            }
    }
}

static vd_tensor *out_if(vd_graph *g, vd_tensor *t, int stages, const char *name) {
    return stages ? vd_graph_output(g, t, name) : t;
}

/* A stage output with a leading batch dim of 1, as the reference fixtures store them. */
static void out_batched(vd_graph *g, vd_tensor *t, int stages, const char *name) {
    if (!stages || !t) return;
    int64_t ne[VD_MAX_DIMS] = {1};
    for (int i = 0; i < t->ndim && i < VD_MAX_DIMS - 1; i++) ne[i + 1] = t->ne[i];
    vd_graph_output(g, vd_op_reshape(g, t, t->ndim + 1, ne), name);
}

static vd_tensor *decoder_layer(vd_graph *g, const vd_rtdetr_layer *l, const vd_rtdetr_config *c,
                                vd_tensor *h, vd_tensor *pos, vd_tensor *ref, vd_tensor *memory,
                                const vd_msda_params *mp) {
    /* self-attention, post-norm */
    h = vd_nn_norm(g, &l->self_attn_norm, vd_nn_self_attention(g, &l->self_attn, h, pos, h));
    /* deformable cross-attention: offsets and weights from h + pos, values from memory */
    vd_tensor *q = vd_op_add(g, h, pos);
    vd_tensor *value = vd_nn_linear(g, &l->value_proj, memory, NULL, VD_ACT_NONE);   /* (S, d) */
    vd_tensor *off = vd_nn_linear(g, &l->sampling_offsets, q, NULL, VD_ACT_NONE);    /* (Q, M*LP*2) */
    vd_tensor *aw = vd_nn_linear(g, &l->attention_weights, q, NULL, VD_ACT_NONE);    /* (Q, M*LP) */
    vd_tensor *s = vd_op_msda(g, value, off, aw, ref, l->point_scale, mp);           /* (Q, d) */
    h = vd_nn_norm(g, &l->cross_norm, vd_nn_linear(g, &l->output_proj, s, h, VD_ACT_NONE));
    /* FFN */
    vd_tensor *f = vd_nn_linear(g, &l->fc1, h, NULL, c->decoder_activation);
    return vd_nn_norm(g, &l->final_norm, vd_nn_linear(g, &l->fc2, f, h, VD_ACT_NONE));
}

void vd_rtdetr_decoder_build(const vd_rtdetr_decoder *d, vd_graph *g, vd_tensor *const *maps,
                             vd_tensor **logits_out, vd_tensor **boxes_out, int stages) {
    const vd_rtdetr_config *c = d->cfg;
    int nl = c->num_feature_levels;
    int hs[VD_RT_MAX_LEVELS], ws[VD_RT_MAX_LEVELS];
    int64_t S = 0;
    char name[64];
    g->stage = VD_STAGE_DECODER;
    *logits_out = *boxes_out = NULL;
    for (int l = 0; l < nl; l++) {
        if (!maps[l]) return;
        hs[l] = (int)maps[l]->ne[2];
        ws[l] = (int)maps[l]->ne[3];
        S += (int64_t)hs[l] * ws[l];
    }
    /* flatten: (d, h*w) per level, concatenated along tokens, then (S, d) */
    vd_tensor *flat[VD_RT_MAX_LEVELS] = {0};
    for (int l = 0; l < nl; l++) {
        int64_t ne[2] = {c->d_model, (int64_t)hs[l] * ws[l]};
        flat[l] = vd_op_reshape(g, maps[l], 2, ne);
    }
    vd_tensor *memory = vd_op_permute(g, vd_op_concat(g, nl, flat, 1), 1, 0, 0, 0); /* (S, d) */
    out_batched(g, memory, stages, "query.memory");

    /* anchors: with anchor_image_size set they are fixed by it (and must match) */
    if (c->anchor_image_size[0]) {
        for (int l = 0; l < nl && l < c->n_enc_in; l++) {
            int eh = c->anchor_image_size[0] / c->feat_strides[l], ew = c->anchor_image_size[1] / c->feat_strides[l];
            if (eh != hs[l] || ew != ws[l]) {
                vd_graph_fail(g, VKDETR_ERR_UNSUPPORTED,
                              "the checkpoint fixes anchor_image_size [%d, %d]: the input size "
                              "must be %dx%d", c->anchor_image_size[0], c->anchor_image_size[1],
                              c->anchor_image_size[1], c->anchor_image_size[0]);
                return;
            }
        }
    }
    float *anchors = vd_malloc((size_t)S * 5 * sizeof *anchors);
    if (!anchors) {
        vd_graph_fail(g, VKDETR_ERR_NO_MEMORY, "out of memory");
        return;
    }
    vd_rtdetr_anchors(nl, hs, ws, anchors, anchors + S * 4);
    int64_t ne_a[2] = {S, 4}, ne_v[2] = {S, 1};
    vd_tensor *anc = vd_graph_const(g, "query.anchors", VD_F32, 2, ne_a, anchors);
    vd_tensor *valid = vd_graph_const(g, "query.valid_mask", VD_F32, 2, ne_v, anchors + S * 4);
    vd_free(anchors);

    /* query selection */
    vd_tensor *om = vd_nn_norm(g, &d->enc_norm,
                               vd_nn_linear(g, &d->enc_output, vd_op_mul(g, memory, valid), NULL,
                                            VD_ACT_NONE));                   /* (S, d) */
    vd_tensor *enc_logits = vd_nn_linear(g, &d->enc_score, om, NULL, VD_ACT_NONE); /* (S, C) */
    /* the box head is row-wise: only the K selected rows need it, unless every stage is an
     * output (2 of the encoder head's 2.5 GFLOP at 640x640) */
    vd_tensor *enc_boxes = stages ? vd_nn_mlp(g, &d->enc_box, om, anc) : NULL; /* (S, 4) */
    out_batched(g, om, stages, "query.output_memory");
    out_batched(g, enc_logits, stages, "query.logits");
    out_batched(g, enc_boxes, stages, "query.box_logits");
    int K = c->num_queries;
    if (K > S) {
        vd_graph_fail(g, VKDETR_ERR_UNSUPPORTED, "num_queries %d exceeds the %lld tokens of a "
                      "%dx%d input", K, (long long)S, ws[0] * c->feat_strides[0], hs[0] * c->feat_strides[0]);
        return;
    }
    vd_tensor *idx = vd_op_topk(g, vd_op_reduce_max(g, enc_logits), K); /* (K) */
    vd_tensor *om_sel = vd_op_gather(g, om, idx, 1);                     /* (K, d) */
    vd_tensor *sel_boxes = stages ? vd_op_gather(g, enc_boxes, idx, 1)
                                  : vd_nn_mlp(g, &d->enc_box, om_sel,
                                              vd_op_gather(g, anc, idx, 1)); /* (K, 4) */
    vd_tensor *ref = vd_op_unary(g, sel_boxes, VD_ACT_SIGMOID);          /* (K, 4) */
    vd_tensor *h = d->query_embed ? d->query_embed : om_sel;             /* (K, d) */
    out_batched(g, idx, stages, "query.topk_indices");
    if (stages) out_batched(g, vd_op_gather(g, enc_logits, idx, 1), stages, "query.topk_logits");
    out_batched(g, ref, stages, "query.topk_boxes");
    out_batched(g, h, stages, "query.target");

    vd_msda_params mp = {0};
    mp.n_heads = c->decoder_attention_heads;
    mp.n_levels = nl;
    for (int l = 0; l < nl; l++) {
        mp.h[l] = hs[l];
        mp.w[l] = ws[l];
        mp.points[l] = c->decoder_n_points;
    }
    mp.ref_dim = 4;
    mp.offset_scale = c->decoder_offset_scale;

    vd_tensor *logits = NULL;
    for (int i = 0; i < c->decoder_layers; i++) {
        const vd_rtdetr_layer *l = &d->layers[i];
        vd_tensor *pos = vd_nn_mlp(g, &d->query_pos, ref, NULL); /* (K, d) */
        h = decoder_layer(g, l, c, h, pos, ref, memory, &mp);
        ref = vd_op_box_refine(g, vd_nn_mlp(g, &l->box_head, h, NULL), ref);
        int last = i == c->decoder_layers - 1;
        if (last || stages) logits = vd_nn_linear(g, &l->class_head, h, NULL, VD_ACT_NONE);
        snprintf(name, sizeof name, "decoder.layer%d.hidden", i);
        out_batched(g, h, stages, name);
        snprintf(name, sizeof name, "decoder.layer%d.boxes", i);
        out_batched(g, ref, stages, name);
        snprintf(name, sizeof name, "decoder.layer%d.logits", i);
        out_batched(g, logits, stages, name);
    }
    (void)out_if;
    *logits_out = logits;
    *boxes_out = ref;
}
