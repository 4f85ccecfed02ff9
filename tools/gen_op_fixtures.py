#!/usr/bin/env python3
"""Generates the PyTorch op fixtures of tests/test_ops_torch.c: small seeded inputs run through
torch (conv2d with groups/stride/asymmetric padding, pooling with ceil_mode, activations,
layer_norm, softmax, multi-head attention, grid_sample-based multi-scale deformable
attention, ...), written as raw little-endian float32/int32 data plus a JSON index.

    /opt/vkdetr-py/bin/python tools/gen_op_fixtures.py [--out tests/data/ops]

Output: ops.bin (every tensor back to back, 4 bytes per element) and ops.json:
    {"version": 1, "cases": [{"name", "op", "params": {...},
      "inputs": [{"shape": [...], "dtype": "f32"|"i32", "offset": elements} | null, ...],
      "output": {...}}]}
Inputs are in the argument order of the op's builder in core/ops.h (null = optional input
absent). Deterministic: the same torch version writes the same bytes.
"""
import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

ACTS = {
    "none": lambda x: x,
    "relu": F.relu,
    "silu": F.silu,
    "gelu": F.gelu,  # exact erf form (approximate='none')
    "sigmoid": torch.sigmoid,
    "inverse_sigmoid": lambda x: inverse_sigmoid(x),
}


