#include "coco_rle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* ---- run buffers ---------------------------------------------------------------------- */

typedef struct runs {
    uint32_t *v;
    int64_t n, cap;
} runs;

static int runs_push(runs *r, uint64_t x) {
    if (r->n == r->cap) {
        int64_t cap = r->cap ? r->cap * 2 : 16;
        uint32_t *v = realloc(r->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = (uint32_t)x;
    return 0;
}

static vkdetr_status runs_finish(runs *r, int height, int width, vd_rle *out) {
    out->height = height;
    out->width = width;
    out->n = r->n;
    out->counts = r->v;
    r->v = NULL;
    return VKDETR_OK;
}

static vkdetr_status no_memory(runs *r) {
    free(r->v);
    r->v = NULL;
    return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory in a COCO mask");
}

/* Sizes whose pixel count fits the 32-bit counts of maskApi. */
static vkdetr_status check_size(int height, int width) {
    if (height < 0 || width < 0 || (uint64_t)height * (uint64_t)width > UINT32_MAX)
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "COCO mask size [%d, %d] out of range",
                            height, width);
    return VKDETR_OK;
}

static uint64_t total_of(const vd_rle *r) { return (uint64_t)r->height * (uint64_t)r->width; }

void vd_rle_free(vd_rle *r) {
    if (!r) return;
    free(r->counts);
    memset(r, 0, sizeof *r);
}

/* ---- bitmaps and counts --------------------------------------------------------------- */

vkdetr_status vd_rle_from_mask(const uint8_t *mask, int width, int height, vd_rle *out) {
    memset(out, 0, sizeof *out);
    vkdetr_status st = check_size(height, width);
    if (st) return st;
    runs r = {0};
    int prev = 0;
    uint64_t run = 0;
    for (int x = 0; x < width; x++) {
        for (int y = 0; y < height; y++) {
            int v = mask[(size_t)y * width + x] != 0;
            if (v != prev) {
                if (runs_push(&r, run)) return no_memory(&r);
                run = 0;
                prev = v;
            }
            run++;
        }
    }
    if (runs_push(&r, run)) return no_memory(&r);
    return runs_finish(&r, height, width, out);
}

void vd_rle_to_mask(const vd_rle *r, uint8_t *mask) {
    int x = 0, y = 0;
    for (int64_t j = 0; j < r->n; j++) {
        uint8_t v = (uint8_t)(j & 1);
        for (uint32_t k = 0; k < r->counts[j] && x < r->width; k++) {
            mask[(size_t)y * r->width + x] = v;
            if (++y == r->height) {
                y = 0;
                x++;
            }
        }
    }
}

vkdetr_status vd_rle_from_counts(const int64_t *counts, int64_t n, int height, int width,
                                 vd_rle *out) {
    memset(out, 0, sizeof *out);
    vkdetr_status st = check_size(height, width);
    if (st) return st;
    uint64_t total = (uint64_t)height * (uint64_t)width, sum = 0;
    runs r = {0};
    for (int64_t j = 0; j < n; j++) {
        if (counts[j] < 0 || (uint64_t)counts[j] > total - sum) {
            free(r.v);
            return vd_app_error(VKDETR_ERR_FORMAT,
                                "RLE counts do not add up to the mask size [%d, %d]", height,
                                width);
        }
        sum += (uint64_t)counts[j];
        if (runs_push(&r, (uint64_t)counts[j])) return no_memory(&r);
    }
    if (sum != total) {
        free(r.v);
        return vd_app_error(VKDETR_ERR_FORMAT,
                            "RLE counts add up to %llu, not to the mask size [%d, %d]",
                            (unsigned long long)sum, height, width);
    }
    if (n == 0 && runs_push(&r, 0)) return no_memory(&r);
    return runs_finish(&r, height, width, out);
}

/* ---- the compressed string ------------------------------------------------------------ */

vkdetr_status vd_rle_from_string(const char *s, int height, int width, vd_rle *out) {
    memset(out, 0, sizeof *out);
    vkdetr_status st = check_size(height, width);
    if (st) return st;
    size_t len = strlen(s);
    int64_t *counts = malloc((len ? len : 1) * sizeof *counts);
    if (!counts) return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory in a COCO mask");
    int64_t m = 0;
    const char *p = s;
    while (*p) {
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            int c = (unsigned char)*p - 48;
            if (!*p || k >= 12 || c < 0 || c > 63) {
                free(counts);
                return vd_app_error(VKDETR_ERR_FORMAT, "malformed RLE string at character %zu",
                                    (size_t)(p - s));
            }
            x |= (int64_t)(c & 0x1f) << (5 * k);
            more = c & 0x20;
            p++;
            k++;
            if (!more && (c & 0x10)) x |= -((int64_t)1 << (5 * k)); /* sign extension */
        }
        if (m > 2) x += counts[m - 2]; /* stored as the difference to the count two back */
        counts[m++] = x;
    }
    st = vd_rle_from_counts(counts, m, height, width, out);
    free(counts);
    return st;
}

