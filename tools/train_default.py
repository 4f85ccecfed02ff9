#!/usr/bin/env python3
"""Train, export and evaluate vkdetr's bundled default model (a small RT-DETR on "shapes").

The data come from tools/shapes_dataset.py (procedural, seeded, exact boxes and masks), so
nothing is downloaded. One command does everything:

    VKDETR_DEVICE=llvmpipe /opt/vkdetr-py/bin/python tools/train_default.py \\
        --out assets/models/default --vkdetr build/release/vkdetr

  1. writes the held-out val set (COCO: images/ + annotations.json in /tmp/vkdetr-shapes/val-v3)
     unless it is there already,
  2. trains RTDetrForObjectDetection from scratch on scenes generated on the fly, for --minutes
     of wall time (warm-up, then a cosine schedule on the elapsed-time fraction, so the schedule
     ends on time however loaded the machine is), checkpointing to --ckpt every few minutes,
  3. exports the EMA weights with save_pretrained (+ the image processor) to --out,
  4. evaluates the exported folder on the val set with pycocotools (bbox AP) and writes
     predictions_pytorch.json (COCO results) and metrics_pytorch.json next to annotations.json,
  5. with --vkdetr, evaluates the same folder with `vkdetr eval` on the CPU and Vulkan backends
     (same threshold 0.01, at most 100 detections per image) and prints the three APs side by
     side (metrics_vkdetr_{cpu,vulkan}.json). VKDETR_DEVICE=llvmpipe runs Vulkan on Mesa's CPU
     driver where there is no GPU.

Other modes:
    --eval-only              steps 4 and 5 only (on --out)
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

def build_config(input_size, num_queries=100, num_denoising=50):
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
        num_queries=num_queries, num_denoising=num_denoising,
        initializer_bias_prior_prob=0.01,
        num_labels=len(names),
        id2label={i: n for i, n in enumerate(names)},
        label2id={n: i for i, n in enumerate(names)},
        anchor_image_size=None, eval_size=None)


def make_processor(input_size):
    from transformers import RTDetrImageProcessor
    return RTDetrImageProcessor(size={"height": input_size, "width": input_size})


@torch.no_grad()
def reinit(model):
    """Initialise for training from scratch as the reference RT-DETR does.

    transformers' _init_weights is written for fine-tuning: it draws every BatchNorm weight of
    the hybrid encoder from N(0, 0.01) (so each encoder block starts as a near-zero map) and
    most linear and 1x1 layers from N(0, 0.01). Here every convolution, linear and norm layer
    outside the backbone and the deformable attention gets PyTorch's default initialisation
    (BatchNorm/LayerNorm weight 1), then the reference implementation's special cases: class
    biases at prior 0.01, last box-regression layers zero, Xavier for enc_output, the query
    position head and the decoder input projections. The backbone (Kaiming, BN weight 1) and
    the deformable attention (grid sampling offsets) keep transformers' initialisation."""
    from torch import nn
    from transformers.models.rt_detr.modeling_rt_detr import RTDetrMultiscaleDeformableAttention
    keep = set()
    for m in model.modules():
        if isinstance(m, RTDetrMultiscaleDeformableAttention) or m is model.model.backbone:
            keep |= {id(x) for x in m.modules()}
    for m in model.modules():
        if id(m) not in keep and isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.LayerNorm)):
            m.reset_parameters()
    prior = model.config.initializer_bias_prior_prob
    bias = -math.log((1 - prior) / prior)
    mm = model.model
    nn.init.constant_(mm.enc_score_head.bias, bias)
    for head in [mm.enc_bbox_head, *mm.decoder.bbox_embed]:
        nn.init.zeros_(head.layers[-1].weight)
        nn.init.zeros_(head.layers[-1].bias)
    for head in mm.decoder.class_embed:
        nn.init.constant_(head.bias, bias)
    nn.init.xavier_uniform_(mm.enc_output[0].weight)
    for layer in mm.decoder.query_pos_head.layers:
        nn.init.xavier_uniform_(layer.weight)
    for proj in mm.decoder_input_proj:
        nn.init.xavier_uniform_(proj[0].weight)


# ----------------------------------------------------------------------------- data

def to_input(im, input_size):
    """PIL image -> (S, S, 3) uint8 array: PIL bilinear resize, as RTDetrImageProcessorPil."""
    return np.asarray(im.resize((input_size, input_size), Image.BILINEAR), np.uint8)


