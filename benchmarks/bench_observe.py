"""What ``symshape.observe`` costs per recorded call, and what it keeps (run by hand).

    python benchmarks/bench_observe.py                 # both parts below
    python benchmarks/bench_observe.py --calls 0       # the generation table only
    python benchmarks/bench_observe.py --tokens 0      # the 10,000-call overhead only
    python benchmarks/bench_observe.py --export        # + an export from the generation's recording

1. Generation (``--tokens``, default 200): a tiny Llama generates N tokens under
   ``symshape.observe``; for each keep policy the table gives the calls recorded, the calls
   kept in full, the tensor bytes kept in total and per call, and what keeping every call
   in full would cost.
2. Overhead at many calls (``--calls``, default 10,000): ``generate`` cannot run that long
   (the tiny Llama has 256 positions), so one ``observe`` session records ``forward`` on
   decode steps whose past length cycles through 8..135 (one token, batch 2; a fresh cache
   per call, copied outside the timed region). In the same session every call also runs
   unrecorded (``type(model).forward`` bypasses the recorder), in turn first, so both see the
   same load: the overhead is the median of the per-call differences; the recorder's own
   work per call (``Observer._record``: bind, copy, shapes) is timed directly too.
   Memory: the tensor bytes kept (full copies of calls 0-7 and of every power-of-two call)
   against what ``keep="all"`` would keep, and the process's resident memory grown per
   recorded call (the shapes-only record every call leaves: meta tensors, shapes).
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # symshape from this checkout

import torch
from machine import machine_info  # benchmarks/machine.py (run as a script from anywhere)
from timing import load

import symshape
from symshape.integrations.transformers.tiny_models import CACHE_KWARG, llama_decode_inputs, tiny_llama
from symshape.recording.recorder import _tensor_bytes


def record(model, new_tokens: int, batch: int, **options):
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 120, (batch, 8), generator=gen)
    mask = torch.ones(batch, 8, dtype=torch.int64)
    mask[-1, :3] = 0
    start = time.perf_counter()
    with symshape.observe(model, **options) as obs:
        model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False
        )
    return obs, time.perf_counter() - start


def generation_table(model, tokens: int, batch: int, export: bool) -> None:
    _, plain = record(model, tokens, batch, keep="shapes", max_calls=0)
    print(f"tiny Llama, batch {batch}, {tokens} new tokens; generate without recording: {plain:.2f} s")
    print(f"{'keep':8} {'calls':>6} {'full':>5} {'bytes kept':>12} {'bytes/call':>11} {'last call':>10} {'time':>7}")
    results = {}
    for keep in ("auto", "all", "shapes"):
        obs, seconds = record(model, tokens, batch, keep=keep)
        records = obs.records
        total = obs.bytes_kept
        results[keep] = obs
        print(
            f"{keep:8} {len(records):6d} {sum(r.kept for r in records):5d} {total:12,d} {total / len(records):11,.0f} "
            f"{records[-1].bytes_kept:10,d} {seconds:6.2f}s"
        )
    obs = results["auto"]
    print("kept in full (auto):", [r.index for r in obs.records if r.kept])
    if export:
        start = time.perf_counter()
        result = symshape.export(model, obs.inputs)
        synthetic = sum(c.synthetic for c in result.checks)
        print(
            f"export + verify on {len(result.checks)} calls ({synthetic} from shapes): ok={result.ok}, "
            f"max diff {max(c.max_abs_diff or 0 for c in result.checks):.1e}, {time.perf_counter() - start:.1f} s"
        )


def _rss() -> int:
    """Resident memory of this process in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    except OSError:
        return 0


