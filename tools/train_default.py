#!/usr/bin/env python3
"""Train, export and evaluate vkdetr's bundled default model (a small RT-DETR on "shapes").

The data come from tools/shapes_dataset.py (procedural, seeded, exact boxes and masks), so
nothing is downloaded. One command does everything:

    /opt/vkdetr-py/bin/python tools/train_default.py --out assets/models/default \\
        --val /tmp/vkdetr-shapes/val --minutes 85

  1. writes the held-out val set (COCO: images/ + annotations.json) unless it is there already,
  2. trains RTDetrForObjectDetection from scratch on scenes generated on the fly, for --minutes
     of wall time (warm-up, then a cosine schedule on the elapsed-time fraction, so the schedule
     ends on time however loaded the machine is), checkpointing to --ckpt every few minutes,
  3. exports the EMA weights with save_pretrained (+ the image processor) to --out,
  4. evaluates the exported folder on the val set with pycocotools (bbox AP) and writes
     predictions_pytorch.json (COCO results) and metrics_pytorch.json next to annotations.json.

Other modes:
    --eval-only              step 4 only (on --out)
    --resume                 continue from --ckpt (the time budget counts what was already used)
    --samples DIR            write the bundled sample images (seeded, not the val seed) and stop

Needs the project venv (torch, transformers, pycocotools, Pillow, numpy) plus scipy (the
Hungarian matcher inside transformers' RT-DETR loss): /opt/vkdetr-py/bin/pip install scipy.
"""

import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_dataset as shapes  # noqa: E402

VAL_SEED = 90210
SAMPLE_SEED = 4242


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# ----------------------------------------------------------------------------- model

def build_config(input_size):
    from transformers import RTDetrConfig, RTDetrResNetConfig
    hidden = [24, 48, 96, 192]
    d = 96
    backbone = RTDetrResNetConfig(
        layer_type="basic", depths=[1, 1, 1, 1], hidden_sizes=hidden,
        embedding_size=hidden[0],           # must equal hidden[0] for basic blocks (HF quirk)
        out_indices=[2, 3, 4])
    names = shapes.CLASS_NAMES
    return RTDetrConfig(
        backbone_config=backbone,
        freeze_backbone_batch_norms=False,  # trained from scratch: the backbone BN must learn
        encoder_in_channels=hidden[1:], encoder_hidden_dim=d, encoder_ffn_dim=4 * d,
        encoder_attention_heads=4, hidden_expansion=0.5,
        d_model=d, decoder_in_channels=[d, d, d], decoder_ffn_dim=4 * d,
        decoder_attention_heads=4, decoder_layers=3, decoder_n_points=4,
        num_queries=100, num_denoising=50,
        num_labels=len(names),
        id2label={i: n for i, n in enumerate(names)},
        label2id={n: i for i, n in enumerate(names)},
        anchor_image_size=None, eval_size=None)


def make_processor(input_size):
    from transformers import RTDetrImageProcessor
    return RTDetrImageProcessor(size={"height": input_size, "width": input_size})


# ----------------------------------------------------------------------------- data

