#!/usr/bin/env python3
"""PyTorch peer of sharesnet's benchmarks: the same models, timed the same way.

Builds He et al. CIFAR ResNets (depth 6n+2, post-activation basic blocks,
16/32/64 channels, option-A shortcuts: x[:, :, ::s, ::s] with zero channels
appended) and their ShaResNets (policy "paper": the second 3x3 of every block
but the first of a stage is one weight per stage, "stageS.shared.conv2") for
1- or 3-channel inputs, exactly as sharesnet's graphs: the parameter names (BN
weight/bias called gamma/beta as ours), shapes and count are compared with the
graph's and the script refuses to time a model that differs (exit 3).

Timing, as `sharesnet bench`: random images in [-1, 1) and labels i % classes;
`warmup` untimed steps, then `reps` timed ones, median. A train step is
forward, cross-entropy (mean), zero_grad, backward and the SGD step of the
recipe (torch.optim.SGD, Nesterov momentum, weight decay); inference is an
eval-mode forward with the per-sample loss, under torch.no_grad().
torch.set_num_threads(threads) with threads = the machine's online CPUs.

Driven by `sharesnet bench` with a JSON request (--request FILE, written by
src/cli/bench_peer.c) and a JSON response (--response FILE). Standalone:
    peer.py --model resnet20,sharesnet20 --in-ch 1 --size 28 --batch 32,128
prints the same lines without the check against sharesnet's graphs.
Python 3 and PyTorch (Debian: python3-torch) only.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # the C side checks first; this is for standalone use
    sys.exit("peer: PyTorch is missing (Debian: apt install python3-torch)")


class Block(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN (+ shortcut A) ReLU."""

    def __init__(self, cin, cout, stride, own_conv2):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        if own_conv2:
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride = stride
        self.extra_channels = cout - cin

    def forward(self, x, shared_conv2):
        conv2 = self.conv2 if shared_conv2 is None else shared_conv2
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(conv2(y))
        s = x
        if self.stride != 1:
            s = s[:, :, :: self.stride, :: self.stride]
        if self.extra_channels:
            s = F.pad(s, (0, 0, 0, 0, 0, self.extra_channels))  # zero channels appended
        return F.relu(y + s)


class Stage(nn.Module):
    def __init__(self, cin, cout, stride, blocks, shared):
        super().__init__()
        self.n = blocks
        self.share = shared and blocks >= 2
        for b in range(blocks):
            own = b == 0 or not self.share
            self.add_module("block%d" % b, Block(cin if b == 0 else cout, cout,
                                                 stride if b == 0 else 1, own))
        if self.share:
            self.shared = nn.Module()
            self.shared.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)

    def forward(self, x):
        for b in range(self.n):
            use_shared = self.share and b > 0
            x = getattr(self, "block%d" % b)(x, self.shared.conv2 if use_shared else None)
        return x


