#!/usr/bin/env python3
"""A small random GPT-2 built with transformers, and its reference numbers, for tests/gpt2_parity.rs:

  tests/fixtures/gpt2-tiny/config.json, model.safetensors   the model, in Hugging Face's format
  tests/fixtures/gpt2-tiny/reference.safetensors            input_ids (int64, B×T), attention_mask,
      logits (B×T×V), logits_masked (with the padding mask), loss (labels = input_ids),
      grad.<parameter name> for every parameter, adamw_losses (10 AdamW steps, lr 1e-3)

    .venv-ref/bin/python tests/reference/make_gpt2_fixtures.py
"""
import os

import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "gpt2-tiny")
os.makedirs(OUT, exist_ok=True)
config = GPT2Config(vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4,
                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
model = GPT2LMHeadModel(config)
# Non-trivial LayerNorm parameters and biases, so that every gradient path is exercised.
with torch.no_grad():
    for name, p in model.named_parameters():
        if "ln" in name or name.endswith("bias"):
            p.add_(torch.randn_like(p) * 0.1)
model.save_pretrained(OUT, safe_serialization=True)
model.eval()

ids = torch.randint(0, config.vocab_size, (2, 8))
mask = torch.ones(2, 8, dtype=torch.long)
mask[1, 6:] = 0  # right padding in the second sequence
out = model(input_ids=ids, labels=ids)
out.loss.backward()
ref = {"input_ids": ids, "attention_mask": mask.float(), "logits": out.logits.detach(), "loss": out.loss.detach().reshape(1)}
for name, p in model.named_parameters():
    ref[f"grad.{name.removeprefix('transformer.')}"] = p.grad.clone()
with torch.no_grad():
    ref["logits_masked"] = model(input_ids=ids, attention_mask=mask).logits
model.zero_grad()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
losses = []
for _ in range(10):
    opt.zero_grad()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    opt.step()
    losses.append(loss.item())
ref["adamw_losses"] = torch.tensor(losses)
save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(OUT, "reference.safetensors"))
print(sorted(os.listdir(OUT)), f"loss {out.loss.item():.5f}")
