#include "cocoeval.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "coco_rle.h"
#include "error.h"
#include "files.h"

/* One annotation or result. */
typedef struct ann {
    int64_t id, image_id, category_id;
    double bbox[4];       /* x, y, w, h; valid when has_bbox */
    double area;          /* ground truth: the "area" field; result: from the box or mask */
    double score;         /* results only */
    int has_bbox;
    int iscrowd;
    const cJSON *segm;    /* borrowed "segmentation"; NULL: none (results: the box) */
} ann;

struct vd_coco_gt {
    cJSON *root;
    char *name;
    vd_coco_image *images;
    int n_images;
    vd_coco_category *categories;
    int n_categories;
    ann *anns;
    int64_t n_anns;
};

const char *const vd_cocoeval_stat_names[VD_COCOEVAL_STATS] = {
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};

static const double area_ranges[VD_COCOEVAL_A][2] = {
    {0.0, 1e5 * 1e5}, {0.0, 32.0 * 32.0}, {32.0 * 32.0, 96.0 * 96.0}, {96.0 * 96.0, 1e5 * 1e5}};
static const int max_dets[VD_COCOEVAL_M] = {1, 10, 100};

/* np.linspace(start, stop, num): i * ((stop - start) / (num - 1)) + start, the last = stop. */
static double linspace(double start, double stop, int num, int i) {
    if (i == num - 1) return stop;
    double step = (stop - start) / (num - 1);
    return (double)i * step + start;
}

double vd_cocoeval_iou_threshold(int t) { return linspace(0.5, 0.95, VD_COCOEVAL_T, t); }
double vd_cocoeval_recall_threshold(int r) { return linspace(0.0, 1.0, VD_COCOEVAL_R, r); }

/* ---- JSON helpers --------------------------------------------------------------------- */

static int get_number(const cJSON *o, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return -1;
    *out = v->valuedouble;
    return 0;
}

/* An integral number that a double holds exactly. */
static int get_int64(const cJSON *o, const char *key, int64_t *out) {
    double d;
    if (get_number(o, key, &d) || d != floor(d) || fabs(d) > 9007199254740992.0) return -1;
    *out = (int64_t)d;
    return 0;
}

/* [x, y, w, h]: exactly four numbers. */
static int get_box(const cJSON *v, double out[4]) {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 4) return -1;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsNumber(it)) return -1;
        out[i++] = it->valuedouble;
    }
    return 0;
}

/* Puts "<context>: " before the last message. */
static vkdetr_status prefix_error(vkdetr_status st, const char *fmt, ...) VD_APP_PRINTF(2, 3);
static vkdetr_status prefix_error(vkdetr_status st, const char *fmt, ...) {
    char msg[768], pre[256];
    snprintf(msg, sizeof msg, "%s", vd_app_last_error());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    return vd_app_error(st, "%s: %s", pre, msg);
}

static int compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v and removes repeats; returns the new count. */
static int64_t sort_unique(int64_t *v, int64_t n) {
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, compare_i64);
    int64_t k = 1;
    for (int64_t i = 1; i < n; i++)
        if (v[i] != v[k - 1]) v[k++] = v[i];
    return k;
}

/* Index of id in the sorted v, -1 when absent. */
static int64_t find_id(const int64_t *v, int64_t n, int64_t id) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (v[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == id ? lo : -1;
}

/* ---- ground truth --------------------------------------------------------------------- */

static vkdetr_status read_images(vd_coco_gt *gt, const cJSON *arr) {
    gt->images = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *gt->images);
    if (!gt->images) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        vd_coco_image *im = &gt->images[gt->n_images];
        if (!cJSON_IsObject(it) || get_int64(it, "id", &im->id))
            return vd_app_error(VKDETR_ERR_FORMAT, "%s: images[%d] has no integer \"id\"",
                                gt->name, gt->n_images);
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(it, "file_name");
        im->file_name = cJSON_IsString(fn) ? fn->valuestring : NULL;
        double v;
        if (!get_number(it, "width", &v) && v > 0 && v < 1e9) im->width = (int)v;
        if (!get_number(it, "height", &v) && v > 0 && v < 1e9) im->height = (int)v;
        gt->n_images++;
    }
    return VKDETR_OK;
}

static vkdetr_status read_categories(vd_coco_gt *gt, const cJSON *arr) {
    gt->categories = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *gt->categories);
    if (!gt->categories) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        vd_coco_category *c = &gt->categories[gt->n_categories];
        if (!cJSON_IsObject(it) || get_int64(it, "id", &c->id))
            return vd_app_error(VKDETR_ERR_FORMAT, "%s: categories[%d] has no integer \"id\"",
                                gt->name, gt->n_categories);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        c->name = cJSON_IsString(name) ? name->valuestring : "";
        gt->n_categories++;
    }
    return VKDETR_OK;
}

