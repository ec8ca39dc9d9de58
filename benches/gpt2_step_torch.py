#!/usr/bin/env python3
"""The GPT-2 (124M-sized) training step of benches/gpt2_step.rs in PyTorch eager, same shapes and
ops (no fused attention, no torch.compile), for a side-by-side ms/step.

    .venv-ref/bin/python benches/gpt2_step_torch.py --tokens 32
    python3 benches/gpt2_step_torch.py --device cuda --tokens 1024 [--tf32]
"""
import argparse
import math
import os
import time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--device", default="cpu")
p.add_argument("--tokens", type=int, default=32)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--tf32", action="store_true")
p.add_argument("--labels", choices=["all", "one", "one-gathered"], default="all",
               help="all: next-token loss at every position; one: the course's sentiment labels (-100 "
                    "except one position per sequence) with the head over every position, as "
                    "GPT2LMHeadModel + Trainer compute it; one-gathered: the head only at that position")
a = p.parse_args()
torch.set_num_threads(os.cpu_count())
torch.backends.cuda.matmul.allow_tf32 = a.tf32
C, NH, LAYERS, VOCAB, B, T = 768, 12, 12, 50257, 8, a.tokens
dev = torch.device(a.device)
g = torch.Generator().manual_seed(0)


def param(*shape):
    return (torch.randn(*shape, generator=g) * 0.02).to(dev).requires_grad_()


def ln():
    return torch.ones(C, device=dev, requires_grad=True), torch.zeros(C, device=dev, requires_grad=True)


wte, wpe = param(VOCAB, C), param(1024, C)
blocks = [dict(ln1=ln(), attn=(param(3 * C, C), param(3 * C)), proj=(param(C, C), param(C)), ln2=ln(),
               fc=(param(4 * C, C), param(4 * C)), fc2=(param(C, 4 * C), param(C))) for _ in range(LAYERS)]
lnf = ln()
params = [wte, wpe, *lnf] + [t for b in blocks for pair in b.values() for t in pair]
ids = torch.tensor([(i * 7919) % VOCAB for i in range(B * T)], device=dev).view(B, T)
targets = torch.tensor([(i * 104729 + 1) % VOCAB for i in range(B * T)], device=dev).view(B, T)
if a.labels != "all":  # one label per sequence, at position T - 1 - (row % 4) (as benches/gpt2_step.rs)
    keep = torch.zeros(B, T, dtype=torch.bool, device=dev)
    keep[torch.arange(B), T - 1 - torch.arange(B) % 4] = True
    targets = targets.masked_fill(~keep, -100)
pos = torch.arange(T, device=dev)
mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=dev), 1)
hs = C // NH


def block(b, x):
    h = F.layer_norm(x, (C,), *b["ln1"])
    qkv = F.linear(h, *b["attn"])
    q, k, v = (qkv[..., i * C:(i + 1) * C].view(B, T, NH, hs).transpose(1, 2) for i in range(3))
    att = ((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))).masked_fill(mask, float("-inf")).softmax(-1)
    y = (att @ v).transpose(1, 2).reshape(B, T, C)
    x = x + F.linear(y, *b["proj"])
    h = F.layer_norm(x, (C,), *b["ln2"])
    return x + F.linear(F.gelu(F.linear(h, *b["fc"]), approximate="tanh"), *b["fc2"])


def step():
    x = wte[ids] + wpe[pos]
    for b in blocks:
        x = block(b, x)
    h = F.layer_norm(x, (C,), *lnf)
    if a.labels == "one-gathered":
        rows = (targets.view(-1) != -100).nonzero().squeeze(1)
        loss = F.cross_entropy(F.linear(h.view(-1, C)[rows], wte), targets.view(-1)[rows])
    else:
        logits = F.linear(h, wte)
        loss = F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))
    loss.backward()
    val = loss.item()
    for t in params:
        t.grad = None
    return val


first = step()
step()  # two warm-up steps, as benches/gpt2_step.rs
if dev.type == "cuda":
    torch.cuda.synchronize()
t0 = time.perf_counter()
for _ in range(a.steps):
    step()
if dev.type == "cuda":
    torch.cuda.synchronize()
ms = (time.perf_counter() - t0) * 1e3 / a.steps
memory = ""
if dev.type == "cuda":
    gib = 1 << 30
    memory = (f", peak GPU memory {torch.cuda.max_memory_allocated() / gib:.2f} GiB used / "
              f"{torch.cuda.max_memory_reserved() / gib:.2f} GiB reserved")
print(f"gpt2_step_torch device={a.device} tf32={a.tf32} labels={a.labels} batch={B} tokens={T} loss={first:.4f}: {ms:.1f} ms/step "
      f"(mean of {a.steps}), {B * T / (ms / 1e3):.0f} tokens/s{memory}")
