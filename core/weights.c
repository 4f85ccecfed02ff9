#include "weights.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NAME_LEN 512    /* longest tensor name we look up, NUL included */
#define MAX_REWRITES 6  /* applicable alias rewrites combined per lookup: 63 spellings */
#define MSG_LEN 768
#define BIG_BYTES ((size_t)64 << 10)

struct vd_weights {
    vd_safetensors *st;
    vd_arena arena;     /* vd_tensor structs and small data */
    vd_arena big;       /* data of BIG_BYTES or more, one exact block each (see alloc_data) */
    vd_tensor **cache;  /* per stored tensor (header order): the tensor handed out, or NULL */
    vd_alias *rules;    /* copies, strings in rule_strings */
    char *rule_strings;
    int n_rules;
    int64_t num_params;
    vkdetr_status status; /* first error */
    char msg[MSG_LEN];
};

/* ---- errors ---------------------------------------------------------------------------- */

static void *fail(vd_weights *W, vkdetr_status s, const char *fmt, ...) VD_PRINTF(3, 4);

/* Records the first error (later ones are dropped) and returns NULL. */
static void *fail(vd_weights *W, vkdetr_status s, const char *fmt, ...) {
    if (W->status) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(W->msg, sizeof W->msg, fmt, ap);
    va_end(ap);
    W->status = s;
    vd_error(s, "%s", W->msg);
    return NULL;
}

vkdetr_status vd_weights_status(const vd_weights *W) {
    if (!W) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_weights_status: W is NULL");
    if (W->status) vd_error(W->status, "%s", W->msg);
    return W->status;
}

const char *vd_weights_error(const vd_weights *W) { return W ? W->msg : ""; }

/* "[256, ?, 3, 3]"; "any shape" for VD_SHAPE_ANY. Returns buf. */
static const char *expected_str(vd_shape s, char *buf, size_t size) {
    if (s.ndim < 0) {
        snprintf(buf, size, "any shape");
        return buf;
    }
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < s.ndim && n < size; i++) {
        if (s.ne[i] < 0) n += (size_t)snprintf(buf + n, size - n, i ? ", ?" : "?");
        else n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)s.ne[i]);
    }
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

