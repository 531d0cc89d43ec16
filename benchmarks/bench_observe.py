"""Bytes kept per recorded call over a long generation (run by hand: python benchmarks/bench_observe.py).

A tiny Llama generates N tokens under ``symshape.observe``; for each keep policy the table
gives the calls recorded, the calls kept in full, the tensor bytes kept in total and per call,
and, for comparison, what keeping every call in full would cost. Then a short export from
the recording (verification on every call, shape-only calls on tiled values).
"""

from __future__ import annotations

import argparse
import time

import torch

import symshape
from symshape.integrations.transformers.tiny_models import tiny_llama


def record(model, new_tokens: int, batch: int, **options):
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 120, (batch, 8), generator=gen)
    mask = torch.ones(batch, 8, dtype=torch.int64)
    mask[-1, :3] = 0
    start = time.perf_counter()
    with symshape.observe(model, **options) as obs:
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    return obs, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--export", action="store_true", help="also export from the auto recording")
    args = parser.parse_args()
    model = tiny_llama(num_layers=2, hidden_size=64)
    model.generation_config.pad_token_id = 0

    _, plain = record(model, args.tokens, args.batch, keep="shapes", max_calls=0)
    print(f"tiny Llama, batch {args.batch}, {args.tokens} new tokens; generate without recording: {plain:.2f} s")
    print(f"{'keep':8} {'calls':>6} {'full':>5} {'bytes kept':>12} {'bytes/call':>11} {'last call':>10} {'time':>7}")
    results = {}
    for keep in ("auto", "all", "shapes"):
        obs, seconds = record(model, args.tokens, args.batch, keep=keep)
        records = obs.records
        total = obs.bytes_kept
        results[keep] = obs
        print(
            f"{keep:8} {len(records):6d} {sum(r.kept for r in records):5d} {total:12,d} {total / len(records):11,.0f} "
            f"{records[-1].bytes_kept:10,d} {seconds:6.2f}s"
        )
    obs = results["auto"]
    print("kept in full (auto):", [r.index for r in obs.records if r.kept])
    if args.export:
        start = time.perf_counter()
        result = symshape.export(model, obs.inputs)
        synthetic = sum(c.synthetic for c in result.checks)
        print(
            f"export + verify on {len(result.checks)} calls ({synthetic} from shapes): ok={result.ok}, "
            f"max diff {max(c.max_abs_diff or 0 for c in result.checks):.1e}, {time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    main()
