"""Writes tests/fixtures/autocast_mlp.json: PyTorch's CPU autocast on a small MLP
(Linear 8→32, ReLU, Linear 32→4, cross-entropy), trained with SGD:

- f32: one step without autocast — the reference the 16-bit runs are measured against;
- bf16: one step under torch.autocast("cpu", dtype=torch.bfloat16);
- fp16: twelve steps under torch.autocast("cpu", dtype=torch.float16) with
  torch.amp.GradScaler("cpu", init_scale=2**16, growth_interval=4): the first steps overflow in
  fp16 (a weight gradient of 16 examples × 2**16 passes 65,504) and are skipped while the scale
  halves; then it trains, and the scale grows every 4 clean steps.

Per step: the loss, the scale used, whether the step was skipped, the gradients after
unscale_() (the first step), and the parameters at the end.

    python3 tests/reference/make_autocast_fixture.py > tests/fixtures/autocast_mlp.json

Run on PyTorch 2.15 (CPU; the fixture records the version)."""
import json
import math

import torch

LR = 0.05


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 8, generator=g) * 6.0
    y = torch.randint(0, 4, (16,), generator=g)
    w1 = torch.randn(32, 8, generator=g) * 0.35
    b1 = torch.randn(32, generator=g) * 0.1
    w2 = torch.randn(4, 32, generator=g) * 0.18
    b2 = torch.randn(4, generator=g) * 0.1
    return x, y, [w1, b1, w2, b2]


def num(v):
    v = float(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if math.isnan(v):
        return "nan"
    return v


def flat(t):
    return [num(v) for v in t.detach().float().reshape(-1).tolist()]


def run(dtype, steps, scaler):
    x, y, init = data()
    params = [p.clone().requires_grad_() for p in init]
    opt = torch.optim.SGD(params, lr=LR)
    out = []
    first_grads = None
    for _ in range(steps):
        opt.zero_grad()
        if dtype is None:
            h = torch.relu(torch.nn.functional.linear(x, params[0], params[1]))
            logits = torch.nn.functional.linear(h, params[2], params[3])
            loss = torch.nn.functional.cross_entropy(logits, y)
        else:
            with torch.autocast("cpu", dtype=dtype):
                h = torch.relu(torch.nn.functional.linear(x, params[0], params[1]))
                logits = torch.nn.functional.linear(h, params[2], params[3])
                assert logits.dtype == dtype
                loss = torch.nn.functional.cross_entropy(logits, y)
                assert loss.dtype == torch.float32
        step = {"loss": num(loss.item())}
        if scaler is None:
            loss.backward()
            skipped = False
        else:
            scale = scaler.get_scale()
            step["scale"] = num(scale)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            found_inf = any(not torch.isfinite(p.grad).all() for p in params)
            scaler.step(opt)
            scaler.update()
            skipped = found_inf
        step["skipped"] = skipped
        if first_grads is None and not skipped:
            first_grads = [flat(p.grad) for p in params]
        if scaler is None:
            opt.step()
        out.append(step)
    return {"steps": out, "first_clean_grads": first_grads, "params": [flat(p) for p in params]}


def main():
    x, y, init = data()
    fixture = {
        "source": f"PyTorch {torch.__version__} CPU autocast, tests/reference/make_autocast_fixture.py",
        "lr": LR,
        "x": flat(x),
        "y": y.tolist(),
        "init": [flat(p) for p in init],
        "shapes": [list(p.shape) for p in init],
        "f32": run(None, 1, None),
        "bf16": run(torch.bfloat16, 1, None),
        "fp16": run(torch.float16, 12, torch.amp.GradScaler("cpu", init_scale=2.0**16, growth_interval=4)),
        "fp16_growth_interval": 4,
    }
    print(json.dumps(fixture))


if __name__ == "__main__":
    main()