static const char *stored_str(const vd_st_tensor *t, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

/* ---- create / free --------------------------------------------------------------------- */

vkdetr_status vd_weights_create(vd_safetensors *st, vd_weights **out) {
    if (!out || !st) {
        vd_st_close(st);
        return vd_error(VKDETR_ERR_INVALID_ARG, "vd_weights_create: NULL argument");
    }
    *out = NULL;
    vd_weights *W = vd_calloc(1, sizeof *W);
    if (!W) {
        vkdetr_status s = vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", vd_st_name(st));
        vd_st_close(st);
        return s;
    }
    W->st = st;
    vd_arena_init(&W->arena, (size_t)1 << 20);
    vd_arena_init(&W->big, 1);
    int n = vd_st_count(st);
    W->cache = vd_calloc((size_t)n + 1, sizeof *W->cache);
    if (!W->cache) {
        vkdetr_status s = vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", vd_st_name(st));
        vd_weights_free(W);
        return s;
    }
    static const char nbt[] = "num_batches_tracked";
    for (int i = 0; i < n; i++) {
        const vd_st_tensor *t = vd_st_at(st, i);
        size_t len = strlen(t->name);
        int is_nbt = len >= sizeof nbt - 1 && strcmp(t->name + len - (sizeof nbt - 1), nbt) == 0;
        if (vd_st_dtype_is_float(t->dtype) && !is_nbt) W->num_params += t->nelements;
    }
    *out = W;
    return VKDETR_OK;
}

void vd_weights_free(vd_weights *W) {
    if (!W) return;
    vd_arena_free(&W->arena);
    vd_arena_free(&W->big);
    vd_free(W->cache);
    vd_free(W->rules);
    vd_free(W->rule_strings);
    vd_st_close(W->st);
    vd_free(W);
}

const vd_safetensors *vd_weights_file(const vd_weights *W) { return W ? W->st : NULL; }

int64_t vd_weights_num_params(const vd_weights *W) { return W ? W->num_params : 0; }

/* ---- aliases --------------------------------------------------------------------------- */

vkdetr_status vd_weights_set_aliases(vd_weights *W, const vd_alias *rules, int n) {
    if (!W || n < 0 || (n && !rules))
        return vd_error(VKDETR_ERR_INVALID_ARG, "vd_weights_set_aliases: bad arguments");
    size_t bytes = 1;
    for (int i = 0; i < n; i++) {
        if (!rules[i].legacy || !rules[i].v5 || !*rules[i].legacy || !*rules[i].v5)
            return vd_error(VKDETR_ERR_INVALID_ARG, "vd_weights_set_aliases: rule %d has an "
                            "empty or NULL spelling", i);
        bytes += strlen(rules[i].legacy) + strlen(rules[i].v5) + 2;
    }
    vd_alias *r = vd_malloc((size_t)n * sizeof *r + 1);
    char *strings = vd_malloc(bytes);
    if (!r || !strings) {
        vd_free(r);
        vd_free(strings);
        return vd_error(VKDETR_ERR_NO_MEMORY, "%s: out of memory", vd_st_name(W->st));
    }
    char *p = strings;
    for (int i = 0; i < n; i++) {
        size_t a = strlen(rules[i].legacy) + 1, b = strlen(rules[i].v5) + 1;
        r[i].legacy = memcpy(p, rules[i].legacy, a);
        r[i].v5 = memcpy(p + a, rules[i].v5, b);
        p += a + b;
    }
    vd_free(W->rules);
    vd_free(W->rule_strings);
    W->rules = r;
    W->rule_strings = strings;
    W->n_rules = n;
    return VKDETR_OK;
}

typedef struct rewrite {
    const char *from, *to;
    int rule;
} rewrite;

/* dst = src with every occurrence of from replaced by to; -1 if it does not fit. */
static int replace_all(const char *src, const char *from, const char *to, char *dst, size_t size) {
    size_t flen = strlen(from), tlen = strlen(to), n = 0;
    const char *p = src, *hit;
    while ((hit = strstr(p, from)) != NULL) {
        size_t k = (size_t)(hit - p);
        if (n + k + tlen >= size) return -1;
        memcpy(dst + n, p, k);
        memcpy(dst + n + k, to, tlen);
        n += k + tlen;
        p = hit + flen;
    }
    size_t k = strlen(p);
    if (n + k >= size) return -1;
    memcpy(dst + n, p, k + 1);
    return 0;
}

static int popcount(unsigned x) {
    int c = 0;
    for (; x; x &= x - 1) c++;
    return c;
}

/* Finds name in the file as given, then under the alias spellings (see the header). When
 * `all` is set, every spelling is tried so that ambiguities are logged. */
static const vd_st_tensor *resolve(const vd_weights *W, const char *name, int all) {
    const vd_st_tensor *found = vd_st_find(W->st, name);
    if ((found && !all) || W->n_rules == 0) return found;
    rewrite rw[MAX_REWRITES];
    int n_rw = 0;
    for (int i = 0; i < W->n_rules && n_rw < MAX_REWRITES; i++) {
        if (strstr(name, W->rules[i].legacy)) rw[n_rw++] = (rewrite){W->rules[i].legacy, W->rules[i].v5, i};
        if (n_rw < MAX_REWRITES && strstr(name, W->rules[i].v5))
            rw[n_rw++] = (rewrite){W->rules[i].v5, W->rules[i].legacy, i};
    }
    const char *found_as = name;
    char buf[2][NAME_LEN];
    for (int k = 1; k <= n_rw; k++) {
        for (unsigned mask = 1; mask < (1u << n_rw); mask++) {
            if (popcount(mask) != k) continue;
            const char *cur = name;
            int ok = 1, which = 0, last_rule = -1;
            for (int j = 0; j < n_rw && ok; j++) {
                if (!(mask & (1u << j))) continue;
                /* both directions of one rule undo each other: skip such combinations */
                if (rw[j].rule == last_rule) ok = 0;
                last_rule = rw[j].rule;
                if (ok && replace_all(cur, rw[j].from, rw[j].to, buf[which], NAME_LEN)) ok = 0;
                cur = buf[which];
                which ^= 1;
            }
            if (!ok || strcmp(cur, name) == 0) continue;
            const vd_st_tensor *t = vd_st_find(W->st, cur);
            if (!t || t == found) continue;
            if (!found) {
                found = t;
                found_as = t->name;
                if (!all) return found;
            } else {
                vd_log_debug("%s: tensor '%s' exists as '%s' and as '%s'; using '%s'",
                             vd_st_name(W->st), name, found_as, t->name, found_as);
            }
        }
    }
    return found;
}

int vd_weights_has(const vd_weights *W, const char *fmt, ...) {
    if (!W || !fmt) return 0;
    char name[NAME_LEN];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (len < 0 || len >= (int)sizeof name) return 0;
    return resolve(W, name, 0) != NULL;
}

/* ---- get ------------------------------------------------------------------------------- */

static int shape_matches(const vd_st_tensor *t, vd_shape s) {
    if (s.ndim < 0) return t->ndim <= VD_MAX_DIMS;
    if (t->ndim != s.ndim) return 0;
    for (int i = 0; i < s.ndim; i++)
        if (s.ne[i] >= 0 && s.ne[i] != t->shape[i]) return 0;
    return 1;
}

/* Tensor data. Large buffers get blocks of their own: in the shared arena a large block
 * becomes the head and the unused rest of the previous block would be lost for good. */
static void *alloc_data(vd_weights *W, size_t bytes) {
    return vd_arena_alloc(bytes >= BIG_BYTES ? &W->big : &W->arena, bytes);
}

/* The tensor for a stored entry, created (and converted) on first use. */
static vd_tensor *materialise(vd_weights *W, const vd_st_tensor *t) {
    vd_tensor **slot = &W->cache[t - vd_st_at(W->st, 0)];
    if (*slot) return *slot;
    vd_tensor *x = vd_arena_calloc(&W->arena, 1, sizeof *x);
    if (!x) return fail(W, VKDETR_ERR_NO_MEMORY, "%s: out of memory", vd_st_name(W->st));
    x->op = VD_OP_LEAF;
    x->type = VD_F32;
    x->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) x->ne[i] = t->shape[i];
    x->flags = VD_TENSOR_WEIGHT;
    x->id = -1;
    x->name = t->name;
    if (t->dtype == VD_ST_F32 && ((uintptr_t)t->data & 3) == 0) {
        x->data = (void *)t->data; /* read-only: see the header */
    } else {
        size_t bytes;
        if (vd_mul_size((size_t)t->nelements, sizeof(float), &bytes) ||
            !(x->data = alloc_data(W, bytes)))
            return fail(W, VKDETR_ERR_NO_MEMORY, "%s: out of memory for tensor '%s'",
                        vd_st_name(W->st), t->name);
        vkdetr_status s = vd_st_read_f32(t, x->data);
        if (s) return fail(W, s, "%s", vkdetr_last_error());
        vd_st_release(W->st, t->data, (size_t)t->nelements * vd_st_dtype_size(t->dtype));
    }
    *slot = x;
    return x;
}