def scene_sample(seed, k, input_size):
    """Training scene k of a seed: (pixels (S, S, 3) uint8, boxes (n, 4) cxcywh in [0, 1], labels)."""
    rng = np.random.default_rng([seed, 7, k])
    im, objects = shapes.make_scene(rng)
    w, h = im.size
    boxes = np.array([[(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h]
                      for x, y, bw, bh in (o["box"] for o in objects)], np.float32).reshape(-1, 4)
    labels = np.array([o["label"] for o in objects], np.int64)
    return to_input(im, input_size), boxes, labels


def generator_main(queue, seed, first, input_size):
    """The scene generator process, niced (10: about a tenth of a core when training competes
    for it, which is about what a scene per two samples costs)."""
    os.nice(10)
    torch.set_num_threads(1)
    k = first
    while True:
        sample = scene_sample(seed, k, input_size)
        k += 1
        if len(sample[2]):
            queue.put(sample)


class ScenePool:
    """Training batches that never wait for the generator.

    Each step takes up to a batch of new scenes from the generator's queue without blocking and
    fills the rest of the batch with scenes drawn at random from the last `capacity` scenes,
    so a slow or starved generator means more reuse, never idle cores. Every sample gets one of
    the 8 flips/transposes of the square input at random."""

    def __init__(self, seed, first, input_size, capacity, prefill):
        import multiprocessing as mp
        ctx = mp.get_context("fork")
        self.queue = ctx.Queue(maxsize=64)
        self.proc = ctx.Process(target=generator_main, args=(self.queue, seed, first, input_size),
                                daemon=True)
        self.proc.start()
        self.items, self.capacity, self.next = [], capacity, 0
        self.rng = np.random.default_rng([seed, 11, first])
        self.fresh = self.total = 0
        t = time.time()
        while len(self.items) < prefill:
            self.add(self.queue.get())
        log(f"scene pool: {prefill} scenes generated before training in {time.time() - t:.0f} s")

    def add(self, item):
        if len(self.items) < self.capacity:
            self.items.append(item)
        else:
            self.items[self.next] = item
            self.next = (self.next + 1) % self.capacity

    def batch(self, size):
        import queue as queue_mod
        chosen = []
        while len(chosen) < size:
            try:
                item = self.queue.get_nowait()
            except queue_mod.Empty:
                break
            self.add(item)
            chosen.append(item)
        self.fresh += len(chosen)
        self.total += size
        while len(chosen) < size:
            chosen.append(self.items[int(self.rng.integers(len(self.items)))])
        pix, labels = [], []
        for p, b, lab in chosen:
            p, b = dihedral(p, b, int(self.rng.integers(8)))
            pix.append(torch.from_numpy(p))
            labels.append({"class_labels": torch.from_numpy(lab), "boxes": torch.from_numpy(b)})
        pix = torch.stack(pix).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
        return pix, labels

    def close(self):
        self.proc.terminate()
        self.proc.join()


def dihedral(pix, boxes, t):
    """One of the 8 flips/transposes t of a square (S, S, 3) image and its cxcywh boxes."""
    boxes = boxes.copy()
    if t & 4:                                   # transpose: swap x and y
        pix = pix.transpose(1, 0, 2)
        boxes = boxes[:, [1, 0, 3, 2]]
    if t & 1:                                   # horizontal flip
        pix = pix[:, ::-1]
        boxes[:, 0] = 1 - boxes[:, 0]
    if t & 2:                                   # vertical flip
        pix = pix[::-1]
        boxes[:, 1] = 1 - boxes[:, 1]
    return np.ascontiguousarray(pix), boxes


# ----------------------------------------------------------------------------- training

def anchor_centres(input_size, strides=(8, 16, 32)):
    """(N, 2) normalised centres and (N,) normalised strides of the encoder's anchors, in the
    order of enc_outputs_class (levels, then rows, then columns)."""
    xy, st = [], []
    for s in strides:
        n = input_size // s
        g = (torch.arange(n, dtype=torch.float32) + 0.5) / n
        y, x = torch.meshgrid(g, g, indexing="ij")
        xy.append(torch.stack([x, y], -1).reshape(-1, 2))
        st.append(torch.full((n * n,), s / input_size))
    return torch.cat(xy), torch.cat(st)


def cxcywh_to_xyxy(b):
    return torch.cat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], -1)