static vkdetr_status read_annotations(vd_coco_gt *gt, const cJSON *arr) {
    gt->anns = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *gt->anns);
    if (!gt->anns) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        ann *a = &gt->anns[gt->n_anns];
        if (!cJSON_IsObject(it) || get_int64(it, "id", &a->id) ||
            get_int64(it, "image_id", &a->image_id) ||
            get_int64(it, "category_id", &a->category_id))
            return vd_app_error(VKDETR_ERR_FORMAT,
                                "%s: annotations[%lld] needs integer \"id\", \"image_id\" and "
                                "\"category_id\"",
                                gt->name, (long long)gt->n_anns);
        if (get_number(it, "area", &a->area))
            return vd_app_error(VKDETR_ERR_FORMAT, "%s: annotation %lld has no \"area\"", gt->name,
                                (long long)a->id);
        a->has_bbox = get_box(cJSON_GetObjectItemCaseSensitive(it, "bbox"), a->bbox) == 0;
        double crowd = 0.0;
        if (!get_number(it, "iscrowd", &crowd)) a->iscrowd = crowd != 0.0;
        a->segm = cJSON_GetObjectItemCaseSensitive(it, "segmentation");
        gt->n_anns++;
    }
    /* pycocotools indexes annotations by id: a repeated id would silently replace another */
    int64_t *ids = malloc(((size_t)gt->n_anns + 1) * sizeof *ids);
    if (!ids) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < gt->n_anns; i++) ids[i] = gt->anns[i].id;
    qsort(ids, (size_t)gt->n_anns, sizeof *ids, compare_i64);
    for (int64_t i = 1; i < gt->n_anns; i++)
        if (ids[i] == ids[i - 1]) {
            long long dup = (long long)ids[i];
            free(ids);
            return vd_app_error(VKDETR_ERR_FORMAT, "%s: annotation id %lld appears twice",
                                gt->name, dup);
        }
    free(ids);
    return VKDETR_OK;
}

vkdetr_status vd_coco_gt_parse(const char *json, size_t size, const char *name, vd_coco_gt **out) {
    *out = NULL;
    vd_coco_gt *gt = calloc(1, sizeof *gt);
    if (!gt || !(gt->name = strdup(name ? name : "annotations"))) {
        vd_coco_gt_free(gt);
        return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    }
    vkdetr_status st = VKDETR_OK;
    gt->root = cJSON_ParseWithLength(json, size);
    if (!gt->root || !cJSON_IsObject(gt->root)) {
        st = vd_app_error(VKDETR_ERR_FORMAT, "%s: not a JSON object", gt->name);
        goto fail;
    }
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(gt->root, "images");
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(gt->root, "categories");
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(gt->root, "annotations");
    if (!cJSON_IsArray(images) || !cJSON_IsArray(cats) || (anns && !cJSON_IsArray(anns))) {
        st = vd_app_error(VKDETR_ERR_FORMAT,
                          "%s: not a COCO annotations file (needs \"images\" and \"categories\" "
                          "arrays, and an \"annotations\" array)",
                          gt->name);
        goto fail;
    }
    if ((st = read_images(gt, images)) || (st = read_categories(gt, cats)) ||
        (st = read_annotations(gt, anns)))
        goto fail;
    *out = gt;
    return VKDETR_OK;
fail:
    vd_coco_gt_free(gt);
    return st;
}

vkdetr_status vd_coco_gt_load(const char *path, vd_coco_gt **out) {
    *out = NULL;
    char *text;
    size_t size;
    vkdetr_status st = vd_files_read_all(path, &text, &size);
    if (st) return st;
    st = vd_coco_gt_parse(text, size, path, out);
    free(text);
    return st;
}

void vd_coco_gt_free(vd_coco_gt *gt) {
    if (!gt) return;
    cJSON_Delete(gt->root);
    free(gt->name);
    free(gt->images);
    free(gt->categories);
    free(gt->anns);
    free(gt);
}

int vd_coco_gt_image_count(const vd_coco_gt *gt) { return gt->n_images; }
const vd_coco_image *vd_coco_gt_images(const vd_coco_gt *gt) { return gt->images; }
int vd_coco_gt_category_count(const vd_coco_gt *gt) { return gt->n_categories; }
const vd_coco_category *vd_coco_gt_categories(const vd_coco_gt *gt) { return gt->categories; }

vkdetr_status vd_coco_results_load(const char *path, cJSON **out) {
    *out = NULL;
    char *text;
    size_t size;
    vkdetr_status st = vd_files_read_all(path, &text, &size);
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength(text, size);
    free(text);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return vd_app_error(VKDETR_ERR_FORMAT, "%s: not a JSON array of COCO results", path);
    }
    *out = root;
    return VKDETR_OK;
}

/* ---- masks of annotations ------------------------------------------------------------- */

