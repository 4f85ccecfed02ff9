#!/usr/bin/env python3
"""Peer benchmark: vkdetr against PyTorch and ONNX Runtime on RT-DETR, CPU, batch 1.

Measures, on this machine and in the same run, the latency of RT-DETR-R18vd / R50vd at
640x640 in three peers, each in its own subprocess:

  vkdetr    `vkdetr bench --backend cpu --threads N --json -` (preprocessing to results)
  PyTorch   transformers' RTDetrForObjectDetection, torch.inference_mode, N intra-op threads
  ORT       ONNX Runtime CPU, the model exported from the same checkpoint (model.onnx next to
            it), intra_op_num_threads N, inter_op 1, sequential, graph optimisations ALL

The peers alternate over several rounds (a fresh process per peer and round: load, warm-up,
timed runs) so background load hits them alike, and each round runs every thread count; the
result per peer is the median of the per-round medians (p50) and the minimum of all runs, and
thread scaling is paired within rounds. Also: cold start (load + first
inference), peak RSS per peer process, vkdetr's stages and per-op-type times next to ORT's
profile aggregated by op type and stage. Docs: docs/benchmarks.md.

    /opt/vkdetr-py/bin/python tools/bench_rtdetr.py --quick
    /opt/vkdetr-py/bin/python tools/bench_rtdetr.py --models r18vd,r50vd --threads 1,2 \\
        --rounds 3 --runs 5 --json /tmp/bench.json

Checkpoints: fixtures-large/<name>/ when tools/gen_rtdetr_fixtures.py --large made one, else
a random-weight checkpoint of the hub configuration generated here once into
fixtures-large/bench_<name>/, or any folder given with --model-dir NAME=DIR (a real hub
checkpoint, for example). Weights do not change the work done, except that top-k ties would
make the ONNX output check meaningless, so the generated weights avoid them.
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONNX_OPSET = 17  # GridSample needs >= 16; 17 adds LayerNormalization
ATOL_LOGITS = 1e-3
ATOL_BOXES = 1e-4
LOAD_WARN = 1.5  # 1-minute load average before the run
BG_WARN = 0.25  # CPUs kept busy by other processes during a measurement
HIDDEN_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
STAGES = ("preprocess", "backbone", "encoder", "decoder", "postprocess")

# Hub configurations (MODELS.md 2.2): layer type, depths, hidden sizes, encoder_in_channels,
# encoder_hidden_dim, encoder_ffn_dim, hidden_expansion, decoder_layers
HUB = {
    "r18vd": ("basic", [2, 2, 2, 2], [64, 128, 256, 512], [128, 256, 512], 256, 1024, 0.5, 3),
    "r34vd": ("basic", [3, 4, 6, 3], [64, 128, 256, 512], [128, 256, 512], 256, 1024, 0.5, 4),
    "r50vd": ("bottleneck", [3, 4, 6, 3], [256, 512, 1024, 2048], [512, 1024, 2048], 256, 1024,
              1.0, 6),
    "r101vd": ("bottleneck", [3, 4, 23, 3], [256, 512, 1024, 2048], [512, 1024, 2048], 384,
               2048, 1.0, 6),
}

# Op-type groups, to compare vkdetr's ops with ORT's (which fuses and renames). ORT runs
# attention unfused (MatMul, Softmax), so attention and the linear layers are one group.
GROUPS = {
    "conv": {"conv2d", "Conv", "FusedConv", "NhwcFusedConv", "NhwcConv"},
    "gemm+attention": {"linear", "matmul", "attention", "MatMul", "Gemm", "FusedMatMul",
                       "FusedGemm", "Softmax", "Attention", "MultiHeadAttention"},
    "deformable": {"msda", "GridSample", "ReduceSum"},  # RT-DETR's only ReduceSum: MSDA's sum
    "pool": {"pool2d", "AveragePool", "MaxPool", "GlobalAveragePool"},
    "activation": {"unary", "gelu", "silu", "relu", "sigmoid", "Relu", "Gelu", "QuickGelu",
                   "FastGelu", "BiasGelu", "Sigmoid", "Tanh", "Clip"},
    "elementwise": {"binary", "Add", "Mul", "Sub", "Div"},
    "norm": {"layer_norm", "batch_norm", "LayerNormalization", "SkipLayerNormalization",
             "BatchNormalization"},
    "resize": {"upsample", "Upsample", "Resize"},
    "layout": {"permute", "concat", "reshape", "transpose", "slice", "gather", "pad", "copy",
               "ReorderInput", "ReorderOutput", "Transpose", "Reshape", "Concat", "Split",
               "Slice", "Gather", "GatherElements", "Expand", "Tile", "Unsqueeze", "Squeeze",
               "Pad", "Identity", "Flatten"},
}


def now_iso():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except OSError:
        return [float("nan")] * 3


def median(v):
    return statistics.median(v) if v else float("nan")


# ------------------------------------------------------------------------------------------------
# Input: the same pixels for every peer

def synthetic_rgb(w, h):
    """The test pattern of apps/cli/cmd_bench.c (synthetic_image), as (h, w, 3) uint8."""
    import numpy as np
    p = np.empty((h, w, 3), dtype=np.uint8)
    xs = np.arange(w)
    ys = np.arange(h)
    p[:, :, 0] = (xs * 255 // max(w - 1, 1))[None, :]
    p[:, :, 1] = (ys * 255 // max(h - 1, 1))[:, None]
    # the LCG, one step per pixel in row-major order; only its top 4 bits are used
    s = 12345
    noise = np.empty(w * h, dtype=np.uint8)
    for i in range(w * h):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        noise[i] = s >> 28
    check = (((xs[None, :] // 32) + (ys[:, None] // 32)) & 1) * 160
    p[:, :, 2] = (check + noise.reshape(h, w)).astype(np.uint8)
    return p


def pixel_values(w, h):
    """What RTDetrImageProcessor gives for that pattern at its own size: resize is the
    identity, rescale by 1/255, no normalisation. (1, 3, h, w) float32."""
    import numpy as np
    img = synthetic_rgb(w, h).astype(np.float32) * np.float32(1.0 / 255.0)
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None])


# ------------------------------------------------------------------------------------------------
# Checkpoints and the ONNX export (run in a child: "--worker prepare")

def checkpoint_ok(d):
    return all(os.path.isfile(os.path.join(d, f)) for f in
               ("config.json", "model.safetensors", "preprocessor_config.json"))


def checkpoint_signature(d):
    st = os.stat(os.path.join(d, "model.safetensors"))
    with open(os.path.join(d, "config.json"), "rb") as f:
        cfg = hashlib.sha256(f.read()).hexdigest()[:16]
    return f"{st.st_size}:{int(st.st_mtime)}:{cfg}"


def generate_checkpoint(name, out_dir, seed):
    """Random weights of a sensible scale for a hub configuration: conv/linear weights
    N(0, 1/fan_in), BN statistics near identity, class-head biases near -1.5, and the invalid
    anchors' shared encoder score pushed low (they would tie in the top-k otherwise)."""
    import torch
    from torch import nn
    from transformers import (RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor,
                              RTDetrResNetConfig)
    lt, depths, hidden, enc_in, enc_dim, enc_ffn, expansion, dec_layers = HUB[name]
    bb = RTDetrResNetConfig(out_indices=[2, 3, 4], hidden_act="relu", embedding_size=64,
                            hidden_sizes=hidden, depths=depths, layer_type=lt)
    cfg = RTDetrConfig(backbone_config=bb, encoder_in_channels=enc_in,
                       encoder_hidden_dim=enc_dim, encoder_ffn_dim=enc_ffn,
                       hidden_expansion=expansion, decoder_in_channels=[enc_dim] * 3,
                       decoder_layers=dec_layers, num_labels=80, anchor_image_size=None)
    torch.manual_seed(seed)
    model = RTDetrForObjectDetection(cfg).eval()
    gen = torch.Generator().manual_seed(seed)

    def normal(t, mean=0.0, std=1.0):
        t.copy_(torch.randn(t.shape, generator=gen) * std + mean)

    with torch.no_grad():
        for mname, mod in model.named_modules():
            leaf = mname.rsplit(".", 1)[-1]
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan = mod.weight[0].numel()
                normal(mod.weight, std=1.0 / math.sqrt(fan))
                if mod.bias is not None:
                    head = "score_head" in mname or ".class_embed." in mname
                    normal(mod.bias, mean=-1.5 if head else 0.0,
                           std=1.5 if leaf == "sampling_offsets" else 0.1)
            elif isinstance(mod, nn.LayerNorm):
                normal(mod.weight, mean=1.0, std=0.1)
                normal(mod.bias, std=0.1)
            elif hasattr(mod, "running_var") and hasattr(mod, "running_mean"):
                normal(mod.weight, mean=1.0, std=0.1)
                normal(mod.bias, std=0.1)
                normal(mod.running_mean, std=0.1)
                mod.running_var.copy_(torch.rand(mod.running_var.shape, generator=gen) + 0.5)
        # invalid anchors: memory zeroed, so output_memory = LayerNorm(enc_output[0].bias)
        lin, ln = model.model.enc_output[0], model.model.enc_output[1]
        d = -(model.model.enc_score_head.weight.sum(0) * ln.weight)
        d = (d - d.mean()) / d.std().clamp_min(1e-12)
        lin.bias.copy_(0.1 * d)
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, save_original_format=True)
    RTDetrImageProcessor(size={"height": 640, "width": 640}).save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)