def to_input(im, input_size):
    """PIL image -> (3, S, S) uint8 tensor: PIL bilinear resize, as RTDetrImageProcessor(Pil)."""
    im = im.resize((input_size, input_size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(im, np.uint8).copy()).permute(2, 0, 1)


class SceneStream(torch.utils.data.IterableDataset):
    """An endless stream of (pixels uint8 (3, S, S), labels dict) generated on the fly."""

    def __init__(self, seed, input_size):
        self.seed, self.input_size = seed, input_size

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        torch.set_num_threads(1)
        k = 0
        pending = []      # transformed copies, yielded a few samples later
        while True:
            rng = np.random.default_rng([self.seed, 7, wid, k])
            k += 1
            im, objects = shapes.make_scene(rng)
            if not objects:
                continue
            w, h = im.size
            boxes = torch.tensor([[(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h]
                                  for x, y, bw, bh in (o["box"] for o in objects)], dtype=torch.float32)
            labels = torch.tensor([o["label"] for o in objects], dtype=torch.int64)
            pix = to_input(im, self.input_size)
            yield pix, {"class_labels": labels, "boxes": boxes}
            # Each scene is used twice: the second time flipped / transposed (a dihedral
            # transform of the square input), which halves the cost of generation per sample.
            pending.append(dihedral(pix, boxes, int(rng.integers(1, 8))) + (labels,))
            if len(pending) >= 4:
                p, b, lab = pending.pop(int(rng.integers(len(pending))))
                yield p, {"class_labels": lab, "boxes": b}


def dihedral(pix, boxes, t):
    """Apply one of the 8 flips/transposes t of a square (3, S, S) image and its cxcywh boxes."""
    boxes = boxes.clone()
    if t & 4:                                   # transpose: swap x and y
        pix = pix.transpose(1, 2)
        boxes = boxes[:, [1, 0, 3, 2]]
    if t & 1:                                   # horizontal flip
        pix = pix.flip(2)
        boxes[:, 0] = 1 - boxes[:, 0]
    if t & 2:                                   # vertical flip
        pix = pix.flip(1)
        boxes[:, 1] = 1 - boxes[:, 1]
    return pix.contiguous(), boxes


def collate(batch):
    pix = torch.stack([b[0] for b in batch]).float().div_(255.0)
    return pix, [b[1] for b in batch]


# ----------------------------------------------------------------------------- training

class Ema:
    """Exponential moving average of the weights and BN buffers (RT-DETR trains with one)."""

    def __init__(self, model, decay=0.999, warmup=200):
        self.decay, self.warmup, self.updates = decay, warmup, 0
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.warmup))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.state[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.state[k].copy_(v)


def lr_at(step, frac, base, warmup_steps):
    """Linear warm-up over steps, then cosine over the elapsed-time fraction down to 2 %."""
    w = min(1.0, (step + 1) / warmup_steps)
    c = 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    return base * w * c


def train(args):
    from transformers import RTDetrForObjectDetection
    torch.manual_seed(args.seed)
    cfg = build_config(args.input_size)
    model = RTDetrForObjectDetection(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params} parameters ({n_params * 4 / 1e6:.2f} MB fp32)")
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or "norm" in n or "embed" in n else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    ema = Ema(model)
    step, used = 0, 0.0
    if args.resume and os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        ema.state, ema.updates = ck["ema"], ck["ema_updates"]
        step, used = ck["step"], ck["used"]
        log(f"resumed from {args.ckpt}: step {step}, {used / 60:.1f} min used")

    loader = torch.utils.data.DataLoader(
        SceneStream(args.seed + step, args.input_size), batch_size=args.batch,
        num_workers=args.workers, collate_fn=collate, prefetch_factor=4 if args.workers else None,
        persistent_workers=bool(args.workers))
    budget = args.minutes * 60.0
    t0 = time.time() - used
    last_ckpt = time.time()
    sums, count = {}, 0
    model.train()
    t_wait = time.time()
    wait = 0.0
    for pix, labels in loader:
        wait += time.time() - t_wait
        elapsed = time.time() - t0
        if elapsed >= budget:
            break
        lr = lr_at(step, elapsed / budget, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        out = model(pixel_values=pix, labels=labels)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        ema.update(model)
        step += 1
        for k in ("loss_vfl", "loss_bbox", "loss_giou"):
            sums[k] = sums.get(k, 0.0) + out.loss_dict[k].item()
        sums["loss"] = sums.get("loss", 0.0) + out.loss.item()
        sums["gnorm"] = sums.get("gnorm", 0.0) + float(gn)
        count += 1
        if step % args.log_every == 0:
            msg = " ".join(f"{k} {v / count:.3f}" for k, v in sums.items())
            log(f"step {step} {elapsed / 60:.1f}/{args.minutes} min lr {lr:.2e} {msg} data-wait {wait:.0f} s")
            sums, count = {}, 0
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            save_ckpt(args.ckpt, model, opt, ema, step, time.time() - t0)
            last_ckpt = time.time()
        t_wait = time.time()
    used = time.time() - t0
    save_ckpt(args.ckpt, model, opt, ema, step, used)
    log(f"training done: {step} steps, {step * args.batch} images, {used / 60:.1f} min")
    return cfg, ema, step, used


def save_ckpt(path, model, opt, ema, step, used):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.state,
                "ema_updates": ema.updates, "step": step, "used": used}, tmp)
    os.replace(tmp, path)
    log(f"checkpoint: step {step} -> {path}")


