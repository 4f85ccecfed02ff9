#!/usr/bin/env python3
"""Fixtures for tests/test_image.c and tests/test_resize.c: decoding, EXIF orientation,
PIL resizing, transformers' RTDetrImageProcessor (PIL backend) and torch bilinear
interpolation.

Run with the project venv (needs pillow, numpy, torch, transformers):

    /opt/vkdetr-py/bin/python tools/gen_resize_fixtures.py [--out tests/data/images]

Writes, under --out:
  *.png *.jpg *.gif *.bmp *.tga *.ppm *.pgm *.pbm   small source images (seeded)
  expected/                      what PIL / transformers / torch produce for them
  index.json                     what to compare with what

Expected decodes are transformers.image_utils.load_image(path) (PIL open, exif_transpose,
convert("RGB")): raw RGB8 (.rgb) when tiny, PNG when larger, and for larger exactly
decodable sources only a checksum (PNG decoding itself is checked against the raw ones).
Expected resizes are PIL Image.resize((w, h), resample) of the decoded source: the small
outputs of the main filters as .rgb/PNG, the rest (and the large procedural inputs the C
test regenerates) as a 64-bit position-weighted checksum:
sum over i of byte[i] * ((i + 1) * 0x9E3779B97F4A7C15) mod 2^64.
Processor outputs are RTDetrImageProcessorPil pixel_values (float32, CHW); interpolation
outputs are F.interpolate(mode="bilinear", align_corners=False) on float32 planes.
"""
import argparse
import io
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw

SEED = 20240531
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def checksum(a: np.ndarray) -> str:
    b = np.ascontiguousarray(a, dtype=np.uint8).reshape(-1).astype(np.uint64)
    w = (np.arange(1, b.size + 1, dtype=np.uint64) * np.uint64(GOLDEN))  # wraps mod 2^64
    with np.errstate(over="ignore"):
        s = np.sum(b * w, dtype=np.uint64)
    return f"{int(s) & MASK64:016x}"


def procedural(w: int, h: int) -> np.ndarray:
    """Same formula as procedural() in tests/test_resize.c."""
    x = np.arange(w, dtype=np.int64)[None, :]
    y = np.arange(h, dtype=np.int64)[:, None]
    planes = [3 * x * x + 5 * y * y + x * y + 77 * c + 9 * ((131 * x + 71 * y + 37 * c) % 29)
              for c in range(3)]
    return np.stack([(p & 255).astype(np.uint8) for p in planes], -1)


# ---- source images -------------------------------------------------------------------------

