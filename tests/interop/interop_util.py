"""Helpers of the interop tests: a tiny CIFAR-10-format dataset, PNG images
whose exact pixels the test knows, the sharesnet CLI, and safetensors files
read and written with the standard library (Debian's python3 has no
safetensors package; torch is what checks the contents)."""
import json
import os
import random
import struct
import subprocess
import sys
import zlib


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def run(cmd, **kw):
    """Run a command; its failure fails the test with its output."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        fail("%s exited %d\n--- stdout\n%s\n--- stderr\n%s"
             % (" ".join(map(str, cmd)), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


def write_cifar(root, per_file=16, classes=10, seed=5):
    """CIFAR-10 binary layout (label byte + 3x32x32 bytes), 5 train files and a
    test file: smooth class-dependent colours plus noise, so training moves the
    BN statistics away from their initial values."""
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)

    def record(label):
        px = bytearray()
        for c in range(3):
            base = 40 + 20 * ((label + c) % classes)
            for y in range(32):
                for x in range(32):
                    v = base + ((x * (label + 1) + y * (c + 1)) % 50) + rng.randrange(30)
                    px.append(min(255, v))
        return bytes([label]) + bytes(px)

    for name in ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]:
        with open(os.path.join(root, name), "wb") as f:
            for _ in range(per_file):
                f.write(record(rng.randrange(classes)))
    with open(os.path.join(root, "batches.meta.txt"), "w") as f:
        # The CIFAR-10 format always names 10 classes; labels use the first `classes`.
        f.write("\n".join("class_%d" % k for k in range(10)) + "\n")


def write_png_folders(root, classes, per_class, size, seed=6):
    """ROOT/{train,test}/class_K/N.png, RGB, random pixels (the classes only
    need to exist: the fine-tuning test checks weights, not accuracy)."""
    for split in ("train", "test"):
        for k in range(classes):
            d = os.path.join(root, split, "class_%d" % k)
            os.makedirs(d, exist_ok=True)
            for i, px in enumerate(random_images(per_class, 3, size, seed + 97 * k + (split == "test"))):
                write_png(os.path.join(d, "%d.png" % i), px, size, size, 3)


def write_png(path, pixels, width, height, channels):
    """8-bit PNG (gray or RGB) of pixels[y][x][c], no filtering."""
    kind = {1: 0, 3: 2}[channels]
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in pixels[y][x])
                    for y in range(height))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, kind, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def random_images(count, channels, size, seed):
    """`count` images as pixels[y][x][c] lists."""
    rng = random.Random(seed)
    return [[[[rng.randrange(256) for _ in range(channels)] for _ in range(size)]
             for _ in range(size)] for _ in range(count)]


def normalise(pixels, mean, std):
    """pixels[y][x][c] -> nested [c][y][x] floats, as sharesnet predict does."""
    channels = len(pixels[0][0])
    return [[[(row[x][c] / 255.0 - mean[c]) / std[c] for x in range(len(row))]
             for row in pixels] for c in range(channels)]


def predict_json(sn, checkpoint, pngs, device):
    out = json.loads(run([sn, "predict", "--checkpoint", checkpoint, "--json", "--top", "3",
                          "--device", device] + list(pngs)))
    return [p["logits"] for p in out["predictions"]]


_DTYPES = {"F32": "<f4", "I64": "<i8", "F64": "<f8"}


def read_safetensors(path):
    """{name: (dtype, shape, numpy array, flat)}, metadata. numpy comes with
    python3-torch; the tests compare values with torch, not with this."""
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        tensors[name] = (t["dtype"], t["shape"], np.frombuffer(data[b:e], dtype=_DTYPES[t["dtype"]]).copy())
    return tensors, meta


def write_safetensors(path, tensors, meta=None):
    """tensors: {name: (dtype, shape, flat numpy array or list)}."""
    import numpy as np
    header, blobs, offset = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, (dtype, shape, values) in tensors.items():
        blob = np.asarray(values, dtype=_DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
