"""Writes tests/fixtures/grad_scaler.json: torch.amp.GradScaler's dynamic loss scaling on a
scripted sequence of gradients, some of them overflowing (inf) or NaN, with SGD on one
parameter vector. Per step: the scale used for the loss, the gradients after unscale_(), whether
the step was skipped, the scale after update(), and the parameters after the step.

    python3 tests/reference/make_grad_scaler_fixture.py > tests/fixtures/grad_scaler.json

Two scalers: PyTorch's defaults (init 2**16, growth 2.0 every 2000 clean steps, backoff 0.5),
over a sequence too short to grow, and a small growth interval (3) with init 8.0, to see growth,
backoff and the tracker reset. Run on PyTorch 2.15 (CPU; the fixture records the version)."""
import json
import math

import torch

INF, NAN = math.inf, math.nan
# per step, the gradient of the loss (w · g).sum() with respect to w: g itself
GRADS = [
    [0.5, -1.25, 3.0],
    [1e-3, 2.0, -0.75],
    [INF, 1.0, 1.0],  # overflow: skip, back off
    [0.25, 0.125, -4.0],
    [NAN, 0.0, 1.0],  # NaN: skip, back off
    [2.5, -2.5, 0.1],
    [0.3, 0.6, 0.9],
    [-1.0, 1e-5, 7.0],
    [0.2, -0.4, 0.8],
    [1.0, 1.0, -INF],  # overflow again after growth
    [0.05, 0.5, 5.0],
    [3.0, -0.3, 0.03],
    [0.7, 0.7, 0.7],
    [1.5, -1.5, 1.5],
]


def run(init_scale, growth_interval):
    w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_factor=2.0, backoff_factor=0.5,
                                  growth_interval=growth_interval)
    steps = []
    for g in GRADS:
        opt.zero_grad()
        scale = scaler.get_scale()
        loss = (w * torch.tensor(g)).sum()
        scaler.scale(loss).backward()
        before = w.detach().clone()
        scaler.unscale_(opt)  # what step() would do first; recorded: GradScaler's own output
        unscaled = [repr(x) for x in w.grad.tolist()]
        scaler.step(opt)
        scaler.update()
        skipped = bool(torch.equal(before, w.detach()))
        steps.append({"grad": [repr(x) for x in g], "scale": scale, "unscaled": unscaled, "skipped": skipped,
                      "scale_after": scaler.get_scale(), "w": w.detach().tolist()})
    return {"init_scale": init_scale, "growth_interval": growth_interval, "steps": steps}


print(json.dumps({"torch": torch.__version__, "lr": 0.1, "w0": [1.0, -2.0, 0.5],
                  "runs": [run(65536.0, 2000), run(8.0, 3)]}, indent=1))
