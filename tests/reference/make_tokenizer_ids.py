#!/usr/bin/env python3
"""GPT-2 token ids of a few hard texts, from Python's `tokenizers` on the real vocabulary, for
tests/shared_data.rs (compared with gradschool's Gpt2Tokenizer when $GRADSCHOOL_SHARED_DATA is set):

  tests/fixtures/gpt2_tokenizer_ids.json

    .venv-ref/bin/python tests/reference/make_tokenizer_ids.py ../shared/data/gpt2-tokenizer
"""
import json
import os
import sys

from tokenizers import AddedToken, Tokenizer
from tokenizers.decoders import ByteLevel as ByteLevelDecoder
from tokenizers.models import BPE
from tokenizers.pre_tokenizers import ByteLevel

TEXTS = [
    "Hello, world!",
    "  leading spaces and   runs of   whitespace\n\nnew lines\t\ttabs",
    "Numbers: 3.14159, 2026, 1,000,000 and 42nd",
    "Unicode: café, naïve, 日本語, emoji 🎉👍🏽",
    "the rock is destined to be the 21st century's new \" conan \" <|endoftext|>",
    "It's   don't  we'll  I'M",
    "",
]

vocab_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "shared", "data", "gpt2-tokenizer")
tok = Tokenizer(BPE.from_file(os.path.join(vocab_dir, "vocab.json"), os.path.join(vocab_dir, "merges.txt")))
tok.pre_tokenizer = ByteLevel(add_prefix_space=False)
tok.decoder = ByteLevelDecoder()
tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
fixture = {
    "source": "Python tokenizers 0.2x: BPE.from_file(vocab.json, merges.txt) of ../shared/data/gpt2-tokenizer, "
    "ByteLevel(add_prefix_space=False) pre-tokenizer, <|endoftext|> special",
    "cases": [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in TEXTS],
}
out = os.path.join(os.path.dirname(__file__), "..", "fixtures", "gpt2_tokenizer_ids.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump(fixture, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"{len(TEXTS)} cases written to {out}")
