#include "backbone/resnet_vd.h"

#include <string.h>

/* One block, names under <prefix>.encoder.stages.<s>.layers.<l>. Mirrors transformers'
 * RTDetrResNetBasicLayer / RTDetrResNetBottleNeckLayer: the inner convs always use ReLU, the
 * activation after the residual add is hidden_act. */
static void load_block(vd_resnet_block *bk, const vd_resnet_config *c, vd_weights *W,
                       const char *base, int in, int out, int stride, int first) {
    char cn[VD_NN_NAME_LEN], bn[VD_NN_NAME_LEN];
    float eps = c->bn_eps;
#define CONV(i, cin, cout, k, s, act)                                                             \
    vd_nn_conv_bn(W, &bk->conv[i], vd_nn_name(cn, "%s.layer.%d.convolution", base, i),           \
                  vd_nn_name(bn, "%s.layer.%d.normalization", base, i), cin, cout, k, s, act, eps)
    if (c->layer_type == VD_RESNET_BASIC) {
        CONV(0, in, out, 3, stride, VD_ACT_RELU);
        CONV(1, out, out, 3, 1, c->hidden_act); /* act after the residual add */
        /* should_apply_shortcut only in a stage's first block */
        if (first && in != out) {
            bk->has_shortcut = 1;
            bk->shortcut_pool = 1;
        } else if (first) {
            bk->has_shortcut = 1;
        }
        if (bk->has_shortcut && bk->shortcut_pool) stride = 1;
    } else {
        int mid = out / 4, dib = c->downsample_in_bottleneck;
        CONV(0, in, mid, 1, dib ? stride : 1, VD_ACT_RELU);
        CONV(1, mid, mid, 3, dib ? 1 : stride, VD_ACT_RELU);
        CONV(2, mid, out, 1, 1, c->hidden_act);
        int apply = in != out || stride != 1;
        if (stride == 2) {
            bk->shortcut_pool = 1;
            bk->has_shortcut = apply;
            stride = 1;
        } else {
            bk->has_shortcut = apply;
        }
    }
#undef CONV
    if (bk->has_shortcut) {
        /* a Sequential(AvgPool, ShortCut) stores the conv under index 1 */
        const char *sub = bk->shortcut_pool ? "shortcut.1" : "shortcut";
        vd_nn_conv_bn(W, &bk->shortcut, vd_nn_name(cn, "%s.%s.convolution", base, sub),
                      vd_nn_name(bn, "%s.%s.normalization", base, sub), in, out, 1, stride,
                      VD_ACT_NONE, eps);
    }
}

vkdetr_status vd_resnet_load(vd_resnet *r, const vd_resnet_config *c, vd_weights *W,
                             const char *prefix) {
    char cn[VD_NN_NAME_LEN], bn[VD_NN_NAME_LEN], base[VD_NN_NAME_LEN];
    memset(r, 0, sizeof *r);
    r->cfg = *c;
    int e = c->embedding_size;
    int stem_in[3] = {c->num_channels, e / 2, e / 2}, stem_out[3] = {e / 2, e / 2, e};
    for (int i = 0; i < 3; i++)
        vd_nn_conv_bn(W, &r->stem[i], vd_nn_name(cn, "%s.embedder.embedder.%d.convolution", prefix, i),
                      vd_nn_name(bn, "%s.embedder.embedder.%d.normalization", prefix, i),
                      stem_in[i], stem_out[i], 3, i == 0 ? 2 : 1, c->hidden_act, c->bn_eps);
    int in = e;
    for (int s = 0; s < c->n_stages; s++) {
        int out = c->hidden_sizes[s];
        int stride = s == 0 ? (c->downsample_in_first_stage ? 2 : 1) : 2;
        r->blocks[s] = vd_calloc((size_t)c->depths[s], sizeof *r->blocks[s]);
        if (!r->blocks[s]) return vd_error(VKDETR_ERR_NO_MEMORY, "out of memory");
        r->n_blocks[s] = c->depths[s];
        for (int l = 0; l < c->depths[s]; l++) {
            vd_nn_name(base, "%s.encoder.stages.%d.layers.%d", prefix, s, l);
            load_block(&r->blocks[s][l], c, W, base, l ? out : in, out, l ? 1 : stride, l == 0);
        }
        in = out;
    }
    return vd_weights_status(W);
}

void vd_resnet_free(vd_resnet *r) {
    for (int s = 0; s < VD_RT_MAX_STAGES; s++) vd_free(r->blocks[s]);
    memset(r, 0, sizeof *r);
}

static vd_tensor *block(vd_graph *g, const vd_resnet_block *bk, int n_conv, vd_tensor *x) {
    vd_tensor *res = x;
    if (bk->shortcut_pool) {
        vd_pool_params p = {VD_POOL_AVG, 2, 2, 2, 2, 0, 0, 1, 1};
        res = vd_op_pool2d(g, res, &p);
    }
    if (bk->has_shortcut) res = vd_nn_conv(g, &bk->shortcut, res, NULL);
    vd_tensor *h = x;
    for (int i = 0; i < n_conv - 1; i++) h = vd_nn_conv(g, &bk->conv[i], h, NULL);
    return vd_nn_conv(g, &bk->conv[n_conv - 1], h, res); /* act(conv + residual) */
}

void vd_resnet_build(const vd_resnet *r, vd_graph *g, vd_tensor *x, vd_tensor **outs) {
    const vd_resnet_config *c = &r->cfg;
    for (int i = 0; i < 3; i++) x = vd_nn_conv(g, &r->stem[i], x, NULL);
    vd_pool_params mp = {VD_POOL_MAX, 3, 3, 2, 2, 1, 1, 0, 1};
    x = vd_op_pool2d(g, x, &mp);
    int n_conv = c->layer_type == VD_RESNET_BASIC ? 2 : 3;
    for (int s = 0; s < c->n_stages; s++) {
        for (int l = 0; l < r->n_blocks[s]; l++) x = block(g, &r->blocks[s][l], n_conv, x);
        for (int o = 0; o < c->n_out; o++)
            if (c->out_stages[o] == s) outs[o] = x;
    }
}
