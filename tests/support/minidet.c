#include "minidet.h"

#include <string.h>

#include "core/ops.h"
#include "testutil.h"

static vd_tensor *weight(vd_minidet_weights *w, vd_arena *a, vd_rng *r, int ndim, int64_t d0,
                         int64_t d1, int64_t d2, int64_t d3, float scale) {
    vd_tensor *t = vd_arena_calloc(a, 1, sizeof *t);
    if (!t) return NULL;
    int64_t ne[4] = {d0, d1, d2, d3};
    t->op = VD_OP_LEAF;
    t->type = VD_F32;
    t->ndim = ndim;
    memcpy(t->ne, ne, sizeof ne);
    t->flags = VD_TENSOR_WEIGHT;
    t->id = -1;
    t->name = "minidet weight";
    t->data = vd_arena_alloc(a, vd_nbytes(t));
    if (!t->data) return NULL;
    vd_rng_fill(r, t->data, (size_t)vd_nelements(t), -scale, scale);
    w->w[w->n++] = t;
    return t;
}

int vd_minidet_weights_init(vd_minidet_weights *w, vd_arena *a, uint64_t seed) {
    vd_rng r;
    vd_rng_seed(&r, seed);
    memset(w, 0, sizeof *w);
    /* order matters: vd_minidet_build takes them in this order */
    weight(w, a, &r, 4, 16, 3, 3, 3, 0.5f);  /* 0 stem conv */
    weight(w, a, &r, 1, 16, 0, 0, 0, 0.2f);  /* 1 stem bias */
    weight(w, a, &r, 4, 16, 1, 3, 3, 0.5f);  /* 2 depthwise */
    weight(w, a, &r, 1, 16, 0, 0, 0, 0.2f);  /* 3 */
    weight(w, a, &r, 4, 24, 16, 1, 1, 0.3f); /* 4 1x1 */
    weight(w, a, &r, 4, 24, 12, 3, 3, 0.2f); /* 5 grouped (2 groups), strided, asymmetric */
    weight(w, a, &r, 4, 16, 48, 1, 1, 0.2f); /* 6 fuse */
    weight(w, a, &r, 1, 16, 0, 0, 0, 0.2f);  /* 7 */
    weight(w, a, &r, 4, 16, 24, 1, 1, 0.2f); /* 8 level-1 projection */
    weight(w, a, &r, 2, 48, 16, 0, 0, 0.3f); /* 9 qkv */
    weight(w, a, &r, 1, 16, 0, 0, 0, 0.5f);  /* 10 ln gamma (around 1 after +1 below) */
    weight(w, a, &r, 1, 16, 0, 0, 0, 0.1f);  /* 11 ln beta */
    weight(w, a, &r, 2, 5, 16, 0, 0, 0.4f);  /* 12 class head */
    weight(w, a, &r, 1, 5, 0, 0, 0, 0.1f);   /* 13 */
    weight(w, a, &r, 2, 4, 16, 0, 0, 0.4f);  /* 14 box head */
    weight(w, a, &r, 1, 4, 0, 0, 0, 0.1f);   /* 15 */
    weight(w, a, &r, 2, 16, 16, 0, 0, 0.3f); /* 16 value proj */
    weight(w, a, &r, 2, 16, 16, 0, 0, 0.5f); /* 17 offsets */
    weight(w, a, &r, 2, 8, 16, 0, 0, 0.5f);  /* 18 attention weights */
    weight(w, a, &r, 2, 16, 16, 0, 0, 0.3f); /* 19 output proj */
    weight(w, a, &r, 2, 7, 16, 0, 0, 0.5f);  /* 20 probs */
    weight(w, a, &r, 2, 4, 16, 0, 0, 0.3f);  /* 21 box delta */
    weight(w, a, &r, 2, 5, 16, 0, 0, 0.4f);  /* 22 logits */
    for (int i = 0; i < w->n; i++)
        if (!w->w[i]) return -1;
    float *g = w->w[10]->data;
    for (int i = 0; i < 16; i++) g[i] += 1.0f;
    return 0;
}

static vd_tensor *tokens(vd_graph *g, vd_tensor *map) { /* [1,C,H,W] -> [H*W, C] */
    int64_t ne[2] = {map->ne[1], map->ne[2] * map->ne[3]};
    return vd_op_permute(g, vd_op_reshape(g, map, 2, ne), 1, 0, -1, -1);
}

