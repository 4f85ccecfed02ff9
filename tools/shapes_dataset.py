"""Procedurally generated "shapes" detection data set for vkdetr's bundled default model.

Every scene is a pure function of a seed: a textured or photo-like background, then 1..16
objects of CLASS_NAMES drawn one after another (random colour, fill, size, rotation, position),
later objects partly hiding earlier ones, then global photometric noise (brightness/contrast,
blur, Gaussian noise, JPEG artefacts).

Annotations are exact: every object is rasterised to a binary mask at the image's own
resolution, later objects overwrite an "owner" map, and the visible instance mask of an object
is the set of pixels it still owns. Its box is the tight pixel box of that mask (COCO xywh,
pixel-edge coordinates: a mask covering columns 3..5 gives x = 3, w = 3) and its area is the
mask's pixel count. A placement that would leave an earlier object less than half visible is
rejected, and so is one whose object would be more than 40 % outside the image.

Usage:
    rng = np.random.default_rng(seed)
    image, objects = make_scene(rng)   # PIL RGB image, list of dicts (label, box, area, mask)
    write_coco(folder, n_images, seed) # images/ + annotations.json (boxes, RLE masks)

Only numpy, Pillow and (for write_coco) pycocotools are needed.
"""

import io
import json
import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASS_NAMES = ["circle", "ring", "square", "triangle", "star", "cross", "hexagon"]

MIN_VISIBLE_FRACTION = 0.5   # of an earlier object's own area, after later objects are drawn
MIN_INSIDE_FRACTION = 0.6    # of an object's own area that must lie inside the image


# ----------------------------------------------------------------------------- colours

def random_colour(rng):
    """A random RGB colour in [0, 1], drawn in HSV so saturated and grey colours both occur."""
    h = rng.random()
    s = rng.choice([rng.uniform(0.0, 0.25), rng.uniform(0.4, 1.0)], p=[0.25, 0.75])
    v = rng.uniform(0.1, 1.0)
    i = int(h * 6) % 6
    f = h * 6 - math.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i],
                    dtype=np.float32)


def muted(rng, c, amount):
    """Blend colour c towards grey by amount (photo-like scenes are rarely saturated)."""
    return (c * (1 - amount) + c.mean() * amount).astype(np.float32)


# ----------------------------------------------------------------------------- backgrounds

def coords(h, w):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return x, y


def bg_gradient(rng, h, w):
    c0, c1 = random_colour(rng), random_colour(rng)
    x, y = coords(h, w)
    if rng.random() < 0.7:
        a = rng.uniform(0, 2 * math.pi)
        t = x * math.cos(a) + y * math.sin(a)
    else:
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return c0 + t[..., None] * (c1 - c0)


def value_noise(rng, h, w, octaves=None, base=None):
    """Perlin-like fractal noise in [0, 1]: random grids upsampled bicubically, summed."""
    octaves = octaves or int(rng.integers(2, 6))
    base = base or int(rng.integers(2, 8))
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for k in range(octaves):
        g = base * 2 ** k
        grid = rng.random((g + 1, g + 1)).astype(np.float32)
        img = Image.fromarray(grid, mode="F").resize((w, h), Image.BICUBIC)
        out += amp * np.asarray(img)
        total += amp
        amp *= rng.uniform(0.4, 0.65)
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def bg_noise(rng, h, w):
    if rng.random() < 0.5:
        n = value_noise(rng, h, w)[..., None]
        c0, c1 = random_colour(rng), random_colour(rng)
        return c0 + n * (c1 - c0)
    return np.stack([value_noise(rng, h, w) for _ in range(3)], -1) * rng.uniform(0.4, 1.0) \
        + rng.uniform(0, 0.4, 3).astype(np.float32)


def bg_stripes(rng, h, w):
    x, y = coords(h, w)
    a = rng.uniform(0, math.pi)
    c0, c1 = random_colour(rng), random_colour(rng)
    u = x * math.cos(a) + y * math.sin(a)
    if rng.random() < 0.5:                       # stripes, hard or soft
        period = rng.uniform(6, 80)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * u / period)
        if rng.random() < 0.6:
            t = (t > rng.uniform(0.3, 0.7)).astype(np.float32)
    else:                                        # (rotated) checkerboard
        v = -x * math.sin(a) + y * math.cos(a)
        cell = rng.uniform(8, 70)
        t = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    img = c0 + t[..., None] * (c1 - c0)
    if rng.random() < 0.5:
        img = blur(img, rng.uniform(0.5, 2.0))
    return img


