#!/usr/bin/env python3
"""A tiny IDX dataset for the CLI-level tests: 4 classes of 8x8 gray
patterns (odd rows, odd columns, a checkerboard, a centre square) with
noise, from a fixed seed, as train-*-ubyte and t10k-*-ubyte in OUT.

usage: tiny_idx.py OUT TRAIN_COUNT TEST_COUNT
"""
import os
import random
import struct
import sys

out, n_train, n_test = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
rng = random.Random(5)


def split(prefix, n):
    labels = [rng.randrange(4) for _ in range(n)]
    px = bytearray()
    for label in labels:
        for y in range(8):
            for x in range(8):
                on = [y % 2, x % 2, (x + y) % 2, int(2 <= x < 6 and 2 <= y < 6)][label]
                px.append(max(0, min(255, (200 if on else 50) + rng.randrange(41) - 20)))
    with open(os.path.join(out, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 8, 8) + bytes(px))
    with open(os.path.join(out, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))


split("train", n_train)
split("t10k", n_test)