def scene(rng, w, h, noise, seed_shapes=True):
    """Gradients + shapes + seeded noise, RGB uint8."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * xx / max(w - 1, 1)
    g = 255 * yy / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin((xx + 2 * yy) / 5.0)
    a = np.stack([r, g, b], -1)
    a += rng.normal(0, noise, a.shape)
    im = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "RGB")
    if seed_shapes and w > 4 and h > 4:
        d = ImageDraw.Draw(im)
        d.rectangle([w // 5, h // 4, w // 2, h // 2], fill=(250, 20, 30))
        d.ellipse([w // 2, h // 3, w - 2, h - 2], fill=(10, 200, 90), outline=(0, 0, 0))
        d.line([0, h - 1, w - 1, 0], fill=(255, 255, 255), width=1)
    return im


def png_bytes(w, h, bitdepth, colortype, rows, extra=b"", late=b""):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\0" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw, 9))
            + late + chunk(b"IEND", b""))


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def tiff_orientation(orient, little):
    e = "<" if little else ">"
    head = (b"II*\0" if little else b"MM\0*") + struct.pack(e + "I", 8)
    ifd = struct.pack(e + "H", 2)
    ifd += struct.pack(e + "HHI", 0x010F, 2, 4) + b"cam\0"  # Make, ASCII inline
    ifd += struct.pack(e + "HHIHH", 0x0112, 3, 1, orient, 0)
    return head + ifd + struct.pack(e + "I", 0)


def jpeg_with_app1(jpeg: bytes, payload: bytes) -> bytes:
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + seg + jpeg[2:]


def jpeg_bytes(im, **kw):
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def make_sources(out, rng):
    """Returns {file name: bytes} of every source image."""
    src = {}

    def save(name, im, fmt=None, **kw):
        b = io.BytesIO()
        ext = name.rsplit(".", 1)[1].upper()
        im.save(b, fmt or {"JPG": "JPEG", "PGM": "PPM", "PBM": "PPM"}.get(ext, ext), **kw)
        src[name] = b.getvalue()

    base = {
        "rgb_37x23": scene(rng, 37, 23, 40),
        "rgb_64x48": scene(rng, 64, 48, 3),
        "rgb_200x150": scene(rng, 200, 150, 1),
        "rgb_13x301": scene(rng, 13, 301, 25),
        "rgb_1x1": Image.fromarray(np.array([[[200, 17, 99]]], np.uint8), "RGB"),
    }
    for k, im in base.items():
        save(k + ".png", im, optimize=True)
    gray = scene(rng, 40, 30, 20).convert("L")
    save("gray_40x30.png", gray)
    g16 = np.concatenate([rng.integers(0, 600, (10, 33)), rng.integers(0, 65536, (11, 33))]).astype(np.uint16)
    save("gray16_33x21.png", Image.fromarray(g16))
    rgba = np.dstack([np.asarray(scene(rng, 31, 17, 30)), rng.integers(0, 256, (17, 31), dtype=np.uint8)])
    save("rgba_31x17.png", Image.fromarray(rgba, "RGBA"))
    la = np.dstack([np.asarray(gray.crop((0, 0, 19, 11))), rng.integers(0, 256, (11, 19), dtype=np.uint8)])
    save("la_19x11.png", Image.fromarray(la, "LA"))
    v16 = rng.integers(0, 65536, (19, 23, 3), dtype=np.uint16)
    src["rgb16_23x19.png"] = png_bytes(23, 19, 16, 2, [r.astype(">u2").tobytes() for r in v16])
    v16 = rng.integers(0, 65536, (13, 17, 2), dtype=np.uint16)
    src["la16_17x13.png"] = png_bytes(17, 13, 16, 4, [r.astype(">u2").tobytes() for r in v16])
    pal = Image.fromarray(rng.integers(0, 6, (18, 29), dtype=np.uint8), "P")
    pal.putpalette([10, 20, 30, 200, 40, 60, 70, 250, 90, 0, 0, 0, 255, 255, 255, 128, 64, 32])
    save("pal_29x18.png", pal, transparency=2)

    # GIF: interlaced (PIL interlaces when both sides >= 16), with transparency
    gp = Image.fromarray(rng.integers(0, 5, (33, 45), dtype=np.uint8), "P")
    gp.putpalette([10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 210, 220, 250, 5, 5])
    save("pal_45x33.gif", gp, transparency=3)
    save("opaque_45x33.gif", gp)
    # first frame smaller than the logical screen: patch the screen size (bg index 1)
    for name, kw in (("rect_20x16.gif", {}), ("rect_t_20x16.gif", {"transparency": 2})):
        b = io.BytesIO()
        gp.crop((0, 0, 14, 10)).save(b, "GIF", **kw)
        g = bytearray(b.getvalue())
        g[6:10] = struct.pack("<HH", 20, 16)
        g[11] = 1
        src[name] = bytes(g)

    # BMP, TGA
    save("rgb_37x23.bmp", base["rgb_37x23"])
    save("pal_29x18.bmp", pal)
    save("gray_40x30.bmp", gray)
    save("rgba_31x17.bmp", Image.fromarray(rgba, "RGBA"))
    save("rgb_37x23.tga", base["rgb_37x23"])
    save("rle_37x23.tga", base["rgb_37x23"], compression="tga_rle")
    save("top_37x23.tga", base["rgb_37x23"], orientation=1)

    # PNM: binary P4/P5/P6 with maxvals 255, 65535 and others
    save("rgb_37x23.ppm", base["rgb_37x23"])
    save("gray_40x30.pgm", gray)
    save("gray16_33x21.pgm", Image.fromarray(g16))
    save("bits_21x9.pbm", Image.fromarray(rng.integers(0, 2, (9, 21), dtype=np.uint8) * 255).convert("1"))
    v = rng.integers(0, 1001, (7, 11, 3)).astype(">u2")
    src["max1000_11x7.ppm"] = b"P6\n# maxval 1000\n11 7\n1000\n" + v.tobytes()
    v = rng.integers(0, 16, (6, 9)).astype(np.uint8)
    v[0, 0] = 15
    src["max15_9x6.pgm"] = b"P5 9 6 15\n" + v.tobytes()
    v = rng.integers(0, 301, (6, 9)).astype(">u2")
    src["max300_9x6.pgm"] = b"P5\n9 6\n300\n" + v.tobytes()

    # JPEG: 4:2:0, 4:2:2, 4:4:4, gray, progressive, odd sizes
    photo = base["rgb_200x150"]
    src["photo_200x150.jpg"] = jpeg_bytes(photo, quality=90)
    src["q444_64x48.jpg"] = jpeg_bytes(base["rgb_64x48"], quality=95, subsampling=0)
    src["q422_64x48.jpg"] = jpeg_bytes(base["rgb_64x48"], quality=90, subsampling=1)
    src["prog_64x48.jpg"] = jpeg_bytes(base["rgb_64x48"], quality=85, progressive=True)
    src["gray_40x30.jpg"] = jpeg_bytes(gray, quality=90)
    src["odd_37x23.jpg"] = jpeg_bytes(base["rgb_37x23"], quality=85)
    src["cmyk_37x23.jpg"] = jpeg_bytes(base["rgb_37x23"].convert("CMYK"), quality=90)
    # EXIF orientation: JPEG little-endian 6, big-endian 3, XMP 8
    j = jpeg_bytes(base["rgb_64x48"], quality=92)
    src["exif6_64x48.jpg"] = jpeg_with_app1(j, b"Exif\0\0" + tiff_orientation(6, True))
    j = jpeg_bytes(base["rgb_37x23"], quality=92)
    src["exif3_37x23.jpg"] = jpeg_with_app1(j, b"Exif\0\0" + tiff_orientation(3, False))
    xmp = (b'http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><rdf:Description tiff:Orientation="8"/>'
           b"</x:xmpmeta>")
    src["xmp8_37x23.jpg"] = jpeg_with_app1(j, xmp)

    # EXIF orientation in PNG (eXIf), all 8, exact; one eXIf after IDAT, one little-endian
    small = np.arange(7 * 5 * 3, dtype=np.uint8).reshape(5, 7, 3) * 2
    rows = [r.tobytes() for r in small]
    for o in range(1, 9):
        src[f"orient{o}_7x5.png"] = png_bytes(7, 5, 8, 2, rows, extra=png_chunk(b"eXIf", tiff_orientation(o, False)))
    src["orientlate_7x5.png"] = png_bytes(7, 5, 8, 2, rows, late=png_chunk(b"eXIf", tiff_orientation(5, True)))
    return src


# ---- expectations --------------------------------------------------------------------------

def store_rgb(out, name, a):
    """Raw RGB8 when small, else PNG. Returns the relative path."""
    h, w, _ = a.shape
    if w * h <= 600:
        rel = f"expected/{name}.rgb"
        with open(os.path.join(out, rel), "wb") as f:
            f.write(np.ascontiguousarray(a, np.uint8).tobytes())
    else:
        rel = f"expected/{name}.png"
        Image.fromarray(a, "RGB").save(os.path.join(out, rel), optimize=True)
    return rel


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "images"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)

    import torch
    import torch.nn.functional as F
    from transformers import RTDetrImageProcessorPil
    from transformers.image_utils import load_image

    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    index = {"generator": "tools/gen_resize_fixtures.py", "pillow": Image.__version__,
             "decode": [], "resize": [], "procedural": [], "processor": [], "interp": []}

    sources = make_sources(out, rng)
    decoded = {}
    for name, data in sorted(sources.items()):
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(data)
        opened = Image.open(path)
        a = np.asarray(load_image(path))  # exif_transpose + convert("RGB")
        decoded[name] = a
        stem = name.replace(".", "_")
        exact = not name.endswith(".jpg")
        entry = {"file": name, "width": int(a.shape[1]), "height": int(a.shape[0]),
                 "pil_mode": opened.mode, "exact": exact,
                 # what exif_transpose used (getexif falls back to XMP)
                 "orientation": int(opened.getexif().get(0x0112, 1))}
        if exact and a.shape[0] * a.shape[1] > 1600:
            entry["checksum"] = checksum(a)  # PNG decoding is checked on the smaller ones
        else:
            entry["ref"] = store_rgb(out, stem, a)
        index["decode"].append(entry)

    # resize: every filter, several targets (both passes, one pass, up and down)
    filters = {0: Image.Resampling.NEAREST, 1: Image.Resampling.LANCZOS, 2: Image.Resampling.BILINEAR,
               3: Image.Resampling.BICUBIC, 4: Image.Resampling.BOX, 5: Image.Resampling.HAMMING}
    for name in ("rgb_37x23.png", "rgb_64x48.png", "rgb_200x150.png", "rgb_13x301.png", "rgb_1x1.png"):
        im = Image.fromarray(decoded[name], "RGB")
        w0, h0 = im.size
        targets = [(64, 32), (17, 29), (5, 3), (w0, 7), (9, h0), (w0 * 2 + 1, h0 + 3)]
        for fid, flt in filters.items():
            for (w, h) in targets:
                r = np.asarray(im.resize((w, h), resample=flt))
                e = {"src": name, "filter": fid, "width": w, "height": h}
                full = fid == 2 or (fid in (0, 3) and (w, h) in ((17, 29), (5, 3)))
                if full and w * h <= 2048:
                    e["ref"] = store_rgb(out, f"resize_{name[:-4]}_f{fid}_{w}x{h}", r)
                else:
                    e["checksum"] = checksum(r)
                index["resize"].append(e)
    im = Image.fromarray(decoded["rgb_64x48.png"], "RGB")
    for fid in (2, 3):
        r = np.asarray(im.resize((640, 640), resample=filters[fid]))
        index["resize"].append({"src": "rgb_64x48.png", "filter": fid, "width": 640, "height": 640,
                                "checksum": checksum(r)})

    # large procedural inputs, checksums only
    for (w0, h0), (w, h), fid in [((1920, 1080), (640, 640), 2), ((1920, 1080), (640, 640), 3),
                                  ((1920, 1080), (640, 640), 0), ((1920, 1080), (640, 640), 1),
                                  ((333, 1001), (640, 640), 2), ((640, 480), (1333, 800), 2),
                                  ((4000, 3000), (640, 640), 2)]:
        r = np.asarray(Image.fromarray(procedural(w0, h0), "RGB").resize((w, h), resample=filters[fid]))
        index["procedural"].append({"in_width": w0, "in_height": h0, "width": w, "height": h,
                                    "filter": fid, "checksum": checksum(r),
                                    "input_checksum": checksum(procedural(w0, h0))})

    # transformers' processor, PIL backend (RTDetrImageProcessor falls back to it without
    # torchvision; named explicitly here)
    cases = [
        ("rgb_200x150.png", {"size": {"height": 64, "width": 64}}),
        ("rgb_37x23.png", {"size": {"height": 24, "width": 40}, "resample": 3, "do_normalize": True}),
        ("rgb_200x150.png", {"size": {"shortest_edge": 20, "longest_edge": 30}}),
        ("rgb_13x301.png", {"size": {"max_height": 40, "max_width": 30}, "do_normalize": True,
                            "image_mean": [0.5, 0.25, 0.125], "image_std": [0.3, 0.2, 0.1]}),
        ("gray_40x30.png", {"size": {"height": 16, "width": 48}, "do_rescale": False, "do_normalize": True,
                            "image_mean": [120, 110, 100], "image_std": [60, 50, 40]}),
    ]
    for i, (name, kw) in enumerate(cases):
        proc = RTDetrImageProcessorPil(**kw)
        pv = proc(load_image(os.path.join(out, name)), return_tensors="np")["pixel_values"][0]
        assert pv.dtype == np.float32, pv.dtype
        rel = f"expected/proc{i}_{name[:-4]}.f32"
        pv.astype("<f4").tofile(os.path.join(out, rel))
        cfg = proc.to_dict()
        index["processor"].append({
            "src": name, "ref": rel, "width": int(pv.shape[2]), "height": int(pv.shape[1]),
            "config": {k: cfg[k] for k in ("do_resize", "size", "resample", "do_rescale", "rescale_factor",
                                           "do_normalize", "image_mean", "image_std")}})

    # torch bilinear, align_corners=False, on float planes
    g = torch.Generator().manual_seed(SEED)
    for i, (ih, iw, oh, ow) in enumerate([(7, 13, 17, 29), (30, 40, 9, 11), (5, 5, 9, 5), (1, 1, 3, 4),
                                          (16, 16, 40, 40), (28, 28, 40, 53)]):
        x = torch.randn(1, 1, ih, iw, generator=g) * 4
        y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False)
        rs, rr = f"expected/interp{i}_in.f32", f"expected/interp{i}_out.f32"
        x.numpy().astype("<f4").tofile(os.path.join(out, rs))
        y.numpy().astype("<f4").tofile(os.path.join(out, rr))
        index["interp"].append({"in_width": iw, "in_height": ih, "width": ow, "height": oh,
                                "src": rs, "ref": rr})

    with open(os.path.join(out, "index.json"), "w") as f:  # one entry per line
        f.write("{\n")
        for i, (k, v) in enumerate(index.items()):
            sep = ",\n" if i + 1 < len(index) else "\n"
            if isinstance(v, list):
                rows = ",\n  ".join(json.dumps(e, separators=(",", ":")) for e in v)
                f.write(f' "{k}": [\n  {rows}\n ]{sep}')
            else:
                f.write(f' "{k}": {json.dumps(v)}{sep}')
        f.write("}\n")
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(out) for fn in fns)
    print(f"wrote {out}: {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
