#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that tests/pytorch_parity.rs compares against.

Every case runs one op (or loss) in float32 on seeded random inputs, then backpropagates a random
upstream gradient `gout`. It stores, under `<case>/…`: the inputs `in0, in1, …` (float32 or int64),
`out`, `gout`, and `grad<i>` for each input that requires grad. Cases are grouped one file per op
family in tests/fixtures/<family>.safetensors. The Rust test fails if a case exists on one side and
not on the other, so the two lists cannot drift apart.

Regenerate (needs torch and safetensors; cargo test never does):
    python3 -m venv .venv-ref && .venv-ref/bin/pip install torch safetensors numpy
    .venv-ref/bin/python tests/reference/make_fixtures.py
"""
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
FAMILIES = {}


def randn(*shape):
    if len(shape) == 1 and isinstance(shape[0], tuple):
        shape = shape[0]
    return torch.randn(shape, dtype=torch.float32)


def away_from(x, points=(0.0,), gap=0.05):
    """Moves values within `gap` of a kink (relu at 0, clamp at its bounds …) away from it, so that
    finite differences and the one-sided derivative conventions cannot disagree."""
    for p in points:
        close = (x - p).abs() < gap
        x = torch.where(close, x + 2 * gap * torch.sign(x - p + 1e-12), x)
    return x


def positive(*shape, lo=0.2):
    return torch.rand(*shape) * 2 + lo


def case(family, name, fn, inputs, no_grad=()):
    """Runs fn on inputs; float inputs require grad unless their position is in no_grad."""
    leaves = []
    for i, t in enumerate(inputs):
        t = t.detach().clone()
        if t.is_floating_point() and i not in no_grad:
            t.requires_grad_(True)
        leaves.append(t)
    out = fn(*leaves)
    store = FAMILIES.setdefault(family, {})
    assert not any(k.startswith(name + "/") for k in store), name
    for i, t in enumerate(leaves):
        store[f"{name}/in{i}"] = t.detach().clone().contiguous()
    store[f"{name}/out"] = out.detach().clone().contiguous()
    if out.requires_grad:
        gout = randn(tuple(out.shape))
        out.backward(gout)
        store[f"{name}/gout"] = gout
        for i, t in enumerate(leaves):
            if t.requires_grad:
                g = t.grad if t.grad is not None else torch.zeros_like(t)
                store[f"{name}/grad{i}"] = g.clone().contiguous()


# ----- unary: elementwise functions and activations -----------------------------------------
x = randn(3, 4)
U = "unary"
case(U, "neg", lambda a: -a, [x])
case(U, "exp", torch.exp, [x])
case(U, "log", torch.log, [positive(3, 4)])
case(U, "sqrt", torch.sqrt, [positive(3, 4)])
case(U, "abs", torch.abs, [away_from(x)])
case(U, "square", torch.square, [x])
case(U, "pow_scalar", lambda a: torch.pow(a, 2.5), [positive(3, 4)])
case(U, "pow_int", lambda a: torch.pow(a, 3.0), [x])
case(U, "add_scalar", lambda a: a + 1.5, [x])
case(U, "mul_scalar", lambda a: a * -0.75, [x])
case(U, "rsub_scalar", lambda a: 1.0 - a, [x])
case(U, "rdiv_scalar", lambda a: 2.0 / a, [positive(3, 4)])
case(U, "div_scalar", lambda a: a / 4.0, [x])
case(U, "clamp", lambda a: torch.clamp(a, -0.5, 0.5), [away_from(x, (-0.5, 0.5))])
case(U, "relu", F.relu, [away_from(x)])
case(U, "leaky_relu", lambda a: F.leaky_relu(a, 0.1), [away_from(x)])
case(U, "sigmoid", torch.sigmoid, [x * 3])
case(U, "tanh", torch.tanh, [x * 2])
case(U, "gelu", F.gelu, [x * 2])
case(U, "gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), [x * 2])
case(U, "silu", F.silu, [x * 2])
case(U, "swish_beta", lambda a: a * torch.sigmoid(1.5 * a), [x * 2])
case(U, "softplus", F.softplus, [x * 3])
case(U, "chain", lambda a: torch.tanh(torch.exp(a) * 0.5).sqrt(), [x])

# ----- binary: broadcasting arithmetic -------------------------------------------------------
B = "binary"
case(B, "add_same", torch.add, [randn(3, 4), randn(3, 4)])
case(B, "add_row", torch.add, [randn(3, 4), randn(4)])
case(B, "add_both_ways", torch.add, [randn(2, 1, 4), randn(3, 1)])
case(B, "add_scalar_tensor", torch.add, [randn(3, 4), randn(())])
case(B, "sub_col", torch.sub, [randn(3, 4), randn(3, 1)])
case(B, "mul_bcast", torch.mul, [randn(2, 3, 4), randn(3, 4)])
case(B, "mul_self", lambda a: a * a, [randn(3, 4)])
case(B, "div_bcast", torch.div, [randn(3, 4), positive(4)])
case(B, "pow_tensor", torch.pow, [positive(3, 4), randn(3, 4)])
case(B, "maximum", torch.maximum, [randn(3, 4), randn(4)])
case(B, "minimum", torch.minimum, [randn(3, 1), randn(3, 4)])
case(B, "add_transposed", lambda a, b: a.t() + b, [randn(4, 3), randn(3, 4)])
case(B, "mul_transposed_bcast", lambda a, b: a.t() * b, [randn(4, 3), randn(1, 4)])

# ----- reductions ---------------------------------------------------------------------------
R = "reduce"
x3 = randn(2, 3, 4)
case(R, "sum_all", torch.sum, [x3])
case(R, "sum_dim0", lambda a: a.sum(0), [x3])
case(R, "sum_dims_keep", lambda a: a.sum((0, 2), keepdim=True), [x3])
case(R, "sum_last", lambda a: a.sum(-1), [x3])
case(R, "mean_all", torch.mean, [x3])
case(R, "mean_dim_keep", lambda a: a.mean(1, keepdim=True), [x3])
case(R, "max_all", torch.amax, [x3])
case(R, "max_dim", lambda a: torch.amax(a, 1), [x3])
case(R, "min_dim_keep", lambda a: torch.amin(a, 0, keepdim=True), [x3])
case(R, "var_all", torch.var, [x3])
case(R, "var_dim", lambda a: torch.var(a, 1), [x3])
case(R, "var_dims_pop_keep", lambda a: torch.var(a, (1, 2), correction=0, keepdim=True), [x3])
case(R, "argmax_dim", lambda a: torch.argmax(a, 1).float(), [x3], no_grad=(0,))
case(R, "argmin_last_keep", lambda a: torch.argmin(a, -1, keepdim=True).float(), [x3], no_grad=(0,))
case(R, "sum_transposed", lambda a: a.t().sum(0), [randn(4, 3)])
case(R, "sum_large", lambda a: a.sum(1), [randn(3, 5000)])

# ----- matmul --------------------------------------------------------------------------------
M = "matmul"
case(M, "mm", torch.matmul, [randn(3, 4), randn(4, 5)])
case(M, "bmm", torch.matmul, [randn(2, 3, 4), randn(2, 4, 5)])
case(M, "bcast_batch", torch.matmul, [randn(2, 1, 3, 4), randn(3, 4, 5)])
case(M, "batch_times_matrix", torch.matmul, [randn(2, 3, 4), randn(4, 5)])
case(M, "matrix_times_batch", torch.matmul, [randn(3, 4), randn(2, 4, 5)])
case(M, "dot", torch.matmul, [randn(4), randn(4)])
case(M, "vec_mat", torch.matmul, [randn(4), randn(4, 5)])
case(M, "mat_vec", torch.matmul, [randn(3, 4), randn(4)])
case(M, "batch_vec", torch.matmul, [randn(2, 3, 4), randn(4)])
case(M, "at_b", lambda a, b: a.t() @ b, [randn(4, 3), randn(4, 5)])
case(M, "a_bt", lambda a, b: a @ b.t(), [randn(3, 4), randn(5, 4)])
case(M, "mlp_layer", lambda x, w, b: F.relu(x @ w.t() + b), [randn(8, 6), randn(5, 6), randn(5)])
case(M, "large", torch.matmul, [randn(70, 130), randn(130, 90)])
case(M, "linear", F.linear, [randn(2, 3, 6), randn(5, 6), randn(5)])
case(M, "linear_no_bias", F.linear, [randn(4, 6), randn(5, 6)])

# ----- movement -------------------------------------------------------------------------------
V = "movement"
case(V, "reshape", lambda a: a.reshape(4, 6) * torch.arange(24.0).reshape(4, 6), [x3])
case(V, "flatten", lambda a: torch.flatten(a, 1), [x3])
case(V, "permute", lambda a: a.permute(2, 0, 1), [x3])
case(V, "transpose", lambda a: a.transpose(0, 2), [x3])
case(V, "t", lambda a: a.t(), [randn(3, 4)])
case(V, "broadcast_to", lambda a: a.broadcast_to(2, 3, 4), [randn(3, 1)])
case(V, "squeeze", lambda a: a.squeeze(1), [randn(3, 1, 4)])
case(V, "unsqueeze", lambda a: a.unsqueeze(-1), [randn(3, 4)])
case(V, "narrow", lambda a: a.narrow(2, 1, 2), [x3])
case(V, "cat0", lambda a, b: torch.cat([a, b], 0), [randn(2, 3), randn(4, 3)])
case(V, "cat1_three", lambda a, b, c: torch.cat([a, b, c], 1), [randn(2, 1), randn(2, 3), randn(2, 2)])
case(V, "stack1", lambda a, b: torch.stack([a, b], 1), [randn(2, 3), randn(2, 3)])
case(V, "chunk_swap", lambda a: torch.cat(list(reversed(a.chunk(3, 1))), 1), [randn(2, 6)])

# ----- indexing ---------------------------------------------------------------------------------
I = "index"
case(I, "index_select0", lambda a, i: a.index_select(0, i), [randn(5, 3), torch.tensor([4, 0, 2, 0])])
case(I, "index_select1", lambda a, i: a.index_select(1, i), [randn(2, 5, 3), torch.tensor([1, 1, 3])])
case(I, "gather1", lambda a, i: a.gather(1, i), [randn(4, 5), torch.tensor([[0], [4], [2], [2]])])
case(I, "gather0", lambda a, i: a.gather(0, i), [randn(3, 4), torch.tensor([[2, 1, 0, 2], [0, 0, 1, 1]])])
case(I, "embedding", lambda w, i: F.embedding(i, w), [randn(6, 4), torch.tensor([[1, 5, 1], [0, 2, 3]])])
cond = (torch.rand(3, 1) > 0.5).float()
case(I, "where_bcast", lambda c, a, b: torch.where(c.bool(), a, b), [cond, randn(3, 4), randn(4)], no_grad=(0,))
causal = torch.triu(torch.ones(4, 4), 1)
case(I, "causal_softmax", lambda a, m: torch.softmax(a.masked_fill(m.bool(), float("-inf")), -1), [randn(2, 4, 4), causal], no_grad=(1,))
case(I, "masked_fill", lambda a, m: a.masked_fill(m.bool(), -5.0), [randn(4, 4), causal], no_grad=(1,))

# ----- softmax ----------------------------------------------------------------------------------
S = "softmax"
case(S, "softmax_last", lambda a: torch.softmax(a, -1), [x3])
case(S, "softmax_dim0", lambda a: torch.softmax(a, 0), [x3])
case(S, "log_softmax_last", lambda a: torch.log_softmax(a, -1), [x3])
case(S, "log_softmax_dim1", lambda a: torch.log_softmax(a, 1), [x3])
case(S, "softmax_large_logits", lambda a: torch.softmax(a, -1), [randn(3, 5) * 100])
case(S, "log_softmax_large_logits", lambda a: torch.log_softmax(a, -1), [randn(3, 5) * 100])

# ----- losses -----------------------------------------------------------------------------------
L = "loss"
p, q = randn(4, 3), randn(4, 3)
case(L, "mse_mean", F.mse_loss, [p, q])
case(L, "mse_sum", lambda a, b: F.mse_loss(a, b, reduction="sum"), [p, q])
case(L, "mse_none", lambda a, b: F.mse_loss(a, b, reduction="none"), [p, q])
case(L, "pairwise_distance", F.pairwise_distance, [p, q])
case(L, "euclidean_mean", lambda a, b: F.pairwise_distance(a, b).mean(), [p, q])
case(L, "cosine_similarity", lambda a, b: F.cosine_similarity(a, b, dim=-1), [p, q])
case(L, "cosine_similarity_dim0", lambda a, b: F.cosine_similarity(a, b, dim=0), [p, q])
case(L, "cosine_embedding", lambda a, b, y: F.cosine_embedding_loss(a, b, y, margin=0.1), [p, q, torch.tensor([1.0, -1.0, -1.0, 1.0])], no_grad=(2,))
logits = randn(5, 4)
target = torch.tensor([1, 0, 3, -100, 2])
case(L, "nll_mean_ignore", lambda a, t: F.nll_loss(F.log_softmax(a, -1), t), [logits, target])
case(L, "nll_sum", lambda a, t: F.nll_loss(F.log_softmax(a, -1), t, reduction="sum"), [logits, torch.tensor([1, 0, 3, 3, 2])])
case(L, "nll_none", lambda a, t: F.nll_loss(F.log_softmax(a, -1), t, reduction="none"), [logits, target])
case(L, "cross_entropy", F.cross_entropy, [logits, torch.tensor([1, 0, 3, 3, 2])])
case(L, "cross_entropy_ignore", F.cross_entropy, [logits, target])
case(L, "cross_entropy_smoothing", lambda a, t: F.cross_entropy(a, t, label_smoothing=0.1), [logits, target])
case(L, "cross_entropy_sequence", lambda a, t: F.cross_entropy(a.view(-1, 7), t.view(-1)),
     [randn(2, 3, 7), torch.tensor([[-100, -100, 4], [-100, 6, -100]])])
case(L, "cross_entropy_large_logits", F.cross_entropy, [randn(3, 6) * 50, torch.tensor([0, 5, 2])])
case(L, "bce", lambda a, y: F.binary_cross_entropy(torch.sigmoid(a), y), [randn(6), torch.rand(6)], no_grad=(1,))
case(L, "bce_with_logits", F.binary_cross_entropy_with_logits, [randn(2, 3) * 3, torch.rand(2, 3)])
case(L, "kl_div_batchmean", lambda a, b: F.kl_div(F.log_softmax(a, -1), F.softmax(b, -1), reduction="batchmean"), [randn(3, 5), randn(3, 5)])
case(L, "kl_div_zero_target_sum", lambda a, b: F.kl_div(F.log_softmax(a, -1), b, reduction="sum"),
     [randn(2, 3), torch.tensor([[0.0, 0.3, 0.7], [0.5, 0.5, 0.0]])], no_grad=(1,))
# distillation, the course's L = L1 + λ·L2: hard-label CE + λ·T²·KL(teacher ‖ student at temperature T)
case(L, "distillation", lambda s, t, y: F.cross_entropy(s, y) + 0.5 * 4.0 * F.kl_div(
    F.log_softmax(s / 2.0, -1), F.softmax(t / 2.0, -1), reduction="batchmean"),
    [randn(4, 5), randn(4, 5), torch.tensor([0, 4, 2, 1])], no_grad=(1,))

os.makedirs(OUT, exist_ok=True)
for family, tensors in FAMILIES.items():
    save_file(tensors, os.path.join(OUT, f"{family}.safetensors"), metadata={"generator": "tests/reference/make_fixtures.py", "torch": torch.__version__})
    print(f"{family}: {len({k.split('/')[0] for k in tensors})} cases")