static vd_tensor *get_named(vd_weights *W, const char *name, vd_shape shape) {
    char eb[96], sb[160];
    if (shape.ndim < -1 || shape.ndim > VD_MAX_DIMS)
        return fail(W, VKDETR_ERR_INVALID_ARG, "%s: tensor '%s': expected rank %d is invalid",
                    vd_st_name(W->st), name, shape.ndim);
    const vd_st_tensor *t = resolve(W, name, 1);
    if (!t)
        return fail(W, VKDETR_ERR_SHAPE, "%s: missing tensor '%s' (expected %s)",
                    vd_st_name(W->st), name, expected_str(shape, eb, sizeof eb));
    if (!vd_st_dtype_is_float(t->dtype))
        return fail(W, VKDETR_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected floating point",
                    vd_st_name(W->st), t->name, vd_st_dtype_name(t->dtype));
    if (!shape_matches(t, shape))
        return fail(W, VKDETR_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s",
                    vd_st_name(W->st), t->name, stored_str(t, sb, sizeof sb),
                    shape.ndim < 0 ? "at most 4 dims" : expected_str(shape, eb, sizeof eb));
    return materialise(W, t);
}

vd_tensor *vd_weights_get(vd_weights *W, const char *fmt, vd_shape shape, ...) {
    if (!W || W->status) return NULL;
    if (!fmt) return fail(W, VKDETR_ERR_INVALID_ARG, "vd_weights_get: fmt is NULL");
    char name[NAME_LEN];
    va_list ap;
    va_start(ap, shape);
    int len = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (len < 0 || len >= (int)sizeof name)
        return fail(W, VKDETR_ERR_INVALID_ARG, "%s: tensor name '%.64s...' too long",
                    vd_st_name(W->st), name);
    return get_named(W, name, shape);
}

