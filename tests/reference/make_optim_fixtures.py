#!/usr/bin/env python3
"""Reference trajectories of torch.optim, the LR schedulers, gradient clipping and the course's
FeedForwardNet, for tests/optim_parity.rs and tests/nn_parity.rs.

Optimizers: a small regression problem is optimised for 10 steps per configuration; every
step's gradients G_t and the parameters after the step P_t are stored. The Rust test feeds the
same G_t (through the loss Σ p·G_t, whose gradient is exactly G_t) so that only the update rules
are compared.

    .venv-ref/bin/python tests/reference/make_optim_fixtures.py
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(1)
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
STEPS = 10

x = torch.randn(8, 4)
y = torch.randn(8, 3)
w0 = torch.randn(4, 3) * 0.5
b0 = torch.randn(3) * 0.1

CONFIGS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "sgd_dampening_wd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01),
    "rmsprop_centered_momentum_wd": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True, weight_decay=0.01),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.1),
    "adagrad_decay_wd_init": lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1),
    "adadelta": lambda p: torch.optim.Adadelta(p),
    "adadelta_wd": lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.8, weight_decay=0.01),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adam_l2": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01),
    "adamw_betas_eps": lambda p: torch.optim.AdamW(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "rprop": lambda p: torch.optim.Rprop(p, lr=0.01),
    "rprop_etas_steps": lambda p: torch.optim.Rprop(p, lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.08)),
}

store = {"problem/x": x, "problem/y": y, "problem/w0": w0, "problem/b0": b0}
for name, make in CONFIGS.items():
    w = w0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    opt = make([w, b])
    for t in range(STEPS):
        opt.zero_grad()
        loss = F.mse_loss(x @ w + b, y)
        loss.backward()
        store[f"{name}/g{t}.w"] = w.grad.clone()
        store[f"{name}/g{t}.b"] = b.grad.clone()
        opt.step()
        store[f"{name}/p{t}.w"] = w.detach().clone()
        store[f"{name}/p{t}.b"] = b.detach().clone()


def lrs(make_sched, epochs=12, base=0.1):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    sched = make_sched(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return torch.tensor(out, dtype=torch.float64).float()


def hf_linear(warmup, total):  # transformers.get_linear_schedule_with_warmup's lambda
    return lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))


def hf_cosine(warmup, total):  # transformers.get_cosine_schedule_with_warmup's lambda (0.5 cycles)
    def f(s):
        if s < warmup:
            return s / max(1, warmup)
        progress = (s - warmup) / max(1, total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return f


# L-BFGS needs the loss function: three step(closure) calls on the same problem, PyTorch's
# defaults and a short-history variant; parameters after each call and the evaluation count.
LBFGS = {
    "lbfgs": lambda p: torch.optim.LBFGS(p),
    "lbfgs_lr_hist": lambda p: torch.optim.LBFGS(p, lr=0.5, max_iter=7, history_size=3),
}
for name, make in LBFGS.items():
    w = w0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    opt = make([w, b])

    def closure():
        opt.zero_grad()
        loss = F.mse_loss(x @ w + b, y)
        loss.backward()
        return loss

    for t in range(3):
        store[f"{name}/loss{t}"] = opt.step(closure).detach().reshape(1)
        store[f"{name}/p{t}.w"] = w.detach().clone()
        store[f"{name}/p{t}.b"] = b.detach().clone()
    store[f"{name}/func_evals"] = torch.tensor([float(opt.state[w]["func_evals"])])

S = torch.optim.lr_scheduler
store["schedule/step"] = lrs(lambda o: S.StepLR(o, step_size=3, gamma=0.5))
store["schedule/exponential"] = lrs(lambda o: S.ExponentialLR(o, gamma=0.9))
store["schedule/cosine"] = lrs(lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001))
store["schedule/warmup_linear"] = lrs(lambda o: S.LambdaLR(o, hf_linear(3, 10)))
store["schedule/warmup_cosine"] = lrs(lambda o: S.LambdaLR(o, hf_cosine(3, 10)))

# clip_grad_norm_: two parameters with known gradients, clipped to max_norm 1.0
g1, g2 = torch.randn(5, 3), torch.randn(7)
p1, p2 = torch.zeros(5, 3, requires_grad=True), torch.zeros(7, requires_grad=True)
p1.grad, p2.grad = g1.clone(), g2.clone()
norm = torch.nn.utils.clip_grad_norm_([p1, p2], max_norm=1.0)
store.update({"clip/g1": g1, "clip/g2": g2, "clip/norm": norm.reshape(1), "clip/c1": p1.grad, "clip/c2": p2.grad})
save_file({k: v.contiguous() for k, v in store.items()}, os.path.join(OUT, "optim.safetensors"))
print(f"optim: {len(CONFIGS)} optimizer configs, {len(LBFGS)} L-BFGS configs, 5 schedules, clipping")


# ----- nn: LayerNorm and the course's FeedForwardNet (eval mode) -------------------------------
class FeedForwardNet(nn.Module):  # the course notes' model, verbatim in structure
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 64)
        self.fc4 = nn.Linear(64, 10)
        self.dropout = nn.Dropout(p=0.2)

    def forward(self, x):
        x = x.view(x.shape[0], -1)
        x = self.dropout(F.relu(self.fc1(x)))
        x = self.dropout(F.relu(self.fc2(x)))
        x = self.dropout(F.relu(self.fc3(x)))
        return F.log_softmax(self.fc4(x), dim=1)


nn_store = {}
ln = nn.LayerNorm(5)
with torch.no_grad():
    ln.weight.copy_(torch.randn(5))
    ln.bias.copy_(torch.randn(5))
xl = torch.randn(2, 3, 5, requires_grad=True)
out = ln(xl)
gout = torch.randn_like(out)
out.backward(gout)
nn_store.update({"layer_norm/x": xl.detach(), "layer_norm/weight": ln.weight.detach(), "layer_norm/bias": ln.bias.detach(),
                 "layer_norm/out": out.detach(), "layer_norm/gout": gout, "layer_norm/grad_x": xl.grad,
                 "layer_norm/grad_weight": ln.weight.grad, "layer_norm/grad_bias": ln.bias.grad})

model = FeedForwardNet().eval()
images = torch.rand(6, 1, 28, 28)
labels = torch.tensor([3, 1, 4, 1, 5, 9])
logp = model(images)
loss = F.nll_loss(logp, labels)
loss.backward()
for name, p in model.named_parameters():
    nn_store[f"ffn/param.{name}"] = p.detach().clone()
    nn_store[f"ffn/grad.{name}"] = p.grad.clone()
nn_store.update({"ffn/images": images, "ffn/labels": labels, "ffn/log_probs": logp.detach(), "ffn/loss": loss.detach().reshape(1)})
save_file({k: v.contiguous() for k, v in nn_store.items()}, os.path.join(OUT, "nn.safetensors"))
print("nn: layer_norm, FeedForwardNet")