/* {"size": [h, w], "counts": [...] or "..."} to an RLE. */
static vkdetr_status rle_object(const cJSON *segm, vd_rle *out) {
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(segm, "size");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(segm, "counts");
    double hw[2];
    int i = 0;
    const cJSON *it;
    if (!cJSON_IsArray(size) || cJSON_GetArraySize(size) != 2)
        return vd_app_error(VKDETR_ERR_FORMAT, "RLE without a \"size\" [h, w]");
    cJSON_ArrayForEach(it, size) hw[i++] = cJSON_IsNumber(it) ? it->valuedouble : -1.0;
    if (!(hw[0] >= 0 && hw[0] < 1e9 && hw[1] >= 0 && hw[1] < 1e9))
        return vd_app_error(VKDETR_ERR_FORMAT, "RLE with a bad \"size\"");
    int h = (int)hw[0], w = (int)hw[1];
    if (cJSON_IsString(counts)) return vd_rle_from_string(counts->valuestring, h, w, out);
    if (!cJSON_IsArray(counts))
        return vd_app_error(VKDETR_ERR_FORMAT, "RLE without \"counts\" (a list or a string)");
    int n = cJSON_GetArraySize(counts);
    int64_t *c = malloc(((size_t)n + 1) * sizeof *c);
    if (!c) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    i = 0;
    cJSON_ArrayForEach(it, counts) c[i++] = cJSON_IsNumber(it) ? (int64_t)it->valuedouble : -1;
    vkdetr_status st = vd_rle_from_counts(c, n, h, w, out);
    free(c);
    return st;
}

/* A list of polygons, merged, as COCO.annToRLE: frPyObjects then merge. */
static vkdetr_status rle_polygons(const cJSON *segm, int h, int w, vd_rle *out) {
    int n = cJSON_GetArraySize(segm);
    const cJSON *first = cJSON_GetArrayItem(segm, 0);
    /* pycocotools reads a first part of 4 numbers as a box and then fails; fewer also fail */
    if (n == 0 || !cJSON_IsArray(first) || cJSON_GetArraySize(first) <= 4)
        return vd_app_error(VKDETR_ERR_FORMAT, "a polygon needs at least 3 points (6 numbers)");
    if (h <= 0 || w <= 0)
        return vd_app_error(VKDETR_ERR_FORMAT,
                            "polygons need the image's \"width\" and \"height\"");
    vd_rle *parts = calloc((size_t)n, sizeof *parts);
    double *xy = NULL;
    vkdetr_status st = VKDETR_OK;
    if (!parts) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    int k = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, segm) {
        int m = cJSON_GetArraySize(part), i = 0;
        double *bigger = realloc(xy, ((size_t)m + 1) * sizeof *xy);
        if (!bigger) {
            st = vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
            break;
        }
        xy = bigger;
        const cJSON *v;
        cJSON_ArrayForEach(v, part) {
            if (!cJSON_IsNumber(v)) break;
            xy[i++] = v->valuedouble;
        }
        if (!cJSON_IsArray(part) || i != m) {
            st = vd_app_error(VKDETR_ERR_FORMAT, "a polygon is not a list of numbers");
            break;
        }
        if ((st = vd_rle_from_polygon(xy, m / 2, h, w, &parts[k]))) break;
        k++;
    }
    if (!st) st = vd_rle_union(parts, k, out);
    for (int i = 0; i < k; i++) vd_rle_free(&parts[i]);
    free(parts);
    free(xy);
    return st;
}

/* The mask of an annotation or result, as COCO.annToRLE (polygons at the image's size). */
static vkdetr_status ann_rle(const ann *a, const vd_coco_image *img, vd_rle *out) {
    int h = img ? img->height : 0, w = img ? img->width : 0;
    if (!a->segm) {
        if (!a->has_bbox) return vd_app_error(VKDETR_ERR_FORMAT, "no \"segmentation\"");
        if (h <= 0 || w <= 0)
            return vd_app_error(VKDETR_ERR_FORMAT,
                                "boxes as masks need the image's \"width\" and \"height\"");
        return vd_rle_from_bbox(a->bbox, h, w, out);
    }
    if (cJSON_IsArray(a->segm)) return rle_polygons(a->segm, h, w, out);
    if (cJSON_IsObject(a->segm)) return rle_object(a->segm, out);
    return vd_app_error(VKDETR_ERR_FORMAT, "\"segmentation\" is neither polygons nor RLE");
}

/* ---- results (COCO.loadRes) ----------------------------------------------------------- */

static vkdetr_status read_result(const cJSON *it, int64_t i, int box_mode, ann *d) {
    if (!cJSON_IsObject(it) || get_int64(it, "image_id", &d->image_id) ||
        get_int64(it, "category_id", &d->category_id) || get_number(it, "score", &d->score))
        return vd_app_error(VKDETR_ERR_FORMAT,
                            "results[%lld]: needs integer \"image_id\" and \"category_id\" and a "
                            "numeric \"score\"",
                            (long long)i);
    d->id = i + 1;
    d->segm = cJSON_GetObjectItemCaseSensitive(it, "segmentation");
    d->has_bbox = get_box(cJSON_GetObjectItemCaseSensitive(it, "bbox"), d->bbox) == 0;
    if (box_mode) {
        if (!d->has_bbox)
            return vd_app_error(VKDETR_ERR_FORMAT,
                                "results[%lld]: no \"bbox\" [x, y, w, h] (the first result has "
                                "one, so all need one)",
                                (long long)i);
        d->area = d->bbox[2] * d->bbox[3];
        return VKDETR_OK;
    }
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(d->segm, "counts");
    vd_rle r;
    if (!cJSON_IsObject(d->segm) || !cJSON_IsString(counts))
        return vd_app_error(VKDETR_ERR_FORMAT,
                            "results[%lld]: the \"segmentation\" of a result without \"bbox\" "
                            "must be compressed RLE {\"size\": [h, w], \"counts\": \"...\"}",
                            (long long)i);
    vkdetr_status st = rle_object(d->segm, &r);
    if (st) return prefix_error(st, "results[%lld]", (long long)i);
    d->area = (double)vd_rle_area(&r);
    if (!d->has_bbox) vd_rle_bbox(&r, d->bbox);
    d->has_bbox = 1;
    vd_rle_free(&r);
    return VKDETR_OK;
}

