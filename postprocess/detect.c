#include "postprocess/detect.h"

#include <math.h>
#include <string.h>

int vd_detect_decode(const vd_detect_input *in, vkdetr_detection *dets) {
    int n = 0, total = in->n_queries * in->n_classes;
    float W = (float)in->image_width, H = (float)in->image_height;
    for (int i = 0; i < in->k && n < in->max_detections; i++) {
        int32_t idx = in->topk[i];
        if (idx < 0 || idx >= total) continue;
        /* sigmoid in float32, as torch computes it */
        float score = 1.0f / (1.0f + expf(-in->logits[idx]));
        if (!(score > in->threshold)) continue; /* topk is sorted: the rest are lower */
        int q = idx / in->n_classes;
        const float *b = in->boxes + (size_t)q * 4;
        /* center_to_corners_format, then times (W, H, W, H) */
        float x0 = b[0] - 0.5f * b[2], y0 = b[1] - 0.5f * b[3];
        float x1 = b[0] + 0.5f * b[2], y1 = b[1] + 0.5f * b[3];
        vkdetr_detection *d = &dets[n++];
        memset(d, 0, sizeof *d);
        d->box[0] = x0 * W;
        d->box[1] = y0 * H;
        d->box[2] = x1 * W;
        d->box[3] = y1 * H;
        d->score = score;
        d->class_id = idx % in->n_classes;
    }
    return n;
}
