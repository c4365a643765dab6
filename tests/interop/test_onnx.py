"""ONNX export, checked by real consumers: onnx.checker (full check, with
shape inference), onnxruntime (through node) against `sharesnet predict
--json`, and the structure the issue asks for (each shared weight one
initializer used by every Conv node of the sharing map).

usage: test_onnx.py SHARESNET NODE [DEVICE]
Needs Debian's python3-onnx and tests/interop/node_modules (npm install
--ignore-scripts onnxruntime-node): a missing one fails the test."""
import json
import os
import struct
import sys
import tempfile
from collections import Counter

import onnx
import onnx.numpy_helper  # noqa: F401  (part of the consumer we check against)

import interop_util as u

SN, NODE = sys.argv[1], sys.argv[2]
DEV = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("SN_TEST_DEVICE", "cpu")
HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-4


def check_structure(model, name):
    g = model.graph
    meta = {p.key: p.value for p in model.metadata_props}
    sharing = json.loads(meta["sharesnet.sharing"])
    inits = Counter(t.name for t in g.initializer)
    dup = [k for k, v in inits.items() if v > 1]
    if dup:
        u.fail("%s: initializers repeated: %s" % (name, dup))
    conv_uses = Counter(n.input[1] for n in g.node if n.op_type == "Conv")
    for weight, layers in sharing.items():
        if inits[weight] != 1:
            u.fail("%s: shared weight %s is %d initializers" % (name, weight, inits[weight]))
        users = sorted(n.name for n in g.node if n.op_type == "Conv" and n.input[1] == weight)
        if users != sorted(layers):
            u.fail("%s: %s used by Conv nodes %s, sharing map says %s" % (name, weight, users, layers))
    # No weight stored twice under another name either: every conv weight
    # initializer's bytes are unique.
    raw = Counter(t.raw_data for t in g.initializer if t.name in conv_uses)
    if max(raw.values()) > 1:
        u.fail("%s: two conv initializers hold the same bytes" % name)
    shared_uses = sum(conv_uses[w] for w in sharing)
    print("ok   %s: %d initializers, %d Conv nodes, %d shared weights used %d times"
          % (name, len(g.initializer), sum(conv_uses.values()), len(sharing), shared_uses))
    return meta


def compare(name, onnx_path, checkpoint, channels, size, tmp, count=3):
    images = u.random_images(count, channels, size, seed=11)
    pngs = []
    for i, px in enumerate(images):
        pngs.append(os.path.join(tmp, "%s_%d.png" % (name, i)))
        u.write_png(pngs[-1], px, size, size, channels)
    ours = u.predict_json(SN, checkpoint, pngs, DEV)
    meta = {p.key: p.value for p in onnx.load(onnx_path, load_external_data=False).metadata_props}
    mean = [float(v) for v in meta["norm_mean"].split(",")]
    std = [float(v) for v in meta["norm_std"].split(",")]
    data = [v for px in images for plane in u.normalise(px, mean, std) for row in plane for v in row]
    inp = os.path.join(tmp, name + "_input.json")
    with open(inp, "w") as f:
        json.dump({"dims": [count, channels, size, size], "data": data}, f)
    out = json.loads(u.run([NODE, os.path.join(HERE, "run_onnx.js"), onnx_path, inp]))
    classes = out["dims"][1]
    if out["dims"][0] != count:
        u.fail("%s: onnxruntime returned %s logits for %d images" % (name, out["dims"], count))
    diff = max(abs(out["data"][i * classes + k] - ours[i][k])
               for i in range(count) for k in range(classes))
    scale = max(abs(v) for z in ours for v in z)
    if not diff <= TOL:
        u.fail("%s: onnxruntime logits differ from predict --json by %.3g (max |logit| %.3g)"
               % (name, diff, scale))
    print("ok   %s: onnxruntime vs predict --json, %d images x %d classes: max |diff| %.2e "
          "(max |logit| %.2f)" % (name, count, classes, diff, scale))


def main(tmp):
    data = os.path.join(tmp, "cifar")
    u.write_cifar(data)
    # The data is 3x32x32, so ShaResNet-50 runs at a small input (its 3x3
    # stem without max pool, as the graph picks below 112 pixels).
    sizes = {}
    channels, size = 3, 32
    for model in ["resnet20", "sharesnet20", "sharesnet50"]:
        run_dir = os.path.join(tmp, model)
        # Ten steps at a small learning rate: the BN running statistics move
        # well away from 0/1 (a deep net evaluated with statistics of only a
        # step or two blows its logits up to hundreds, where float32 rounding
        # alone exceeds 1e-4) and the logits stay of order 1.
        u.run([SN, "train", "--model", model, "--data", data, "--epochs", "1", "--lr", "0.001",
               "--batch", "8", "--limit-test", "-1", "--out", run_dir, "--device", DEV])
        ck = os.path.join(run_dir, "checkpoint.safetensors")
        path = os.path.join(tmp, model + ".onnx")
        u.run([SN, "export", ck, "--format", "onnx", "-o", path, "--device", DEV])
        onnx.checker.check_model(path, full_check=True)
        model_proto = onnx.load(path)
        if model_proto.opset_import[0].version < 13:
            u.fail("%s: opset %d" % (model, model_proto.opset_import[0].version))
        dim0 = model_proto.graph.input[0].type.tensor_type.shape.dim[0]
        if not dim0.dim_param:
            u.fail("%s: batch dimension is not dynamic" % model)
        print("ok   %s: onnx.checker (full check), opset %d, dynamic N"
              % (model, model_proto.opset_import[0].version))
        meta = check_structure(model_proto, model)
        if meta["class_names"].split("\n")[:2] != ["class_0", "class_1"]:
            u.fail("%s: class names not in metadata_props" % model)
        sizes[model] = os.path.getsize(path)
        compare(model, path, ck, channels, size, tmp)
    print("ok   file sizes: resnet20 %d bytes, sharesnet20 %d bytes (%.1f%%), sharesnet50 %d bytes"
          % (sizes["resnet20"], sizes["sharesnet20"], 100.0 * sizes["sharesnet20"] / sizes["resnet20"],
             sizes["sharesnet50"]))
    if not sizes["sharesnet20"] < 0.9 * sizes["resnet20"]:
        u.fail("the ShaResNet-20 file is not smaller than ResNet-20's")
    print("all passed")


# Removed on success and on failure (u.fail exits through SystemExit): the
# ResNet-50 files are ~100 MB each.
with tempfile.TemporaryDirectory(prefix="sn_onnx_") as tmp:
    main(tmp)