/* The results as COCO.loadRes reads them: the first result decides whether boxes or masks are
 * the primary form of all. */
static vkdetr_status read_results(const cJSON *results, const int64_t *img_ids, int64_t n_img,
                                  ann **out, int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (!cJSON_IsArray(results))
        return vd_app_error(VKDETR_ERR_FORMAT, "results: not a JSON array");
    int64_t n = cJSON_GetArraySize(results);
    const cJSON *first = results->child;
    int box_mode = 0;
    if (first) {
        const cJSON *bbox = cJSON_GetObjectItemCaseSensitive(first, "bbox");
        box_mode = bbox && !(cJSON_IsArray(bbox) && cJSON_GetArraySize(bbox) == 0);
        if (!box_mode && !cJSON_GetObjectItemCaseSensitive(first, "segmentation"))
            return vd_app_error(VKDETR_ERR_FORMAT,
                                "results: the first result has neither \"bbox\" nor "
                                "\"segmentation\"");
    }
    ann *v = calloc((size_t)n + 1, sizeof *v);
    if (!v) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    int64_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, results) {
        vkdetr_status st = read_result(it, i, box_mode, &v[i]);
        if (!st && find_id(img_ids, n_img, v[i].image_id) < 0)
            st = vd_app_error(VKDETR_ERR_FORMAT,
                              "results[%lld]: image_id %lld is not in the annotations' images",
                              (long long)i, (long long)v[i].image_id);
        if (st) {
            free(v);
            return st;
        }
        i++;
    }
    *out = v;
    *n_out = n;
    return VKDETR_OK;
}

/* ---- evaluation ----------------------------------------------------------------------- */

/* The evaluation of one image and category for one area range (COCOeval.evaluateImg). */
typedef struct img_eval {
    int valid;             /* 0: no ground truth and no detection */
    int nd;                /* detections kept, best first (at most 100) */
    int64_t npig;          /* ground truths not ignored */
    const double *scores;  /* (nd) */
    const uint8_t *flags;  /* (T, nd): MATCHED and/or IGNORED */
} img_eval;

enum { MATCHED = 1, IGNORED = 2 }; /* MATCHED: to a ground truth whose id is not 0 */

typedef struct ctx {
    const vd_coco_gt *gt;
    vd_cocoeval_iou_type type;
    const ann *dts;
    int64_t n_dts;
    int I, K;
    int64_t *img_ids;               /* (I) sorted */
    const vd_coco_image **img_rec;  /* (I) the entry of each id (the last one, as a dict) */
    int64_t *gt_start, *gt_list;    /* buckets (K * I + 1) of ground-truth indices */
    int64_t *dt_start, *dt_list;    /* buckets of result indices */
    double iou_thr[VD_COCOEVAL_T], rec_thr[VD_COCOEVAL_R];
    vd_cocoeval *out;
    /* per category */
    img_eval *ev;                   /* (A, I) */
    double *score_pool;
    uint8_t *flag_pool;
} ctx;

/* Groups v by (category, image), keeping file order inside each group (counting sort). */
static vkdetr_status make_buckets(const ctx *c, const ann *v, int64_t n, int64_t **start_out,
                                  int64_t **list_out) {
    int64_t nb = (int64_t)c->K * c->I;
    int64_t *start = calloc((size_t)nb + 2, sizeof *start);
    int64_t *key = malloc(((size_t)n + 1) * sizeof *key);
    int64_t *list = malloc(((size_t)n + 1) * sizeof *list);
    if (!start || !key || !list) {
        free(start);
        free(key);
        free(list);
        return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t ii = find_id(c->img_ids, c->I, v[i].image_id);
        int64_t kk = find_id(c->out->category_ids, c->K, v[i].category_id);
        key[i] = ii < 0 || kk < 0 ? -1 : kk * c->I + ii;
        if (key[i] >= 0) start[key[i] + 2]++;
    }
    for (int64_t b = 2; b <= nb + 1; b++) start[b] += start[b - 1];
    for (int64_t i = 0; i < n; i++)
        if (key[i] >= 0) list[start[key[i] + 1]++] = i;
    free(key);
    *start_out = start; /* group b: list[start[b] .. start[b + 1]) */
    *list_out = list;
    return VKDETR_OK;
}

typedef struct scored {
    double score;
    int64_t pos;  /* order before sorting: the tie-break that makes the sort stable */
    int64_t idx;
} scored;

