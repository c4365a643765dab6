#!/usr/bin/env python3
"""Seed corpora for the libFuzzer harnesses in fuzz/ (one folder each).

usage: make_corpus.py OUT_DIR [--sharesnet PATH/TO/sharesnet]

Every seed is written from scratch here (no downloads): small valid files of
each format plus a few broken ones, laid out as each harness expects (see
the comment at the top of fuzz/fuzz_*.c). With --sharesnet, a real
checkpoint (resnet8 trained for one epoch on the IDX seed, on the default
OpenCL device) is added to the safetensors corpus, so that the checkpoint
loader's graph check starts from a file that passes it.
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# ---- safetensors ------------------------------------------------------------

def safetensors(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def safetensors_seeds(out):
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    write(out, "plain", safetensors([("a", "F32", [2, 2], f32(1, 2, 3, 4)),
                                     ("b", "I64", [1], struct.pack("<q", 7)),
                                     ("c", "U8", [3], b"xyz"),
                                     ("empty", "F16", [0, 4], b"")],
                                    {"note": "seed"}))
    write(out, "scalar", safetensors([("s", "F64", [], struct.pack("<d", 1.5))]))
    write(out, "empty_header", struct.pack("<Q", 8) + b"{}      ")
    write(out, "truncated", safetensors([("a", "F32", [4], f32(1, 2, 3, 4))])[:-3])


def checkpoint_seeds(out, sharesnet, idx_dir):
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    meta = {"format": "sharesnet-checkpoint-1", "model": "resnet8", "policy": "none",
            "classes": "4", "in_channels": "1", "size": "8", "shortcut": "A",
            "small_stem": "-1", "parameters": "0", "epoch": "1", "global_step": "2",
            "seed": "3", "norm_channels": "1", "norm_mean": "0.5", "norm_std": "0.25",
            "class_names": "a\nb\nc\nd", "log_line": "{}"}
    write(out, "checkpoint_meta_only",
          safetensors([("stem.conv.weight", "F32", [16, 1, 3, 3], f32(*([0.1] * 144)))], meta))
    if sharesnet:
        with tempfile.TemporaryDirectory() as tmp:
            run = os.path.join(tmp, "run")
            cmd = [sharesnet, "train", "--model", "resnet8", "--data", idx_dir, "--epochs", "1",
                   "--batch", "16", "--limit-test", "-1", "--out", run]
            if subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
                with open(os.path.join(run, "checkpoint.safetensors"), "rb") as f:
                    write(out, "checkpoint_resnet8", f.read())
            else:
                print("make_corpus: no checkpoint seed (%s failed)" % " ".join(cmd),
                      file=sys.stderr)


# ---- IDX ---------------------------------------------------------------------

def idx_files(n, rows=8, cols=8, classes=4):
    images = struct.pack(">IIII", 0x803, n, rows, cols) + bytes(
        (i * 37) % 256 for i in range(n * rows * cols))
    labels = struct.pack(">II", 0x801, n) + bytes(i % classes for i in range(n))
    return images, labels


def idx_input(flags, labels, images):
    return bytes([flags]) + struct.pack("<H", len(labels)) + labels + images


def idx_seeds(out):
    images, labels = idx_files(4)
    write(out, "raw", idx_input(0, labels, images))
    write(out, "gzip_both", idx_input(3, labels, images))
    write(out, "three_classes", idx_input(4, labels, images))
    # Already gzipped by the seed: mutations hit the decompressor.
    write(out, "pre_gzipped", idx_input(0, gzip.compress(labels), gzip.compress(images)))
    bad_labels = struct.pack(">II", 0x801, 4) + bytes([0, 1, 200, 3])
    write(out, "label_out_of_range", idx_input(0, bad_labels, images))
    write(out, "count_mismatch", idx_input(0, idx_files(3)[1], images))


# ---- CIFAR -------------------------------------------------------------------

def cifar_input(flags, names, records):
    return bytes([flags]) + struct.pack("<H", len(names)) + names + records


def cifar_seeds(out):
    pixels = bytes(i % 251 for i in range(3072))
    c10 = b"".join(bytes([k]) + pixels for k in (0, 9, 3))
    c100 = b"".join(bytes([k % 20, k]) + pixels for k in (0, 99, 42))
    names10 = "".join("class%d\n" % k for k in range(10)).encode()
    names20 = "".join("coarse%d\n" % k for k in range(20)).encode()
    write(out, "cifar10", cifar_input(0, b"", c10))
    write(out, "cifar10_names", cifar_input(4, names10, c10))
    write(out, "cifar100_fine", cifar_input(1, b"", c100))
    write(out, "cifar100_coarse_names", cifar_input(7, names20, c100))
    write(out, "cifar10_truncated", cifar_input(0, b"", c10[:-5]))
    write(out, "cifar10_wrong_names", cifar_input(4, b"one\ntwo\n", c10))


# ---- PNG ---------------------------------------------------------------------

def png(width, height, color_type, depth, rows, extra=b""):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png_seeds(out):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    write(out, "gray8", png(8, 8, 0, 8, [bytes([(x * y) % 256 for x in range(8)]) for y in range(8)]))
    write(out, "rgb20x12", png(20, 12, 2, 8, [bytes(range(60)) for _ in range(12)]))
    write(out, "rgba", png(4, 4, 6, 8, [bytes(range(16)) for _ in range(4)]))
    write(out, "gray_alpha16", png(3, 3, 4, 16, [bytes(range(12)) for _ in range(3)]))
    palette = chunk(b"PLTE", bytes(range(12))) + chunk(b"tRNS", b"\x00\x80")
    write(out, "palette_trns", png(8, 2, 3, 2, [b"\x1b\x6c"] * 2, palette))
    write(out, "gray1", png(16, 1, 0, 1, [b"\xa5\x5a"]))
    write(out, "huge_header", png(1 << 20, 1 << 20, 0, 8, [b"\x00"]))
    write(out, "not_png", b"GIF89a" + bytes(32))


# ---- program binary, tune file -------------------------------------------------

def program_seeds(out):
    key = b"platform=fuzz\ndevice=none\n"
    write(out, "wellformed_match", bytes([3, len(key)]) + key + b"\x7fELF binary bytes")
    write(out, "wellformed_other_key", bytes([1, len(key)]) + key + b"binary")
    write(out, "wellformed_empty_binary", bytes([3, len(key)]) + key)
    body = b"SNPROG1\n" + struct.pack("<Q", len(key)) + key + struct.pack("<Q", 4) + b"abcd"
    write(out, "raw_no_checksum", b"\x00" + body)
    write(out, "raw_bad_magic", b"\x00" + b"SNPROG2\n" + bytes(40))


def tune_seeds(out):
    lines = [b"forward 8 16 32 32 16 3 1 1 direct 1.2500 0.7500 -",
             b"backward_data 128 64 8 8 64 3 1 1 winograd 3.0000 2.0000 1.5000",
             b"backward_weights 1 3 224 224 64 7 2 3 gemm 10.0000 - -",
             b"# a comment",
             b"forward 1 1 1 1 1 1 1 0 gemm 0.0000 - -"]
    write(out, "checked_lines", b"\x01" + b"\n".join(lines) + b"\n")
    # One time per algorithm: the count depends on the build's algorithm
    # table (3 here: gemm, direct, winograd), so lines with one more column
    # keep the seeds useful when an algorithm is added.
    wider = [l + b" 0.5000" for l in lines if not l.startswith(b"#")]
    write(out, "checked_lines_4_algorithms", b"\x01" + b"\n".join(wider) + b"\n")
    write(out, "unterminated", b"\x01" + lines[0])
    write(out, "unchecked", b"\x00" + b"\n".join(l + b" 0badc0de" for l in lines) + b"\n")
    write(out, "bad_fields", b"\x01forward -1 16 32 32 16 3 1 1 direct nan - -\n"
          b"forward 8 16 32 32 16 3 1 1 direct - 1.0 -\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--sharesnet", help="sharesnet binary, for a real checkpoint seed")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        idx_dir = os.path.join(tmp, "idx")
        os.makedirs(idx_dir)
        images, labels = idx_files(32)
        write(idx_dir, "train-images-idx3-ubyte", images)
        write(idx_dir, "train-labels-idx1-ubyte", labels)
        write(idx_dir, "t10k-images-idx3-ubyte", images)
        write(idx_dir, "t10k-labels-idx1-ubyte", labels)
        checkpoint_seeds(os.path.join(a.out, "fuzz_checkpoint"), a.sharesnet, idx_dir)
    safetensors_seeds(os.path.join(a.out, "fuzz_safetensors"))
    idx_seeds(os.path.join(a.out, "fuzz_idx"))
    cifar_seeds(os.path.join(a.out, "fuzz_cifar"))
    png_seeds(os.path.join(a.out, "fuzz_png"))
    program_seeds(os.path.join(a.out, "fuzz_program_binary"))
    tune_seeds(os.path.join(a.out, "fuzz_tune"))


if __name__ == "__main__":
    main()
