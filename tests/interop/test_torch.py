"""PyTorch interop, checked by PyTorch itself: weights made by torch modules
(torchvision's ResNets; pytorchcv-named ShaResNets built here from the
sharing rule of docs/ARCHITECTURE.md, since pytorchcv is not in Debian) go through
`sharesnet import`, must predict the same logits as torch, and come back out
of `sharesnet export --format torch` so that load_state_dict(strict=True)
accepts them with identical values. Also the importer's refusals.

usage: test_torch.py SHARESNET [DEVICE]"""
import os
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import interop_util as u

SN = sys.argv[1]
DEV = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("SN_TEST_DEVICE", "cpu")
TOL = 1e-4
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
torch.manual_seed(0)


# ---- pytorchcv-named reference modules ---------------------------------------

class ConvBlock(nn.Module):
    """pytorchcv's convKxK_block: conv (no bias) + BN (+ ReLU). `conv` is a
    shared module when given: state_dict() then lists it under every key."""

    def __init__(self, cin, cout, k, stride, relu, conv=None):
        super().__init__()
        self.conv = conv if conv is not None else nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = relu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x


class Body(nn.Module):
    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x


class Unit(nn.Module):
    def __init__(self, cin, cout, stride, bottleneck, shared, option_a):
        super().__init__()
        self.body = Body()
        if bottleneck:
            mid = cout // 4
            self.body.conv1 = ConvBlock(cin, mid, 1, 1, True)
            self.body.conv2 = ConvBlock(mid, mid, 3, stride, True, shared)
            self.body.conv3 = ConvBlock(mid, cout, 1, 1, False)
        else:
            self.body.conv1 = ConvBlock(cin, cout, 3, stride, True)
            self.body.conv2 = ConvBlock(cout, cout, 3, 1, False, shared)
        self.stride, self.cin, self.cout = stride, cin, cout
        self.option_a = option_a and (stride != 1 or cin != cout)
        if (stride != 1 or cin != cout) and not option_a:
            self.identity_conv = ConvBlock(cin, cout, 1, stride, False)

    def forward(self, x):
        if self.option_a:  # He et al. option A: subsample, zero channels on both sides
            s = x[:, :, ::self.stride, ::self.stride]
            before = (self.cout - self.cin) // 2
            skip = F.pad(s, (0, 0, 0, 0, before, self.cout - self.cin - before))
        elif hasattr(self, "identity_conv"):
            skip = self.identity_conv(x)
        else:
            skip = x
        return F.relu(self.body(x) + skip)


class PytorchcvResNet(nn.Module):
    """features.init_block / stageS.unitU / final_pool, output. The sharing
    rule (docs/ARCHITECTURE.md, "Sharing rules"): He CIFAR: the second 3x3 of every unit but
    the first of a stage; ImageNet bottleneck: the 3x3 of every unit whose
    3x3 has stride 1."""

    def __init__(self, widths, units, bottleneck, cifar, classes, share):
        super().__init__()
        self.features = nn.Sequential()
        init = nn.Module()
        init.conv = ConvBlock(3, 16 if cifar else 64, 3, 1, True)  # small stem at 32x32
        init.forward = init.conv.forward
        self.features.add_module("init_block", init)
        cin = 16 if cifar else 64
        for s, (width, n) in enumerate(zip(widths, units)):
            stage = nn.Sequential()
            shared = None
            for i in range(n):
                stride = 2 if s > 0 and i == 0 else 1
                mid = width // 4 if bottleneck else width
                sharing = share and (stride == 1 if bottleneck else i > 0)
                if sharing and shared is None:
                    shared = nn.Conv2d(mid, mid, 3, 1, 1, bias=False)
                stage.add_module("unit%d" % (i + 1),
                                 Unit(cin, width, stride, bottleneck, shared if sharing else None, cifar))
                cin = width
            self.features.add_module("stage%d" % (s + 1), stage)
        self.features.add_module("final_pool", nn.AdaptiveAvgPool2d(1))
        self.output = nn.Linear(cin, classes)

    def forward(self, x):
        return self.output(torch.flatten(self.features(x), 1))


def sharesnet20():
    return PytorchcvResNet([16, 32, 64], [3, 3, 3], False, True, 10, True)


def sharesnet50():
    return PytorchcvResNet([256, 512, 1024, 2048], [3, 4, 6, 3], True, False, 10, True)


# ---- helpers ------------------------------------------------------------------

