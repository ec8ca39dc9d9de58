#!/usr/bin/env python3
"""The course's sentiment labels on the tiny GPT-2 of make_gpt2_fixtures.py, through transformers,
for tests/gpt2_parity.rs::the_labelled_only_head_matches_transformers:

  tests/fixtures/gpt2-tiny/labelled.safetensors   input_ids (int64, 4×8), labels (int64, 4×8:
      −100 except row 0: one label, row 1: one label at the last position, row 2: two labels,
      row 3: a label at position 0 only, which no position predicts), loss (GPT2LMHeadModel's, which
      shifts the labels), logits (4×8×V), grad.<parameter name> for every parameter

    .venv-ref/bin/python tests/reference/make_labelled_fixture.py
"""
import os

import torch
from safetensors.torch import save_file
from transformers import GPT2LMHeadModel

torch.manual_seed(1)
DIR = os.path.join(os.path.dirname(__file__), "..", "fixtures", "gpt2-tiny")
model = GPT2LMHeadModel.from_pretrained(DIR)
model.eval()  # dropout is 0 in this config anyway
V = model.config.vocab_size

ids = torch.randint(0, V, (4, 8))
labels = torch.full((4, 8), -100, dtype=torch.long)
for row, pos in [(0, 5), (1, 7), (2, 2), (2, 6), (3, 0)]:
    labels[row, pos] = int(torch.randint(0, V, (1,)))
out = model(input_ids=ids, labels=labels)
out.loss.backward()
ref = {"input_ids": ids, "labels": labels, "loss": out.loss.detach().reshape(1), "logits": out.logits.detach()}
for name, p in model.named_parameters():
    ref[f"grad.{name.removeprefix('transformer.')}"] = p.grad.clone()
save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(DIR, "labelled.safetensors"))
print(f"loss {out.loss.item():.6f} over {(labels[:, 1:] != -100).sum().item()} predicted labels")
