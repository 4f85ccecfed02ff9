/* RT-DETR v1 and v2: ResNet-vd backbone, hybrid encoder, deformable decoder. */
#include <stdio.h>
#include <string.h>

#include "backbone/hybrid_encoder.h"
#include "backbone/resnet_vd.h"
#include "decoder/rtdetr_decoder.h"
#include "model/model.h"
#include "model/rtdetr_config.h"

typedef struct rtdetr {
    vd_rtdetr_config cfg;
    vd_resnet backbone;
    vd_hybrid_encoder encoder;
    vd_rtdetr_decoder decoder;
} rtdetr;

/* transformers v5 renames (MODELS.md 1.3); hub files keep the legacy spelling. */
static const vd_alias rtdetr_aliases[] = {
    {"out_proj", "o_proj"},
    {".fc1.", ".mlp.fc1."},
    {".fc2.", ".mlp.fc2."},
    {"encoder.encoder.", "encoder.aifi."},
    {"model.decoder.class_embed.", "class_embed."},
    {"model.decoder.bbox_embed.", "bbox_embed."},
};

static void rtdetr_free(void *p) {
    rtdetr *m = p;
    if (!m) return;
    vd_resnet_free(&m->backbone);
    vd_hybrid_encoder_free(&m->encoder);
    vd_rtdetr_decoder_free(&m->decoder);
    vd_rtdetr_config_free(&m->cfg);
    vd_free(m);
}

static vkdetr_status rtdetr_load(const cJSON *config, const char *config_name, vd_weights *W,
                                 void **out, vd_family_info *info) {
    *out = NULL;
    rtdetr *m = vd_calloc(1, sizeof *m);
    if (!m) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    vkdetr_status st = vd_rtdetr_config_parse(config, config_name, &m->cfg);
    if (st) {
        vd_free(m);
        return st;
    }
    vd_weights_set_aliases(W, rtdetr_aliases, (int)VD_ARRAY_LEN(rtdetr_aliases));
    if ((st = vd_resnet_load(&m->backbone, &m->cfg.backbone, W, "model.backbone.model")) ||
        (st = vd_hybrid_encoder_load(&m->encoder, &m->cfg, W)) ||
        (st = vd_rtdetr_decoder_load(&m->decoder, &m->cfg, W))) {
        rtdetr_free(m);
        return st;
    }
    int unused = vd_weights_count_unused(W);
    if (unused) vd_log_debug("%d stored tensors are not used (see the debug log)", unused);
    info->family = m->cfg.v2 ? "rt_detr_v2" : "rt_detr";
    info->num_labels = m->cfg.num_labels;
    info->labels = m->cfg.labels;
    info->num_queries = m->cfg.num_queries;
    /* the coarsest level must tile the input: the largest stride, 32 for every hub model */
    int mult = 1;
    for (int i = 0; i < m->cfg.n_enc_in; i++)
        if (m->cfg.feat_strides[i] > mult) mult = m->cfg.feat_strides[i];
    info->size_multiple = mult * (m->cfg.num_feature_levels > m->cfg.n_enc_in ? 2 : 1);
    info->has_masks = 0;
    *out = m;
    return VKDETR_OK;
}

static void rtdetr_build(const void *p, vd_graph *g, int width, int height, int stages,
                         vd_net_io *io) {
    const rtdetr *m = p;
    const vd_rtdetr_config *c = &m->cfg;
    memset(io, 0, sizeof *io);
    int64_t ne[4] = {1, 3, height, width};
    g->stage = VD_STAGE_BACKBONE;
    io->pixels = vd_graph_input(g, "pixel_values", VD_F32, 4, ne);
    vd_tensor *feats[VD_RT_MAX_LEVELS] = {0}, *maps[VD_RT_MAX_LEVELS] = {0};
    vd_resnet_build(&m->backbone, g, io->pixels, feats);
    char name[32];
    for (int i = 0; stages && i < c->backbone.n_out; i++) {
        snprintf(name, sizeof name, "backbone.%d", i);
        vd_graph_output(g, feats[i], name);
    }
    vd_hybrid_encoder_build(&m->encoder, g, feats, maps, stages);
    vd_rtdetr_decoder_build(&m->decoder, g, maps, &io->logits, &io->boxes, stages);
    g->stage = VD_STAGE_POSTPROCESS;
    vd_tensor *scores = vd_op_unary(g, io->logits, VD_ACT_SIGMOID);
    io->topk = vd_op_topk(g, scores, c->num_queries);
    /* the session reads these; the named views carry the batch dim the references have */
    vd_graph_output(g, io->logits, NULL);
    vd_graph_output(g, io->boxes, NULL);
    vd_graph_output(g, io->topk, "post.topk");
    if (!io->logits || !io->boxes) return;
    int64_t nl[3] = {1, io->logits->ne[0], io->logits->ne[1]}, nb[3] = {1, io->boxes->ne[0], 4};
    vd_graph_output(g, vd_op_reshape(g, io->logits, 3, nl), "logits");
    vd_graph_output(g, vd_op_reshape(g, io->boxes, 3, nb), "pred_boxes");
}

const vd_family vd_family_rtdetr = {"rt_detr", rtdetr_load, rtdetr_build, rtdetr_free};
const vd_family vd_family_rtdetr_v2 = {"rt_detr_v2", rtdetr_load, rtdetr_build, rtdetr_free};
