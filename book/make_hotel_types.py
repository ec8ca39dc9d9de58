#!/usr/bin/env python3
"""The homework chapter's second dataset: guess a Beijing hotel's class from its name, price and
rating, made from the course's hotel database (hotel.json, 1,133 hotels; the Unlicense).

    python3 book/make_hotel_types.py ../shared/data/hotel/hotel.json runs/hotels

writes train.csv (90%) and valid.csv (10%, every tenth hotel by id) with columns text,label.
The labels are the database's four types in English — economy (经济型), comfort (舒适型),
premium (高档型), luxury (豪华型) — because the Chinese names' first GPT-2 tokens collide
(舒 and 豪 both start with the byte 0xE8), and the recipe predicts a label's first token.
"""
import csv
import json
import os
import sys

TYPES = {"经济型": "economy", "舒适型": "comfort", "高档型": "premium", "豪华型": "luxury"}

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
hotels = json.load(open(src, encoding="utf-8"))
files = {name: open(os.path.join(out, f"{name}.csv"), "w", newline="", encoding="utf-8") for name in ("train", "valid")}
writers = {name: csv.writer(f) for name, f in files.items()}
for w in writers.values():
    w.writerow(["text", "label"])
counts = {"train": 0, "valid": 0}
for h in hotels:
    split = "valid" if h["hotel_id"] % 10 == 0 else "train"
    text = f"{h['name']} {h['price']:.0f}元 {h['rating']}分"
    writers[split].writerow([text, TYPES[h["type"]]])
    counts[split] += 1
for f in files.values():
    f.close()
print(f"wrote {out}/train.csv ({counts['train']} hotels) and {out}/valid.csv ({counts['valid']})")