def overhead(model, calls: int, batch: int) -> None:
    steps = [llama_decode_inputs(model, batch, 1, 8 + p, seed=p) for p in range(128)]  # past_len 8..135

    def inputs(n: int) -> dict:
        values = steps[n % len(steps)]
        return {**values, CACHE_KWARG: copy.deepcopy(values[CACHE_KWARG])}  # forward grows the cache

    forward = type(model).forward
    plain: list[float] = []
    observed: list[float] = []
    recorder: list[float] = []
    full_bytes = 0
    gc.collect()
    rss_before = _rss()
    with torch.no_grad(), symshape.observe(model) as obs:
        record_call = obs._record

        def timed_record(args, kwargs):
            start = time.perf_counter()
            record_call(args, kwargs)
            recorder.append(time.perf_counter() - start)

        obs._record = timed_record  # the recorder's own work, per call
        start_all = time.perf_counter()
        for n in range(calls):
            for recorded in (True, False) if n % 2 else (False, True):  # the same shapes, in turn first
                values = inputs(n)
                if recorded:
                    full_bytes += _tensor_bytes(values)
                    start = time.perf_counter()
                    model.forward(**values)  # the recorder, then forward
                    observed.append(time.perf_counter() - start)
                else:
                    start = time.perf_counter()
                    forward(model, **values)  # the class's forward: not recorded
                    plain.append(time.perf_counter() - start)
        wall = time.perf_counter() - start_all
    gc.collect()
    grown = _rss() - rss_before
    records = obs.records
    kept = [r for r in records if r.kept]
    shapes_only = [t for t, r in zip(recorder, records) if not r.kept]
    full = [t for t, r in zip(recorder, records) if r.kept]
    med = statistics.median
    print(f"\n## observe: {len(records):,} recorded calls of forward (tiny Llama, 2 layers, batch {batch}, 1 token)\n")
    print(f"Session {wall:.1f} s ({load()}); each call is run recorded and not recorded, in turn first.\n")
    print("| | median µs per call |")
    print("|---|---:|")
    print(f"| forward, not recorded | {med(plain) * 1e6:,.0f} |")
    print(f"| forward, recorded | {med(observed) * 1e6:,.0f} |")
    diff = med(b - a for a, b in zip(plain, observed))
    print(f"| overhead (median of per-call differences) | {diff * 1e6:,.0f} ({diff / med(plain):+.1%}) |")
    print(f"| the recorder's own work, shapes-only calls ({len(shapes_only):,}) | {med(shapes_only) * 1e6:,.0f} |")
    print(f"| the recorder's own work, calls kept in full ({len(full)}) | {med(full) * 1e6:,.0f} |")
    fifth = max(len(shapes_only) // 5, 1)
    print(
        "\n- recorder, shapes-only calls, median µs by fifth of the session: "
        + ", ".join(f"{med(shapes_only[i : i + fifth]) * 1e6:,.0f}" for i in range(0, fifth * 5, fifth))
    )
    print(
        f"- tensor bytes kept: {obs.bytes_kept:,} in {len(kept)} full copies (calls {[r.index for r in kept]}); "
        f"keep='all' would keep {full_bytes:,} ({full_bytes / max(obs.bytes_kept, 1):,.0f}x)"
    )
    print(
        f"- resident memory grown over the session: {grown / 2**20:,.1f} MiB, {grown / len(records):,.0f} bytes per "
        f"recorded call (the shapes-only record every call leaves: meta tensors, a shapes dict; "
        f"observe(max_calls=N) bounds the count)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=200, help="new tokens of the generation table (0: skip)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--calls", type=int, default=10_000, help="recorded calls of the overhead part (0: skip)")
    parser.add_argument("--export", action="store_true", help="also export from the generation's auto recording")
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny eager steps on a shared 2-core machine: no OpenMP waits
    print(f"start: {load()}")
    model = tiny_llama(num_layers=2, hidden_size=64)
    model.generation_config.pad_token_id = 0
    if args.tokens:
        generation_table(model, args.tokens, args.batch, args.export)
    if args.calls:
        overhead(model, args.calls, args.batch)
    print(f"- end: {load()}")
    print(f"\nMachine: {machine_info()}")


if __name__ == "__main__":
    main()
