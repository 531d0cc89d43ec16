"""Benchmark ``symshape.infer_dims`` against ``torch.export.AdditionalInputs``.

Run by hand, never in tests::

    python benchmarks/bench_infer.py              # table (median of 7 repetitions)
    python benchmarks/bench_infer.py --reps 15    # more repetitions
    python benchmarks/bench_infer.py --profile    # + cProfile of symshape on 10,000 leaves

Cases (3 input sets each):

* ``llama32``: a 32-layer ``DynamicCache`` decode step of a tiny Llama (the model
  is only used to build the inputs; no forward runs). Goal: <= 5 ms.
* ``leaves-N``: a plain function ``f(xs)`` taking a dict of lists of N small
  tensors: batch on every leaf, a seq axis on half of them, ``seq + 1`` on a
  quarter, static axes everywhere. N = 2,500 / 5,000 / 10,000 shows growth
  (should be ~linear). Goal: <= 0.5 s at 10,000.

What is timed:

* symshape: ``infer_dims(model, sets)`` plus reading ``spec.dynamic_shapes``
  (a lazy property), i.e. everything needed to get the object torch.export takes.
  The ``infer_dims`` part alone is shown too.
* AdditionalInputs: ``ai = AdditionalInputs(); ai.add(...) x 2;
  ai.dynamic_shapes(model, args0, kwargs0)`` (torch 2.13: ``add(args, kwargs=None)``
  with ``args`` a tuple; ``dynamic_shapes(m, args, kwargs=None)`` merges the
  original inputs with the added ones and marks every differing int
  ``Dim.DYNAMIC``).

The tools are interleaved inside every repetition (their order alternates) so
machine noise hits both equally; each is warmed up once; ``gc.collect()`` runs
before every timed call (the collector stays enabled while timing unless
``--gc-off``: with ~50k live tensors a full collection can land inside a call).

AdditionalInputs needs ``DynamicCache`` registered with pytree (otherwise the
cache is one opaque leaf and it raises "differing values ... cannot be marked as
dynamic"); symshape registers it on its first call, which the warm-up does
before AdditionalInputs is ever called. The script prints whether the class was
registered before that.

"Free dims" is the number of independent symbols each result hands to export:
symshape ``len(spec.dims)`` + the ``Dim.AUTO`` / ``Dim.DYNAMIC`` hints in its
``dynamic_shapes`` (derived dims such as ``seq + 1`` are not free);
AdditionalInputs: the ``Dim.DYNAMIC`` / ``Dim.AUTO`` hints in its result.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import re
import statistics
import sys
import time
from typing import Any, Callable

import torch
import torch.utils._pytree as pytree
from torch.export.dynamic_shapes import _DimHint, _DimHintType

import symshape
from machine import machine_info  # benchmarks/machine.py (run as a script from anywhere)
from symshape.integrations.transformers.tiny_models import llama_decode_inputs, tiny_llama

LLAMA_SHAPES = [(2, 3, 5), (3, 4, 7), (4, 2, 9)]  # (batch, seq_len, past_len) per set
LEAF_SHAPES = [(2, 5), (3, 7), (4, 6)]  # (batch, seq) per set; seq + 1 = 6 / 8 / 7
LEAF_COUNTS = (2_500, 5_000, 10_000)
GOALS_MS = {"llama32": 5.0, "leaves-10000": 500.0}


# -- cases -------------------------------------------------------------------------


class Case:
    def __init__(self, name: str, leaves: int, model: Any, sets: list[Any]) -> None:
        self.name = name
        self.leaves = leaves
        self.model = model
        self.sets = sets  # symshape form: tuple (positional) or dict (keyword)

    def ai_args(self, s: Any) -> tuple[tuple, dict | None]:
        return (s, None) if isinstance(s, tuple) else ((), s)


def llama_case() -> Case:
    model = tiny_llama(num_layers=32, hidden_size=64, seed=0)
    sets = [llama_decode_inputs(model, b, s, p, seed=i) for i, (b, s, p) in enumerate(LLAMA_SHAPES)]
    leaves = len(pytree.tree_leaves(sets[0])) if _cache_registered() else None
    return Case("llama32", leaves, model, sets)


def f(xs: dict[str, list[torch.Tensor]]) -> torch.Tensor:
    """A toy model over many small tensors (never called by the benchmark)."""
    total = sum(h.sum() for h in xs["hidden"])
    total = total + sum(m.sum() for m in xs["mask"])
    return total + sum(p.sum() for p in xs["proj"])


def leaves_inputs(n: int, batch: int, seq: int) -> dict[str, list[torch.Tensor]]:
    """n leaves: half (batch, seq, 4), a quarter (batch, seq + 1), a quarter (batch, 3, 2)."""
    half, quarter = n // 2, n // 4
    return {
        "hidden": [torch.zeros(batch, seq, 4) for _ in range(half)],
        "mask": [torch.ones(batch, seq + 1, dtype=torch.bool) for _ in range(quarter)],
        "proj": [torch.zeros(batch, 3, 2) for _ in range(n - half - quarter)],
    }


def leaves_case(n: int) -> Case:
    sets = [(leaves_inputs(n, b, s),) for b, s in LEAF_SHAPES]
    return Case(f"leaves-{n}", n, f, sets)


def _cache_registered() -> bool:
    if "transformers" not in sys.modules:
        return False
    from transformers import DynamicCache

    return DynamicCache in pytree.SUPPORTED_NODES


# -- the two tools -----------------------------------------------------------------


def run_symshape(case: Case) -> tuple[Any, float]:
    """Returns (spec, seconds in infer_dims alone); the caller times the whole."""
    t0 = time.perf_counter()
    spec = symshape.infer_dims(case.model, case.sets)
    t1 = time.perf_counter()
    spec.dynamic_shapes  # noqa: B018 -- lazy property: part of the cost
    return spec, t1 - t0


def run_additional_inputs(case: Case) -> Any:
    ai = torch.export.AdditionalInputs()
    for s in case.sets[1:]:
        ai.add(*case.ai_args(s))
    args0, kwargs0 = case.ai_args(case.sets[0])
    return ai.dynamic_shapes(case.model, args0, kwargs0)


def _is_free_hint(x: Any) -> bool:
    """``Dim.DYNAMIC`` / ``Dim.AUTO`` (with or without bounds); not ``Dim.STATIC``."""
    return isinstance(x, _DimHint) and x.type in (_DimHintType.DYNAMIC, _DimHintType.AUTO)


def count_hints(dynamic_shapes: Any) -> int:
    return sum(1 for x in pytree.tree_leaves(dynamic_shapes) if _is_free_hint(x))


def symshape_free_dims(spec: Any) -> int:
    return len(spec.dims) + count_hints(spec.dynamic_shapes)


GC_OFF = False  # --gc-off: disable the collector while timing, as timeit does


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()
    if GC_OFF:
        gc.disable()
    try:
        t0 = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - t0
    finally:
        gc.enable()


# -- main --------------------------------------------------------------------------


def profile_case(case: Case, top: int) -> None:
    gc.collect()
    profiler = cProfile.Profile()
    profiler.enable()
    run_symshape(case)
    profiler.disable()
    package_dir = os.path.dirname(os.path.abspath(symshape.__file__))
    listings = [
        ("cumulative", [top], "top {top} by cumtime"),
        ("tottime", [top], "top {top} by tottime"),
        # Only functions of the package (not tiny_models), so its stages are visible
        # even when torch/sympy calls fill the overall top list.
        ("cumulative", [rf"^{re.escape(package_dir)}[/\\](?!tiny_models)", top], "symshape/ functions only, top {top} by cumtime"),
    ]
    for key, restrictions, title in listings:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(key)
        stats.print_stats(*restrictions)
        text = out.getvalue().strip().replace(package_dir + os.sep, "symshape/")
        text = re.sub(r"\S*[/\\]site-packages[/\\]", "", text)
        text = text.replace(os.path.dirname(os.__file__) + os.sep, "")  # the stdlib
        text = text.replace(os.path.dirname(os.path.abspath(__file__)) + os.sep, "")
        print(f"\n### cProfile of symshape on {case.name} (infer_dims + .dynamic_shapes): {title.format(top=top)}\n")
        print("```")
        print(text)
        print("```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="repetitions (median is reported; >= 7)")
    parser.add_argument("--profile", action="store_true", help="also cProfile symshape on 10,000 leaves")
    parser.add_argument("--top", type=int, default=15, help="rows of the profile")
    parser.add_argument("--gc-off", action="store_true", help="disable the garbage collector while timing")
    opts = parser.parse_args()
    global GC_OFF
    GC_OFF = opts.gc_off
    reps = max(opts.reps, 7)

    t0 = time.perf_counter()
    cases = [llama_case()] + [leaves_case(n) for n in LEAF_COUNTS]
    build_s = time.perf_counter() - t0
    registered_before = _cache_registered()

    # Warm-up: symshape first, so DynamicCache is registered before AdditionalInputs runs.
    specs, ai_results = {}, {}
    for case in cases:
        specs[case.name], _ = run_symshape(case)
        ai_results[case.name] = run_additional_inputs(case)
    if cases[0].leaves is None:
        cases[0].leaves = len(pytree.tree_leaves(cases[0].sets[0]))

    sym_total: dict[str, list[float]] = {c.name: [] for c in cases}
    sym_infer: dict[str, list[float]] = {c.name: [] for c in cases}
    ai_times: dict[str, list[float]] = {c.name: [] for c in cases}
    for rep in range(reps):
        for case in cases:
            order = ("sym", "ai") if rep % 2 == 0 else ("ai", "sym")
            for tool in order:
                if tool == "sym":
                    (_, infer_s), total_s = timed(lambda: run_symshape(case))
                    sym_total[case.name].append(total_s)
                    sym_infer[case.name].append(infer_s)
                else:
                    _, ai_s = timed(lambda: run_additional_inputs(case))
                    ai_times[case.name].append(ai_s)

    gc_note = "gc disabled while timing" if GC_OFF else "gc enabled, collected before each call"
    print(f"## symshape.infer_dims vs torch.export.AdditionalInputs (3 input sets, median of {reps}, {gc_note})\n")
    print(
        "| case | leaves | symshape ms | (infer_dims only) | AdditionalInputs ms | ratio sym/AI "
        "| µs/leaf sym | free dims sym | free dims AI | goal |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for case in cases:
        sym = statistics.median(sym_total[case.name]) * 1e3
        inf = statistics.median(sym_infer[case.name]) * 1e3
        ai = statistics.median(ai_times[case.name]) * 1e3
        spec = specs[case.name]
        goal = GOALS_MS.get(case.name)
        verdict = "" if goal is None else f"<= {goal:g} ms: {'PASS' if sym <= goal else 'FAIL'}"
        print(
            f"| {case.name} | {case.leaves:,} | {sym:.2f} | {inf:.2f} | {ai:.2f} | {sym / ai:.2f}x "
            f"| {sym * 1e3 / case.leaves:.1f} | {symshape_free_dims(spec)} "
            f"| {count_hints(ai_results[case.name])} | {verdict} |"
        )

    print()
    for case in cases:
        spec = specs[case.name]
        spread = f"{min(sym_total[case.name]) * 1e3:.2f}-{max(sym_total[case.name]) * 1e3:.2f}"
        ai_spread = f"{min(ai_times[case.name]) * 1e3:.2f}-{max(ai_times[case.name]) * 1e3:.2f}"
        print(f"- {case.name}: {spec}  (sym range {spread} ms, AI range {ai_spread} ms)")
    small, large = LEAF_COUNTS[0], LEAF_COUNTS[-1]
    growth = statistics.median(sym_total[f"leaves-{large}"]) / statistics.median(sym_total[f"leaves-{small}"])
    ai_growth = statistics.median(ai_times[f"leaves-{large}"]) / statistics.median(ai_times[f"leaves-{small}"])
    print(
        f"- growth {small:,} -> {large:,} leaves (x{large // small}): symshape x{growth:.2f}, "
        f"AdditionalInputs x{ai_growth:.2f}"
    )
    print(f"- DynamicCache registered with pytree before symshape's first call: {registered_before}")
    print(f"- inputs built in {build_s:.1f} s (not timed)")
    print(f"\nMachine: {machine_info()}")

    if opts.profile:
        profile_case(cases[-1], opts.top)


if __name__ == "__main__":
    main()