def inverse_sigmoid(x, eps=1e-5):
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class Writer:
    def __init__(self):
        self.blob = bytearray()
        self.cases = []

    def tensor(self, t):
        if t is None:
            return None
        a = t.detach().cpu().contiguous().numpy()
        if a.dtype in (np.int64, np.int32):
            a, dtype = a.astype("<i4"), "i32"
        else:
            a, dtype = a.astype("<f4"), "f32"
        entry = {"shape": list(a.shape), "dtype": dtype, "offset": len(self.blob) // 4}
        self.blob += a.tobytes()
        return entry

    def case(self, name, op, params, inputs, output):
        self.cases.append({"name": name, "op": op, "params": params,
                           "inputs": [self.tensor(t) for t in inputs],
                           "output": self.tensor(output)})


def rand(g, *shape, lo=-1.0, hi=1.0):
    return torch.rand(*shape, generator=g) * (hi - lo) + lo


def conv_cases(w, g):
    specs = [
        # name, x shape, out ch, kernel, stride, pad (t, l, b, r), groups, bias, residual, act
        ("conv_grouped_s21_asym", (1, 4, 7, 9), 6, (3, 3), (2, 1), (1, 0, 2, 1), 2, True, False, "none"),
        ("conv_res_silu", (2, 3, 6, 5), 5, (3, 3), (1, 1), (1, 1, 1, 1), 1, True, True, "silu"),
        ("conv_dw5_s2", (1, 6, 11, 10), 6, (5, 5), (2, 2), (2, 2, 2, 2), 6, True, False, "relu"),
        ("conv_stem_2x2_pad_br", (1, 4, 8, 7), 5, (2, 2), (1, 1), (0, 0, 1, 1), 1, False, False, "relu"),
        ("conv_1x1_gelu", (1, 16, 5, 7), 8, (1, 1), (1, 1), (0, 0, 0, 0), 1, True, False, "gelu"),
        ("conv_7x7_s2", (1, 3, 13, 12), 4, (7, 7), (2, 2), (3, 3, 3, 3), 1, True, True, "sigmoid"),
    ]
    for name, xs, o, k, s, pad, groups, has_b, has_r, act in specs:
        x = rand(g, *xs)
        fan = xs[1] // groups * k[0] * k[1]
        wt = rand(g, o, xs[1] // groups, *k) / math.sqrt(fan)
        b = rand(g, o) if has_b else None
        t, l, bo, r = pad
        y = F.conv2d(F.pad(x, (l, r, t, bo)), wt, b, stride=s, groups=groups)
        res = rand(g, *y.shape) if has_r else None
        if res is not None:
            y = y + res
        y = ACTS[act](y)
        w.case(name, "conv2d", {"stride": list(s), "pad": list(pad), "groups": groups, "act": act},
               [x, wt, b, res], y)


def linear_cases(w, g):
    x = rand(g, 2, 5, 24)
    wt = rand(g, 10, 24) / math.sqrt(24)
    b = rand(g, 10)
    res = rand(g, 2, 5, 10)
    w.case("linear_bias_res_relu", "linear", {"act": "relu"}, [x, wt, b, res],
           F.relu(F.linear(x, wt, b) + res))
    x = rand(g, 7, 33)
    wt = rand(g, 3, 33) / math.sqrt(33)
    w.case("linear_plain", "linear", {"act": "none"}, [x, wt, None, None], F.linear(x, wt))


def pool_cases(w, g):
    specs = [
        # name, shape, kind, k, stride, pad, ceil, count_include_pad
        ("avg_2x2_s2_ceil_odd", (1, 3, 7, 9), "avg", 2, 2, 0, True, True),
        ("avg_3x3_s2_p1_ceil_incl", (1, 2, 8, 7), "avg", 3, 2, 1, True, True),
        ("avg_3x3_s2_p1_ceil_excl", (1, 2, 8, 7), "avg", 3, 2, 1, True, False),
        ("avg_2x2_s2_p1_ceil_excl", (1, 2, 5, 5), "avg", 2, 2, 1, True, False),
        ("avg_3x3_s1_p1", (2, 2, 5, 6), "avg", 3, 1, 1, False, True),
        ("max_3x3_s2_p1", (1, 3, 9, 8), "max", 3, 2, 1, False, False),
        ("max_2x2_s1_ceil", (1, 2, 5, 6), "max", 2, 1, 0, True, False),
        ("max_3x3_s2_ceil", (1, 2, 8, 8), "max", 3, 2, 0, True, False),
    ]
    for name, shape, kind, k, s, p, ceil, incl in specs:
        x = rand(g, *shape)
        if kind == "avg":
            y = F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=incl)
        else:
            y = F.max_pool2d(x, k, s, p, ceil_mode=ceil)
        w.case(name, "pool2d", {"kind": kind, "k": [k, k], "stride": [s, s], "pad": [p, p],
                                "ceil_mode": int(ceil), "count_include_pad": int(incl)}, [x], y)


def elementwise_cases(w, g):
    x = rand(g, 4, 50, lo=-8, hi=8)
    for act in ("relu", "silu", "gelu", "sigmoid"):
        w.case("unary_" + act, "unary", {"act": act}, [x], ACTS[act](x))
    p = rand(g, 3, 40, lo=-0.2, hi=1.2)
    w.case("unary_inverse_sigmoid", "unary", {"act": "inverse_sigmoid"}, [p], inverse_sigmoid(p))
    a, b = rand(g, 2, 3, 4, 5), rand(g, 3, 1, 5)
    w.case("add_broadcast", "binary", {"op": "add"}, [a, b], a + b)
    a, b = rand(g, 2, 6, 4), rand(g, 4)
    w.case("mul_broadcast", "binary", {"op": "mul"}, [a, b], a * b)
    d, r = rand(g, 20, 4, lo=-3, hi=3), rand(g, 20, 4, lo=-0.1, hi=1.1)
    w.case("box_refine", "box_refine", {}, [d, r], torch.sigmoid(d + inverse_sigmoid(r)))
    x = rand(g, 5, 37, lo=2, hi=4)
    gm, bt = rand(g, 37, lo=0.5, hi=1.5), rand(g, 37)
    w.case("layer_norm_offset", "layer_norm", {"eps": 1e-5}, [x, gm, bt],
           F.layer_norm(x, (37,), gm, bt, 1e-5))
    x = rand(g, 3, 256, lo=-3, hi=3)
    gm, bt = rand(g, 256, lo=0.5, hi=1.5), rand(g, 256)
    w.case("layer_norm_256", "layer_norm", {"eps": 1e-6}, [x, gm, bt],
           F.layer_norm(x, (256,), gm, bt, 1e-6))
    x = rand(g, 6, 33, lo=-10, hi=10)
    w.case("softmax", "softmax", {}, [x], F.softmax(x, -1))
    x = rand(g, 7, 13)
    w.case("reduce_max", "reduce_max", {}, [x], x.max(-1).values)
    x = rand(g, 1, 3, 4, 5)
    w.case("upsample_x2", "upsample", {"factor": 2}, [x], F.interpolate(x, scale_factor=2, mode="nearest"))
    w.case("permute_0231", "permute", {"perm": [0, 2, 3, 1]}, [x], x.permute(0, 2, 3, 1))
    x2 = rand(g, 1, 2, 4, 5)
    w.case("concat_axis1", "concat", {"axis": 1}, [x, x2], torch.cat([x, x2], 1))
    x = torch.randperm(1000, generator=g).float().view(2, 500) / 7.0  # distinct values
    w.case("topk_50", "topk", {"k": 50}, [x], torch.topk(x.flatten(), 50).indices)


def attention_ref(q, k, v, heads):
    """The math of nn.MultiheadAttention after the projections, batch first."""
    squeeze = q.dim() == 2
    if squeeze:
        q, k, v = q[None], k[None], v[None]
    b, lq, d = q.shape
    dh = d // heads
    qh = q.view(b, lq, heads, dh).transpose(1, 2)
    kh = k.view(b, -1, heads, dh).transpose(1, 2)
    vh = v.view(b, -1, heads, dh).transpose(1, 2)
    att = torch.softmax(qh @ kh.transpose(-1, -2) * dh ** -0.5, -1)
    out = (att @ vh).transpose(1, 2).reshape(b, lq, d)
    return out[0] if squeeze else out


def attention_cases(w, g):
    q, k, v = rand(g, 2, 5, 12), rand(g, 2, 7, 12), rand(g, 2, 7, 12)
    w.case("attention_b2_h3", "attention", {"n_heads": 3}, [q, k, v], attention_ref(q, k, v, 3))
    q, k, v = rand(g, 9, 16, lo=-2, hi=2), rand(g, 11, 16, lo=-2, hi=2), rand(g, 11, 16)
    w.case("attention_2d_h4", "attention", {"n_heads": 4}, [q, k, v], attention_ref(q, k, v, 4))


def msda_ref(value, shapes, points, loc, attn):
    """Multi-scale deformable attention after transformers' multi_scale_deformable_attention
    (per-level points as in RT-DETRv2): value [S, M, Dh], loc [Q, M, LP, 2] normalised,
    attn [Q, M, LP] softmaxed. Returns [Q, M*Dh]."""
    s, m, dh = value.shape
    q = loc.shape[0]
    grids = (2 * loc - 1).permute(1, 0, 2, 3)  # [M, Q, LP, 2]
    values = value.split([h * w for h, w in shapes], 0)
    grids = grids.split(points, 2)
    samples = []
    for (h, wd), v, gr in zip(shapes, values, grids):
        vl = v.permute(1, 2, 0).reshape(m, dh, h, wd)  # [M, Dh, H, W]
        samples.append(F.grid_sample(vl, gr, mode="bilinear", padding_mode="zeros",
                                     align_corners=False))  # [M, Dh, Q, P_l]
    sampled = torch.cat(samples, -1)  # [M, Dh, Q, LP]
    out = (sampled * attn.permute(1, 0, 2)[:, None]).sum(-1)  # [M, Dh, Q]
    return out.permute(2, 0, 1).reshape(q, m * dh)


def msda_case(w, g, name, q, m, dh, shapes, points, ref_dim, v1_form=False):
    lp = sum(points)
    s = sum(h * wd for h, wd in shapes)
    value = rand(g, s, m * dh)
    off = rand(g, q, m * lp * 2, lo=-3, hi=3)
    logits = rand(g, q, m * lp, lo=-3, hi=3)
    xy = rand(g, q, 2, lo=-0.1, hi=1.1)
    ref = torch.cat([xy, rand(g, q, 2, lo=0.05, hi=1.0)], 1) if ref_dim == 4 else xy
    o = off.view(q, m, lp, 2)
    attn = torch.softmax(logits.view(q, m, lp), -1)
    level = torch.tensor([l for l, n in enumerate(points) for _ in range(n)])
    ps = torch.tensor([1.0 / n for n in points for _ in range(n)])
    offset_scale = 0.5
    if ref_dim == 2:
        norm = torch.tensor([[wd, h] for h, wd in shapes], dtype=torch.float32)[level]  # [LP, 2]
        loc = ref[:, None, None, :] + o / norm[None, None]
    elif v1_form:  # RT-DETR v1: offset / n_points * wh * 0.5 (uniform points)
        loc = ref[:, None, None, :2] + o / points[0] * ref[:, None, None, 2:] * 0.5
    else:  # RT-DETRv2: offset * n_points_scale * wh * offset_scale
        loc = ref[:, None, None, :2] + o * ps[None, None, :, None] * ref[:, None, None, 2:] * offset_scale
    out = msda_ref(value.view(s, m, dh), shapes, points, loc, attn)
    params = {"n_heads": m, "levels": [list(x) for x in shapes], "points": points,
              "ref_dim": ref_dim, "offset_scale": offset_scale}
    w.case(name, "msda", params, [value, off, logits, ref, ps if ref_dim == 4 else None], out)


def msda_cases(w, g):
    msda_case(w, g, "msda_v2_points_per_level", 9, 2, 4, [(6, 7), (3, 4), (2, 2)], [2, 3, 1], 4)
    msda_case(w, g, "msda_ref2", 7, 2, 3, [(5, 6), (3, 3)], [2, 2], 2)
    msda_case(w, g, "msda_v1_form", 10, 2, 8, [(8, 8), (4, 4), (2, 2)], [4, 4, 4], 4, v1_form=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "ops"))
    args = ap.parse_args()
    g = torch.Generator().manual_seed(20240611)
    w = Writer()
    conv_cases(w, g)
    linear_cases(w, g)
    pool_cases(w, g)
    elementwise_cases(w, g)
    attention_cases(w, g)
    msda_cases(w, g)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "ops.bin"), "wb") as f:
        f.write(w.blob)
    with open(os.path.join(args.out, "ops.json"), "w") as f:
        # one case per line: small, and readable in diffs
        head = json.dumps({"version": 1, "torch": torch.__version__})[:-1]
        f.write(head + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c) for c in w.cases))
        f.write("\n]}\n")
    print(f"{len(w.cases)} cases, {len(w.blob)} bytes of data in {args.out}")


if __name__ == "__main__":
    main()