def export(cfg, state, out_dir, input_size):
    """save_pretrained of the (EMA) weights and the image processor.

    The backbone trained with ordinary BatchNorm; it is exported with
    freeze_backbone_batch_norms true (RTDetrFrozenBatchNorm2d, same eps 1e-5, so the same
    inference function) and without the backbone's num_batches_tracked, which is the layout
    of the hub's RT-DETR checkpoints. The two are compared on a random input first."""
    from transformers import RTDetrForObjectDetection
    trained = RTDetrForObjectDetection(cfg)
    trained.load_state_dict(state)
    trained.eval()
    frozen_cfg = copy.deepcopy(cfg)
    frozen_cfg.freeze_backbone_batch_norms = True
    model = RTDetrForObjectDetection(frozen_cfg)
    state = {k: v for k, v in state.items()
             if not (k.startswith("model.backbone.") and k.endswith(".num_batches_tracked"))}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"export: missing {missing} unexpected {unexpected}")
    model.eval()
    with torch.no_grad():
        x = torch.rand(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
        a, b = trained(pixel_values=x), model(pixel_values=x)
        diff = max((a.logits - b.logits).abs().max().item(), (a.pred_boxes - b.pred_boxes).abs().max().item())
    log(f"export: frozen-BN model vs trained model, max |diff| {diff:.2e}")
    if diff > 1e-4:
        raise RuntimeError("export: frozen backbone BN changes the outputs")
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    make_processor(input_size).save_pretrained(out_dir)
    size = os.path.getsize(os.path.join(out_dir, "model.safetensors"))
    log(f"exported to {out_dir} (model.safetensors {size / 1e6:.2f} MB)")


# ----------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate(model_dir, val_dir, threshold=0.01):
    """pycocotools bbox AP of the exported model on val_dir; writes predictions_pytorch.json."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    from transformers import RTDetrForObjectDetection, RTDetrImageProcessorPil
    model = RTDetrForObjectDetection.from_pretrained(model_dir).eval()
    proc = RTDetrImageProcessorPil.from_pretrained(model_dir)
    gt = COCO(os.path.join(val_dir, "annotations.json"))
    results = []
    t0 = time.time()
    for img_id in sorted(gt.getImgIds()):
        info = gt.loadImgs(img_id)[0]
        im = Image.open(os.path.join(val_dir, "images", info["file_name"])).convert("RGB")
        inputs = proc(images=im, return_tensors="pt")
        out = model(**inputs)
        det = proc.post_process_object_detection(
            out, threshold=threshold, target_sizes=[(im.height, im.width)])[0]
        for s, l, b in zip(det["scores"].tolist(), det["labels"].tolist(), det["boxes"].tolist()):
            results.append({"image_id": img_id, "category_id": int(l), "score": round(s, 5),
                            "bbox": [round(b[0], 3), round(b[1], 3),
                                     round(b[2] - b[0], 3), round(b[3] - b[1], 3)]})
    n_img = len(gt.getImgIds())
    log(f"inference: {n_img} images, {(time.time() - t0) / n_img * 1000:.0f} ms/image")
    with open(os.path.join(val_dir, "predictions_pytorch.json"), "w") as f:
        json.dump(results, f)
    ev = COCOeval(gt, gt.loadRes(results) if results else COCO(), "bbox")
    ev.params.maxDets = [1, 10, 100]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100"]
    metrics = {k: round(float(v), 4) for k, v in zip(names, ev.stats)}
    metrics["images"] = n_img
    metrics["annotations"] = len(gt.getAnnIds())
    with open(os.path.join(val_dir, "metrics_pytorch.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    log(f"bbox AP {metrics['AP']:.3f} AP50 {metrics['AP50']:.3f} AP75 {metrics['AP75']:.3f}")
    return metrics


def ensure_val(val_dir, n):
    ann = os.path.join(val_dir, "annotations.json")
    if os.path.exists(ann):
        with open(ann) as f:
            d = json.load(f)
        if d["info"]["description"].endswith(f"seed {VAL_SEED}") and len(d["images"]) == n:
            log(f"val set {val_dir}: present ({n} images)")
            return
    t = time.time()
    ni, na = shapes.write_coco(val_dir, n, VAL_SEED)
    log(f"val set {val_dir}: wrote {ni} images, {na} objects in {time.time() - t:.0f} s")


def write_samples(folder):
    """The bundled sample images: a busy scene, a street scene and a plain one (JPEG)."""
    os.makedirs(folder, exist_ok=True)
    want = [("shapes.jpg", 0, dict(many=True, n_objects=22), None),
            ("street.jpg", 4, dict(n_objects=8), shapes.bg_scene),
            ("few.jpg", 2, dict(n_objects=4), None)]
    for name, k, kw, bg in want:
        rng = np.random.default_rng([SAMPLE_SEED, k])
        saved = shapes.BACKGROUNDS
        if bg is not None:
            shapes.BACKGROUNDS = [bg] * len(saved)
        try:
            im, objects = shapes.make_scene(rng, width=640, height=480, **kw)
        finally:
            shapes.BACKGROUNDS = saved
        im.save(os.path.join(folder, name), quality=88)
        log(f"{name}: {len(objects)} objects")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="assets/models/default", help="export folder (default %(default)s)")
    ap.add_argument("--val", default="/tmp/vkdetr-shapes/val", help="val set folder (default %(default)s)")
    ap.add_argument("--val-images", type=int, default=400, help="val set size (default %(default)s)")
    ap.add_argument("--minutes", type=float, default=85.0, help="training wall time (default %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="training seed (default %(default)s)")
    ap.add_argument("--input-size", type=int, default=320, help="square input side (default %(default)s)")
    ap.add_argument("--batch", type=int, default=6, help="batch size (default %(default)s)")
    ap.add_argument("--lr", type=float, default=5e-4, help="peak AdamW lr (default %(default)s)")
    ap.add_argument("--weight-decay", type=float, default=1e-4, help="(default %(default)s)")
    ap.add_argument("--warmup", type=int, default=150, help="warm-up steps (default %(default)s)")
    ap.add_argument("--clip", type=float, default=0.1, help="grad-norm clip (default %(default)s)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for the training process (default %(default)s)")
    ap.add_argument("--workers", type=int, default=1, help="data generator processes (default %(default)s)")
    ap.add_argument("--ckpt", default="/tmp/vkdetr-train/ckpt.pt", help="checkpoint (default %(default)s)")
    ap.add_argument("--ckpt-minutes", type=float, default=5.0, help="checkpoint period (default %(default)s)")
    ap.add_argument("--log-every", type=int, default=20, help="(default %(default)s)")
    ap.add_argument("--resume", action="store_true", help="continue from --ckpt")
    ap.add_argument("--eval-only", action="store_true", help="only evaluate --out on --val")
    ap.add_argument("--export-ckpt", action="store_true", help="export --ckpt's EMA weights to --out, then evaluate")
    ap.add_argument("--samples", metavar="DIR", help="write the sample images to DIR and stop")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if args.samples:
        write_samples(args.samples)
        return
    ensure_val(args.val, args.val_images)
    if args.export_ckpt:
        ck = torch.load(args.ckpt, weights_only=False)
        log(f"checkpoint {args.ckpt}: step {ck['step']}, {ck['used'] / 60:.1f} min")
        export(build_config(args.input_size), ck["ema"], args.out, args.input_size)
    elif not args.eval_only:
        t = time.time()
        cfg, ema, steps, used = train(args)
        export(cfg, ema.state, args.out, args.input_size)
        log(f"total training wall time {used / 60:.1f} min ({(time.time() - t) / 60:.1f} min with export)")
    evaluate(args.out, args.val)


if __name__ == "__main__":
    main()