def box_iou(a, b):
    """IoU and GIoU of xyxy boxes a and b (..., 4), broadcast against each other: (M, 4) with
    (M, 4) pairs them up, (N, 1, 4) with (1, n, 4) gives every pair (N, n)."""
    lt, rb = torch.max(a[..., :2], b[..., :2]), torch.min(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    union = area_a + area_b - inter
    iou = inter / union.clamp(min=1e-9)
    hull_wh = torch.max(a[..., 2:], b[..., 2:]) - torch.min(a[..., :2], b[..., :2])
    hull = hull_wh.clamp(min=0).prod(-1)
    return iou, iou - (hull - union) / hull.clamp(min=1e-9)


def dense_encoder_loss(out, labels, centres, strides, k, cfg):
    """One-to-many supervision of the encoder's per-anchor class scores and boxes.

    RT-DETR trains the encoder head only through the one-to-one (Hungarian) loss on its top-k
    anchors, so early in training the query selection picks poor anchors for a long time.
    Here every ground-truth box also takes its k cheapest anchors (matcher cost: focal class
    cost, L1, GIoU) among those whose centre lies inside the box or within one stride of its
    centre; an anchor claimed by several boxes goes to the cheapest. The loss is the same as
    RT-DETR's (varifocal with the IoU as the target score, L1, GIoU, same weights) over all
    anchors. It only shapes the training; the model and its inference are unchanged."""
    import torch.nn.functional as F
    logits = out.enc_outputs_class                      # (B, N, C)
    boxes = out.enc_outputs_coord_logits.sigmoid()      # (B, N, 4) cxcywh
    B, N, C = logits.shape
    pos_b, pos_a, pos_g = [], [], []
    with torch.no_grad():
        prob = logits.sigmoid()
        for b, t in enumerate(labels):
            g, cls = t["boxes"], t["class_labels"]
            if len(g) == 0:
                continue
            gx = cxcywh_to_xyxy(g)                                          # (n, 4)
            inside = ((centres[:, None, 0] > gx[None, :, 0]) & (centres[:, None, 0] < gx[None, :, 2])
                      & (centres[:, None, 1] > gx[None, :, 1]) & (centres[:, None, 1] < gx[None, :, 3]))
            near = ((centres[:, None, :] - g[None, :, :2]).abs() < strides[:, None, None]).all(-1)
            cand = inside | near                                            # (N, n)
            p = prob[b][:, cls]                                             # (N, n)
            cls_cost = 0.25 * (1 - p) ** 2 * -(p + 1e-8).log() - 0.75 * p ** 2 * -(1 - p + 1e-8).log()
            l1 = torch.cdist(boxes[b], g, p=1)
            _, giou = box_iou(cxcywh_to_xyxy(boxes[b])[:, None], gx[None])   # (N, n)
            cost = 2 * cls_cost + 5 * l1 - 2 * giou + 1e4 * (~cand)
            kk = min(k, N)
            top = cost.topk(kk, dim=0, largest=False).indices                # (k, n)
            sel = torch.zeros_like(cand)
            sel.scatter_(0, top, True)
            sel &= cand
            cost = torch.where(sel, cost, torch.full_like(cost, float("inf")))
            best_cost, best_g = cost.min(1)
            a = torch.nonzero(torch.isfinite(best_cost)).squeeze(1)
            pos_b.append(torch.full_like(a, b))
            pos_a.append(a)
            pos_g.append(best_g[a] + sum(len(x["boxes"]) for x in labels[:b]))
    if not pos_a:
        return {}
    pos_b, pos_a, pos_g = torch.cat(pos_b), torch.cat(pos_a), torch.cat(pos_g)
    all_g = torch.cat([t["boxes"] for t in labels])
    all_c = torch.cat([t["class_labels"] for t in labels])
    n_pos = max(float(len(pos_a)), 1.0)
    src = boxes[pos_b, pos_a]
    tgt = all_g[pos_g]
    iou, giou = box_iou(cxcywh_to_xyxy(src), cxcywh_to_xyxy(tgt))
    target = torch.zeros_like(logits)
    target[pos_b, pos_a, all_c[pos_g]] = iou.detach().clamp(min=0.01).to(logits.dtype)
    onehot = torch.zeros_like(logits)
    onehot[pos_b, pos_a, all_c[pos_g]] = 1.0
    pred = logits.detach().sigmoid()
    weight = cfg.focal_loss_alpha * pred.pow(cfg.focal_loss_gamma) * (1 - onehot) + target
    vfl = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum") / n_pos
    l1 = F.l1_loss(src, tgt, reduction="sum") / n_pos
    return {"dense_vfl": vfl * cfg.weight_loss_vfl, "dense_bbox": l1 * cfg.weight_loss_bbox,
            "dense_giou": (1 - giou).sum() / n_pos * cfg.weight_loss_giou}


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


def lr_at(step, frac, base, warmup_steps, final=0.01):
    """Linear warm-up over steps, then cosine over the elapsed-time fraction down to `final`."""
    w = min(1.0, (step + 1) / warmup_steps)
    c = final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    return base * w * c


def train(args):
    from transformers import RTDetrForObjectDetection
    torch.manual_seed(args.seed)
    cfg = build_config(args.input_size, args.queries, args.denoising)
    model = RTDetrForObjectDetection(cfg)
    if args.init == "torch":
        reinit(model)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params} parameters ({n_params * 4 / 1e6:.2f} MB fp32), torch threads {torch.get_num_threads()}")
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or "norm" in n or "embed" in n else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr,
                            betas=(0.9, 0.999))
    ema = Ema(model, args.ema_decay, args.ema_warmup)
    step, used = 0, 0.0
    curve = []
    if args.resume and os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        ema.state, ema.updates = ck["ema"], ck["ema_updates"]
        step, used, curve = ck["step"], ck["used"], ck.get("curve", [])
        log(f"resumed from {args.ckpt}: step {step}, {used / 60:.1f} min used")

    budget = args.minutes * 60.0
    t0 = time.time() - used
    pool = ScenePool(args.seed, step * args.batch, args.input_size, args.pool, args.prefill)
    centres, strides = anchor_centres(args.input_size)
    val_cache = {}
    last_ckpt = last_eval = time.time()
    sums, count, t_step = {}, 0, 0.0
    model.train()
    try:
        while True:
            elapsed = time.time() - t0
            if elapsed >= budget or (args.steps and step >= args.steps):
                break
            frac = max(elapsed / budget, step / args.steps if args.steps else 0.0)
            lr = lr_at(step, frac, args.lr, args.warmup, args.lr_final)
            for g in opt.param_groups:
                g["lr"] = lr
            ts = time.time()
            pix, labels = pool.batch(args.batch)
            out = model(pixel_values=pix, labels=labels)
            loss = out.loss
            if args.dense:
                dense = dense_encoder_loss(out, labels, centres, strides, args.dense, cfg)
                for k, v in dense.items():
                    loss = loss + args.dense_weight * v
                    sums[k] = sums.get(k, 0.0) + v.item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gn = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            ema.update(model)
            step += 1
            t_step += time.time() - ts
            for k in ("loss_vfl", "loss_bbox", "loss_giou"):
                sums[k] = sums.get(k, 0.0) + out.loss_dict[k].item()
            sums["loss"] = sums.get("loss", 0.0) + loss.item()
            sums["gnorm"] = sums.get("gnorm", 0.0) + float(gn)
            count += 1
            if step % args.log_every == 0:
                msg = " ".join(f"{k} {v / count:.3f}" for k, v in sums.items())
                log(f"step {step} {elapsed / 60:.1f}/{args.minutes:g} min lr {lr:.2e} {msg} "
                    f"{t_step / count:.2f} s/step fresh {pool.fresh / max(pool.total, 1):.2f} "
                    f"load {os.getloadavg()[0]:.1f}")
                sums, count, t_step = {}, 0, 0.0
                pool.fresh = pool.total = 0
            if args.eval_minutes and time.time() - last_eval > args.eval_minutes * 60:
                m = quick_eval(cfg, ema.state, args.input_size, args.val, args.eval_images, val_cache)
                curve.append({"step": step, "minutes": round((time.time() - t0) / 60, 1), **m})
                log(f"eval step {step}: EMA on {args.eval_images} val images: AP {m['AP']:.3f} "
                    f"AP50 {m['AP50']:.3f} AP75 {m['AP75']:.3f} (S {m['AP_small']:.3f} "
                    f"M {m['AP_medium']:.3f} L {m['AP_large']:.3f})")
                last_eval = time.time()
            if time.time() - last_ckpt > args.ckpt_minutes * 60:
                save_ckpt(args.ckpt, model, opt, ema, step, time.time() - t0, curve)
                last_ckpt = time.time()
    finally:
        pool.close()
    used = time.time() - t0
    save_ckpt(args.ckpt, model, opt, ema, step, used, curve)
    log(f"training done: {step} steps, {step * args.batch} samples, {used / 60:.1f} min")
    return cfg, ema, step, used