def two_outputs(model):
    """The model as a module with the two outputs (logits, pred_boxes), for the export."""
    import torch

    class TwoOutputs(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            o = self.m(pixel_values=pixel_values)
            return o.logits, o.pred_boxes
    return TwoOutputs(model).eval()


def export_onnx(model, x, path, log):
    """Dynamo exporter when onnxscript is installed, else the TorchScript one."""
    import torch
    import warnings
    wrap = two_outputs(model)
    errors = []
    methods = []
    try:
        import onnxscript  # noqa: F401
        methods.append("dynamo")
    except ImportError:
        errors.append("dynamo: onnxscript is not installed")
    methods.append("torchscript")
    for m in methods:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kw = dict(input_names=["pixel_values"], output_names=["logits", "pred_boxes"],
                          opset_version=ONNX_OPSET, dynamo=(m == "dynamo"))
                if m == "dynamo":
                    kw["external_data"] = False
                torch.onnx.export(wrap, (x,), path + ".tmp", **kw)
            os.replace(path + ".tmp", path)
            return m, errors
        except Exception as e:  # noqa: BLE001 - try the next exporter
            errors.append(f"{m}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            log(f"    export with {m} failed: {errors[-1]}")
    raise RuntimeError("ONNX export failed: " + "; ".join(errors))


def worker_prepare(args):
    """Generates the checkpoint when needed, exports and checks model.onnx when it is missing
    or stale; prints a JSON summary on stdout."""
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    import numpy as np
    import torch
    torch.set_num_threads(max(1, args.threads))
    d = args.model
    res = {"dir": d}
    if not checkpoint_ok(d):
        if not args.generate:
            raise SystemExit(f"{d}: not a checkpoint folder")
        log(f"  generating {args.generate} random-weight checkpoint in {d}")
        t0 = time.perf_counter()
        generate_checkpoint(args.generate, d, seed=sum(map(ord, args.generate)))
        res["generated_s"] = round(time.perf_counter() - t0, 1)
    sig = checkpoint_signature(d)
    onnx_path = os.path.join(d, "model.onnx")
    meta_path = onnx_path + ".json"
    meta = None
    if os.path.isfile(onnx_path) and os.path.isfile(meta_path) and not args.reexport:
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("signature") != sig or meta.get("input") != [args.height, args.width]:
            meta = None
    if meta is None:
        from transformers import RTDetrForObjectDetection
        import onnxruntime as ort
        model = RTDetrForObjectDetection.from_pretrained(d).eval()
        x = torch.from_numpy(pixel_values(args.width, args.height))
        log(f"  exporting {onnx_path} (opset {ONNX_OPSET})")
        t0 = time.perf_counter()
        method, errors = export_onnx(model, x, onnx_path, log)
        export_s = time.perf_counter() - t0
        with torch.inference_mode():
            o = model(pixel_values=x)
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, args.threads)
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        lo, bo = sess.run(["logits", "pred_boxes"], {"pixel_values": x.numpy()})
        dl = float(np.abs(lo - o.logits.numpy()).max())
        db = float(np.abs(bo - o.pred_boxes.numpy()).max())
        meta = {"signature": sig, "input": [args.height, args.width], "opset": ONNX_OPSET,
                "method": method, "export_errors": errors, "export_s": round(export_s, 1),
                "torch": torch.__version__, "onnxruntime": ort.__version__,
                "max_abs_diff_logits": dl, "max_abs_diff_boxes": db,
                "atol_logits": ATOL_LOGITS, "atol_boxes": ATOL_BOXES,
                "outputs_match": bool(dl <= ATOL_LOGITS and db <= ATOL_BOXES),
                "checked": now_iso(),
                "size_mb": round(os.path.getsize(onnx_path) / 2**20, 1)}
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=1)
        meta["cached"] = False
    else:
        meta["cached"] = True
    res["onnx"] = onnx_path
    res["export"] = meta
    json.dump(res, sys.stdout)


# ------------------------------------------------------------------------------------------------
# Peer workers (children). Each prints one JSON object on stdout.

def proc_status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def alternating_runs(run0, run1, warmup, runs):
    """run0 and run1 alternating A B B A ...: both see the same machine, so their times pair
    up run by run (as vkdetr bench --scaling). Returns their times after the warm-up, ms."""
    times = ([], [])
    for i in range(warmup + runs):
        pair = [0.0, 0.0]
        for k in ((1, 0) if i & 1 else (0, 1)):
            t0 = time.perf_counter()
            (run0, run1)[k]()
            pair[k] = (time.perf_counter() - t0) * 1e3
        if i >= warmup:
            times[0].append(pair[0])
            times[1].append(pair[1])
    return times


def timed_runs(run, warmup, runs):
    t0 = time.perf_counter()
    run()
    first = (time.perf_counter() - t0) * 1e3
    for _ in range(max(0, warmup - 1)):
        run()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return first, times


