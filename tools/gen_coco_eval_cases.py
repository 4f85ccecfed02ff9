#!/usr/bin/env python3
"""Small seeded COCO evaluation cases and pycocotools' numbers for them.

vkdetr computes COCO AP/AR in C (apps/common/cocoeval.c, `vkdetr eval`). pycocotools'
COCOeval defines what "correct" means; this script writes small ground-truth and result files
that exercise every branch of its algorithm, runs COCOeval (bbox and segm) on them, and stores
the 12 summary numbers and the printed summary lines. tests/test_cocoeval.c compares.

    /opt/vkdetr-py/bin/python tools/gen_coco_eval_cases.py            # -> tests/data/coco/
    /opt/vkdetr-py/bin/python tools/gen_coco_eval_cases.py --out DIR

Files (all JSON):
  <case>_gt.json    COCO annotations: images, categories, annotations
  <case>_res.json   COCO results: [{image_id, category_id, score, bbox?, segmentation?}]
  expected.json     {case: {"bbox": {"stats": [12], "summary": "12 lines"}, "segm": {...}}}
  rle_cases.json    mask API cases: polygons rasterised by frPyObjects, uncompressed RLE,
                    masks encoded, merges, toBbox, area and iou (with crowd)
  e2e_gt.json       annotations for the end-to-end test of `vkdetr eval -m` on the tiny
                    fixture (images from tests/data/images)

Cases (seeded, deterministic):
  mixed      polygons (some in two parts), crowd regions as uncompressed RLE, a category
             without ground truth, an image without ground truth, duplicate detections,
             detections of a category the annotations do not list, tied scores; results
             carry bbox and a compressed-RLE segmentation (like `vkdetr detect --coco`)
  crowded    more than 100 detections in one image and category, and over 100 in an image
             across categories; scores on a coarse grid (many ties)
  areas      areas exactly at the small/medium/large borders (1024, 9216), tiny and large
             objects, a ground truth with id 0 and one with an "ignore" field (both pycocotools
             quirks), zero-size and out-of-image boxes; bbox-only results (segm evaluation
             then rasterises the boxes as polygons)
  segm_only  results with a compressed-RLE segmentation and no bbox (area from the mask,
             bbox from toBbox); ground truth as polygons, uncompressed and compressed RLE
  perfect    detections equal to the ground truth (AP 1 where defined, -1 elsewhere)
"""
import argparse
import contextlib
import copy
import io
import json
import os
import sys

import numpy as np
from pycocotools import mask as M
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def r2(v):
    return round(float(v), 2)