def save_ckpt(path, model, opt, ema, step, used, curve):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.state,
                "ema_updates": ema.updates, "step": step, "used": used, "curve": curve}, tmp)
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
def coco_eval(model, proc, val_dir, max_images=None, threshold=0.01, cache=None, quiet=False):
    """pycocotools bbox AP of model on the first max_images of val_dir (all by default).

    Returns (metrics, COCO results list). `cache` (a dict) keeps the preprocessed images
    between calls (the periodic evaluation during training)."""
    import contextlib
    import io as io_mod
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    quiet_ctx = contextlib.redirect_stdout(io_mod.StringIO()) if quiet else contextlib.nullcontext()
    with quiet_ctx:
        gt = COCO(os.path.join(val_dir, "annotations.json"))
    ids = sorted(gt.getImgIds())[:max_images]
    results = []
    for img_id in ids:
        info = gt.loadImgs(img_id)[0]
        if cache is not None and img_id in cache:
            inputs = cache[img_id]
        else:
            im = Image.open(os.path.join(val_dir, "images", info["file_name"])).convert("RGB")
            inputs = proc(images=im, return_tensors="pt")
            if cache is not None:
                cache[img_id] = inputs
        out = model(**inputs)
        det = proc.post_process_object_detection(
            out, threshold=threshold, target_sizes=[(info["height"], info["width"])])[0]
        for sc, lab, b in zip(det["scores"].tolist(), det["labels"].tolist(), det["boxes"].tolist()):
            results.append({"image_id": img_id, "category_id": int(lab), "score": round(sc, 5),
                            "bbox": [round(b[0], 3), round(b[1], 3),
                                     round(b[2] - b[0], 3), round(b[3] - b[1], 3)]})
    with quiet_ctx:
        ev = COCOeval(gt, gt.loadRes(results) if results else COCO(), "bbox")
        ev.params.imgIds = ids
        ev.params.maxDets = [1, 10, 100]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100"]
    metrics = {k: round(float(v), 4) for k, v in zip(names, ev.stats)}
    metrics["images"] = len(ids)
    metrics["annotations"] = len(gt.getAnnIds(imgIds=ids))
    return metrics, results