char *vd_rle_to_string(const vd_rle *r) {
    /* a difference of two 32-bit counts needs at most 7 characters of 5 bits */
    char *s = malloc((size_t)r->n * 7 + 1);
    if (!s) return NULL;
    size_t p = 0;
    for (int64_t i = 0; i < r->n; i++) {
        int64_t x = r->counts[i];
        if (i > 2) x -= r->counts[i - 2];
        int more = 1;
        while (more) {
            int c = (int)(x & 0x1f);
            x = (x - c) / 32; /* floor(x / 32), also for negative x */
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s[p++] = (char)(c + 48);
        }
    }
    s[p] = '\0';
    return s;
}

char *vd_rle_encode(const uint8_t *mask, int width, int height) {
    vd_rle r;
    if (vd_rle_from_mask(mask, width, height, &r)) return NULL;
    char *s = vd_rle_to_string(&r);
    vd_rle_free(&r);
    return s;
}

int vd_rle_decode(const char *counts, int width, int height, uint8_t *mask) {
    vd_rle r;
    if (vd_rle_from_string(counts, height, width, &r)) return -1;
    vd_rle_to_mask(&r, mask);
    vd_rle_free(&r);
    return 0;
}

/* ---- polygons ------------------------------------------------------------------------- */

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The points of the upsampled edge (xs, ys) -> (xe, ye), from its start to its end, stepping
 * one unit along the longer axis and rounding the other, into u, v. Returns the count. The
 * edge is always walked from the end with the smaller coordinate on the longer axis, so that
 * rounding does not depend on the direction. */
static int64_t edge_points(int xs, int ys, int xe, int ye, int *u, int *v) {
    int dx = abs(xe - xs), dy = abs(ys - ye), t;
    int flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
        t = xs, xs = xe, xe = t;
        t = ys, ys = ye, ye = t;
    }
    int64_t m = 0;
    if (dx >= dy) {
        /* dx == 0: a repeated vertex. pycocotools divides 0 by 0 here; the row of that single
         * point is never read, because its column equals those of its neighbours. */
        double s = dx ? (double)(ye - ys) / dx : 0.0;
        for (int d = 0; d <= dx; d++, m++) {
            t = flip ? dx - d : d;
            u[m] = t + xs;
            v[m] = (int)(ys + s * t + .5);
        }
    } else {
        double s = (double)(xe - xs) / dy;
        for (int d = 0; d <= dy; d++, m++) {
            t = flip ? dy - d : d;
            v[m] = t + ys;
            u[m] = (int)(xs + s * t + .5);
        }
    }
    return m;
}

/* Where the upsampled boundary crosses the centre line of a pixel column, the first pixel of
 * that column below the crossing, as a column-major index; into a (returns the count). */
static int64_t column_crossings(const int *u, const int *v, int64_t k, int height, int width,
                                uint32_t *a) {
    const double scale = 5.0;
    int64_t m = 0;
    for (int64_t j = 1; j < k; j++) {
        if (u[j] == u[j - 1]) continue;
        double xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
        xd = (xd + .5) / scale - .5;
        if (floor(xd) != xd || xd < 0 || xd > width - 1) continue;
        double yd = v[j] < v[j - 1] ? v[j] : v[j - 1];
        yd = (yd + .5) / scale - .5;
        if (yd < 0)
            yd = 0;
        else if (yd > height)
            yd = height;
        yd = ceil(yd);
        a[m++] = (uint32_t)((int64_t)xd * height + (int64_t)yd);
    }
    return m;
}