/* Highest score first; ties in their original order (NumPy's argsort(-s, kind='mergesort')). */
static int compare_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* ious (nd, G) between the detections (sorted) and the ground truths of one image/category. */
static vkdetr_status compute_ious(const ctx *c, int ii, const int64_t *g, int G,
                                  const scored *d, int nd, double *ious) {
    const ann *gts = c->gt->anns;
    if (c->type == VD_COCOEVAL_BBOX) {
        for (int j = 0; j < G; j++)
            if (!gts[g[j]].has_bbox)
                return vd_app_error(VKDETR_ERR_FORMAT,
                                    "%s: annotation %lld has no \"bbox\" [x, y, w, h]",
                                    c->gt->name, (long long)gts[g[j]].id);
        for (int i = 0; i < nd; i++)
            for (int j = 0; j < G; j++)
                ious[(size_t)i * G + j] =
                    vd_bbox_iou(c->dts[d[i].idx].bbox, gts[g[j]].bbox, gts[g[j]].iscrowd);
        return VKDETR_OK;
    }
    vd_rle *rg = calloc((size_t)G + (size_t)nd, sizeof *rg), *rd = rg + G;
    if (!rg) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    vkdetr_status st = VKDETR_OK;
    for (int j = 0; j < G && !st; j++)
        if ((st = ann_rle(&gts[g[j]], c->img_rec[ii], &rg[j])))
            st = prefix_error(st, "%s: annotation %lld", c->gt->name, (long long)gts[g[j]].id);
    for (int i = 0; i < nd && !st; i++)
        if ((st = ann_rle(&c->dts[d[i].idx], c->img_rec[ii], &rd[i])))
            st = prefix_error(st, "results[%lld]", (long long)d[i].idx);
    for (int i = 0; i < nd && !st; i++)
        for (int j = 0; j < G; j++)
            ious[(size_t)i * G + j] = vd_rle_iou(&rd[i], &rg[j], gts[g[j]].iscrowd);
    for (int j = 0; j < G + nd; j++) vd_rle_free(&rg[j]);
    free(rg);
    return st;
}

/* Scratch for evaluate_img, sized for the largest G of a category. */
typedef struct scratch {
    int *gord;      /* (G) ground truths, not ignored first */
    uint8_t *gig;   /* (G) ignored, in gord order */
    uint8_t *taken; /* (T, G) */
} scratch;

/* COCOeval.evaluateImg for area range a: greedy matching at each IoU threshold. */
static void evaluate_img(const ctx *c, int a, const int64_t *g, int G, const scored *d, int nd,
                         const double *ious, scratch *s, img_eval *e, uint8_t *flags) {
    const ann *gts = c->gt->anns;
    double lo = area_ranges[a][0], hi = area_ranges[a][1];
    int n = 0;
    for (int pass = 0; pass < 2; pass++) /* a stable sort by the ignore flag */
        for (int j = 0; j < G; j++) {
            const ann *x = &gts[g[j]];
            int ig = x->iscrowd || x->area < lo || x->area > hi;
            if (ig == pass) {
                s->gig[n] = (uint8_t)ig;
                s->gord[n++] = j;
            }
        }
    e->npig = 0;
    for (int j = 0; j < G; j++) e->npig += !s->gig[j];
    memset(s->taken, 0, (size_t)VD_COCOEVAL_T * G);
    memset(flags, 0, (size_t)VD_COCOEVAL_T * nd);
    for (int t = 0; t < VD_COCOEVAL_T && G > 0; t++) {
        uint8_t *taken = s->taken + (size_t)t * G;
        for (int i = 0; i < nd; i++) {
            double iou = fmin(c->iou_thr[t], 1 - 1e-10);
            int m = -1;
            for (int j = 0; j < G; j++) {
                int gj = s->gord[j];
                if (taken[j] && !gts[g[gj]].iscrowd) continue;
                if (m > -1 && !s->gig[m] && s->gig[j]) break;
                double v = ious[(size_t)i * G + gj];
                if (v < iou) continue;
                iou = v;
                m = j;
            }
            if (m == -1) continue;
            flags[(size_t)t * nd + i] =
                (uint8_t)((gts[g[s->gord[m]]].id != 0 ? MATCHED : 0) | (s->gig[m] ? IGNORED : 0));
            taken[m] = 1;
        }
    }
    for (int i = 0; i < nd; i++) {
        double area = c->dts[d[i].idx].area;
        if (area < lo || area > hi)
            for (int t = 0; t < VD_COCOEVAL_T; t++)
                if (!(flags[(size_t)t * nd + i] & MATCHED)) flags[(size_t)t * nd + i] |= IGNORED;
    }
    e->valid = 1;
    e->nd = nd;
    e->flags = flags;
}

static size_t p_index(const ctx *c, int t, int r, int k, int a, int m) {
    return ((((size_t)t * VD_COCOEVAL_R + r) * c->K + k) * VD_COCOEVAL_A + a) * VD_COCOEVAL_M + m;
}

static size_t r_index(const ctx *c, int t, int k, int a, int m) {
    return (((size_t)t * c->K + k) * VD_COCOEVAL_A + a) * VD_COCOEVAL_M + m;
}