vd_tensor *vd_weights_new(vd_weights *W, int ndim, const int64_t *ne) {
    if (!W || W->status) return NULL;
    if (ndim < 0 || ndim > VD_MAX_DIMS || (ndim && !ne))
        return fail(W, VKDETR_ERR_INVALID_ARG, "vd_weights_new: bad rank %d", ndim);
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (ne[i] < 0 || (uint64_t)ne[i] > SIZE_MAX || vd_mul_size(count, (size_t)ne[i], &count))
            return fail(W, VKDETR_ERR_INVALID_ARG, "vd_weights_new: bad dimension %lld",
                        (long long)ne[i]);
    size_t bytes;
    vd_tensor *x = vd_arena_calloc(&W->arena, 1, sizeof *x);
    void *data = x && !vd_mul_size(count, sizeof(float), &bytes) ? alloc_data(W, bytes) : NULL;
    if (!data) return fail(W, VKDETR_ERR_NO_MEMORY, "%s: out of memory", vd_st_name(W->st));
    memset(data, 0, bytes);
    x->op = VD_OP_LEAF;
    x->type = VD_F32;
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++) x->ne[i] = ne[i];
    x->flags = VD_TENSOR_WEIGHT;
    x->id = -1;
    x->data = data;
    return x;
}

/* ---- BatchNorm folding ----------------------------------------------------------------- */

static float to_f32(double d) {
    if (fabs(d) >= 0x1.ffffffp127) return d > 0 ? INFINITY : -INFINITY;
    return (float)d;
}

vkdetr_status vd_weights_fold_bn(vd_weights *W, const vd_tensor *conv_w, const char *bn_prefix_fmt,
                                 float eps, vd_tensor **out_w, vd_tensor **out_b, ...) {
    if (out_w) *out_w = NULL;
    if (out_b) *out_b = NULL;
    if (!W) return vd_error(VKDETR_ERR_INVALID_ARG, "vd_weights_fold_bn: W is NULL");
    if (W->status) return W->status;
    if (!conv_w || !bn_prefix_fmt || !out_w || !out_b || conv_w->type != VD_F32 ||
        conv_w->ndim < 1 || !conv_w->data) {
        fail(W, VKDETR_ERR_INVALID_ARG, "vd_weights_fold_bn: bad arguments");
        return W->status;
    }
    char prefix[NAME_LEN], name[NAME_LEN + 16];
    va_list ap;
    va_start(ap, out_b);
    int len = vsnprintf(prefix, sizeof prefix, bn_prefix_fmt, ap);
    va_end(ap);
    if (len < 0 || len >= (int)sizeof prefix) {
        fail(W, VKDETR_ERR_INVALID_ARG, "%s: BN prefix '%.64s...' too long", vd_st_name(W->st),
             prefix);
        return W->status;
    }
    static const char *const parts[4] = {"weight", "bias", "running_mean", "running_var"};
    const int64_t C = conv_w->ne[0];
    const float *p[4]; /* gamma, beta, mean, var: (C) */
    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof name, "%s.%s", prefix, parts[k]);
        vd_tensor *t = get_named(W, name, VD_SHAPE(C));
        if (!t) return W->status;
        p[k] = t->data;
    }
    for (int64_t o = 0; o < C; o++) {
        if (!((double)p[3][o] + eps > 0)) {
            fail(W, VKDETR_ERR_FORMAT, "%s: tensor '%s.running_var' [%lld] = %g: var + eps must "
                 "be positive", vd_st_name(W->st), prefix, (long long)o, (double)p[3][o]);
            return W->status;
        }
    }
    vd_tensor *w = vd_weights_new(W, conv_w->ndim, conv_w->ne); /* shape of conv_w */
    vd_tensor *b = vd_weights_new(W, 1, &C);                    /* (C) */
    if (!w || !b) return W->status;
    const int64_t inner = C ? vd_nelements(conv_w) / C : 0;
    const float *src = conv_w->data;
    float *dw = w->data, *db = b->data;
    for (int64_t o = 0; o < C; o++) {
        double scale = (double)p[0][o] / sqrt((double)p[3][o] + (double)eps);
        for (int64_t j = 0; j < inner; j++) dw[o * inner + j] = to_f32(src[o * inner + j] * scale);
        db[o] = to_f32((double)p[1][o] - (double)p[2][o] * scale);
    }
    /* the stored weight is not read again: its pages need not stay resident */
    vd_st_release(W->st, src, (size_t)vd_nelements(conv_w) * sizeof(float));
    *out_w = w;
    *out_b = b;
    return VKDETR_OK;
}

int vd_weights_count_unused(const vd_weights *W) {
    if (!W) return 0;
    int unused = 0;
    for (int i = 0; i < vd_st_count(W->st); i++) {
        const vd_st_tensor *t = vd_st_at(W->st, i);
        if (W->cache[i] || !vd_st_dtype_is_float(t->dtype)) continue;
        vd_log_debug("%s: tensor '%s' was not used", vd_st_name(W->st), t->name);
        unused++;
    }
    return unused;
}
