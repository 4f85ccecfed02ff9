/* Post-processing of DETR-style outputs into detections in original-image pixels, as
 * transformers' post_process_object_detection does with use_focal_loss (RT-DETR, D-FINE):
 * scores = sigmoid(logits), top-k over queries x classes (the k indices come from the graph's
 * top-k), label = index % C, query = index / C, boxes cxcywh -> xyxy scaled by the original
 * size, keep score > threshold. Plain C on host memory. */
#ifndef VD_DETECT_H
#define VD_DETECT_H

#include <stdint.h>

#include "vkdetr.h"

typedef struct vd_detect_input {
    const float *logits;   /* (Q, C) */
    const float *boxes;    /* (Q, 4) normalised cx, cy, w, h */
    const int32_t *topk;   /* (K) flat indices into logits, best first */
    int n_queries, n_classes, k;
    int image_width, image_height; /* the original image */
    float threshold;
    int max_detections;
} vd_detect_input;

/* Fills dets (capacity >= min(k, max_detections)) and returns their count. Labels are set by
 * the caller. */
int vd_detect_decode(const vd_detect_input *in, vkdetr_detection *dets);

#endif