class CifarResNet(nn.Module):
    def __init__(self, depth, shared, in_channels, classes):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError("depth %d is not 6n+2" % depth)
        n = (depth - 2) // 6
        self.stem = nn.Module()
        self.stem.conv = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.stem.bn = nn.BatchNorm2d(16)
        self.stage1 = Stage(16, 16, 1, n, shared)
        self.stage2 = Stage(16, 32, 2, n, shared)
        self.stage3 = Stage(32, 64, 2, n, shared)
        self.head = nn.Module()
        self.head.fc = nn.Linear(64, classes)
        # sharesnet's initialisation (docs/ARCHITECTURE.md): conv N(0, sqrt(2 / (k*k*out))),
        # BN gamma 1 beta 0, linear U(-1/sqrt(in), 1/sqrt(in)), bias 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, (2.0 / k) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / m.in_features ** 0.5
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.relu(self.stem.bn(self.stem.conv(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.head.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def our_names(model):
    """(name, shape) of every parameter, each shared one once, in sharesnet's names."""
    out = []
    for mod_name, mod in model.named_modules():
        for p_name, p in mod.named_parameters(recurse=False):
            if isinstance(mod, nn.BatchNorm2d):
                p_name = {"weight": "gamma", "bias": "beta"}[p_name]
            out.append(("%s.%s" % (mod_name, p_name), list(p.shape)))
    return out


def parse_name(name):
    """resnetD -> (D, False); sharesnetD -> (D, True)."""
    for prefix, shared in (("sharesnet", True), ("resnet", False)):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            return int(name[len(prefix):]), shared
    raise ValueError("peer builds resnetD / sharesnetD (D = 6n+2), not %r" % name)


def check(model, spec):
    """Compare with sharesnet's graph; returns a list of differences."""
    ours = {n: s for n, s in spec["params"]}
    theirs = dict(our_names(model))
    diffs = []
    for n in sorted(set(ours) | set(theirs)):
        if n not in theirs:
            diffs.append("%s %s: only in sharesnet" % (n, ours[n]))
        elif n not in ours:
            diffs.append("%s %s: only in PyTorch" % (n, theirs[n]))
        elif list(ours[n]) != theirs[n]:
            diffs.append("%s: sharesnet %s, PyTorch %s" % (n, ours[n], theirs[n]))
    count = sum(p.numel() for p in model.parameters())
    if count != spec["count"]:
        diffs.append("count: sharesnet %d, PyTorch %d" % (spec["count"], count))
    return diffs


# Where PyTorch runs: "cpu" (default) or "cuda" (cuDNN; for the GPU column
# next to our OpenCL numbers on the same card), from $SN_PEER_DEVICE.
DEVICE = os.environ.get("SN_PEER_DEVICE", "cpu")


def sync():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(step, warmup, reps):
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def measure(model, batch, in_channels, size, classes, sgd, warmup, reps):
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(batch, in_channels, size, size, generator=gen) * 2 - 1).to(DEVICE)
    y = (torch.arange(batch) % classes).to(DEVICE)
    opt = torch.optim.SGD(model.parameters(), lr=sgd["lr"], momentum=sgd["momentum"],
                          weight_decay=sgd["weight_decay"], nesterov=bool(sgd["nesterov"]))

    def train_step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer_step():
        with torch.no_grad():
            F.cross_entropy(model(x), y, reduction="none")

    model.train()
    train = time_steps(train_step, warmup, reps)
    model.eval()
    infer = time_steps(infer_step, warmup, reps)
    return train, infer


def run(models, batches, warmup, reps, threads, sgd, checked):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    where = platform.processor() or platform.machine()
    if DEVICE.startswith("cuda"):
        where = "%s, cuDNN %s" % (torch.cuda.get_device_name(), torch.backends.cudnn.version())
    print("peer: PyTorch %s on %s (%s) device %s, %d thread(s); warm-up %d, median of %d"
          % (torch.__version__, platform.node(), where, DEVICE, torch.get_num_threads(), warmup,
             reps), flush=True)
    results, failed = [], False
    for spec in models:
        depth, shared = parse_name(spec["name"])
        if "policy" in spec:
            shared = spec["policy"] == "paper"
        model = CifarResNet(depth, shared, spec["in_channels"], spec["classes"]).to(DEVICE)
        count = sum(p.numel() for p in model.parameters())
        if checked:
            diffs = check(model, spec)
            if diffs:
                failed = True
                print("peer: %s DIFFERS from sharesnet's graph:" % spec["name"])
                for d in diffs[:20]:
                    print("peer:   " + d)
                continue
            print("peer: %s: %d parameters in %d tensors: names, shapes and count equal "
                  "sharesnet's" % (spec["name"], count, len(spec["params"])), flush=True)
        else:
            print("peer: %s: %d parameters" % (spec["name"], count), flush=True)
        for batch in batches:
            train, infer = measure(model, batch, spec["in_channels"], spec["size"],
                                   spec["classes"], sgd, warmup, reps)
            for mode, t in (("train", train), ("infer", infer)):
                print("peer: %-14s batch %4d  %s  %10.1f img/s  (median %.4f s, min %.4f, max %.4f)"
                      % (spec["name"], batch, mode, batch / t[0], t[0], t[1], t[2]), flush=True)
            results.append({"model": spec["name"], "batch": batch, "params": count,
                            "train_img_s": batch / train[0], "infer_img_s": batch / infer[0],
                            "train_median_s": train[0], "infer_median_s": infer[0],
                            "train_min_s": train[1], "train_max_s": train[2],
                            "infer_min_s": infer[1], "infer_max_s": infer[2]})
    return results, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--request", help="JSON request written by sharesnet bench")
    ap.add_argument("--response", help="write the results here as JSON")
    ap.add_argument("--model", default="resnet20,sharesnet20", help="standalone: models")
    ap.add_argument("--batch", default="128", help="standalone: comma list of batch sizes")
    ap.add_argument("--in-ch", type=int, default=3)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    sgd = {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": True}
    if a.request:
        with open(a.request) as f:
            req = json.load(f)
        models, batches = req["models"], req["batches"]
        warmup, reps, threads, sgd = req["warmup"], req["reps"], req["threads"], req["sgd"]
    else:
        models = [{"name": m, "in_channels": a.in_ch, "size": a.size, "classes": a.classes}
                  for m in a.model.split(",")]
        batches = [int(b) for b in a.batch.split(",")]
        warmup, reps, threads = a.warmup, a.reps, a.threads
    results, failed = run(models, batches, warmup, reps, threads, sgd, bool(a.request))
    if a.response:
        with open(a.response, "w") as f:
            json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(),
                       "host": platform.node(), "results": results}, f, indent=1)
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