class Builder:
    def __init__(self, seed, images, categories):
        self.rng = np.random.default_rng(seed)
        self.images = [{"id": i, "file_name": f"img_{i}.png", "width": w, "height": h}
                       for (i, w, h) in images]
        self.size = {i: (h, w) for (i, w, h) in images}
        self.categories = [{"id": c, "name": n, "supercategory": "thing"} for c, n in categories]
        self.anns = []
        self.results = []
        self.next_id = 1

    # ---- shapes ---------------------------------------------------------------------------
    def polygon(self, cx, cy, rx, ry, k=None):
        k = k or int(self.rng.integers(5, 12))
        ang = np.sort(self.rng.random(k)) * 2 * np.pi
        rad = 0.6 + 0.4 * self.rng.random(k)
        xs = cx + rx * rad * np.cos(ang)
        ys = cy + ry * rad * np.sin(ang)
        out = []
        for x, y in zip(xs, ys):
            out += [r2(x), r2(y)]
        return out

    def rle_of(self, img, segm):
        h, w = self.size[img]
        if isinstance(segm, list):
            return M.merge(M.frPyObjects(segm, h, w))
        if isinstance(segm["counts"], list):
            return M.frPyObjects(segm, h, w)
        return segm

    # ---- ground truth ---------------------------------------------------------------------
    def add_gt(self, img, cat, segm=None, bbox=None, area=None, iscrowd=0, ann_id=None,
               extra=None):
        if segm is not None:
            rle = self.rle_of(img, segm)
            if bbox is None:
                bbox = [float(v) for v in M.toBbox(rle)]
            if area is None:
                area = float(M.area(rle))
        if segm is None:
            x, y, bw, bh = bbox
            segm = [[x, y, x, y + bh, x + bw, y + bh, x + bw, y]]
        if area is None:
            area = bbox[2] * bbox[3]
        a = {"id": self.next_id if ann_id is None else ann_id, "image_id": img,
             "category_id": cat, "bbox": [r2(v) for v in bbox], "area": area,
             "iscrowd": iscrowd, "segmentation": segm}
        if extra:
            a.update(extra)
        if ann_id is None:
            self.next_id += 1
        self.anns.append(a)
        return a

    def add_object(self, img, cat, size, parts=1):
        h, w = self.size[img]
        rx = size / 2 * (0.7 + 0.6 * self.rng.random())
        ry = size * size / 4 / rx
        cx = float(self.rng.uniform(0, w))
        cy = float(self.rng.uniform(0, h))
        segm = [self.polygon(cx, cy, rx, ry)]
        if parts > 1:
            segm.append(self.polygon(cx + rx * 1.3, cy, rx * 0.5, ry * 0.5))
        return self.add_gt(img, cat, segm=segm)

    def add_crowd(self, img, cat, x0, y0, x1, y1):
        h, w = self.size[img]
        m = np.zeros((h, w), np.uint8)
        m[y0:y1, x0:x1] = 1
        m[y0 + (y1 - y0) // 3:y0 + (y1 - y0) // 2, x0:x0 + (x1 - x0) // 2] = 0
        counts = []
        flat = m.flatten(order="F")
        v, run = 0, 0
        for p in flat:
            if p != v:
                counts.append(run)
                run, v = 0, p
            run += 1
        counts.append(run)
        return self.add_gt(img, cat, segm={"size": [h, w], "counts": counts}, iscrowd=1)

    # ---- detections -----------------------------------------------------------------------
    def det_from(self, ann, score, jitter, with_bbox=True, with_segm=True, cat=None, shift=None):
        img = ann["image_id"]
        h, w = self.size[img]
        x, y, bw, bh = ann["bbox"]
        s = max(bw, bh, 1.0)
        dx, dy = shift if shift is not None else self.rng.normal(0, jitter * s, 2)
        sx, sy = np.exp(self.rng.normal(0, jitter, 2))
        d = {"image_id": img, "category_id": ann["category_id"] if cat is None else cat,
             "score": score}
        if with_bbox:
            d["bbox"] = [r2(x + dx), r2(y + dy), r2(bw * sx), r2(bh * sy)]
        if with_segm:
            segm = ann["segmentation"]
            if isinstance(segm, list):
                moved = []
                for part in segm:
                    p = np.array(part, float).reshape(-1, 2)
                    c = p.mean(0)
                    p = (p - c) * [sx, sy] + c + [dx, dy]
                    moved.append([r2(v) for v in p.flatten()])
                rle = M.merge(M.frPyObjects(moved, h, w))
            else:
                m = M.decode(self.rle_of(img, segm))
                m = np.roll(m, (int(round(dy)), int(round(dx))), (0, 1))
                rle = M.encode(np.asfortranarray(m))
            d["segmentation"] = {"size": [h, w], "counts": rle["counts"].decode()}
        self.results.append(d)
        return d

    def random_det(self, img, cat, score, with_bbox=True, with_segm=True, size=None):
        h, w = self.size[img]
        s = size or float(self.rng.uniform(4, min(h, w) * 0.6))
        x = float(self.rng.uniform(-s / 4, w - s * 0.75))
        y = float(self.rng.uniform(-s / 4, h - s * 0.75))
        d = {"image_id": img, "category_id": cat, "score": score}
        bw, bh = s * float(self.rng.uniform(0.6, 1.4)), s * float(self.rng.uniform(0.6, 1.4))
        if with_bbox:
            d["bbox"] = [r2(x), r2(y), r2(bw), r2(bh)]
        if with_segm:
            poly = self.polygon(x + bw / 2, y + bh / 2, bw / 2, bh / 2)
            rle = M.merge(M.frPyObjects([poly], h, w))
            d["segmentation"] = {"size": [h, w], "counts": rle["counts"].decode()}
        self.results.append(d)
        return d

    def score(self, lo=0.0, hi=1.0, grid=None):
        s = float(self.rng.uniform(lo, hi))
        return round(round(s / grid) * grid, 4) if grid else round(s, 4)

    def gt_json(self):
        return {"info": {"description": "vkdetr cocoeval test case"}, "images": self.images,
                "categories": self.categories, "annotations": self.anns}


# ---- the cases ----------------------------------------------------------------------------

def case_mixed():
    b = Builder(11, [(1, 160, 120), (2, 97, 61), (3, 200, 150), (4, 64, 48), (5, 120, 90)],
                [(1, "disc"), (3, "square"), (7, "bar"), (9, "ring")])
    # ring (9) has no ground truth; image 5 has none either
    for img in (1, 2, 3, 4):
        for _ in range(int(b.rng.integers(3, 7))):
            cat = int(b.rng.choice([1, 3, 7]))
            size = float(b.rng.choice([10, 24, 45, 80, 150]))
            size = min(size, b.size[img][0] * 0.95)
            b.add_object(img, cat, size, parts=2 if b.rng.random() < 0.25 else 1)
    b.add_object(3, 7, 140)  # a large one
    b.add_crowd(1, 1, 5, 60, 90, 115)
    b.add_crowd(3, 3, 100, 10, 190, 80)
    for a in list(b.anns):
        if a["iscrowd"]:
            for _ in range(3):  # detections inside the crowd region
                b.random_det(a["image_id"], a["category_id"], b.score(0.2, 0.9),
                             size=float(b.rng.uniform(10, 30)))
            continue
        n = int(b.rng.choice([0, 1, 1, 1, 2, 3]))  # 2, 3: duplicates
        for _ in range(n):
            b.det_from(a, b.score(grid=0.05), jitter=0.08)
        if b.rng.random() < 0.2:  # wrong category
            b.det_from(a, b.score(), jitter=0.05, cat=int(b.rng.choice([1, 3, 7, 9])))
    for img in (1, 2, 3, 4, 5):
        for _ in range(4):
            b.random_det(img, int(b.rng.choice([1, 3, 7, 9])), b.score(0, 0.6))
    b.random_det(2, 42, 0.99)  # a category the annotations do not list
    b.random_det(5, 42, 0.98)
    return b


def case_crowded():
    b = Builder(23, [(10, 150, 100), (20, 120, 120), (30, 80, 60)],
                [(1, "disc"), (2, "square"), (3, "bar")])
    for img in (10, 20, 30):
        for _ in range(8):
            b.add_object(img, int(b.rng.integers(1, 4)), float(b.rng.choice([10, 20, 35, 60])))
    b.add_crowd(20, 2, 10, 10, 60, 70)
    for a in list(b.anns):
        if not a["iscrowd"]:
            for _ in range(int(b.rng.integers(1, 4))):
                b.det_from(a, b.score(grid=0.05), jitter=0.1)
    # image 10, category 1: 150 detections with coarse scores
    for _ in range(150):
        b.random_det(10, 1, b.score(0, 0.5, grid=0.05), size=float(b.rng.uniform(5, 40)))
    # image 20: 130 more across categories, some exactly tied with ground-truth matches
    for _ in range(130):
        b.random_det(20, int(b.rng.integers(1, 4)), b.score(0, 1, grid=0.1))
    return b


def case_areas():
    b = Builder(37, [(1, 200, 150), (2, 64, 64), (3, 300, 200)],
                [(5, "disc"), (6, "square")])
    # boxes with areas exactly at the borders (area field = box area)
    for (x, y, w, h) in [(10, 10, 32, 32), (60, 10, 96, 96), (10, 60, 16, 64),
                         (160, 100, 30, 30), (5, 120, 4, 6), (120, 20, 48, 48)]:
        b.add_gt(1, 5, bbox=[x, y, w, h])
    b.add_gt(1, 6, bbox=[20, 20, 31.9, 32.1])
    b.add_gt(1, 6, bbox=[100, 50, 96, 95.99])
    b.add_gt(2, 5, bbox=[2, 2, 3, 3])
    b.add_gt(2, 5, bbox=[10, 10, 50, 50], ann_id=0)  # id 0: its matches count as unmatched
    b.add_gt(2, 6, bbox=[30, 5, 20, 20], extra={"ignore": 1})  # not a crowd: evaluated
    b.add_gt(3, 5, bbox=[0, 0, 300, 200])
    b.add_gt(3, 6, bbox=[50, 50, 100, 99], area=9216.0)
    b.add_gt(3, 6, bbox=[200, 20, 33, 31], area=1024.0)
    b.add_gt(3, 6, bbox=[150, 150, 40, 40], iscrowd=1)
    for a in list(b.anns):
        for _ in range(2):
            d = b.det_from(a, b.score(grid=0.1), jitter=0.06, with_segm=False)
        if a["bbox"][2] == 32:  # an exact 32x32 detection: area 1024, both small and medium
            b.results.append({"image_id": a["image_id"], "category_id": 5, "score": 0.55,
                              "bbox": list(a["bbox"])})
    b.results.append({"image_id": 1, "category_id": 5, "score": 0.7, "bbox": [50, 50, 0, 20]})
    b.results.append({"image_id": 1, "category_id": 6, "score": 0.6, "bbox": [-20, -10, 60, 50]})
    b.results.append({"image_id": 3, "category_id": 6, "score": 0.65,
                      "bbox": [280.5, 180.25, 40, 40]})
    b.results.append({"image_id": 3, "category_id": 6, "score": 0.75,
                      "bbox": [155, 152, 30, 30]})  # inside the crowd box
    b.results.append({"image_id": 2, "category_id": 5, "score": 0.95, "bbox": [10, 10, 50, 50]})
    return b


def case_segm_only():
    b = Builder(41, [(1, 90, 70), (2, 128, 96)], [(1, "disc"), (2, "square"), (4, "blob")])
    for img in (1, 2):
        for _ in range(5):
            b.add_object(img, int(b.rng.choice([1, 2, 4])), float(b.rng.choice([14, 30, 50])))
    # one ground truth as compressed RLE, one as uncompressed RLE
    a = b.anns[1]
    rle = b.rle_of(a["image_id"], a["segmentation"])
    a["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
    b.add_crowd(2, 4, 60, 40, 120, 90)
    for a in list(b.anns):
        for _ in range(int(b.rng.integers(1, 3))):
            b.det_from(a, b.score(grid=0.02), jitter=0.08, with_bbox=False)
    for img in (1, 2):
        for _ in range(5):
            b.random_det(img, int(b.rng.choice([1, 2, 4])), b.score(0, 0.5), with_bbox=False)
    # an empty mask
    h, w = b.size[1]
    b.results.append({"image_id": 1, "category_id": 1, "score": 0.33,
                      "segmentation": {"size": [h, w], "counts": M.encode(
                          np.zeros((h, w), np.uint8, order="F"))["counts"].decode()}})
    return b


def case_perfect():
    b = Builder(53, [(1, 100, 80), (2, 160, 120)], [(1, "disc"), (2, "square"), (3, "bar")])
    for img in (1, 2):
        for _ in range(4):
            b.add_object(img, int(b.rng.integers(1, 3)), float(b.rng.choice([20, 40, 100])))
    for a in b.anns:
        h, w = b.size[a["image_id"]]
        rle = b.rle_of(a["image_id"], a["segmentation"])
        b.results.append({"image_id": a["image_id"], "category_id": a["category_id"],
                          "score": 0.9, "bbox": list(a["bbox"]),
                          "segmentation": {"size": [h, w], "counts": rle["counts"].decode()}})
    return b


CASES = {"mixed": case_mixed, "crowded": case_crowded, "areas": case_areas,
         "segm_only": case_segm_only, "perfect": case_perfect}


def evaluate(gt_path, res_path, iou_type):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(res_path)
        E = COCOeval(gt, dt, iou_type)
        E.evaluate()
        E.accumulate()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        E.summarize()
    return {"stats": [float(v) for v in E.stats], "summary": buf.getvalue()}


def dump(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


# ---- mask API cases -----------------------------------------------------------------------

def rle_cases(rng):
    out = {"polygons": [], "uncompressed": [], "masks": [], "merges": [], "ious": []}
    polys = [
        (7, 9, [1.0, 1.0, 5.0, 1.0, 5.0, 6.0, 1.0, 6.0]),
        (10, 10, [0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0]),
        (12, 15, [-3.2, -1.7, 8.4, 2.2, 16.9, 13.1, 2.5, 9.9]),  # clipped at the borders
        (20, 20, [5.5, 5.5, 5.5, 5.5, 14.2, 6.1, 14.2, 6.1, 9.0, 15.3]),  # repeated points
        (9, 11, [1.0, 2.0, 7.0, 2.0, 4.0, 2.0]),  # degenerate (collinear)
        (16, 13, [2.25, 3.75, 10.5, 1.1, 11.9, 12.6, 6.0, 8.0, 1.2, 14.8]),  # concave
        (8, 8, [-1.9, -0.4, 3.3, -2.6, 2.2, 5.1]),  # negative coordinates truncate to 0
    ]
    for _ in range(8):
        h, w = (int(v) for v in rng.integers(3, 40, 2))
        k = int(rng.integers(3, 14))
        xy = []
        for _ in range(k):
            xy += [r2(rng.uniform(-3, w + 3)), r2(rng.uniform(-3, h + 3))]
        polys.append((h, w, xy))
    for h, w, xy in polys:
        rle = M.frPyObjects([xy], h, w)[0]
        out["polygons"].append({"h": h, "w": w, "xy": xy, "counts": rle["counts"].decode(),
                                "area": int(M.area(rle)),
                                "bbox": [float(v) for v in M.toBbox(rle)]})
    for _ in range(6):
        h, w = (int(v) for v in rng.integers(1, 12, 2))
        m = (rng.random((h, w)) < rng.random()).astype(np.uint8)
        flat = m.flatten(order="F")
        counts, v, run = [], 0, 0
        for p in flat:
            if p != v:
                counts.append(run)
                run, v = 0, p
            run += 1
        counts.append(run)
        rle = M.frPyObjects({"size": [h, w], "counts": counts}, h, w)
        out["uncompressed"].append({"h": h, "w": w, "counts": counts,
                                    "string": rle["counts"].decode()})
    for _ in range(10):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        m = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(0, 4))):
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            m[y0:y0 + int(rng.integers(1, h + 1)), x0:x0 + int(rng.integers(1, w + 1))] = 1
        m ^= (rng.random((h, w)) < 0.05).astype(np.uint8)
        rle = M.encode(np.asfortranarray(m))
        out["masks"].append({"h": h, "w": w, "rows": ["".join(map(str, r)) for r in m],
                             "counts": rle["counts"].decode(), "area": int(M.area(rle)),
                             "bbox": [float(v) for v in M.toBbox(rle)]})
    for _ in range(4):
        h, w = (int(v) for v in rng.integers(5, 25, 2))
        parts = []
        for _ in range(int(rng.integers(2, 4))):
            xy = []
            for _ in range(int(rng.integers(3, 7))):
                xy += [r2(rng.uniform(-2, w + 2)), r2(rng.uniform(-2, h + 2))]
            parts.append(xy)
        rle = M.merge(M.frPyObjects(parts, h, w))
        out["merges"].append({"h": h, "w": w, "parts": parts, "counts": rle["counts"].decode()})
    for _ in range(12):
        h, w = (int(v) for v in rng.integers(4, 30, 2))
        ms = []
        for _ in range(2):
            m = np.zeros((h, w), np.uint8)
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            m[y0:y0 + int(rng.integers(1, h)), x0:x0 + int(rng.integers(1, w))] = 1
            ms.append(M.encode(np.asfortranarray(m)))
        crowd = int(rng.integers(0, 2))
        iou = float(M.iou([ms[0]], [ms[1]], [crowd])[0][0])
        out["ious"].append({"h": h, "w": w, "dt": ms[0]["counts"].decode(),
                            "gt": ms[1]["counts"].decode(), "crowd": crowd, "iou": iou})
    return out


def e2e_gt():
    """Annotations for images in tests/data/images, labelled with the tiny model's classes
    (disc, square, bar, ring, blob) plus one name the model lacks."""
    imgs = [("rgb_64x48.png", 64, 48), ("rgb_200x150.png", 200, 150),
            ("photo_200x150.jpg", 200, 150), ("gray_40x30.png", 40, 30),
            ("rgb_37x23.png", 37, 23)]
    cats = [(1, "disc"), (2, "square"), (3, "bar"), (5, "ring"), (8, "person")]
    rng = np.random.default_rng(5)
    images, anns = [], []
    for i, (name, w, h) in enumerate(imgs, start=1):
        images.append({"id": i * 10, "file_name": name, "width": w, "height": h})
        for _ in range(3):
            bw, bh = float(rng.uniform(4, w / 2)), float(rng.uniform(4, h / 2))
            x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            anns.append({"id": len(anns) + 1, "image_id": i * 10,
                         "category_id": int(rng.choice([1, 2, 3, 5, 8])),
                         "bbox": [r2(x), r2(y), r2(bw), r2(bh)], "area": r2(bw * bh),
                         "iscrowd": 0})
    return {"images": images, "annotations": anns,
            "categories": [{"id": c, "name": n} for c, n in cats]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "coco"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    expected = {}
    for name, make in CASES.items():
        b = make()
        gt_path = os.path.join(args.out, f"{name}_gt.json")
        res_path = os.path.join(args.out, f"{name}_res.json")
        dump(gt_path, b.gt_json())
        dump(res_path, b.results)
        expected[name] = {t: evaluate(gt_path, res_path, t) for t in ("bbox", "segm")}
        n_gt = len(b.anns)
        print(f"{name}: {len(b.images)} images, {n_gt} ground truths, {len(b.results)} results; "
              f"bbox AP {expected[name]['bbox']['stats'][0]:.4f}, "
              f"segm AP {expected[name]['segm']['stats'][0]:.4f}")
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    dump(os.path.join(args.out, "rle_cases.json"), rle_cases(np.random.default_rng(99)))
    dump(os.path.join(args.out, "e2e_gt.json"), e2e_gt())
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out} ({total / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