def calibrate(model, x):
    """Random BN parameters, and running statistics equal to the batch
    statistics of the test inputs x: every layer sees normalised activations
    in eval mode, so the logits stay of order 1 (a 50-layer net with
    mismatched statistics grows them to where float32 rounding alone
    exceeds the tolerance)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.momentum = None  # cumulative average
                m.reset_running_stats()
        model.train()
        model(x)
    model.eval()
    return model


def save_state_dict(model, path):
    tensors = {}
    for k, v in model.state_dict().items():
        tensors[k] = ("I64" if v.dtype == torch.int64 else "F32", list(v.shape),
                      v.detach().flatten().numpy())
    u.write_safetensors(path, tensors, {"format": "pt"})


def load_state_dict(model, path):
    tensors, meta = u.read_safetensors(path)
    sd = {}
    for k, (dtype, shape, values) in tensors.items():
        sd[k] = torch.from_numpy(values).reshape(shape)
    model.load_state_dict(sd, strict=True)  # raises on any missing/unexpected key or shape
    return meta


def images(tmp, name, size, count=4):
    pixels = u.random_images(count, 3, size, seed=21)
    paths = []
    for i, px in enumerate(pixels):
        paths.append(os.path.join(tmp, "%s_%d.png" % (name, i)))
        u.write_png(paths[-1], px, size, size, 3)
    return pixels, paths


def tensor(pixels, mean, std):
    return torch.tensor([u.normalise(px, mean, std) for px in pixels], dtype=torch.float32)


def torch_logits(model, pixels, mean, std):
    x = tensor(pixels, mean, std)
    with torch.no_grad():
        return model.eval()(x)


def max_diff(a, b):
    return max(abs(float(x) - float(y)) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def bad(name, pattern, cmd):
    import subprocess
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if p.returncode == 0 or p.returncode >= 128 or pattern not in p.stderr:
        u.fail("%s: expected an error with '%s', got exit %d, stderr: %s"
               % (name, pattern, p.returncode, p.stderr[-500:]))
    print("ok   %s: %s" % (name, p.stderr.strip().splitlines()[-1][:150]))


# ---- the round trip -------------------------------------------------------------

def round_trip(tmp, name, model, make, size, graph_opts, names):
    pixels, pngs = images(tmp, name, size)
    # 64 images (the 4 tested and 60 more): statistics of a few images at
    # 2x2 pixels in the last stage are near-degenerate variances that amplify
    # every rounding difference (float32 torch itself then strays 7e-5 from
    # float64 on ResNet-50).
    calibrate(model, tensor(pixels + u.random_images(60, 3, size, seed=22), IMAGENET_MEAN,
                            IMAGENET_STD))
    src = os.path.join(tmp, name + "_torch.safetensors")
    ck = os.path.join(tmp, name + "_ck.safetensors")
    out = os.path.join(tmp, name + "_export.safetensors")
    save_state_dict(model, src)
    msg = u.run([SN, "import", src, "--model", name, "-o", ck, "--device", DEV] + graph_opts)
    if "(%s names" % names not in msg:
        u.fail("%s: import detected other names: %s" % (name, msg.strip()))
    _, meta = u.read_safetensors(ck)
    mean = [float(v) for v in meta["norm_mean"].split(",")]
    std = [float(v) for v in meta["norm_std"].split(",")]
    if [round(v, 3) for v in mean] != [0.485, 0.456, 0.406]:
        u.fail("%s: import did not record ImageNet normalisation: %s" % (name, meta["norm_mean"]))
    ours = u.predict_json(SN, ck, pngs, DEV)
    ref = torch_logits(model, pixels, mean, std)
    with torch.no_grad():  # float64: how far each float32 result is from exact
        exact = model.double()(tensor(pixels, mean, std).double()).tolist()
    model.float()
    d = max_diff(ours, ref.tolist())
    if not d <= TOL:
        u.fail("%s: predict after import differs from torch by %.3g (from float64: ours %.3g, "
               "torch %.3g)" % (name, d, max_diff(ours, exact), max_diff(ref.tolist(), exact)))
    print("ok   %s: %s weights -> import -> predict --json vs torch: max |diff| %.2e (max |logit| "
          "%.2f; from float64: ours %.1e, torch %.1e)"
          % (name, names, d, float(ref.abs().max()), max_diff(ours, exact), max_diff(ref.tolist(), exact)))

    u.run([SN, "export", ck, "--format", "torch", "-o", out, "--device", DEV])
    fresh = make()
    load_state_dict(fresh, out)
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        if not torch.equal(v, fresh.state_dict()[k]):
            u.fail("%s: exported %s differs from the imported value" % (name, k))
    d2 = max_diff(torch_logits(fresh, pixels, mean, std).tolist(), ref.tolist())
    if d2 != 0.0:
        u.fail("%s: torch logits after export differ by %.3g" % (name, d2))
    print("ok   %s: export --format torch -> load_state_dict(strict=True): every tensor "
          "equal, same logits" % name)
    return src, ck


def main(tmp):
    tv = ["--size", "64", "--stem", "imagenet"]
    round_trip(tmp, "resnet18", torchvision.models.resnet18(num_classes=10),
               lambda: torchvision.models.resnet18(num_classes=10), 64, tv, "torchvision")
    round_trip(tmp, "resnet50", torchvision.models.resnet50(num_classes=10),
               lambda: torchvision.models.resnet50(num_classes=10), 64, tv, "torchvision")
    src20, ck20 = round_trip(tmp, "sharesnet20", sharesnet20(), sharesnet20, 32, ["--size", "32"],
                             "pytorchcv")
    round_trip(tmp, "sharesnet50", sharesnet50(), sharesnet50, 32, ["--size", "32"], "pytorchcv")

    # Fine-tuning an imported checkpoint on 4 classes (PNG folders): a new head, every
    # other weight as imported (a learning rate of 1e-30 leaves them bit for bit; BN statistics do
    # move in training), and it predicts.
    data4 = os.path.join(tmp, "cifar4")
    u.write_png_folders(data4, 4, 4, 32)
    run4 = os.path.join(tmp, "finetune")
    msg = u.run([SN, "train", "--init", ck20, "--data", data4, "--classes", "4", "--epochs", "1",
                 "--batch", "16", "--lr", "1e-30", "--wd", "0", "--limit-test", "-1", "--out", run4, "--device", DEV])
    if "new classifier head" not in msg:
        u.fail("fine-tuning did not report a new head: %s" % msg[:300])
    ft = os.path.join(tmp, "finetune.safetensors")
    u.run([SN, "export", os.path.join(run4, "checkpoint.safetensors"), "--format", "torch", "-o", ft,
           "--device", DEV])
    before, _ = u.read_safetensors(src20)
    after, _ = u.read_safetensors(ft)
    if after["output.weight"][1] != [4, 64]:
        u.fail("fine-tuned head has shape %s" % after["output.weight"][1])
    for k, (_, shape, values) in before.items():
        if k.endswith(".weight") and "conv" in k and not (after[k][2] == values).all():
            u.fail("fine-tuning at lr 1e-30 changed %s" % k)
    _, pngs = images(tmp, "ft", 32, 1)
    if len(u.predict_json(SN, os.path.join(run4, "checkpoint.safetensors"), pngs, DEV)[0]) != 4:
        u.fail("fine-tuned model does not predict 4 classes")
    print("ok   train --init (fine-tuning): new 4-class head, imported conv weights kept, predicts")

    # pytorchcv repeats a shared weight under every key: they must agree.
    tensors, meta = u.read_safetensors(src20)
    key = "features.stage2.unit3.body.conv2.conv.weight"
    dtype, shape, values = tensors[key]
    values[0] += 1.0
    broken = os.path.join(tmp, "broken.safetensors")
    u.write_safetensors(broken, tensors, meta)
    bad("import: keys of one shared weight differ", "differ, but the model shares",
        [SN, "import", broken, "--model", "sharesnet20", "-o", os.path.join(tmp, "x"), "--device", DEV])
    bad("import: a file of another model (its keys left over)", "unexpected key",
        [SN, "import", src20, "--model", "resnet18", "--size", "64", "-o", os.path.join(tmp, "x"),
         "--names", "pytorchcv", "--device", DEV])
    r18 = os.path.join(tmp, "resnet18_torch.safetensors")
    bad("import: another depth", "no tensor named 'layer1.2.conv1.weight'",
        [SN, "import", r18, "--model", "resnet34", "--size", "64", "--stem", "imagenet", "-o",
         os.path.join(tmp, "x"), "--device", DEV])
    bad("import: another head", "fc.weight",
        [SN, "import", r18, "--model", "resnet18", "--classes", "7", "--size", "64", "--stem",
         "imagenet", "-o", os.path.join(tmp, "x"), "--device", DEV])
    bad("import: not PyTorch names", "neither torchvision",
        [SN, "import", ck20, "--model", "sharesnet20", "-o", os.path.join(tmp, "x"), "--device", DEV])
    if os.path.exists(os.path.join(tmp, "x")):
        u.fail("a failed import wrote its checkpoint")

    # The checkpoint's sharing map must match the model it rebuilds.
    tensors, meta = u.read_safetensors(ck20)
    meta["sharing"] = meta["sharing"].replace('"stage3.block2.conv2"', '"stage3.block1.conv1"')
    tampered = os.path.join(tmp, "tampered.safetensors")
    u.write_safetensors(tampered, tensors, meta)
    _, pngs = images(tmp, "tampered", 32, 1)
    bad("checkpoint with a wrong sharing map", "sharing map",
        [SN, "predict", "--checkpoint", tampered, "--device", DEV] + pngs)
    print("all passed")


# Removed on success and on failure (u.fail exits through SystemExit): the
# ResNet-50 files are ~100 MB each.
with tempfile.TemporaryDirectory(prefix="sn_torch_") as tmp:
    main(tmp)