/* First index with rc[j] >= v (np.searchsorted side='left'). */
static int64_t lower_bound(const double *rc, int64_t n, double v) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (rc[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct entry {
    double score;
    int64_t pos;
    const uint8_t *flags; /* flags of the image's detection: [t * stride] */
    int stride;
} entry;

static int compare_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Precision and recall of category k for area range a and max detections m from the per-image
 * evaluations (COCOeval.accumulate). buf holds room for every detection of the category. */
static void accumulate_one(ctx *c, int k, int a, int m, entry *buf, double *rc, double *pr) {
    int max_det = max_dets[m];
    int any = 0;
    int64_t npig = 0, nt = 0;
    for (int i = 0; i < c->I; i++) {
        const img_eval *e = &c->ev[(size_t)a * c->I + i];
        if (!e->valid) continue;
        any = 1;
        npig += e->npig;
        for (int j = 0; j < e->nd && j < max_det; j++, nt++)
            buf[nt] = (entry){e->scores[j], nt, e->flags + j, e->nd};
    }
    if (!any || npig == 0) return; /* precision and recall stay -1 */
    qsort(buf, (size_t)nt, sizeof *buf, compare_entry);
    for (int t = 0; t < VD_COCOEVAL_T; t++) {
        int64_t tp = 0, fp = 0;
        for (int64_t j = 0; j < nt; j++) {
            uint8_t f = buf[j].flags[(size_t)t * buf[j].stride];
            if (!(f & IGNORED)) {
                if (f & MATCHED)
                    tp++;
                else
                    fp++;
            }
            rc[j] = (double)tp / (double)npig;
            pr[j] = (double)tp / ((double)fp + (double)tp + DBL_EPSILON);
        }
        c->out->recall[r_index(c, t, k, a, m)] = nt ? rc[nt - 1] : 0.0;
        for (int64_t j = nt - 1; j > 0; j--)
            if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
        for (int r = 0; r < VD_COCOEVAL_R; r++) {
            int64_t pi = lower_bound(rc, nt, c->rec_thr[r]);
            c->out->precision[p_index(c, t, r, k, a, m)] = pi < nt ? pr[pi] : 0.0;
        }
    }
}

/* Detections and ground truths of category k in every image: sort, IoU, match, accumulate. */
static vkdetr_status evaluate_category(ctx *c, int k) {
    int64_t total_nd = 0;
    int max_g = 0;
    for (int i = 0; i < c->I; i++) {
        int64_t b = (int64_t)k * c->I + i;
        int64_t D = c->dt_start[b + 1] - c->dt_start[b], G = c->gt_start[b + 1] - c->gt_start[b];
        total_nd += D < 100 ? D : 100;
        if (G > max_g) max_g = (int)G;
    }
    vkdetr_status st = VKDETR_OK;
    size_t A = VD_COCOEVAL_A, T = VD_COCOEVAL_T;
    c->ev = calloc(A * c->I, sizeof *c->ev);
    c->score_pool = malloc(((size_t)total_nd + 1) * sizeof *c->score_pool);
    c->flag_pool = malloc(A * T * (size_t)total_nd + 1);
    entry *buf = malloc(((size_t)total_nd + 1) * sizeof *buf);
    double *rc = malloc(((size_t)total_nd + 1) * sizeof *rc);
    double *pr = malloc(((size_t)total_nd + 1) * sizeof *pr);
    scored *d = malloc(((size_t)c->n_dts + 1) * sizeof *d);
    double *ious = malloc(((size_t)100 * max_g + 1) * sizeof *ious);
    scratch s = {malloc((size_t)max_g * sizeof(int) + 1), malloc((size_t)max_g + 1),
                 malloc(T * max_g + 1)};
    if (!c->ev || !c->score_pool || !c->flag_pool || !buf || !rc || !pr || !d || !ious ||
        !s.gord || !s.gig || !s.taken) {
        st = vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory evaluating");
        goto done;
    }
    int64_t pool = 0;
    for (int i = 0; i < c->I && !st; i++) {
        int64_t b = (int64_t)k * c->I + i;
        const int64_t *g = c->gt_list + c->gt_start[b], *dl = c->dt_list + c->dt_start[b];
        int G = (int)(c->gt_start[b + 1] - c->gt_start[b]);
        int64_t D = c->dt_start[b + 1] - c->dt_start[b];
        if (G == 0 && D == 0) continue;
        for (int64_t j = 0; j < D; j++) d[j] = (scored){c->dts[dl[j]].score, j, dl[j]};
        qsort(d, (size_t)D, sizeof *d, compare_scored);
        int nd = D < 100 ? (int)D : 100;
        if ((st = compute_ious(c, i, g, G, d, nd, ious))) break;
        double *scores = c->score_pool + pool;
        for (int j = 0; j < nd; j++) scores[j] = d[j].score;
        for (int a = 0; a < VD_COCOEVAL_A; a++) {
            img_eval *e = &c->ev[(size_t)a * c->I + i];
            evaluate_img(c, a, g, G, d, nd, ious, &s, e, c->flag_pool + T * (A * pool + a * nd));
            e->scores = scores;
        }
        pool += nd;
    }
    for (int a = 0; a < VD_COCOEVAL_A && !st; a++)
        for (int m = 0; m < VD_COCOEVAL_M; m++) accumulate_one(c, k, a, m, buf, rc, pr);
done:
    free(c->ev);
    free(c->score_pool);
    free(c->flag_pool);
    c->ev = NULL;
    c->score_pool = NULL;
    c->flag_pool = NULL;
    free(buf);
    free(rc);
    free(pr);
    free(d);
    free(ious);
    free(s.gord);
    free(s.gig);
    free(s.taken);
    return st;
}

/* ---- summary -------------------------------------------------------------------------- */

/* NumPy's pairwise summation (what np.mean uses on a contiguous float64 array). */
static double pairwise_sum(const double *a, size_t n) {
    if (n < 8) {
        double res = 0.0;
        for (size_t i = 0; i < n; i++) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8], res;
        size_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* np.mean(s[s > -1]), -1 when empty. */
static double mean_defined(double *v, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > -1) v[k++] = v[i];
    return k ? pairwise_sum(v, k) / (double)k : -1.0;
}

/* COCOeval.summarize's _summarize: t_sel -1 for all IoU thresholds. buf: T * R * K values. */
static double summarize_one(const ctx *c, int ap, int t_sel, int a, int m, double *buf) {
    size_t n = 0;
    for (int t = 0; t < VD_COCOEVAL_T; t++) {
        if (t_sel >= 0 && t != t_sel) continue;
        if (ap) {
            for (int r = 0; r < VD_COCOEVAL_R; r++)
                for (int k = 0; k < c->K; k++)
                    buf[n++] = c->out->precision[p_index(c, t, r, k, a, m)];
        } else {
            for (int k = 0; k < c->K; k++) buf[n++] = c->out->recall[r_index(c, t, k, a, m)];
        }
    }
    return mean_defined(buf, n);
}

/* The index of the IoU threshold equal to v (np.where(iouThr == p.iouThrs)), -2 when none
 * (an empty selection: the stat is -1). */
static int threshold_index(const ctx *c, double v) {
    for (int t = 0; t < VD_COCOEVAL_T; t++)
        if (c->iou_thr[t] == v) return t;
    return -2;
}

static vkdetr_status summarize(ctx *c) {
    vd_cocoeval *e = c->out;
    double *buf = malloc(((size_t)VD_COCOEVAL_T * VD_COCOEVAL_R * (c->K ? c->K : 1)) * sizeof *buf);
    if (!buf) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    int t50 = threshold_index(c, 0.5), t75 = threshold_index(c, 0.75);
    double *s = e->stats;
    s[0] = summarize_one(c, 1, -1, 0, 2, buf);
    s[1] = t50 < -1 ? -1.0 : summarize_one(c, 1, t50, 0, 2, buf);
    s[2] = t75 < -1 ? -1.0 : summarize_one(c, 1, t75, 0, 2, buf);
    for (int a = 1; a < VD_COCOEVAL_A; a++) s[2 + a] = summarize_one(c, 1, -1, a, 2, buf);
    for (int m = 0; m < VD_COCOEVAL_M; m++) s[6 + m] = summarize_one(c, 0, -1, 0, m, buf);
    for (int a = 1; a < VD_COCOEVAL_A; a++) s[8 + a] = summarize_one(c, 0, -1, a, 2, buf);
    for (int k = 0; k < c->K; k++) {
        size_t n = 0;
        for (int t = 0; t < VD_COCOEVAL_T; t++)
            for (int r = 0; r < VD_COCOEVAL_R; r++)
                buf[n++] = e->precision[p_index(c, t, r, k, 0, 2)];
        e->category_ap[k] = mean_defined(buf, n);
    }
    free(buf);
    return VKDETR_OK;
}

/* ---- the run -------------------------------------------------------------------------- */

static vkdetr_status setup(ctx *c) {
    const vd_coco_gt *gt = c->gt;
    vd_cocoeval *e = c->out;
    c->img_ids = malloc(((size_t)gt->n_images + 1) * sizeof *c->img_ids);
    e->category_ids = malloc(((size_t)gt->n_categories + 1) * sizeof *e->category_ids);
    if (!c->img_ids || !e->category_ids) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < gt->n_images; i++) c->img_ids[i] = gt->images[i].id;
    for (int k = 0; k < gt->n_categories; k++) e->category_ids[k] = gt->categories[k].id;
    c->I = (int)sort_unique(c->img_ids, gt->n_images);
    c->K = (int)sort_unique(e->category_ids, gt->n_categories);
    e->n_categories = c->K;
    e->n_images = c->I;
    c->img_rec = calloc((size_t)c->I + 1, sizeof *c->img_rec);
    size_t np = (size_t)VD_COCOEVAL_T * VD_COCOEVAL_R * c->K * VD_COCOEVAL_A * VD_COCOEVAL_M;
    size_t nr = (size_t)VD_COCOEVAL_T * c->K * VD_COCOEVAL_A * VD_COCOEVAL_M;
    e->precision = malloc((np + 1) * sizeof *e->precision);
    e->recall = malloc((nr + 1) * sizeof *e->recall);
    e->category_ap = malloc(((size_t)c->K + 1) * sizeof *e->category_ap);
    if (!c->img_rec || !e->precision || !e->recall || !e->category_ap)
        return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < np; i++) e->precision[i] = -1.0;
    for (size_t i = 0; i < nr; i++) e->recall[i] = -1.0;
    for (int i = 0; i < gt->n_images; i++)
        c->img_rec[find_id(c->img_ids, c->I, gt->images[i].id)] = &gt->images[i];
    for (int t = 0; t < VD_COCOEVAL_T; t++) c->iou_thr[t] = vd_cocoeval_iou_threshold(t);
    for (int r = 0; r < VD_COCOEVAL_R; r++) c->rec_thr[r] = vd_cocoeval_recall_threshold(r);
    return VKDETR_OK;
}

