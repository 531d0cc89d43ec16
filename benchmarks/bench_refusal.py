"""What an explained refusal costs, against one static trace of the same model (issue 14, goal 2).

Run by hand, never in tests::

    python benchmarks/bench_refusal.py                 # Mamba prefill, 3 interleaved rounds
    python benchmarks/bench_refusal.py --reps 5
    python benchmarks/bench_refusal.py --case loop     # a toy: for i in range(x.shape[1])
    python benchmarks/bench_refusal.py --no-draft      # skip the slow before-column

Goal: the refusal costs at most 4x one static trace.

The cases are models the contract cannot be exported for, because the model fixes a
dim that varied in the input sets:

* ``mamba_prefill`` (``tests/zoo.py``): a tiny Mamba without its CUDA kernels; the
  reference selective scan loops ``for index in range(seq_len)``, so torch specialises
  ``seq_len``.
* ``loop``: ``for i in range(x.shape[1])`` in a two-line module.

Timed per round, in a rotating order (``timing.interleaved``), each warmed up once:

* ``static trace`` (the floor): ``torch.export.export(model, (), set0, strict=False)``,
  no dynamic shapes.
* ``refusal``: ``symshape.export(model, sets)`` up to the ``ExportError`` that names
  the dim, the observed values and the model line (infer + one failed trace; the line
  comes from the guards that trace recorded).
* ``refusal, draft``: the same, with the model line found as before this change: a
  second trace with ``torch.export.draft_export`` (forced by leaving the failed trace's
  record unused).

Ratios are the median of per-round ratios against the static trace.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # symshape and tests/ from this checkout

import torch
from machine import machine_info
from timing import interleaved, load, median_ms, ratio

import symshape
from symshape.exporting import trace as trace_module

GOAL = 4.0


class Loop(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i in range(x.shape[1]):
            out = out + i
        return out


def case(name: str) -> tuple[Any, list[Any], str]:
    """(model, input sets, regex the message's model line must match)."""
    if name == "loop":
        return Loop(), [(torch.randn(2, 3),), (torch.randn(4, 6),)], r"in forward: for i in range\(x\.shape\[1\]\)"
    from tests.zoo import ZOO

    entry = ZOO[name]
    sets = [entry.make_inputs(c, seed=i) for i, c in enumerate(entry.train_cases)]
    return entry.build(), sets, r"modeling_mamba\.py:\d+ in mamba_selective_scan: for index in range\(seq_len\)"


def static_trace(model: Any, sets: list[Any]) -> None:
    args, kwargs = (sets[0], {}) if isinstance(sets[0], tuple) else ((), sets[0])
    torch.export.export(model, args, kwargs, strict=False)


def refusal(model: Any, sets: list[Any], draft: bool = False) -> str:
    """The explained error's text; ``draft``: the model line from a second trace, as before."""
    lines_by_dim = trace_module._lines_by_dim
    if draft:
        trace_module._lines_by_dim = lambda spec, guards: {}  # nothing from the failed trace: draft_export runs
    try:
        symshape.export(model, sets)
    except symshape.ExportError as exc:
        return str(exc)
    finally:
        trace_module._lines_by_dim = lines_by_dim
    raise AssertionError("the model exported: not a refusal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="mamba_prefill", choices=["mamba_prefill", "loop"])
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds (medians are reported)")
    parser.add_argument("--no-draft", action="store_true", help="do not time the refusal with draft_export")
    opts = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"start: {load()}")
    model, sets, expected = case(opts.case)

    tools = {
        "static trace": lambda: static_trace(model, sets),
        "refusal": lambda: refusal(model, sets),
    }
    if not opts.no_draft:
        tools["refusal, draft"] = lambda: refusal(model, sets, draft=True)
    messages = {name: fn() for name, fn in tools.items()}  # warm-up, and the texts compared below
    times = interleaved(tools, opts.reps)

    floor = times["static trace"]
    print(f"\n## Explained refusal vs one static trace: {opts.case} (median of {opts.reps} interleaved rounds)\n")
    print("| tool | median s | x static trace | goal |")
    print("|---|---:|---:|---|")
    for name, values in times.items():
        r = ratio(values, floor)
        goal = f"<= {GOAL:g}x: {'PASS' if r <= GOAL else 'FAIL'}" if name == "refusal" else ""
        print(f"| {name} | {median_ms(values) / 1e3:.2f} | {r:.2f}x | {goal} |")
    print()
    for name in ("refusal", "refusal, draft"):
        if name in messages:
            code = [line.strip() for line in messages[name].splitlines() if line.strip().startswith("model code:")]
            ok = any(re.search(expected, line) for line in code)
            print(f"- {name}: model line {'found' if ok else 'MISSING'}; " + (" | ".join(code) or "no model code line"))
    print(f"- end: {load()}")
    print(f"\nMachine: {machine_info()}")


if __name__ == "__main__":
    main()