vkdetr_status vd_rle_from_polygon(const double *xy, int n_points, int height, int width,
                                  vd_rle *out) {
    memset(out, 0, sizeof *out);
    vkdetr_status st = check_size(height, width);
    if (st) return st;
    if (height == 0 || width == 0 || n_points < 0)
        return vd_app_error(VKDETR_ERR_INVALID_ARG, "polygon in an empty image");
    for (int j = 0; j < 2 * n_points; j++)
        if (!isfinite(xy[j]) || fabs(xy[j]) > 1e6)
            return vd_app_error(VKDETR_ERR_FORMAT, "polygon coordinate %g out of range", xy[j]);
    const double scale = 5.0;
    int k = n_points;
    int *x = malloc(((size_t)k + 1) * sizeof *x), *y = malloc(((size_t)k + 1) * sizeof *y);
    int *u = NULL, *v = NULL;
    uint32_t *a = NULL;
    if (!x || !y) goto oom;
    for (int j = 0; j < k; j++) {
        x[j] = (int)(scale * xy[2 * j] + .5); /* truncation toward zero, as maskApi */
        y[j] = (int)(scale * xy[2 * j + 1] + .5);
    }
    x[k] = k ? x[0] : 0;
    y[k] = k ? y[0] : 0;
    int64_t m = 0;
    for (int j = 0; j < k; j++) {
        int dx = abs(x[j] - x[j + 1]), dy = abs(y[j] - y[j + 1]);
        m += (dx > dy ? dx : dy) + 1;
    }
    u = malloc(((size_t)m + 1) * sizeof *u);
    v = malloc(((size_t)m + 1) * sizeof *v);
    a = malloc(((size_t)m + 1) * sizeof *a);
    if (!u || !v || !a) goto oom;
    m = 0;
    for (int j = 0; j < k; j++) m += edge_points(x[j], y[j], x[j + 1], y[j + 1], u + m, v + m);
    int64_t na = column_crossings(u, v, m, height, width, a);
    a[na++] = (uint32_t)((uint64_t)height * width);
    /* sorted boundary positions -> run lengths; empty runs merge their neighbours */
    qsort(a, (size_t)na, sizeof *a, compare_u32);
    uint32_t prev = 0;
    for (int64_t j = 0; j < na; j++) {
        uint32_t t = a[j];
        a[j] -= prev;
        prev = t;
    }
    int64_t j = 1, nb = 1; /* in place: nb <= j */
    while (j < na) {
        if (a[j] > 0) {
            a[nb++] = a[j++];
        } else {
            j++;
            if (j < na) a[nb - 1] += a[j++];
        }
    }
    free(x);
    free(y);
    free(u);
    free(v);
    out->height = height;
    out->width = width;
    out->n = nb;
    out->counts = a;
    return VKDETR_OK;
oom:
    free(x);
    free(y);
    free(u);
    free(v);
    free(a);
    return vd_app_error(VKDETR_ERR_NO_MEMORY, "out of memory rasterising a polygon");
}

vkdetr_status vd_rle_from_bbox(const double bbox[4], int height, int width, vd_rle *out) {
    double xs = bbox[0], xe = xs + bbox[2], ys = bbox[1], ye = ys + bbox[3];
    const double xy[8] = {xs, ys, xs, ye, xe, ye, xe, ys};
    return vd_rle_from_polygon(xy, 4, height, width, out);
}

/* ---- union, area, box, IoU ------------------------------------------------------------ */

typedef struct span {
    uint64_t start, end; /* [start, end) in column-major pixel order */
} span;

static int compare_span(const void *a, const void *b) {
    uint64_t x = ((const span *)a)->start, y = ((const span *)b)->start;
    return x < y ? -1 : x > y;
}

