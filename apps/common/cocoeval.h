/* COCO detection evaluation (AP and AR) computed in C, equal to pycocotools' COCOeval with its
 * default parameters: IoU thresholds 0.50:0.05:0.95, 101 recall thresholds, areas all / small
 * (< 32^2) / medium / large (> 96^2), at most 1, 10 and 100 detections per image and category.
 *
 *     vd_coco_gt *gt;
 *     cJSON *results;                        // [{image_id, category_id, score, bbox, ...}]
 *     vd_cocoeval e;
 *     if (vd_coco_gt_load("instances_val.json", &gt) == VKDETR_OK &&
 *         vd_coco_results_load("results.json", &results) == VKDETR_OK &&
 *         vd_cocoeval_run(gt, results, VD_COCOEVAL_BBOX, &e) == VKDETR_OK) {
 *         vd_cocoeval_print(stdout, e.stats);   // the 12 lines of COCOeval.summarize()
 *         vd_cocoeval_free(&e);
 *     }
 *
 * The algorithm follows pycocotools 2.0 step by step, quirks included, so that the numbers are
 * the same to the last bits (the means use NumPy's pairwise summation):
 *   - Ground truth: the images, categories and annotations of the file; every image of
 *     "images" is evaluated, with or without annotations; a category is evaluated when it is
 *     listed in "categories". An annotation is ignored when its "iscrowd" is set (an "ignore"
 *     field is not read: pycocotools overwrites it), or when its "area" field is outside the
 *     area range (both ends inclusive).
 *   - Results, as COCO.loadRes reads them: ids 1, 2, ... in file order; when the FIRST result
 *     has a non-empty "bbox", every result needs one, its area is the box's w * h (also for
 *     segm evaluation), and a result without "segmentation" is the box as a polygon; otherwise
 *     every result needs a compressed-RLE "segmentation", its area is the mask's, and its box
 *     (when it has none) the mask's tight box. Results of categories not in "categories" are not
 *     used. A result on an image that is not in "images" is an error (pycocotools asserts).
 *   - Per image and category: detections sorted by score, stable (ties keep file order), at
 *     most 100; IoU of boxes, or of masks (segm: polygons rasterised as maskApi's rleFrPoly,
 *     uncompressed and compressed RLE); a crowd ground truth's IoU is intersection over the
 *     detection's area, and it may match any number of detections; greedy matching in score
 *     order, preferring non-ignored ground truths; a match to a ground truth whose id is 0 counts
 *     as no match (pycocotools stores matches by id).
 *   - Precision at 101 recall thresholds with the monotone envelope; -1 where a category has no
 *     (non-ignored) ground truth, and means over the entries that are not -1.
 * Deviations, where pycocotools fails: empty results evaluate as no detections (pycocotools
 * raises); duplicate annotation ids are an error (pycocotools silently keeps the last one).
 *
 * Nothing here keeps global state: thread-safe for distinct objects. Failures return a status
 * and set vd_app_last_error(). */
#ifndef VD_APP_COCOEVAL_H
#define VD_APP_COCOEVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "vkdetr.h"

/* ---- ground truth --------------------------------------------------------------------- */

typedef struct vd_coco_gt vd_coco_gt;

typedef struct vd_coco_image {
    int64_t id;
    const char *file_name; /* NULL when the entry has none; borrowed from the vd_coco_gt */
    int width, height;     /* 0 when missing (needed only for segm evaluation) */
} vd_coco_image;

typedef struct vd_coco_category {
    int64_t id;
    const char *name;      /* "" when missing; borrowed */
} vd_coco_category;

/* Reads a COCO annotations file (instances_*.json): images, categories, annotations. */
vkdetr_status vd_coco_gt_load(const char *path, vd_coco_gt **out);

/* The same from a JSON text of size bytes; name is used in messages. */
vkdetr_status vd_coco_gt_parse(const char *json, size_t size, const char *name, vd_coco_gt **out);

/* Accepts NULL. */
void vd_coco_gt_free(vd_coco_gt *gt);

/* The images and categories in file order. */
int vd_coco_gt_image_count(const vd_coco_gt *gt);
const vd_coco_image *vd_coco_gt_images(const vd_coco_gt *gt);
int vd_coco_gt_category_count(const vd_coco_gt *gt);
const vd_coco_category *vd_coco_gt_categories(const vd_coco_gt *gt);

/* ---- results -------------------------------------------------------------------------- */

/* Reads a COCO results file (a JSON array) into *out (caller frees with cJSON_Delete). */
vkdetr_status vd_coco_results_load(const char *path, cJSON **out);

/* ---- evaluation ----------------------------------------------------------------------- */

typedef enum vd_cocoeval_iou_type {
    VD_COCOEVAL_BBOX = 0, /* boxes [x, y, w, h] */
    VD_COCOEVAL_SEGM = 1  /* masks */
} vd_cocoeval_iou_type;

enum {
    VD_COCOEVAL_T = 10,     /* IoU thresholds */
    VD_COCOEVAL_R = 101,    /* recall thresholds */
    VD_COCOEVAL_A = 4,      /* area ranges: all, small, medium, large */
    VD_COCOEVAL_M = 3,      /* max detections: 1, 10, 100 */
    VD_COCOEVAL_STATS = 12  /* AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl */
};

/* "AP", "AP50", ..., "ARl": the keys of the 12 stats. */
extern const char *const vd_cocoeval_stat_names[VD_COCOEVAL_STATS];

typedef struct vd_cocoeval {
    double stats[VD_COCOEVAL_STATS]; /* COCOeval.stats; -1 when undefined */
    int n_categories;                /* K: the categories of the annotations, ids ascending */
    int64_t *category_ids;           /* (K) */
    double *category_ap;             /* (K) AP@[.50:.95], all areas, 100 detections, as
                                        detectron2 reports it; -1 without ground truth */
    double *precision;               /* (T, R, K, A, M) as COCOeval.eval['precision'] */
    double *recall;                  /* (T, K, A, M) as COCOeval.eval['recall'] */
    int n_images;                    /* images evaluated (distinct ids) */
    int64_t n_results;               /* results read */
    int64_t n_results_unused;        /* results of a category the annotations do not list */
} vd_cocoeval;

/* Evaluates results (an array, borrowed) against gt. On success out owns its arrays
 * (vd_cocoeval_free). Errors name the offending annotation or result. */
vkdetr_status vd_cocoeval_run(const vd_coco_gt *gt, const cJSON *results,
                              vd_cocoeval_iou_type type, vd_cocoeval *out);

/* Accepts a zeroed or freed e. */
void vd_cocoeval_free(vd_cocoeval *e);

/* Prints the 12 lines exactly as COCOeval.summarize() does. */
void vd_cocoeval_print(FILE *f, const double stats[VD_COCOEVAL_STATS]);

/* {"AP": ..., ..., "ARl": ..., "per_category": [{"id", "name", "AP"}]}; NULL when out of
 * memory. Names come from gt (may be NULL). */
cJSON *vd_cocoeval_json(const vd_cocoeval *e, const vd_coco_gt *gt);

/* The thresholds, as NumPy's linspace computes them (t < VD_COCOEVAL_T, r < VD_COCOEVAL_R). */
double vd_cocoeval_iou_threshold(int t);
double vd_cocoeval_recall_threshold(int r);

#endif