def bg_blobs(rng, h, w):
    im = Image.new("RGB", (w, h), tuple(int(v * 255) for v in random_colour(rng)))
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(5, 30))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.03, 0.4) * w, rng.uniform(0.03, 0.4) * h
        col = tuple(int(v * 255) for v in random_colour(rng))
        if rng.random() < 0.6:
            d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=col)
        else:
            d.rectangle([cx - rx, cy - ry, cx + rx, cy + ry], fill=col)
    im = im.filter(ImageFilter.GaussianBlur(rng.uniform(6, 30)))
    return np.asarray(im, np.float32) / 255.0


def bg_scene(rng, h, w):
    """A photo-like street: sky, buildings with windows, ground texture, a road in perspective."""
    horizon = int(h * rng.uniform(0.3, 0.65))
    sky0 = muted(rng, np.array([0.35, 0.55, 0.9], np.float32) * rng.uniform(0.6, 1.1), rng.uniform(0, 0.8))
    sky1 = np.clip(sky0 + rng.uniform(0.1, 0.35), 0, 1)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(sky0 + t * (sky1 - sky0), (h, w, 3)).copy()
    ground = muted(rng, random_colour(rng), 0.7) * 0.7
    gn = value_noise(rng, h - horizon, w, base=int(rng.integers(8, 20)))[..., None]
    img[horizon:] = ground + (gn - 0.5) * rng.uniform(0.05, 0.25)
    im = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    x = int(rng.uniform(-0.1, 0.05) * w)
    while x < w:                                                   # buildings on the horizon
        bw = int(rng.uniform(0.08, 0.25) * w)
        bh = int(rng.uniform(0.1, 0.9) * horizon)
        col = muted(rng, random_colour(rng), rng.uniform(0.4, 0.9))
        d.rectangle([x, horizon - bh, x + bw, horizon], fill=tuple(int(v * 255) for v in col))
        wc = np.clip(col + rng.choice([-0.3, 0.3]), 0, 1)
        ww, wh = max(2, int(bw * rng.uniform(0.06, 0.15))), max(2, int(bh * rng.uniform(0.04, 0.1)))
        for wy in range(horizon - bh + wh, horizon - wh, 2 * wh + 1):
            for wx in range(x + ww, x + bw - ww, 2 * ww + 1):
                d.rectangle([wx, wy, wx + ww, wy + wh], fill=tuple(int(v * 255) for v in wc))
        x += bw + int(rng.uniform(0, 0.05) * w)
    if rng.random() < 0.8:                                         # road in perspective
        cx = w * rng.uniform(0.3, 0.7)
        top = rng.uniform(0.02, 0.1) * w
        bottom = rng.uniform(0.5, 1.2) * w
        g = int(rng.uniform(60, 120))
        d.polygon([(cx - top, horizon), (cx + top, horizon), (cx + bottom, h), (cx - bottom, h)],
                  fill=(g, g, g + int(rng.integers(0, 15))))
        for k in range(8):                                         # dashed centre line
            t0, t1 = (k + 0.2) / 8, (k + 0.6) / 8
            y0, y1 = horizon + t0 * t0 * (h - horizon), horizon + t1 * t1 * (h - horizon)
            d.line([(cx, y0), (cx, y1)], fill=(230, 230, 200), width=max(1, int(1 + 6 * t1)))
    out = np.asarray(im, np.float32) / 255.0
    return blur(out, rng.uniform(0.3, 1.5))


