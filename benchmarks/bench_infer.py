"""Benchmark ``symshape.infer_dims`` against ``torch.export.AdditionalInputs`` (issue 14, goal 1).

Run by hand, never in tests::

    python benchmarks/bench_infer.py                       # table (median of 9 interleaved rounds, 45 on llama32)
    python benchmarks/bench_infer.py --baseline 3f647cb    # + symshape at that commit, in the same rounds
    python benchmarks/bench_infer.py --leaves 10000 40000  # other sizes
    python benchmarks/bench_infer.py --stages llama32      # share of each pipeline stage, beside AdditionalInputs
    python benchmarks/bench_infer.py --profile leaves-10000  # + cProfile of symshape on one case

Goals (issue 14): on ``llama32`` symshape is no slower than AdditionalInputs (median ratio
<= 1.0) and takes <= 5 ms; on ``leaves-10000`` <= 250 ms, growing linearly to 40,000 leaves.

Cases (3 input sets each):

* ``llama32``: a 32-layer ``DynamicCache`` decode step of a tiny Llama (the model
  is only used to build the inputs; no forward runs).
* ``leaves-N``: a plain function ``f(xs)`` taking a dict of lists of N small
  tensors: batch on every leaf, a seq axis on half of them, ``seq + 1`` on a
  quarter, static axes everywhere.

What is timed:

* symshape: ``infer_dims(model, sets)`` plus reading ``spec.dynamic_shapes`` (a lazy
  property), i.e. everything needed to get the object torch.export takes. The
  ``infer_dims`` part alone is shown too.
* AdditionalInputs: ``ai = AdditionalInputs(); ai.add(...) x 2;
  ai.dynamic_shapes(model, args0, kwargs0)`` (torch 2.13: ``add(args, kwargs=None)``;
  ``dynamic_shapes(m, args, kwargs=None)`` marks every differing int ``Dim.DYNAMIC``).
* ``--baseline REV``: the same call on the ``symshape`` package of git revision REV
  (``git archive``), imported beside the current one. It flattens caches with the
  current registration (see ``timing.baseline_package``).

Every round runs each tool once, in a rotating order (``timing.interleaved``), so
machine noise hits all equally; each is warmed up once; ``gc.collect()`` runs before
every timed call and the collector stays enabled unless ``--gc-off`` (with ~100k live
tensors a full collection inside a call is part of its cost). The timed call is then a
first call, with the CPU caches cold after the collection; ``--warm`` times a repeated
call instead (each tool runs once, untimed, after the collection). Ratios are the median
of per-round ratios. The load average is printed before and after.

"Free dims" is the number of independent symbols each result hands to export:
symshape ``len(spec.dims)`` + the ``Dim.AUTO`` / ``Dim.DYNAMIC`` hints in its
``dynamic_shapes``; AdditionalInputs: its ``Dim.DYNAMIC`` / ``Dim.AUTO`` hints.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import os
import pstats
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # symshape from this checkout

import torch
import torch.utils._pytree as pytree
from machine import machine_info  # benchmarks/machine.py (run as a script from anywhere)
from timing import baseline_package, interleaved, load, median_ms, ratio, timed
from torch.export.dynamic_shapes import _DimHint, _DimHintType

import symshape
from symshape.integrations.transformers.tiny_models import llama_decode_inputs, tiny_llama

LLAMA_SHAPES = [(2, 3, 5), (3, 4, 7), (4, 2, 9)]  # (batch, seq_len, past_len) per set
LEAF_SHAPES = [(2, 5), (3, 7), (4, 6)]  # (batch, seq) per set; seq + 1 = 6 / 8 / 7
LEAF_COUNTS = (2_500, 10_000, 40_000)
GOALS_MS = {"llama32": 5.0, "leaves-10000": 250.0}
GOAL_RATIO = {"llama32": 1.0}


# -- cases -------------------------------------------------------------------------


class Case:
    def __init__(self, name: str, leaves: int | None, model: Any, sets: list[Any]) -> None:
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


# -- the tools ---------------------------------------------------------------------


def run_symshape(case: Case, package: Any = symshape) -> tuple[Any, float]:
    """Returns (spec, seconds in infer_dims alone); the caller times the whole."""
    t0 = time.perf_counter()
    spec = package.infer_dims(case.model, case.sets)
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


# -- stages and profile ------------------------------------------------------------

#: The pipeline's steps, as ``symshape.infer.assemble`` calls them (and the lazy
#: ``dynamic_shapes``); a stage's share is its time over the whole call.
STAGES = (
    "normalise",
    "observe_sets",
    "solve",
    "name_roots",
    "choose_example",
    "never_varied",
    "copy_set",
    "template_of",
    "_axis_table",
    "_relation_rows",
    "_dim_rows",
    "_notes",
    "apply_bounds",
)


def stage_shares(case: Case, reps: int, package: Any = symshape, label: str = "symshape") -> None:
    """Each stage's share of ``package``'s time (manual timers around the functions its
    ``assemble`` calls, no profiler overhead), with AdditionalInputs in the same rounds."""
    assemble = sys.modules[f"{package.__name__}.infer.assemble"]
    dimspec = sys.modules[f"{package.__name__}.spec.dimspec"]
    spent: dict[str, float] = collections.defaultdict(float)

    def timer(module: Any, name: str) -> Callable[[], None]:
        original = getattr(module, name)

        def timed_stage(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start

        setattr(module, name, timed_stage)
        return lambda: setattr(module, name, original)

    restore = [timer(assemble, name) for name in STAGES if hasattr(assemble, name)]
    restore.append(timer(dimspec, "shapes_by_input"))
    tools = {"symshape": lambda: run_symshape(case, package), "AI": lambda: run_additional_inputs(case)}
    try:
        times = interleaved(tools, reps)
    finally:
        for undo in restore:
            undo()
    total = sum(times["symshape"])
    print(f"\n### Stages of {label} on {case.name} (share of its time, {reps} rounds, {load()})\n")
    print("| stage | share |\n|---|---:|")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        if seconds / total >= 0.0005:
            print(f"| {name} | {seconds / total:.1%} |")
    print(f"| (rest of infer_dims) | {1 - sum(spent.values()) / total:.1%} |")
    print(
        f"\n{label} {median_ms(times['symshape']):.2f} ms, AdditionalInputs {median_ms(times['AI']):.2f} ms, "
        f"ratio {ratio(times['symshape'], times['AI']):.2f}x"
    )


def profile_case(case: Case, top: int) -> None:
    profiler = cProfile.Profile()
    timed(lambda: (profiler.enable(), run_symshape(case), profiler.disable()))
    package_dir = os.path.dirname(os.path.abspath(symshape.__file__))
    listings = [
        ("cumulative", [top], "top {top} by cumtime"),
        ("tottime", [top], "top {top} by tottime"),
        ("cumulative", [rf"^{re.escape(package_dir)}[/\\](?!tiny_models)", top], "symshape/ only, top {top}"),
    ]
    for key, restrictions, title in listings:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(*restrictions)
        text = out.getvalue().strip().replace(package_dir + os.sep, "symshape/")
        text = re.sub(r"\S*[/\\]site-packages[/\\]", "", text)
        text = text.replace(os.path.dirname(os.__file__) + os.sep, "")  # the stdlib
        print(f"\n### cProfile of symshape on {case.name} (infer_dims + .dynamic_shapes): {title.format(top=top)}\n")
        print("```")
        print(text)
        print("```")


# -- main --------------------------------------------------------------------------


def rounds(case: str, reps: int) -> int:
    """``llama32`` takes milliseconds and its medians move most with the load: 5x the rounds."""
    return reps * 5 if case == "llama32" else reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=9, help="interleaved rounds (medians are reported; >= 5)")
    parser.add_argument("--leaves", type=int, nargs="*", default=list(LEAF_COUNTS), help="leaf counts of leaves-N")
    parser.add_argument("--baseline", metavar="REV", help="also time symshape at this git revision")
    parser.add_argument("--stages", metavar="CASE", help="share of each pipeline stage on CASE (llama32, leaves-N)")
    parser.add_argument("--profile", metavar="CASE", help="also cProfile symshape on CASE (llama32, leaves-N)")
    parser.add_argument("--top", type=int, default=15, help="rows of the profile")
    parser.add_argument("--gc-off", action="store_true", help="disable the garbage collector while timing")
    parser.add_argument("--warm", action="store_true", help="time a repeated call (each runs once, untimed, first)")
    opts = parser.parse_args()
    reps = max(opts.reps, 5)
    print(f"start: {load()}")

    registered_before = _cache_registered()
    symshape.register_caches()  # before a baseline is imported: both flatten caches with the current code
    baseline = baseline_package(opts.baseline) if opts.baseline else None
    t0 = time.perf_counter()
    cases = [llama_case()] + [leaves_case(n) for n in opts.leaves]
    build_s = time.perf_counter() - t0

    specs, ai_results = {}, {}
    tools_of: dict[str, dict[str, Callable[[], Any]]] = {}
    infer_only: dict[str, list[float]] = {c.name: [] for c in cases}
    for case in cases:
        specs[case.name], _ = run_symshape(case)  # warm-up
        ai_results[case.name] = run_additional_inputs(case)
        if case.leaves is None:
            case.leaves = len(pytree.tree_leaves(case.sets[0]))

        def sym(case: Case = case) -> None:
            infer_only[case.name].append(run_symshape(case)[1])

        tools: dict[str, Callable[[], Any]] = {"symshape": sym, "AI": lambda case=case: run_additional_inputs(case)}
        if baseline is not None:
            run_symshape(case, baseline)
            tools["baseline"] = lambda case=case: run_symshape(case, baseline)
        tools_of[case.name] = tools
    times = {
        case.name: interleaved(tools_of[case.name], rounds(case.name, reps), opts.gc_off, opts.warm) for case in cases
    }

    gc_note = "gc disabled while timing" if opts.gc_off else "gc enabled, collected before each call"
    gc_note += ", warm (a repeated call)" if opts.warm else ", cold (the first call after the collection)"
    base = f" | symshape@{opts.baseline} ms | ratio base/AI" if baseline is not None else ""
    print(
        f"\n## symshape.infer_dims vs torch.export.AdditionalInputs (3 input sets, median of {reps} interleaved "
        f"rounds ({rounds('llama32', reps)} on llama32), {gc_note})\n"
    )
    print(
        f"| case | leaves | symshape ms | (infer_dims only) | AdditionalInputs ms | ratio sym/AI{base} "
        "| µs/leaf sym | free dims sym | free dims AI | goal |"
    )
    print("|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if baseline is not None else "") + "---:|---:|---:|---|")
    for case in cases:
        t = times[case.name]
        sym, ai, r = median_ms(t["symshape"]), median_ms(t["AI"]), ratio(t["symshape"], t["AI"])
        goals = []
        if case.name in GOALS_MS:
            goals.append(f"<= {GOALS_MS[case.name]:g} ms: {'PASS' if sym <= GOALS_MS[case.name] else 'FAIL'}")
        if case.name in GOAL_RATIO:
            goals.append(f"ratio <= {GOAL_RATIO[case.name]:g}: {'PASS' if r <= GOAL_RATIO[case.name] else 'FAIL'}")
        extra = ""
        if baseline is not None:
            extra = f" | {median_ms(t['baseline']):.2f} | {ratio(t['baseline'], t['AI']):.2f}x"
        print(
            f"| {case.name} | {case.leaves:,} | {sym:.2f} | {median_ms(infer_only[case.name]):.2f} | {ai:.2f} "
            f"| {r:.2f}x{extra} "
            f"| {sym * 1e3 / case.leaves:.1f} | {symshape_free_dims(specs[case.name])} "
            f"| {count_hints(ai_results[case.name])} | {'; '.join(goals)} |"
        )

    print()
    for case in cases:
        t = times[case.name]
        spread = {k: f"{min(v) * 1e3:.2f}-{max(v) * 1e3:.2f} ms" for k, v in t.items()}
        print(f"- {case.name}: {specs[case.name]}  (sym range {spread['symshape']}, AI range {spread['AI']})")
    leaf_cases = [c for c in cases if c.name.startswith("leaves-")]
    if len(leaf_cases) >= 2:
        small, large = leaf_cases[0], leaf_cases[-1]
        for tool in ["symshape", "AI"] + (["baseline"] if baseline is not None else []):
            growth = median_ms(times[large.name][tool]) / median_ms(times[small.name][tool])
            per_leaf = ", ".join(f"{median_ms(times[c.name][tool]) * 1e3 / c.leaves:.1f}" for c in leaf_cases)
            print(
                f"- growth {small.leaves:,} -> {large.leaves:,} leaves (x{large.leaves / small.leaves:g}): {tool} "
                f"x{growth:.2f}; µs per leaf {per_leaf}"
            )
    print(f"- DynamicCache registered with pytree before symshape's first call: {registered_before}")
    print(f"- inputs built in {build_s:.1f} s (not timed)")
    print(f"- end: {load()}")
    print(f"\nMachine: {machine_info()}")

    by_name = {c.name: c for c in cases}
    if opts.stages:
        stage_shares(by_name[opts.stages], rounds(opts.stages, reps) * 3)
        if baseline is not None:
            stage_shares(by_name[opts.stages], rounds(opts.stages, reps) * 3, baseline, f"symshape@{opts.baseline}")
    if opts.profile:
        profile_case(by_name[opts.profile], opts.top)


if __name__ == "__main__":
    main()