vkdetr_status vd_cocoeval_run(const vd_coco_gt *gt, const cJSON *results,
                              vd_cocoeval_iou_type type, vd_cocoeval *out) {
    memset(out, 0, sizeof *out);
    ctx c;
    memset(&c, 0, sizeof c);
    c.gt = gt;
    c.type = type;
    c.out = out;
    ann *dts = NULL;
    vkdetr_status st = setup(&c);
    if (!st) st = read_results(results, c.img_ids, c.I, &dts, &c.n_dts);
    c.dts = dts;
    if (!st) st = make_buckets(&c, gt->anns, gt->n_anns, &c.gt_start, &c.gt_list);
    if (!st) st = make_buckets(&c, dts, c.n_dts, &c.dt_start, &c.dt_list);
    if (!st) {
        out->n_results = c.n_dts;
        for (int64_t i = 0; i < c.n_dts; i++)
            out->n_results_unused += find_id(out->category_ids, c.K, dts[i].category_id) < 0;
    }
    for (int k = 0; k < c.K && !st; k++) st = evaluate_category(&c, k);
    if (!st) st = summarize(&c);
    free(dts);
    free(c.img_ids);
    free(c.img_rec);
    free(c.gt_start);
    free(c.gt_list);
    free(c.dt_start);
    free(c.dt_list);
    if (st) vd_cocoeval_free(out);
    return st;
}