def quick_eval(cfg, state, input_size, val_dir, n_images, cache):
    """AP of the weights `state` on the first n_images of the val set (during training)."""
    from transformers import RTDetrForObjectDetection, RTDetrImageProcessorPil
    model = RTDetrForObjectDetection(cfg)
    model.load_state_dict(state)
    model.eval()
    proc = RTDetrImageProcessorPil(size={"height": input_size, "width": input_size})
    metrics, _ = coco_eval(model, proc, val_dir, n_images, cache=cache, quiet=True)
    return metrics


def evaluate(model_dir, val_dir, max_images=None, threshold=0.01):
    """AP of the exported folder; writes predictions_pytorch.json and metrics_pytorch.json."""
    from transformers import RTDetrForObjectDetection, RTDetrImageProcessorPil
    model = RTDetrForObjectDetection.from_pretrained(model_dir).eval()
    proc = RTDetrImageProcessorPil.from_pretrained(model_dir)
    t0 = time.time()
    metrics, results = coco_eval(model, proc, val_dir, max_images, threshold)
    n_img = metrics["images"]
    log(f"inference: {n_img} images, {(time.time() - t0) / n_img * 1000:.0f} ms/image (with COCOeval)")
    suffix = "" if max_images is None else f"_first{max_images}"
    with open(os.path.join(val_dir, f"predictions_pytorch{suffix}.json"), "w") as f:
        json.dump(results, f)
    with open(os.path.join(val_dir, f"metrics_pytorch{suffix}.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    log(f"bbox AP {metrics['AP']:.3f} AP50 {metrics['AP50']:.3f} AP75 {metrics['AP75']:.3f} "
        f"(small {metrics['AP_small']:.3f} medium {metrics['AP_medium']:.3f} large {metrics['AP_large']:.3f})")
    return metrics


def evaluate_vkdetr(vkdetr, model_dir, val_dir, backends, threshold=0.01, max_images=None):
    """`vkdetr eval` of the exported folder on the val set, once per backend, with the same
    threshold and detection limit as the PyTorch evaluation; writes predictions_vkdetr_B.json
    and metrics_vkdetr_B.json. Vulkan takes the device of VKDETR_DEVICE (llvmpipe for
    Mesa's CPU driver) or the first GPU. Returns {backend: metrics}."""
    import subprocess
    ann = os.path.join(val_dir, "annotations.json")
    if max_images is not None:                        # the same first-N subset as PyTorch's
        with open(ann) as f:
            d = json.load(f)
        ids = set(sorted(im["id"] for im in d["images"])[:max_images])
        d["images"] = [im for im in d["images"] if im["id"] in ids]
        d["annotations"] = [a for a in d["annotations"] if a["image_id"] in ids]
        ann = os.path.join(val_dir, f"annotations_first{max_images}.json")
        with open(ann, "w") as f:
            json.dump(d, f)
    out = {}
    for b in backends:
        metrics = os.path.join(val_dir, f"metrics_vkdetr_{b}.json")
        cmd = [vkdetr, "eval", "-m", model_dir, "-a", ann, "-i", os.path.join(val_dir, "images"),
               "--backend", b, "-t", str(threshold), "--max-dets", "100", "-q",
               "--json", metrics, "--predictions", os.path.join(val_dir, f"predictions_vkdetr_{b}.json")]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            log(f"vkdetr eval --backend {b} failed ({r.returncode}): {r.stderr.strip()}")
            continue
        with open(metrics) as f:
            m = json.load(f)["bbox"]
        out[b] = m
        log(f"vkdetr {b}: bbox AP {m['AP']:.4f} AP50 {m['AP50']:.4f} AP75 {m['AP75']:.4f} "
            f"({time.time() - t0:.0f} s)")
    return out


def ensure_val(val_dir, n):
    ann = os.path.join(val_dir, "annotations.json")
    if os.path.exists(ann):
        with open(ann) as f:
            d = json.load(f)
        want = f"vkdetr shapes {shapes.DISTRIBUTION}, seed {VAL_SEED}"
        if d["info"]["description"] == want and len(d["images"]) == n:
            log(f"val set {val_dir}: present ({n} images)")
            return
    t = time.time()
    ni, na = shapes.write_coco(val_dir, n, VAL_SEED)
    log(f"val set {val_dir}: wrote {ni} images, {na} objects in {time.time() - t:.0f} s")


def write_samples(folder):
    """The bundled sample images (JPEG, 480x360, the size range of the training scenes): a busy
    scene, a street scene and a plain one, and their ground truth as COCO annotations
    (annotations.json, the val set's format), which the test suite evaluates the bundled
    model on."""
    os.makedirs(folder, exist_ok=True)
    want = [("shapes.jpg", 0, dict(many=True, n_objects=14), None),
            ("street.jpg", 4, dict(n_objects=8), shapes.bg_scene),
            ("few.jpg", 2, dict(n_objects=4), None)]
    images, anns = [], []
    for name, k, kw, bg in want:
        rng = np.random.default_rng([SAMPLE_SEED, k])
        saved = shapes.BACKGROUNDS
        if bg is not None:
            shapes.BACKGROUNDS = [bg] * len(saved)
        try:
            im, objects = shapes.make_scene(rng, width=480, height=360, **kw)
        finally:
            shapes.BACKGROUNDS = saved
        im.save(os.path.join(folder, name), quality=88)
        shapes.add_coco_image(images, anns, im, objects, name)
        log(f"{name}: {len(objects)} objects")
    shapes.save_coco(os.path.join(folder, "annotations.json"), images, anns,
                     f"vkdetr shapes {shapes.DISTRIBUTION}, samples, seed {SAMPLE_SEED}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a = ap.add_argument
    a("--out", default="assets/models/default", help="export folder (default %(default)s)")
    a("--val", default="/tmp/vkdetr-shapes/val-v3", help="val set folder (default %(default)s)")
    a("--val-images", type=int, default=500, help="val set size (default %(default)s)")
    a("--minutes", type=float, default=85.0, help="training wall time, all included (default %(default)s)")
    a("--steps", type=int, default=0, help="stop after this many steps too (0: no limit)")
    a("--seed", type=int, default=1, help="training seed (default %(default)s)")
    a("--input-size", type=int, default=320, help="square input side (default %(default)s)")
    a("--queries", type=int, default=100, help="num_queries (default %(default)s)")
    a("--denoising", type=int, default=50, help="num_denoising (default %(default)s)")
    a("--batch", type=int, default=8, help="batch size (default %(default)s)")
    a("--lr", type=float, default=1e-3, help="peak AdamW lr (default %(default)s)")
    a("--lr-final", type=float, default=0.01, help="final lr / peak lr (default %(default)s)")
    a("--weight-decay", type=float, default=1e-4, help="(default %(default)s)")
    a("--warmup", type=int, default=150, help="warm-up steps (default %(default)s)")
    a("--clip", type=float, default=0.1, help="grad-norm clip (default %(default)s)")
    a("--ema-decay", type=float, default=0.999, help="(default %(default)s)")
    a("--ema-warmup", type=float, default=200, help="EMA decay ramp, steps (default %(default)s)")
    a("--init", choices=["torch", "hf"], default="torch",
      help="torch: PyTorch's default initialisation plus the reference RT-DETR's special cases "
           "(for training from scratch); hf: transformers' (for fine-tuning) (default %(default)s)")
    a("--dense", type=int, default=10, help="one-to-many encoder loss: anchors per box, 0: off (default %(default)s)")
    a("--dense-weight", type=float, default=1.0, help="its weight (default %(default)s)")
    a("--threads", type=int, default=2, help="torch threads for training (default %(default)s)")
    a("--pool", type=int, default=2000, help="scenes kept for reuse (default %(default)s)")
    a("--prefill", type=int, default=200, help="scenes generated before training (default %(default)s)")
    a("--eval-minutes", type=float, default=0, help="evaluate the EMA weights every N minutes (0: never)")
    a("--eval-images", type=int, default=100, help="val images for that evaluation (default %(default)s)")
    a("--ckpt", default="/tmp/vkdetr-train/ckpt.pt", help="checkpoint (default %(default)s)")
    a("--ckpt-minutes", type=float, default=5.0, help="checkpoint period (default %(default)s)")
    a("--log-every", type=int, default=20, help="(default %(default)s)")
    a("--resume", action="store_true", help="continue from --ckpt")
    a("--eval-only", action="store_true", help="only evaluate --out on --val")
    a("--max-images", type=int, default=None, help="evaluate only the first N val images")
    a("--export-ckpt", action="store_true", help="export --ckpt's EMA weights to --out, then evaluate")
    a("--vkdetr", metavar="PATH", help="also evaluate with this vkdetr binary (vkdetr eval)")
    a("--backends", default="cpu,vulkan", help="its backends (default %(default)s)")
    a("--samples", metavar="DIR", help="write the sample images to DIR and stop")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    if args.samples:
        write_samples(args.samples)
        return
    ensure_val(args.val, args.val_images)
    if args.export_ckpt:
        ck = torch.load(args.ckpt, weights_only=False)
        log(f"checkpoint {args.ckpt}: step {ck['step']}, {ck['used'] / 60:.1f} min")
        export(build_config(args.input_size, args.queries, args.denoising), ck["ema"], args.out,
               args.input_size)
    elif not args.eval_only:
        t = time.time()
        cfg, ema, steps, used = train(args)
        export(cfg, ema.state, args.out, args.input_size)
        log(f"total training wall time {used / 60:.1f} min ({(time.time() - t) / 60:.1f} min with export)")
    ref = evaluate(args.out, args.val, args.max_images)
    if args.vkdetr:
        ours = evaluate_vkdetr(args.vkdetr, args.out, args.val, args.backends.split(","),
                               max_images=args.max_images)
        for b, m in ours.items():
            log(f"bbox AP: PyTorch {ref['AP']:.4f}, vkdetr {b} {m['AP']:.4f} "
                f"(difference {abs(m['AP'] - ref['AP']):.4f})")


if __name__ == "__main__":
    main()