def worker_torch(args, t_start):
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    from transformers import RTDetrForObjectDetection
    t_import = time.perf_counter()
    x = torch.from_numpy(np.load(args.pixels))
    t0 = time.perf_counter()
    model = RTDetrForObjectDetection.from_pretrained(args.model).eval()
    load = (time.perf_counter() - t0) * 1e3

    def run():
        with torch.inference_mode():
            model(pixel_values=x)
    first, times = timed_runs(run, args.warmup, args.runs)
    return {"peer": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
            "attn_implementation": getattr(model.config, "_attn_implementation", None),
            "import_ms": (t_import - t_start) * 1e3, "load_ms": load, "first_ms": first,
            "times_ms": times}


def ort_session(ort, path, threads, profile_dir=None):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_dir:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(profile_dir, "ort_profile")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def worker_ort(args, t_start):
    import numpy as np
    import onnxruntime as ort
    t_import = time.perf_counter()
    x = np.load(args.pixels)
    t0 = time.perf_counter()
    sess = ort_session(ort, args.model, args.threads, args.tmp if args.profile else None)
    load = (time.perf_counter() - t0) * 1e3
    feed = {sess.get_inputs()[0].name: x}
    res = {"peer": "ort", "version": ort.__version__, "threads": args.threads,
           "import_ms": (t_import - t_start) * 1e3, "load_ms": load}
    if args.scaling:
        # a second session on --scaling threads, its runs alternating with the first's
        sess2 = ort_session(ort, args.model, args.scaling)
        times = alternating_runs(lambda: sess.run(None, feed), lambda: sess2.run(None, feed),
                                 args.warmup, args.runs)
        res.update({"times_ms": times[0], "scaling_threads": args.scaling,
                    "scaling_times_ms": times[1]})
        return res
    first, times = timed_runs(lambda: sess.run(None, feed), args.warmup, args.runs)
    res.update({"first_ms": first, "times_ms": times})
    if args.profile:
        res["profile"] = ort_profile_summary(sess.end_profiling())
    return res


def ort_stage(node_name):
    """Maps an ONNX node name (the exporter names nodes after the module path) to vkdetr's
    stages: backbone, encoder (input projections + hybrid encoder), decoder (query selection,
    decoder, heads)."""
    if not node_name.startswith("/"):
        return "other"  # made by the optimiser, no module path
    n = node_name.lstrip("/").replace(".", "/")
    if n.startswith(("model/backbone", "m/model/backbone")):
        return "backbone"
    if "encoder_input_proj" in n or n.startswith(("model/encoder/", "m/model/encoder/")):
        return "encoder"
    return "decoder"  # query selection, decoder layers, heads (also top-level Gather etc.)


PROFILE_NODES = 12  # vkdetr's slowest nodes listed per model and thread count


def ort_profile_summary(path):
    """Aggregates the node events of the last run in an ORT profile by op type and stage."""
    with open(path) as f:
        events = json.load(f)
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    last = runs[-1] if runs else None
    ops, stages = {}, {}
    stage = "other"
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        if last and not (last["ts"] <= e["ts"] <= last["ts"] + last["dur"]):
            continue
        op = e.get("args", {}).get("op_name", "?")
        ms = e["dur"] / 1e3
        o = ops.setdefault(op, {"op": op, "count": 0, "ms": 0.0})
        o["count"] += 1
        o["ms"] += ms
        # nodes the optimiser made (ReorderOutput_token_5, SkipLayerNormalization, ...) lose
        # the module path: they take the stage of the node before them (sequential execution)
        st = ort_stage(e["name"][:-len("_kernel_time")])
        stage = stage if st == "other" else st
        stages[stage] = stages.get(stage, 0.0) + ms
    try:
        os.remove(path)
    except OSError:
        pass
    return {"run_ms": last["dur"] / 1e3 if last else None,
            "ops": sorted(ops.values(), key=lambda o: -o["ms"]),
            "stage_ms": stages}