int vd_minidet_build(vd_minidet *m, const vd_minidet_weights *wt) {
    vd_tensor *const *w = wt->w;
    memset(m, 0, sizeof *m);
    vd_graph *g = m->g = vd_graph_create();
    if (!g) return VKDETR_ERR_NO_MEMORY;
    int64_t xn[4] = {1, 3, 32, 24};
    m->x = vd_graph_input(g, "x", VD_F32, 4, xn);

    /* backbone */
    vd_conv2d_params s2 = {2, 2, 1, 1, 1, 1, 1, VD_ACT_SILU};
    vd_tensor *c1 = vd_op_conv2d(g, m->x, w[0], w[1], NULL, &s2);       /* [1,16,16,12] */
    vd_pool_params mp = {VD_POOL_MAX, 3, 3, 2, 2, 1, 1, 0, 0};
    vd_tensor *p1 = vd_op_pool2d(g, c1, &mp);                           /* [1,16,8,6] */
    vd_conv2d_params dw = {1, 1, 1, 1, 1, 1, 16, VD_ACT_RELU};
    vd_tensor *d1 = vd_op_conv2d(g, p1, w[2], w[3], NULL, &dw);         /* [1,16,8,6] */
    vd_conv2d_params one = {1, 1, 0, 0, 0, 0, 1, VD_ACT_NONE};
    vd_tensor *c2 = vd_op_conv2d(g, d1, w[4], NULL, NULL, &one);        /* [1,24,8,6] */
    vd_conv2d_params asym = {2, 2, 0, 1, 1, 0, 2, VD_ACT_SILU};
    vd_tensor *c3 = vd_op_conv2d(g, c2, w[5], NULL, NULL, &asym);       /* [1,24,4,3] */
    vd_pool_params ap = {VD_POOL_AVG, 2, 2, 2, 2, 0, 0, 1, 0};
    vd_tensor *a3 = vd_op_pool2d(g, c2, &ap);                           /* [1,24,4,3] */
    vd_tensor *s3 = vd_op_add(g, c3, a3);
    vd_tensor *u3 = vd_op_upsample(g, s3, 2);                           /* [1,24,8,6] */
    vd_tensor *cat_in[2] = {u3, c2};
    vd_tensor *cat = vd_op_concat(g, 2, cat_in, 1);                     /* [1,48,8,6] */
    vd_tensor *f0 = vd_op_conv2d(g, cat, w[6], w[7], d1, &one);         /* residual */
    vd_tensor *f1 = vd_op_conv2d(g, s3, w[8], NULL, NULL, &one);        /* [1,16,4,3] */

    /* encoder: attention over level 1, post-norm */
    vd_tensor *t0 = tokens(g, f0), *t1 = tokens(g, f1);                 /* [48,16], [12,16] */
    vd_tensor *qkv = vd_op_linear(g, t1, w[9], NULL, NULL, VD_ACT_NONE); /* [12,48] */
    vd_tensor *q = vd_op_slice(g, qkv, 1, 0, 16), *k = vd_op_slice(g, qkv, 1, 16, 32);
    vd_tensor *v = vd_op_slice(g, qkv, 1, 32, 48);
    vd_tensor *at = vd_op_attention(g, q, k, v, 2);
    vd_tensor *e1 = vd_op_layer_norm(g, vd_op_add(g, t1, at), w[10], w[11], 1e-5f);
    vd_tensor *mem_in[2] = {t0, e1};
    vd_tensor *mem = vd_op_concat(g, 2, mem_in, 0);                     /* [60,16] */

    /* query selection */
    vd_tensor *cls = vd_op_linear(g, mem, w[12], w[13], NULL, VD_ACT_NONE);  /* [60,5] */
    vd_tensor *idx = vd_op_topk(g, vd_op_reduce_max(g, cls), 10);            /* [10] */
    vd_tensor *box = vd_op_linear(g, mem, w[14], w[15], NULL, VD_ACT_NONE);  /* [60,4] */
    vd_tensor *ref = vd_op_unary(g, vd_op_gather(g, box, idx, 1), VD_ACT_SIGMOID); /* [10,4] */
    vd_tensor *qry = vd_op_gather(g, mem, idx, 1);                           /* [10,16] */

    /* decoder: deformable attention over both levels, 2 heads, 2 points per level */
    vd_msda_params p = {2, 2, {8, 4}, {6, 3}, {2, 2}, 4, 0.5f};
    float ps[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    int64_t pn[1] = {4};
    vd_tensor *pscale = vd_graph_const(g, "point_scale", VD_F32, 1, pn, ps);
    vd_tensor *val = vd_op_linear(g, mem, w[16], NULL, NULL, VD_ACT_NONE);
    vd_tensor *off = vd_op_linear(g, qry, w[17], NULL, NULL, VD_ACT_NONE);   /* [10,16] */
    vd_tensor *aw = vd_op_linear(g, qry, w[18], NULL, NULL, VD_ACT_NONE);    /* [10,8] */
    vd_tensor *ms = vd_op_msda(g, val, off, aw, ref, pscale, &p);            /* [10,16] */
    vd_tensor *h = vd_op_linear(g, ms, w[19], NULL, qry, VD_ACT_NONE);
    h = vd_op_layer_norm(g, h, w[10], w[11], 1e-5f);
    m->out[0] = vd_op_box_refine(g, vd_op_linear(g, h, w[21], NULL, NULL, VD_ACT_NONE), ref);
    m->out[1] = vd_op_linear(g, h, w[22], NULL, NULL, VD_ACT_GELU);
    m->out[2] = idx;
    m->out[3] = vd_op_softmax(g, vd_op_linear(g, h, w[20], NULL, NULL, VD_ACT_NONE));
    m->out[4] = vd_op_mul(g, vd_op_slice(g, h, 1, 3, 7), m->out[0]);
    static const char *names[VD_MINIDET_OUTS] = {"boxes", "logits", "idx", "probs", "features"};
    for (int i = 0; i < VD_MINIDET_OUTS; i++) {
        m->out_name[i] = names[i];
        vd_graph_output(g, m->out[i], names[i]);
    }
    return g->status;
}