def blur(img, radius):
    im = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
    return np.asarray(im.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255.0


BACKGROUNDS = [bg_gradient, bg_noise, bg_stripes, bg_blobs, bg_scene]


def make_background(rng, h, w):
    f = BACKGROUNDS[int(rng.choice(len(BACKGROUNDS), p=[0.15, 0.25, 0.2, 0.2, 0.2]))]
    img = f(rng, h, w)
    if rng.random() < 0.25:                       # blend two backgrounds through a noise mask
        g = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
        a = value_noise(rng, h, w, octaves=2)[..., None]
        img = img * a + g(rng, h, w) * (1 - a)
    if rng.random() < 0.35:                       # clutter: thin lines (never class shapes)
        im = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
        d = ImageDraw.Draw(im)
        for _ in range(int(rng.integers(1, 12))):
            p = [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(2)]
            d.line(p, fill=tuple(int(v * 255) for v in random_colour(rng)), width=int(rng.integers(1, 4)))
        img = np.asarray(im, np.float32) / 255.0
    return np.clip(img, 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------- shapes

def regular_polygon(n, r, theta, cx, cy, inner=None):
    """Vertices of a regular n-gon (or a star with inner radius `inner`) around (cx, cy)."""
    pts = []
    k = 2 * n if inner else n
    for i in range(k):
        a = theta + 2 * math.pi * i / k - math.pi / 2
        rr = inner if (inner and i % 2) else r
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def cross_polygon(r, arm, theta, cx, cy):
    """A plus sign of half-extent r and half arm width arm, rotated by theta."""
    base = [(-arm, -r), (arm, -r), (arm, -arm), (r, -arm), (r, arm), (arm, arm),
            (arm, r), (-arm, r), (-arm, arm), (-r, arm), (-r, -arm), (-arm, -arm)]
    c, s = math.cos(theta), math.sin(theta)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in base]


def draw_shape(cls, r, theta, ox, oy, size, rng):
    """Rasterise one shape into a (size, size) bool mask whose top-left pixel is (ox, oy)."""
    m = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(m)
    cx, cy = size / 2.0, size / 2.0
    name = CLASS_NAMES[cls]
    if name == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
    elif name == "ring":
        t = max(1.5, r * rng.uniform(0.15, 0.4))
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
        d.ellipse([cx - r + t, cy - r + t, cx + r - t, cy + r - t], fill=0)
    elif name == "square":
        d.polygon(regular_polygon(4, r, theta, cx, cy), fill=1)
    elif name == "triangle":
        d.polygon(regular_polygon(3, r, theta, cx, cy), fill=1)
    elif name == "star":
        d.polygon(regular_polygon(5, r, theta, cx, cy, inner=r * rng.uniform(0.38, 0.5)), fill=1)
    elif name == "cross":
        d.polygon(cross_polygon(r, r * rng.uniform(0.18, 0.3), theta, cx, cy), fill=1)
    elif name == "hexagon":
        d.polygon(regular_polygon(6, r, theta, cx, cy), fill=1)
    return np.asarray(m, np.uint8).astype(bool)


def object_paint(rng, colour, size):
    """The (size, size, 3) colour patch an object is filled with: solid, gradient or noisy."""
    u = rng.random()
    if u < 0.6:
        return np.broadcast_to(colour, (size, size, 3))
    if u < 0.85:
        c1 = np.clip(colour + rng.uniform(-0.35, 0.35, 3), 0, 1).astype(np.float32)
        a = rng.uniform(0, 2 * math.pi)
        x, y = coords(size, size)
        t = (x * math.cos(a) + y * math.sin(a)) / max(size, 1) * 0.7 + 0.5
        return colour + np.clip(t, 0, 1)[..., None] * (c1 - colour)
    return np.clip(colour + rng.normal(0, rng.uniform(0.03, 0.1), (size, size, 3)), 0, 1)


def place_object(rng, img, owner, areas, visible, cls, r):
    """Try to add one object; returns its own pixel count, or 0 when the placement is rejected."""
    h, w = owner.shape
    size = int(math.ceil(2 * r)) + 4
    cx = rng.uniform(-0.3 * r, w + 0.3 * r)
    cy = rng.uniform(-0.3 * r, h + 0.3 * r)
    ox, oy = int(round(cx - size / 2)), int(round(cy - size / 2))
    mask = draw_shape(cls, r, rng.uniform(0, 2 * math.pi), ox, oy, size, rng)
    full = int(mask.sum())
    x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + size, w), min(oy + size, h)
    if full == 0 or x1 <= x0 or y1 <= y0:
        return 0
    m = mask[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    inside = int(m.sum())
    if inside < MIN_INSIDE_FRACTION * full or inside < 12:
        return 0
    region = owner[y0:y1, x0:x1]
    covered = region[m]
    covered = covered[covered >= 0]
    if covered.size:                                  # would an earlier object become too hidden?
        lost = np.bincount(covered, minlength=len(areas))
        for i in np.nonzero(lost)[0]:
            if visible[i] - lost[i] < MIN_VISIBLE_FRACTION * areas[i]:
                return 0
        for i in np.nonzero(lost)[0]:
            visible[i] -= int(lost[i])
    bg_mean = img[y0:y1, x0:x1][m].mean(0)
    for _ in range(12):                               # keep a visible contrast to what is below
        colour = random_colour(rng)
        if np.abs(colour - bg_mean).sum() > 0.45:
            break
    else:
        colour = np.where(bg_mean > 0.5, 0.05, 0.95).astype(np.float32)
    paint = object_paint(rng, colour, size)[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    alpha = rng.uniform(0.85, 1.0)                    # slightly translucent sometimes
    sub = img[y0:y1, x0:x1]
    sub[m] = sub[m] * (1 - alpha) + paint[m] * alpha
    region[m] = len(areas)
    areas.append(inside)
    visible.append(inside)
    return inside


# Scene geometry (version 3 of the distribution, see DISTRIBUTION). Scenes are generated close
# to the network input (320x320 for the bundled model), so an 8 px object stays about 6 to 8 px
# after the resize instead of shrinking to 3 px. Diameters are mostly uniform between 8 px and
# half the short side (v2 drew half of them log-uniform, which made 55 % of the objects COCO
# "small" and most of those under 16 px, where a 320x320 input cannot tell a star from a hexagon).
DISTRIBUTION = "v3"
SCENE_SIDE = (320, 416)          # width and height, each uniform in this range (pixels)
OBJECTS = (1, 10)                # objects per scene (uniform); a "busy" scene has BUSY_OBJECTS
BUSY_FRACTION = 0.1
BUSY_OBJECTS = (10, 16)
MIN_DIAMETER = 8.0               # pixels; the largest is half the short side (a quarter if busy)
LOG_UNIFORM_FRACTION = 0.2       # diameters: this share log-uniform, the rest uniform


def random_size(rng):
    w = int(rng.integers(SCENE_SIDE[0], SCENE_SIDE[1] + 1))
    h = int(rng.integers(SCENE_SIDE[0], SCENE_SIDE[1] + 1))
    return w, h


def random_diameter(rng, smin, smax):
    """An object's nominal diameter in pixels, in [smin, smax]: log-uniform or uniform."""
    if rng.random() < LOG_UNIFORM_FRACTION:
        return math.exp(rng.uniform(math.log(smin), math.log(smax)))
    return rng.uniform(smin, smax)


def make_scene(rng, width=None, height=None, n_objects=None, many=None):
    """One scene: (PIL RGB image, list of {label, box [x, y, w, h], area, mask (h, w) bool})."""
    if width is None or height is None:
        width, height = random_size(rng)
    h, w = height, width
    img = make_background(rng, h, w)
    if many is None:
        many = rng.random() < BUSY_FRACTION
    if n_objects is None:
        lo, hi = BUSY_OBJECTS if many else OBJECTS
        n_objects = int(rng.integers(lo, hi + 1))
    short = min(w, h)
    smin = MIN_DIAMETER                                # object diameter range, pixels
    smax = short / 2.0 if not many else short / 4.0
    owner = np.full((h, w), -1, np.int16)
    areas, visible, labels = [], [], []
    for _ in range(n_objects):
        cls = int(rng.integers(len(CLASS_NAMES)))
        for _attempt in range(15):
            r = 0.5 * random_diameter(rng, smin, smax)
            if place_object(rng, img, owner, areas, visible, cls, r):
                labels.append(cls)
                break
    img = photometric(rng, img)
    objects = []
    for i, cls in enumerate(labels):
        m = owner == i
        ys, xs = np.nonzero(m.any(1))[0], np.nonzero(m.any(0))[0]
        x0, x1, y0, y1 = int(xs[0]), int(xs[-1]) + 1, int(ys[0]), int(ys[-1]) + 1
        objects.append({"label": cls, "box": [x0, y0, x1 - x0, y1 - y0],
                        "area": int(m.sum()), "mask": m})
    return img, objects


def photometric(rng, img):
    """Global camera-like effects; returns a PIL RGB image."""
    img = img * rng.uniform(0.75, 1.25) + rng.uniform(-0.1, 0.1)
    if rng.random() < 0.3:
        img = blur(img, rng.uniform(0.3, 1.3))
    if rng.random() < 0.5:
        img = img + rng.standard_normal(img.shape, dtype=np.float32) * rng.uniform(0.005, 0.04)
    im = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
    if rng.random() < 0.3:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(rng.integers(40, 92)))
        buf.seek(0)
        im = Image.open(buf).convert("RGB")
    return im


# ----------------------------------------------------------------------------- COCO export

def add_coco_image(images, anns, im, objects, file_name):
    """Append one scene to COCO lists: its image entry and its objects (box, area, RLE mask;
    category id = class index), ids counting from 1."""
    from pycocotools import mask as mask_util
    image_id = len(images) + 1
    images.append({"id": image_id, "file_name": file_name, "width": im.width, "height": im.height})
    for o in objects:
        rle = mask_util.encode(np.asfortranarray(o["mask"].astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": o["label"],
                     "bbox": o["box"], "area": o["area"], "iscrowd": 0, "segmentation": rle})


def save_coco(path, images, anns, description):
    cats = [{"id": i, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASS_NAMES)]
    with open(path, "w") as f:
        json.dump({"info": {"description": description}, "images": images,
                   "annotations": anns, "categories": cats}, f)


def write_coco(folder, n_images, seed, prefix="shapes"):
    """Write n_images scenes from seed to folder/images/*.png and folder/annotations.json."""
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    images, anns = [], []
    for k in range(n_images):
        rng = np.random.default_rng([seed, k])
        im, objects = make_scene(rng)
        name = f"{prefix}_{k:05d}.png"
        im.save(os.path.join(folder, "images", name), compress_level=1)
        add_coco_image(images, anns, im, objects, name)
    save_coco(os.path.join(folder, "annotations.json"), images, anns,
              f"vkdetr shapes {DISTRIBUTION}, seed {seed}")
    return len(images), len(anns)