vkdetr_status vd_rle_union(const vd_rle *rles, int n, vd_rle *out) {
    memset(out, 0, sizeof *out);
    if (n < 1) return vd_app_error(VKDETR_ERR_INVALID_ARG, "union of no masks");
    int64_t n_spans = 0;
    for (int i = 0; i < n; i++) {
        if (rles[i].height != rles[0].height || rles[i].width != rles[0].width)
            return vd_app_error(VKDETR_ERR_FORMAT, "union of masks of different sizes");
        n_spans += rles[i].n / 2;
    }
    span *sp = malloc(((size_t)n_spans + 1) * sizeof *sp);
    runs r = {0};
    if (!sp) return no_memory(&r);
    int64_t k = 0;
    for (int i = 0; i < n; i++) {
        uint64_t pos = 0;
        for (int64_t j = 0; j < rles[i].n; j++) {
            uint64_t c = rles[i].counts[j];
            if ((j & 1) && c) sp[k++] = (span){pos, pos + c};
            pos += c;
        }
    }
    qsort(sp, (size_t)k, sizeof *sp, compare_span);
    uint64_t prev = 0;
    for (int64_t i = 0; i < k;) {
        uint64_t s = sp[i].start, e = sp[i].end;
        for (i++; i < k && sp[i].start <= e; i++)
            if (sp[i].end > e) e = sp[i].end;
        if (runs_push(&r, s - prev) || runs_push(&r, e - s)) {
            free(sp);
            return no_memory(&r);
        }
        prev = e;
    }
    free(sp);
    if (runs_push(&r, total_of(&rles[0]) - prev)) return no_memory(&r);
    return runs_finish(&r, rles[0].height, rles[0].width, out);
}

uint64_t vd_rle_area(const vd_rle *r) {
    uint64_t a = 0;
    for (int64_t j = 1; j < r->n; j += 2) a += r->counts[j];
    return a;
}

void vd_rle_bbox(const vd_rle *r, double bbox[4]) {
    uint64_t h = (uint64_t)r->height, pos = 0;
    uint64_t xs = UINT64_MAX, xe = 0, ys = UINT64_MAX, ye = 0;
    for (int64_t j = 0; j < r->n; j++) {
        uint64_t start = pos, c = r->counts[j];
        pos += c;
        if (!(j & 1) || c == 0) continue;
        uint64_t x0 = start / h, x1 = (pos - 1) / h;
        if (x0 < xs) xs = x0;
        if (x1 > xe) xe = x1;
        if (x0 < x1) { /* the run goes on into the next column */
            ys = 0;
            ye = h - 1;
        } else {
            if (start % h < ys) ys = start % h;
            if ((pos - 1) % h > ye) ye = (pos - 1) % h;
        }
    }
    if (xs == UINT64_MAX) {
        bbox[0] = bbox[1] = bbox[2] = bbox[3] = 0.0;
        return;
    }
    bbox[0] = (double)xs;
    bbox[1] = (double)ys;
    bbox[2] = (double)(xe - xs + 1);
    bbox[3] = (double)(ye - ys + 1);
}

double vd_bbox_iou(const double dt[4], const double gt[4], int gt_crowd) {
    double ga = gt[2] * gt[3], da = dt[2] * dt[3];
    double w = fmin(dt[2] + dt[0], gt[2] + gt[0]) - fmax(dt[0], gt[0]);
    if (w <= 0) return 0.0;
    double h = fmin(dt[3] + dt[1], gt[3] + gt[1]) - fmax(dt[1], gt[1]);
    if (h <= 0) return 0.0;
    double i = w * h, u = gt_crowd ? da : da + ga - i;
    return i / u;
}

double vd_rle_iou(const vd_rle *dt, const vd_rle *gt, int gt_crowd) {
    double db[4], gb[4];
    vd_rle_bbox(dt, db);
    vd_rle_bbox(gt, gb);
    /* pycocotools looks at the masks only where the boxes overlap */
    if (!(vd_bbox_iou(db, gb, gt_crowd) > 0)) return 0.0;
    if (dt->height != gt->height || dt->width != gt->width) return -1.0;
    uint64_t inter = 0, uni = 0, total = total_of(dt);
    int64_t ia = 0, ib = 0;
    uint64_t ca = dt->n ? dt->counts[0] : 0, cb = gt->n ? gt->counts[0] : 0, pos = 0;
    while (pos < total) {
        while (ca == 0 && ia + 1 < dt->n) ca = dt->counts[++ia];
        while (cb == 0 && ib + 1 < gt->n) cb = gt->counts[++ib];
        if (ca == 0 || cb == 0) break; /* counts that do not cover the mask */
        uint64_t c = ca < cb ? ca : cb;
        int va = (int)(ia & 1), vb = (int)(ib & 1);
        if (va || vb) uni += c;
        if (va && vb) inter += c;
        ca -= c;
        cb -= c;
        pos += c;
    }
    if (inter == 0) return 0.0;
    if (gt_crowd) uni = vd_rle_area(dt);
    return (double)inter / (double)uni;
}
