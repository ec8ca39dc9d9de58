#!/usr/bin/env python3
"""Writes the reference file `gradschool check-gpt2` reads, for any Hugging Face GPT-2 directory:
input_ids (int64, B×T), logits (float32, B×T×V), loss (labels = input_ids, shifted as
transformers does) and grad.<parameter name> for every parameter.

    python3 tests/reference/gpt2_reference.py --model-dir gpt2 --out gpt2-ref.safetensors
    gradschool check-gpt2 --model-dir gpt2 --reference gpt2-ref.safetensors
"""
import argparse

import torch
from safetensors.torch import save_file
from transformers import GPT2LMHeadModel

p = argparse.ArgumentParser()
p.add_argument("--model-dir", required=True)
p.add_argument("--out", required=True)
p.add_argument("--batch", type=int, default=2)
p.add_argument("--tokens", type=int, default=16)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.manual_seed(a.seed)
model = GPT2LMHeadModel.from_pretrained(a.model_dir).eval()
ids = torch.randint(0, model.config.vocab_size, (a.batch, min(a.tokens, model.config.n_positions)))
out = model(input_ids=ids, labels=ids)
out.loss.backward()
ref = {"input_ids": ids, "logits": out.logits.detach(), "loss": out.loss.detach().reshape(1)}
for name, param in model.named_parameters():
    ref[f"grad.{name}"] = param.grad
save_file({k: v.contiguous() for k, v in ref.items()}, a.out)
print(f"wrote {a.out}: {len(ref)} tensors, loss {out.loss.item():.5f}")