void vd_cocoeval_free(vd_cocoeval *e) {
    if (!e) return;
    free(e->category_ids);
    free(e->category_ap);
    free(e->precision);
    free(e->recall);
    memset(e, 0, sizeof *e);
}

void vd_cocoeval_print(FILE *f, const double stats[VD_COCOEVAL_STATS]) {
    static const char *const areas[VD_COCOEVAL_A] = {"all", "small", "medium", "large"};
    static const struct {
        int ap;
        const char *iou;
        int area, max_det;
    } lines[VD_COCOEVAL_STATS] = {
        {1, "0.50:0.95", 0, 100}, {1, "0.50", 0, 100},      {1, "0.75", 0, 100},
        {1, "0.50:0.95", 1, 100}, {1, "0.50:0.95", 2, 100}, {1, "0.50:0.95", 3, 100},
        {0, "0.50:0.95", 0, 1},   {0, "0.50:0.95", 0, 10},  {0, "0.50:0.95", 0, 100},
        {0, "0.50:0.95", 1, 100}, {0, "0.50:0.95", 2, 100}, {0, "0.50:0.95", 3, 100}};
    for (int i = 0; i < VD_COCOEVAL_STATS; i++)
        fprintf(f, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                lines[i].ap ? "Average Precision" : "Average Recall", lines[i].ap ? "(AP)" : "(AR)",
                lines[i].iou, areas[lines[i].area], lines[i].max_det, stats[i]);
}

/* v with the fewest digits that read back exactly (cJSON's own printing may lose an ulp). */
static int add_exact(cJSON *o, const char *key, double v) {
    char buf[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    return isfinite(v) ? cJSON_AddRawToObject(o, key, buf) != NULL
                       : cJSON_AddNumberToObject(o, key, -1.0) != NULL;
}

cJSON *vd_cocoeval_json(const vd_cocoeval *e, const vd_coco_gt *gt) {
    cJSON *o = cJSON_CreateObject(), *per = cJSON_CreateArray();
    int ok = o && per;
    for (int i = 0; ok && i < VD_COCOEVAL_STATS; i++)
        ok = add_exact(o, vd_cocoeval_stat_names[i], e->stats[i]);
    for (int k = 0; ok && k < e->n_categories; k++) {
        cJSON *c = cJSON_CreateObject();
        const char *name = "";
        for (int j = 0; gt && j < gt->n_categories; j++)
            if (gt->categories[j].id == e->category_ids[k]) name = gt->categories[j].name;
        ok = c && cJSON_AddItemToArray(per, c);
        ok = ok && cJSON_AddNumberToObject(c, "id", (double)e->category_ids[k]) != NULL;
        ok = ok && cJSON_AddStringToObject(c, "name", name) != NULL;
        ok = ok && add_exact(c, "AP", e->category_ap[k]);
        if (!c) break;
    }
    if (ok && cJSON_AddItemToObject(o, "per_category", per)) return o;
    cJSON_Delete(per);
    cJSON_Delete(o);
    return NULL;
}
