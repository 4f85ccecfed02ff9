/* Result writers with cJSON: one JSON document for a run, JSON Lines (one image per line), and
 * the COCO results format; masks as COCO compressed RLE.
 *
 * Per image (JSON document entries and JSON Lines):
 *   {"file": "a.jpg", "width": 640, "height": 480, "time_ms": 12.3,
 *    "detections": [{"class_id": 17, "label": "cat", "score": 0.93412,
 *                    "box": [x0, y0, x1, y1],                          (pixels, unclipped)
 *                    "mask": {"size": [h, w], "counts": "..."}}]}      (only with masks)
 * A failed image: {"file": "b.jpg", "error": "one-line message"}.
 * COCO results: [{"image_id": 39769, "category_id": 17, "bbox": [x, y, w, h], "score": 0.93,
 *                 "segmentation": {"size": [h, w], "counts": "..."}}]  (segmentation only with
 *                 masks). */
#ifndef VD_APP_RESULTS_H
#define VD_APP_RESULTS_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "coco_rle.h"
#include "vkdetr.h"

/* vd_rle_encode (COCO compressed RLE of a row-major bitmap) and vd_rle_decode live in
 * coco_rle.h with the rest of the COCO mask API. */

/* {"size": [h, w], "counts": "..."}, or NULL when out of memory. */
cJSON *vd_results_rle_json(const uint8_t *mask, int width, int height);

/* The per-image object described above; masks are included when with_masks is set and the
 * detection has one. NULL when out of memory. */
cJSON *vd_results_image_json(const char *file, const vkdetr_result *r, int with_masks);

/* {"file": file, "error": message}. */
cJSON *vd_results_error_json(const char *file, const char *message);

/* Prints item unformatted on one line (JSON Lines) to f, and flushes. Returns 0 on success. */
int vd_results_print_line(FILE *f, const cJSON *item);

/* Writes item to path (formatted, trailing newline) through a temporary file; "-" writes to
 * stdout. */
vkdetr_status vd_results_write_json(const char *path, const cJSON *item);

/* Image and category ids from a COCO annotations file (instances_*.json). */
typedef struct vd_coco_index vd_coco_index;

/* Reads images[].{id, file_name} and categories[].{id, name}. */
vkdetr_status vd_coco_index_load(const char *annotations_json, vd_coco_index **out);
void vd_coco_index_free(vd_coco_index *index);

/* The image id of path: with an index, the entry whose file_name equals path, else the one
 * that equals path's base name; without one (index NULL), the base name's digits when the stem
 * is a number ("000000039769.jpg" -> 39769). -1 when unknown. */
int64_t vd_coco_image_id(const vd_coco_index *index, const char *path);

/* The category id for a detection: with an index that has categories, the id of the category
 * named label (-1 when none has that name); otherwise class_id. */
int64_t vd_coco_category_id(const vd_coco_index *index, const char *label, int class_id);

/* Appends the COCO results entries of r to the array out; detections whose category is
 * unknown are skipped and counted in *skipped (may be NULL). Returns 0, or -1 when out of
 * memory. */
int vd_results_coco_append(cJSON *out, const vkdetr_result *r, int64_t image_id,
                           const vd_coco_index *index, int with_masks, int *skipped);

#endif