def worker_host(args, t_start):
    """The host's own thread scaling, the reference for the peers': a fixed amount of work,
    256x256 SGEMMs (numpy, OpenBLAS on one thread per call, which releases the GIL), on
    --threads threads and then split over --scaling threads, the runs alternating A B B A ... as
    the peers' are. Each thread has its own matrices and the threads meet once per run: what
    this loses is lost to the host (another guest on a core, clock speed), not to a program."""
    import threading
    import numpy as np
    n, calls = 256, 160  # 3 x 256 KB matrices per thread, 5.4 GFLOP per run (60-90 ms)
    mats = [(np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32),
             np.empty((n, n), np.float32)) for _ in range(max(args.threads, args.scaling))]

    def share(k, count):
        a, b, c = mats[k]
        for _ in range(count):
            np.matmul(a, b, out=c)

    def run(threads):
        ts = [threading.Thread(target=share, args=(k, calls // threads))
              for k in range(1, threads)]
        for t in ts:
            t.start()
        share(0, calls - (threads - 1) * (calls // threads))
        for t in ts:
            t.join()

    times = alternating_runs(lambda: run(args.threads), lambda: run(args.scaling), args.warmup,
                             args.runs)
    return {"peer": "host", "threads": args.threads, "times_ms": times[0],
            "scaling_threads": args.scaling, "scaling_times_ms": times[1]}


def run_worker(args):
    t_start = time.perf_counter()
    if args.worker == "prepare":
        return worker_prepare(args)
    res = {"torch": worker_torch, "ort": worker_ort, "host": worker_host}[args.worker](args,
                                                                                   t_start)
    res["vmhwm_kb"] = proc_status_kb("VmHWM")
    json.dump(res, sys.stdout)


# ------------------------------------------------------------------------------------------------
# Running children

def child_env(threads=None):
    env = dict(os.environ)
    for k in HIDDEN_ENV:
        env.pop(k, None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
        env["MKL_NUM_THREADS"] = str(threads)
    return env


def cpu_busy_s():
    """CPU seconds the whole machine has been busy (all CPUs, steal included), /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def spawn(cmd, env):
    """Runs cmd; returns (rc, stdout, stderr, wall_ms, maxrss_kb of that child alone, the
    CPUs the rest of the machine kept busy meanwhile: machine busy time minus the child's CPU
    time, per wall second)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        b0 = cpu_busy_s()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except KeyboardInterrupt:
            p.kill()
            raise
        wall = time.perf_counter() - t0
        other = max(0.0, cpu_busy_s() - b0 - ru.ru_utime - ru.ru_stime) / max(wall, 1e-3)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"), wall * 1e3, ru.ru_maxrss, other)


def run_json(cmd, env, what):
    rc, out, err, wall, rss, other = spawn(cmd, env)
    if rc != 0:
        raise RuntimeError(f"{what} failed (exit {rc}): {' '.join(cmd)}\n{err[-3000:]}")
    try:
        res = json.loads(out)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"{what}: no JSON on stdout ({e}):\n{out[-2000:]}\n{err[-2000:]}")
    res["wall_ms"] = wall
    res["maxrss_kb"] = rss
    res["background_cpus"] = round(other, 3)
    return res


class Bench:
    def __init__(self, args):
        self.a = args
        self.py = sys.executable
        self.me = os.path.abspath(__file__)
        self.tmp = tempfile.mkdtemp(prefix="vkdetr-bench-")
        self.pixels = os.path.join(self.tmp, "pixels.npy")

    def log(self, s):
        print(s, file=sys.stderr, flush=True)

    def size_arg(self):
        return f"{self.a.width}x{self.a.height}"

    def vkdetr(self, ckpt, threads, warmup, runs, profile, scaling=0):
        cmd = [self.a.vkdetr, "bench", "-m", ckpt, "--backend", "cpu", "--threads", str(threads),
               "--size", self.size_arg(), "--warmup", str(warmup), "--runs", str(runs),
               "--json", "-"]
        if scaling:
            cmd += ["--scaling", str(scaling)]
        if not profile:
            cmd.append("--no-op-profile")
        else:
            cmd += ["--nodes", str(PROFILE_NODES)]
        r = run_json(cmd, child_env(), "vkdetr bench")
        r["peer"] = "vkdetr"
        return r

    def py_worker(self, kind, model, threads, warmup, runs, profile=False, scaling=0):
        cmd = [self.py, self.me, "--worker", kind, "--model-path", model, "--pixels", self.pixels,
               "--threads", str(threads), "--warmup", str(warmup), "--runs", str(runs),
               "--tmp", self.tmp]
        if profile:
            cmd.append("--profile")
        if scaling:
            cmd += ["--scaling", str(scaling)]
        env = child_env(max(threads, scaling))
        if kind == "host":  # one OpenBLAS thread per call: the probe's threads are its own
            env["OPENBLAS_NUM_THREADS"] = "1"
        return run_json(cmd, env, f"{kind} worker")

    def prepare(self, name):
        a = self.a
        gen = None
        if name in a.model_dirs:
            d = a.model_dirs[name]
        elif checkpoint_ok(os.path.join(REPO, "fixtures-large", name)):
            d = os.path.join(REPO, "fixtures-large", name)
        else:
            if name not in HUB:
                raise SystemExit(f"unknown model {name!r}: known {', '.join(HUB)}, or give "
                                 f"--model-dir {name}=DIR")
            d = os.path.join(REPO, "fixtures-large", "bench_" + name)
            gen = name
        os.makedirs(os.path.dirname(d), exist_ok=True)
        cmd = [self.py, self.me, "--worker", "prepare", "--model-path", d, "--threads",
               str(max(a.threads)), "--size", self.size_arg()]
        if gen:
            cmd += ["--generate", gen]
        if a.reexport:
            cmd.append("--reexport")
        self.log(f"[{name}] checkpoint {d}")
        rc, out, err, _, _, _ = spawn(cmd, child_env(max(a.threads)))
        if err.strip():
            self.log(err.rstrip())
        if rc != 0:
            raise SystemExit(f"[{name}] preparing failed (exit {rc})")
        return json.loads(out)


def vkdetr_stage_ms(r):
    return {k: r.get("stage_ms", {}).get(k, float("nan")) for k in STAGES}


def summarize(rounds):
    """Per peer: median of the round p50s, min over runs, cold start, peak RSS."""
    out = {}
    for peer in ("vkdetr", "pytorch", "ort"):
        rs = [r[peer] for r in rounds if peer in r]
        if not rs:
            continue
        if peer == "vkdetr":
            p50s = [r["p50_ms"] for r in rs]
            mins = [r["min_ms"] for r in rs]
        else:
            p50s = [median(r["times_ms"]) for r in rs]
            mins = [min(r["times_ms"]) for r in rs]
        bg = [r.get("background_cpus", float("nan")) for r in rs]
        s = {"p50_ms": median(p50s), "round_p50_ms": p50s, "min_ms": min(mins),
             "peak_rss_mb": max(r["maxrss_kb"] for r in rs) / 1024.0,
             "background_cpus": bg}
        if peer == "vkdetr":
            stages = [vkdetr_stage_ms(r) for r in rs]
            s["stage_ms"] = {k: median([st[k] for st in stages]) for k in STAGES}
        out[peer] = s
    cold = {}
    for peer in ("vkdetr", "pytorch", "ort"):
        cs = [r["cold_" + peer] for r in rounds if "cold_" + peer in r]
        if not cs:
            continue
        cold[peer] = {k: median([c[k] for c in cs]) for k in cs[0] if isinstance(cs[0][k], float)}
    return out, cold


def cold_vkdetr(b, ckpt, threads):
    """A fresh vkdetr process that loads, creates a session and detects once."""
    r = b.vkdetr(ckpt, threads, 0, 1, profile=False)
    first = r["p50_ms"]
    return {"load_ms": float(r["wall_ms"] - first), "first_ms": float(first),
            "total_ms": float(r["wall_ms"]), "import_ms": 0.0}


def cold_from_worker(r):
    return {"import_ms": float(r["import_ms"]), "load_ms": float(r["load_ms"]),
            "first_ms": float(r["first_ms"]),
            "total_ms": float(r["load_ms"] + r["first_ms"])}


def scaling_stats(t1, t2):
    """Paired runs on the fewest (t1) and the most threads (t2): per-pair speedups."""
    q = sorted(x / y for x, y in zip(t1, t2) if y > 0)
    return {"p50_ms": median(t1), "min_ms": min(t1), "scaling_p50_ms": median(t2),
            "scaling_min_ms": min(t2), "speedup_p50": median(q), "speedup_min": q[0],
            "speedup_max": q[-1]}


def scaling_round(b, name, ckpt, onnx_path, k):
    """One round of interleaved thread scaling: vkdetr and ORT each run two sessions in one
    process (fewest and most threads), their runs alternating, so that every pair of runs sees
    the same machine. Which peer goes first alternates between rounds. Between them the host
    probe (worker_host) measures what the machine itself gives a second thread meanwhile."""
    a = b.a
    lo, hi = min(a.threads), max(a.threads)
    rnd = {"round": k}
    for peer in (("vkdetr", "host", "ort") if k % 2 == 0 else ("ort", "host", "vkdetr")):
        if peer == "vkdetr":
            r = b.vkdetr(ckpt, lo, a.warmup, a.scaling_runs, profile=False, scaling=hi)
            sc = r.get("scaling", {})
            rnd["vkdetr"] = {"p50_ms": r["p50_ms"], "min_ms": r["min_ms"],
                             "scaling_p50_ms": sc.get("p50_ms"), "scaling_min_ms": sc.get("min_ms"),
                             "speedup_p50": sc.get("speedup_p50"),
                             "speedup_min": sc.get("speedup_min"),
                             "speedup_max": sc.get("speedup_max"),
                             "stage_ms": r.get("stage_ms"), "scaling_stage_ms": sc.get("stage_ms"),
                             "background_cpus": r.get("background_cpus")}
        else:  # ORT, or the host probe (one warm-up: it has nothing to load)
            r = (b.py_worker("ort", onnx_path, lo, a.warmup, a.scaling_runs, scaling=hi)
                 if peer == "ort" else b.py_worker("host", "-", lo, 1, a.scaling_runs, scaling=hi))
            rnd[peer] = scaling_stats(r["times_ms"], r["scaling_times_ms"])
            rnd[peer]["background_cpus"] = r.get("background_cpus")
        v = rnd[peer]
        b.log(f"[{name}] scaling {lo} -> {hi} threads, round {k + 1}/{a.rounds}: {peer:8s} "
              f"{v['speedup_p50']:.2f}x (pairs {v['speedup_min']:.2f}-{v['speedup_max']:.2f}; "
              f"p50 {v['p50_ms']:.1f} / {v['scaling_p50_ms']:.1f} ms)")
    return rnd


def bench_model(b, name, prep):
    a = b.a
    ckpt, onnx_path = prep["dir"], prep["onnx"]
    res = {"model": name, "checkpoint": ckpt, "export": prep["export"], "threads": {}}
    # rounds outside thread counts (their order alternating), so that each round measures every
    # thread count within a few seconds: scaling is then paired within a round, not spread over
    # minutes in which a shared host changes speed
    per_thread = {n: [] for n in a.threads}
    scaling = None
    if len(a.threads) > 1 and a.scaling_runs > 0:
        scaling = {"threads": [min(a.threads), max(a.threads)], "runs": a.scaling_runs,
                   "rounds": []}
        res["scaling"] = scaling
    for k in range(a.rounds):
        for n in (a.threads if k % 2 == 0 else a.threads[::-1]):
            rounds = per_thread[n]
            la = loadavg()
            rnd = {"round": k, "loadavg_start": la}
            order = ["vkdetr", "pytorch", "ort"]
            order = order[k % 3:] + order[:k % 3]  # rotate who goes first
            for peer in order:
                if peer == "vkdetr":
                    rnd["vkdetr"] = b.vkdetr(ckpt, n, a.warmup, a.runs, profile=False)
                    if not a.no_cold:
                        rnd["cold_vkdetr"] = cold_vkdetr(b, ckpt, n)
                    v = rnd["vkdetr"]["p50_ms"]
                elif peer == "pytorch":
                    rnd["pytorch"] = b.py_worker("torch", ckpt, n, a.warmup, a.runs)
                    rnd["cold_pytorch"] = cold_from_worker(rnd["pytorch"])
                    v = median(rnd["pytorch"]["times_ms"])
                else:
                    rnd["ort"] = b.py_worker("ort", onnx_path, n, a.warmup, a.runs)
                    rnd["cold_ort"] = cold_from_worker(rnd["ort"])
                    v = median(rnd["ort"]["times_ms"])
                bg = rnd[peer].get("background_cpus", float("nan"))
                b.log(f"[{name}] threads {n} round {k + 1}/{a.rounds}: {peer:8s} p50 "
                      f"{v:9.1f} ms   (other processes {bg:.2f} CPUs, load average "
                      f"{loadavg()[0]:.2f})")
            rnd["loadavg_end"] = loadavg()
            rounds.append(rnd)
        if scaling is not None:
            scaling["rounds"].append(scaling_round(b, name, ckpt, onnx_path, k))
    for n in a.threads:
        rounds = per_thread[n]
        summary, cold = summarize(rounds)
        entry = {"rounds": rounds, "summary": summary, "cold": cold,
                 "pytorch_attn_implementation": rounds[0]["pytorch"].get("attn_implementation")}
        if not a.no_profile:
            b.log(f"[{name}] threads {n}: per-op profiles (vkdetr --op-profile, ORT profiling)")
            vp = b.vkdetr(ckpt, n, 1, 1, profile=True)
            op = b.py_worker("ort", onnx_path, n, 1, 1, profile=True)
            ops = sorted(vp.get("ops", []), key=lambda o: -o["ms"])
            entry["profile"] = {"vkdetr": {"stage_ms": vkdetr_stage_ms(vp), "ops": ops,
                                           "nodes": vp.get("nodes", []),
                                           "p50_ms": vp["p50_ms"]},
                                "ort": op["profile"]}
        res["threads"][str(n)] = entry
    return res


# ------------------------------------------------------------------------------------------------
# Environment report

def cpu_info():
    info = {"model": platform.processor() or "?", "flags": [], "logical_cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k = k.strip()
                if k == "model name" and info["model"] in ("?", "x86_64", ""):
                    info["model"] = v.strip()
                elif k == "flags" and not info["flags"]:
                    flags = set(v.split())
                    info["flags"] = [fl for fl in ("sse4_2", "avx", "fma", "f16c", "avx2",
                                                   "avx512f", "avx512bw", "avx512vl",
                                                   "avx512_vnni", "avx512_bf16", "amx_tile",
                                                   "avx_vnni") if fl in flags]
    except OSError:
        pass
    try:
        info["affinity_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    return info


def openblas_core(vkdetr, env):
    """The kernel OpenBLAS (as vkdetr loads it) picks, from OPENBLAS_VERBOSE=2."""
    env = dict(env)
    env["OPENBLAS_VERBOSE"] = "2"
    try:
        p = subprocess.run([vkdetr, "--version"], env=env, capture_output=True, text=True,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"? ({e})"
    for line in (p.stdout + p.stderr).splitlines():
        if line.startswith("Core:"):
            return line.split(":", 1)[1].strip()
    return "? (no 'Core:' line)"


def versions():
    code = ("import json, torch, transformers, onnx, onnxruntime, numpy; print(json.dumps({"
            "'torch': torch.__version__, 'transformers': transformers.__version__, 'onnx': "
            "onnx.__version__, 'onnxruntime': onnxruntime.__version__, 'numpy': "
            "numpy.__version__, 'torch_parallel': torch.__config__.parallel_info().splitlines()"
            "[-1].strip()}))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=child_env())
    v = json.loads(p.stdout) if p.returncode == 0 else {"error": p.stderr[-500:]}
    try:
        q = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                           capture_output=True, text=True)
        v["vkdetr_git"] = q.stdout.strip()
    except OSError:
        pass
    return v


def environment(a):
    env_had = {k: os.environ.get(k) for k in HIDDEN_ENV}
    e = {"time": now_iso(), "host": platform.node(), "cpu": cpu_info(), "loadavg_start": loadavg(),
         "environment_had": env_had, "benchmark_environment": "OPENBLAS_CORETYPE and "
         "OPENBLAS_L2_SIZE unset in every benchmark subprocess",
         "openblas_core": openblas_core(a.vkdetr, child_env())}
    if any(env_had.values()):
        e["openblas_core_with_environment"] = openblas_core(a.vkdetr, dict(os.environ))
    e["versions"] = versions()
    return e


# ------------------------------------------------------------------------------------------------
# Report

def f1(v):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def ratio(a, b):
    return "-" if not a or not b or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}"


def bgmax(summary):
    v = [x for s in summary.values() for x in s.get("background_cpus", []) if not math.isnan(x)]
    return f"{max(v):.2f}" if v else "-"


def group_of(op):
    for g, names in GROUPS.items():
        if op in names:
            return g
    return "other"


def report(env, results, args):
    L = []
    p = L.append
    cpu = env["cpu"]
    p("# vkdetr peer benchmark (CPU, batch 1)\n")
    p(f"- {env['time']} on {env['host']}: {cpu['model']}, {cpu['logical_cpus']} logical CPUs "
      f"({cpu.get('affinity_cpus', '?')} usable), flags {' '.join(cpu['flags']) or '?'}")
    v = env["versions"]
    p(f"- vkdetr {v.get('vkdetr_git', '?')} ({args.vkdetr}); torch {v.get('torch')} "
      f"({v.get('torch_parallel', '')}); transformers {v.get('transformers')}; onnxruntime "
      f"{v.get('onnxruntime')}; onnx {v.get('onnx')}")
    devices = sorted({rnd["vkdetr"].get("device", "?") for r in results
                      for e in r["threads"].values() for rnd in e["rounds"] if "vkdetr" in rnd})
    p(f"- vkdetr's backend: {', '.join(devices) or '?'}; its own GEMM and convolution "
      f"kernels, chosen by cpuid (OpenBLAS only for grouped convolutions)")
    had = ", ".join(f"{k}={val!r}" for k, val in env["environment_had"].items())
    p(f"- environment had {had}; both unset for the benchmark processes; OpenBLAS core "
      f"(vkdetr's BLAS) then: {env['openblas_core']}"
      + (f" (with the environment's values: {env['openblas_core_with_environment']})"
         if "openblas_core_with_environment" in env else ""))
    la0, la1 = env["loadavg_start"], env.get("loadavg_end", [float("nan")] * 3)
    p(f"- load average (1/5/15 min): start {la0[0]:.2f} {la0[1]:.2f} {la0[2]:.2f}, end "
      f"{la1[0]:.2f} {la1[1]:.2f} {la1[2]:.2f} (the end and the per-round values include "
      f"the benchmark's own 1-2 busy threads)")
    bgs = [x for r in results for e in r["threads"].values() for s in e["summary"].values()
           for x in s.get("background_cpus", []) if not math.isnan(x)]
    if bgs:
        p(f"- other processes kept {min(bgs):.2f} to {max(bgs):.2f} CPUs busy during the "
          f"measurements (machine busy time from /proc/stat, steal included, minus the "
          f"measured process's own CPU time)")
    if la0[0] > LOAD_WARN or (bgs and max(bgs) > BG_WARN):
        p(f"- **WARNING: the machine was not quiet (1-minute load average above {LOAD_WARN} at "
          f"the start, or other processes above {BG_WARN} CPUs during a measurement): other "
          f"processes competed for the CPUs, so these numbers are not trustworthy (ratios "
          f"less so than absolute times, since the peers alternate).**")
    p(f"- input {args.width}x{args.height}, batch 1; {args.rounds} round(s) x {args.runs} timed "
      f"run(s) after {args.warmup} warm-up per peer and round, peers alternating in fresh "
      f"processes; ms = median of the round medians (p50), min = fastest run")
    p("- vkdetr ms is `vkdetr_session_detect` (preprocessing + network + post-processing); "
      "PyTorch and ORT ms is the network alone (pixel_values to logits and boxes); PyTorch "
      "attention implementation: " + ", ".join(sorted({str(e.get("pytorch_attn_implementation"))
                                                     for r in results
                                                     for e in r["threads"].values()})) + "\n")

    p("## ONNX export\n")
    for r in results:
        e = r["export"]
        ok = "outputs match" if e.get("outputs_match") else "**OUTPUTS DIFFER**"
        p(f"- {r['model']}: `{r['checkpoint']}/model.onnx`, {e.get('method')} exporter, opset "
          f"{e.get('opset')}, {e.get('size_mb')} MB; ORT vs PyTorch max |diff| logits "
          f"{e.get('max_abs_diff_logits', float('nan')):.2e} (tol {e.get('atol_logits')}), "
          f"pred_boxes {e.get('max_abs_diff_boxes', float('nan')):.2e} (tol "
          f"{e.get('atol_boxes')}): {ok}" + (" (checked at export, " + str(e.get('checked'))
                                               + ")" if e.get("cached") else ""))
    p("")

    p("## Latency\n")
    p("| model | threads | vkdetr ms | PyTorch ms | ORT ms | vkdetr/PyTorch | vkdetr/ORT "
      "| min vkdetr/PyTorch/ORT ms | RSS vkdetr/PyTorch/ORT MB | other CPUs busy, max "
      "| load avg |")
    p("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for n, e in r["threads"].items():
            s = e["summary"]
            g = lambda peer, k: s.get(peer, {}).get(k, float("nan"))  # noqa: E731
            las = [rd["loadavg_start"][0] for rd in e["rounds"]] + \
                  [rd["loadavg_end"][0] for rd in e["rounds"]]
            v, t, o = g("vkdetr", "p50_ms"), g("pytorch", "p50_ms"), g("ort", "p50_ms")
            p(f"| {r['model']} | {n} | {f1(v)} | {f1(t)} | {f1(o)} | {ratio(v, t)} "
              f"| {ratio(v, o)} "
              f"| {f1(g('vkdetr', 'min_ms'))} / {f1(g('pytorch', 'min_ms'))} / "
              f"{f1(g('ort', 'min_ms'))} "
              f"| {g('vkdetr', 'peak_rss_mb'):.0f} / {g('pytorch', 'peak_rss_mb'):.0f} / "
              f"{g('ort', 'peak_rss_mb'):.0f} | {bgmax(s)} | {min(las):.1f}-{max(las):.1f} |")
    p("\nRound medians in ms (in brackets: CPUs that other processes kept busy meanwhile), to "
      "judge the noise:\n")
    for r in results:
        for n, e in r["threads"].items():
            parts = [f"{peer} " + ", ".join(
                f"{x:.0f}" + (f" ({bg:.2f})" if not math.isnan(bg) else "")
                for x, bg in zip(s["round_p50_ms"], s.get("background_cpus") or
                                 [float("nan")] * len(s["round_p50_ms"])))
                for peer, s in e["summary"].items()]
            p(f"- {r['model']}, {n} thread(s): " + "; ".join(parts))
    p("")

    scaling = [(r, sorted(r["threads"], key=int)) for r in results if len(r["threads"]) > 1]
    if scaling:
        p("## Thread scaling\n")
        p("p50 on the fewest threads over p50 on the most, paired within each round (the thread "
          "counts of a round run back to back): median over the rounds, and their range.\n")
        p("| model | threads | vkdetr | PyTorch | ORT |")
        p("|---|---|---|---|---|")
        for r, ts in scaling:
            lo, hi = r["threads"][ts[0]]["summary"], r["threads"][ts[-1]]["summary"]
            cells = []
            for peer in ("vkdetr", "pytorch", "ort"):
                a_, b_ = lo.get(peer, {}).get("round_p50_ms"), hi.get(peer, {}).get("round_p50_ms")
                q = [x / y for x, y in zip(a_ or [], b_ or []) if y > 0]
                cells.append(f"{median(q):.2f}x ({min(q):.2f}-{max(q):.2f})" if q else "-")
            p(f"| {r['model']} | {ts[0]} -> {ts[-1]} | " + " | ".join(cells) + " |")
        p("")
    inter = [r for r in results if r.get("scaling", {}).get("rounds")]
    if inter:
        p("Interleaved in one process (the better measure on a shared host): two sessions, on the "
          "fewest and on the most threads, their runs alternating A B B A ..., so that each pair "
          "of runs sees the same machine. Per pair the speedup is t(fewest) / t(most); a round "
          "gives the median over its pairs; the table gives the median of the round medians, "
          "their range, and the ratio of the fastest runs (min over all rounds). **Host** is "
          "the machine's own scaling, measured between the peers in each round the same way: "
          "a fixed amount of 256x256 SGEMMs (one OpenBLAS thread per call) on the fewest threads "
          "and then split over the most, each thread on its own matrices, meeting once per run; "
          "what it loses is lost to the host (another guest on a core, clock speed), not to a "
          "program. vkdetr / host is the median over the rounds of vkdetr's speedup divided by "
          "the host's in the same round.\n")
        p("| model | threads | pairs | vkdetr speedup | vkdetr min / min | ORT speedup "
          "| ORT min / min | host speedup | vkdetr / host | ORT / host "
          "| vkdetr p50 ms (fewest / most) | ORT p50 ms (fewest / most) |")
        p("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in inter:
            sc = r["scaling"]
            cells, mins, p50s, rel = [], [], [], []
            for peer in ("vkdetr", "ort", "host"):
                rs = [rd[peer] for rd in sc["rounds"] if rd.get(peer)]
                q = [x["speedup_p50"] for x in rs if x.get("speedup_p50")]
                cells.append(f"{median(q):.2f}x ({min(q):.2f}-{max(q):.2f})" if q else "-")
                m1 = min((x["min_ms"] for x in rs), default=None)
                m2 = min((x["scaling_min_ms"] for x in rs if x.get("scaling_min_ms")),
                         default=None)
                mins.append(f"{m1 / m2:.2f}x" if m1 and m2 else "-")
                p50s.append(f"{f1(median([x['p50_ms'] for x in rs]))} / "
                            f"{f1(median([x['scaling_p50_ms'] for x in rs]))}" if rs else "-")
                if peer != "host":
                    q = [rd[peer]["speedup_p50"] / rd["host"]["speedup_p50"]
                         for rd in sc["rounds"] if rd.get(peer, {}).get("speedup_p50")
                         and rd.get("host", {}).get("speedup_p50")]
                    rel.append(f"{median(q):.2f}" if q else "-")
            p(f"| {r['model']} | {sc['threads'][0]} -> {sc['threads'][1]} "
              f"| {len(sc['rounds'])} x {sc['runs']} | {cells[0]} | {mins[0]} | {cells[1]} "
              f"| {mins[1]} | {cells[2]} | {rel[0]} | {rel[1]} | {p50s[0]} | {p50s[1]} |")
        p("")

    if not args.no_cold:
        p("## Cold start (fresh process: load + first inference)\n")
        p("| model | threads | vkdetr load / first / total ms | PyTorch load / first / total ms "
          "| ORT load / first / total ms | Python import torch / ort ms |")
        p("|---|---|---|---|---|---|")
        for r in results:
            for n, e in r["threads"].items():
                c = e["cold"]
                cell = lambda peer: " / ".join(f1(c.get(peer, {}).get(k)) for k in  # noqa: E731
                                               ("load_ms", "first_ms", "total_ms"))
                p(f"| {r['model']} | {n} | {cell('vkdetr')} | {cell('pytorch')} | {cell('ort')} "
                  f"| {f1(c.get('pytorch', {}).get('import_ms'))} / "
                  f"{f1(c.get('ort', {}).get('import_ms'))} |")
        p("\nvkdetr load = wall time of `vkdetr bench --warmup 0 --runs 1` minus its one timed run "
          "(process start, model load, session create); PyTorch load = `from_pretrained`; ORT "
          "load = `InferenceSession` creation (graph optimisation included). The checkpoint is "
          "in the page cache (not a cold disk). Python import times are not in the totals.\n")

    p("## Stages (ms)\n")
    p("| model | threads | peer | " + " | ".join(STAGES) + " | other | total |")
    p("|---|---|---|" + "---|" * (len(STAGES) + 2))
    for r in results:
        for n, e in r["threads"].items():
            vs = e["summary"].get("vkdetr", {}).get("stage_ms", {})
            p(f"| {r['model']} | {n} | vkdetr (median of rounds) | "
              + " | ".join(f1(vs.get(k)) for k in STAGES) + f" | - | {f1(sum(vs.values()))} |")
            if "profile" in e:
                os_ = e["profile"]["ort"]["stage_ms"]
                p(f"| {r['model']} | {n} | ORT (profiled run, node times) | - | "
                  + " | ".join(f1(os_.get(k, 0.0)) for k in STAGES[1:4]) + " | - | "
                  + f"{f1(os_.get('other', 0.0))} | {f1(sum(os_.values()))} |")
    p("")

    if not args.no_profile:
        p("## Per op type (one profiled run each)\n")
        p("vkdetr: `vkdetr bench` per-op timing (adds a little overhead); ORT: "
          "`enable_profiling`, node kernel times of the last run. GFLOP/s of a group for ORT uses "
          "vkdetr's GFLOP count of that group (same network). vkdetr's conv2d and linear "
          "include bias, residual add and activation, which ORT partly runs as separate nodes "
          "(Add, Relu, QuickGelu = SiLU): compare the combined row for those.\n")
        for r in results:
            for n, e in r["threads"].items():
                if "profile" not in e:
                    continue
                vk, ort_p = e["profile"]["vkdetr"], e["profile"]["ort"]
                p(f"### {r['model']}, {n} thread(s)\n")
                vg, og = {}, {}
                for o in vk["ops"]:
                    g = vg.setdefault(group_of(o["op"]), [0.0, 0.0])
                    g[0] += o["ms"]
                    g[1] += o.get("gflop", 0.0)
                for o in ort_p["ops"]:
                    og[group_of(o["op"])] = og.get(group_of(o["op"]), 0.0) + o["ms"]
                p("| group | vkdetr ms | ORT ms | vkdetr/ORT | GFLOP | vkdetr GFLOP/s | "
                  "ORT GFLOP/s |")
                p("|---|---|---|---|---|---|---|")
                for g in list(GROUPS) + ["other"]:
                    vm, gf = vg.get(g, [0.0, 0.0])
                    om = og.get(g, 0.0)
                    if not vm and not om:
                        continue
                    rate = lambda ms: f"{gf / ms * 1e3:.1f}" if ms and gf >= 0.01 else "-"  # noqa
                    p(f"| {g} | {vm:.1f} | {om:.1f} | {ratio(vm, om)} | "
                      f"{f'{gf:.2f}' if gf >= 0.01 else '-'} | {rate(vm)} | {rate(om)} |")
                # vkdetr's conv2d/linear include bias, residual add and activation; ORT fuses
                # only some of them (NCHWc Conv+Add+Relu), the rest are separate nodes
                fused = ("conv", "gemm+attention", "activation", "elementwise")
                vm = sum(vg.get(g, [0.0, 0.0])[0] for g in fused)
                om = sum(og.get(g, 0.0) for g in fused)
                p(f"| {' + '.join(fused)} | {vm:.1f} | {om:.1f} | {ratio(vm, om)} | | | |")
                vt = sum(o["ms"] for o in vk["ops"])
                ot = sum(o["ms"] for o in ort_p["ops"])
                p(f"| total | {vt:.1f} | {ot:.1f} | {ratio(vt, ot)} | | | |\n")
                rows = max(len(vk["ops"]), len(ort_p["ops"]))
                p("| vkdetr op | count | ms | GFLOP/s | | ORT op | count | ms |")
                p("|---|---|---|---|---|---|---|---|")
                for i in range(rows):
                    if i < len(vk["ops"]):
                        o = vk["ops"][i]
                        gfs = o.get("gflop", 0.0) / o["ms"] * 1e3 if o["ms"] > 0 else 0.0
                        left = f"{o['op']} | {o['count']} | {o['ms']:.2f} | " + \
                            (f"{gfs:.1f}" if o.get("gflop") else "")
                    else:
                        left = " | | | "
                    if i < len(ort_p["ops"]):
                        o = ort_p["ops"][i]
                        right = f"{o['op']} | {o['count']} | {o['ms']:.2f}"
                    else:
                        right = " | | "
                    p(f"| {left} | | {right} |")
                p("")
                nodes = vk.get("nodes", [])
                if nodes:
                    p(f"vkdetr's {len(nodes)} slowest nodes (same profiled run):\n")
                    p("| op | stage | shapes (inputs -> output) | ms | GFLOP/s |")
                    p("|---|---|---|---|---|")
                    for o in nodes:
                        gfs = o["gflop"] / o["ms"] * 1e3 if o["ms"] > 0 and o["gflop"] else 0.0
                        p(f"| {o['op']} | {o['stage']} | {o['shapes']} | {o['ms']:.2f} | " +
                          (f"{gfs:.1f} |" if gfs else " |"))
                    p("")
    return "\n".join(L)


# ------------------------------------------------------------------------------------------------

def parse_size(s):
    if "x" in s:
        w, h = s.lower().split("x")
        return int(w), int(h)
    return int(s), int(s)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="r18vd,r50vd",
                    help="comma-separated: %s (default r18vd,r50vd)" % ", ".join(HUB))
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (1,2)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of alternating peers (3)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per peer and round (5)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs first, per round (2)")
    ap.add_argument("--scaling-runs", type=int, default=4,
                    help="pairs of alternating runs per round in the interleaved thread-scaling "
                    "measurement of vkdetr and ORT, fewest against most threads (4; 0 = skip)")
    ap.add_argument("--size", default="640x640", help="input WxH (640x640)")
    ap.add_argument("--vkdetr", default=None,
                    help="the vkdetr binary (default build-bench/vkdetr, else build/release/, "
                    "else vkdetr on PATH)")
    ap.add_argument("--model-dir", action="append", default=[], metavar="NAME=DIR",
                    help="use checkpoint folder DIR for model NAME (repeatable)")
    ap.add_argument("--json", metavar="FILE", help="write every number as JSON to FILE")
    ap.add_argument("--markdown", metavar="FILE", help="also write the report to FILE")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: r18vd, 1 thread, 1 round, 2 runs, 1 warm-up")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-op profiles")
    ap.add_argument("--no-cold", action="store_true", help="skip vkdetr's cold-start runs")
    ap.add_argument("--reexport", action="store_true", help="export model.onnx again")
    ap.add_argument("--from-json", metavar="FILE",
                    help="print the report of an earlier run's --json FILE and exit")
    # internal: worker processes
    ap.add_argument("--worker", choices=("prepare", "torch", "ort", "host"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--model-path", help=argparse.SUPPRESS)
    ap.add_argument("--pixels", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    ap.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--generate", help=argparse.SUPPRESS)
    ap.add_argument("--scaling", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.width, a.height = parse_size(a.size)

    if a.worker:
        a.threads = int(a.threads)
        a.model = a.model_path
        run_worker(a)
        return 0

    if a.from_json:
        with open(a.from_json) as f:
            doc = json.load(f)
        for k, v in doc["options"].items():
            setattr(a, k, v)
        a.no_cold = not any(e.get("cold", {}).get("vkdetr") for r in doc["results"]
                            for e in r["threads"].values())
        a.no_profile = not any("profile" in e for r in doc["results"]
                               for e in r["threads"].values())
        print(report(doc["environment"], doc["results"], a))
        return 0
    if a.quick:
        a.models, a.threads, a.rounds, a.runs, a.warmup = "r18vd", "1", 1, 2, 1
        a.scaling_runs = 0
    a.models = [m for m in a.models.split(",") if m]
    a.threads = [int(t) for t in a.threads.split(",") if t]
    a.model_dirs = {}
    for md in a.model_dir:
        k, _, v = md.partition("=")
        if not v:
            ap.error(f"--model-dir {md}: want NAME=DIR")
        a.model_dirs[k] = os.path.abspath(v)
    if a.rounds < 1 or a.runs < 1 or a.warmup < 1 or min(a.threads) < 1:
        ap.error("--rounds, --runs, --warmup and --threads must be >= 1")
    if a.scaling_runs < 0:
        ap.error("--scaling-runs must be >= 0")
    if a.vkdetr is None:
        for c in (os.path.join(REPO, "build-bench", "vkdetr"),
                  os.path.join(REPO, "build", "release", "vkdetr")):
            if os.access(c, os.X_OK):
                a.vkdetr = c
                break
        else:
            a.vkdetr = shutil.which("vkdetr")
    if not a.vkdetr or not os.access(a.vkdetr, os.X_OK):
        ap.error("no vkdetr binary: build one (cmake --build build-bench --target vkdetr_cli) "
                 "or pass --vkdetr")

    b = Bench(a)
    try:
        import numpy as np
        np.save(b.pixels, pixel_values(a.width, a.height))
        env = environment(a)
        b.log(f"load average at start: {' '.join(f'{x:.2f}' for x in env['loadavg_start'])}"
              + (f"  WARNING: above {LOAD_WARN}, the numbers will be noisy"
                 if env["loadavg_start"][0] > LOAD_WARN else ""))
        results = []
        for name in a.models:
            prep = b.prepare(name)
            e = prep["export"]
            b.log(f"[{name}] ONNX {e['method']} opset {e['opset']}: max |diff| logits "
                  f"{e['max_abs_diff_logits']:.2e}, boxes {e['max_abs_diff_boxes']:.2e} -> "
                  f"{'match' if e['outputs_match'] else 'DIFFER'}")
            results.append(bench_model(b, name, prep))
        env["loadavg_end"] = loadavg()
        text = report(env, results, a)
        print(text)
        if "WARNING" in text:
            b.log(f"WARNING: the machine was not quiet (load average at the start "
                  f"{env['loadavg_start'][0]:.2f}; see the report)")
        if a.markdown:
            with open(a.markdown, "w") as f:
                f.write(text + "\n")
        if a.json:
            doc = {"environment": env, "options": {k: getattr(a, k) for k in (
                "models", "threads", "rounds", "runs", "warmup", "scaling_runs", "width", "height",
                "vkdetr")},
                "results": results}
            with open(a.json, "w") as f:
                json.dump(doc, f, indent=1)
    finally:
        shutil.rmtree(b.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
