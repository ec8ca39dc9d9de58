#!/usr/bin/env python3
"""The same MLP step as benches/cpu.rs (`mlp_784_256_128_64_10_fwd_bwd_batch64`) in PyTorch eager
on the CPU, and the same GEMM sizes, for a side-by-side comparison on one machine.

    .venv-ref/bin/python benches/torch_mlp.py          # uses as many threads as cores
"""
import os
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(os.cpu_count())
torch.manual_seed(4)


def best_of(fn, reps, warmup=5):
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def mean_and_median(fn, reps, warmup=200):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return sum(times) / len(times), times[len(times) // 2]


sizes = [784, 256, 128, 64, 10]
layers = []
for i, o in zip(sizes, sizes[1:]):
    lin = torch.nn.Linear(i, o)
    layers.append((lin.weight.detach().requires_grad_(), torch.zeros(o, requires_grad=True)))
x = torch.rand(64, 784)
y = torch.arange(64) % 10


def step():
    h = x
    for k, (w, b) in enumerate(layers):
        h = F.linear(h, w, b)
        if k + 1 < len(layers):
            h = F.relu(h)
    loss = F.nll_loss(F.log_softmax(h, -1), y)
    loss.backward()
    for w, b in layers:
        w.grad = None
        b.grad = None
    return loss.item()


print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
mean, median = mean_and_median(step, 5000)
print(f"mlp_784_256_128_64_10_fwd_bwd_batch64: mean {mean * 1e6:.1f} µs, median {median * 1e6:.1f} µs (5000 steps)")
x4 = torch.randn(1024, 4096)
b4 = torch.randn(4096)
print(f"add_broadcast_4M: {best_of(lambda: x4 + b4, 20) * 1e3:.3f} ms")
print(f"gelu_tanh_4M: {best_of(lambda: F.gelu(x4, approximate='tanh'), 20) * 1e3:.3f} ms")
s4 = torch.randn(4096, 1024)
print(f"softmax rows_4096x1024: {best_of(lambda: torch.softmax(s4, -1), 20) * 1e3:.3f} ms")
for n in (256, 1024, 2048):
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = best_of(lambda: a @ b, 3 if n >= 2048 else 10)
    print(f"gemm {n}: {2 * n ** 3 / t / 1e9:.1f} GFLOP/s")
