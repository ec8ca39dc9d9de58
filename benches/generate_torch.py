#!/usr/bin/env python3
"""Greedy generation with transformers' GPT-2 on the CPU, for comparison with `gradschool generate`:
the same model folder (a Hugging Face GPT-2 directory), the same prompt ids, `max_new_tokens` new
tokens with the KV cache (`use_cache=True`, transformers' default), tokens per second.

    python3 benches/generate_torch.py --model-dir DIR --prompt "…" --new-tokens 64 [--rounds 3]

`min_new_tokens` keeps it from stopping at an end-of-text token, so both sides generate the same
count; gradschool's side: `gradschool generate --model-dir DIR --prompt "…" --max-new-tokens 64`
(it prints tokens/s on stderr)."""
import argparse
import os
import time

import torch
import transformers
from transformers import GPT2LMHeadModel

p = argparse.ArgumentParser()
p.add_argument("--model-dir", required=True)
p.add_argument("--prompt", required=True, help="the prompt text (tokenized with the folder's tokenizer)")
p.add_argument("--new-tokens", type=int, default=64)
p.add_argument("--rounds", type=int, default=3)
a = p.parse_args()
torch.set_num_threads(os.cpu_count())
from transformers import GPT2TokenizerFast  # noqa: E402

tok = GPT2TokenizerFast.from_pretrained(a.model_dir)
model = GPT2LMHeadModel.from_pretrained(a.model_dir).eval()
ids = tok(a.prompt, return_tensors="pt").input_ids
with torch.no_grad():
    model.generate(ids, max_new_tokens=4, do_sample=False, min_new_tokens=4)  # warm-up
    for r in range(a.rounds):
        t0 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, do_sample=False,
                             pad_token_id=tok.eos_token_id)
        secs = time.perf_counter() - t0
        new = out.shape[1] - ids.shape[1]
        print(f"transformers {transformers.__version__} (torch {torch.__version__}): {new} new tokens after a {ids.shape[1]}-token prompt in {secs:.2f} s: "
              f"{new / secs:.1f} tokens/s (KV cache)")
