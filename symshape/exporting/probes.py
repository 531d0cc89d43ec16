"""Probes: verification off the examples.

The observed sets show that the program is right where it was traced; probes check
the contract it claims. Each probe is a new input set built from the example: one
dim moved (to its smallest safe size, to 1 where the contract allows it, between and
beyond the observed sizes, to its maximum when bounded), every axis resized to its
expression so that every relation holds, real values kept (masks, positions and
caches grow consistently). Eager runs it first: a probe eager refuses is no valid
input and is dropped. Then:

* the program rejects it: a **coverage gap** (the contract is narrower than the model);
  reported with the sizes and the guard, it does not make ``ok`` False;
* the program accepts it with outputs other than eager's: the program is wrong, and
  ``ok`` is False.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from typing import Any

import torch

from ..core.copying import copy_set
from ..core.records import Check
from ..core.rows import STATIC, SUM
from ..core.sizes import SAFE_MIN
from ..infer.resize import resize_to_dims
from ..spec import DimSpec
from .verify import Runner, eager_runner, run_check

#: Most probes per dim (the sizes are deduplicated first).
PER_DIM = 4


def probe_sizes(spec: DimSpec) -> list[dict[str, int]]:
    """The dim sizes of each probe: one dim moved at a time, the others at the example's,
    then every dim beyond its observed sizes at once. A bound torch required (a
    refinement) is probed from both sides: torch's suggestion can be narrower than what
    the model runs."""
    base = {d.name: d.values[spec.example_index] for d in spec.dim_rows}
    required = {b.expr for b in spec.bounds if b.origin == "model"}  # torch's suggestions: probe across them
    probes: list[dict[str, int]] = []
    beyond: dict[str, int] = {}
    for d in spec.dim_rows:
        low, high = d.min or 0, d.max
        observed = sorted(set(d.values))
        wanted = [max(SAFE_MIN, low)]
        if low <= 1:
            wanted.append(1)
        gaps = [(a + b) // 2 for a, b in itertools.pairwise(observed) if b - a > 1]
        wanted += gaps[:1]
        far = 2 * observed[-1] + 3
        beyond[d.name] = far if high is None else min(far, high)
        wanted.append(beyond[d.name])
        if high is not None:
            wanted.append(high)
        sizes = [v for v in dict.fromkeys(wanted) if v not in observed and v >= low and (high is None or v <= high)]
        across = []
        if d.name in required:  # is the range torch asked for narrower than what the model runs?
            across = [v for v in (low - 1, SAFE_MIN, None if high is None else high + 1) if v is not None and v >= 1]
            across = [
                v for v in dict.fromkeys(across) if v not in observed and (v < low or (high is not None and v > high))
            ]
        probes += [{**base, d.name: v} for v in [*across, *sizes][: PER_DIM + len(across)]]
    if len(beyond) > 1:
        probes.append({**base, **beyond})
    return probes


def run_probes(run_program: Runner, model: Any, spec: DimSpec) -> tuple[list[Check], int]:
    """Every probe through eager, then through the program (``run_program``, see
    :func:`.verify.program_runner`): the checks (origin ``"probe"``) and how many probes
    eager refused (dropped)."""
    example = spec.layout.join(spec.args, spec.kwargs)
    run_eager = eager_runner(model, spec)
    checks, refused = [], 0
    for sizes in probe_sizes(spec):
        try:
            values = resize_to_dims(example, spec.axes, sizes)
        except ValueError:  # an axis of size 0 cannot grow: no probe there
            continue
        try:
            with torch.no_grad():
                expected = run_eager(copy_set(values))
        except Exception:  # eager refuses these sizes: not a valid input
            refused += 1
            continue
        check = run_check(len(checks), values, run_program, run_eager, origin="probe", expected=expected)
        shown = ", ".join(f"{n}={v}" for n, v in sizes.items())
        if not check.accepted:
            guard = in_dim_names(check.error or "", spec)
            check = replace(check, error=f"coverage gap: eager runs it, the program rejects it: {guard}")
        checks.append(replace(check, sizes=shown))
    return checks, refused


def in_dim_names(text: str, spec: DimSpec) -> str:
    """Axis labels in ``text`` followed by what they are in symshape's names:
    ``input_ids.shape[1]`` -> ``input_ids.shape[1] (seq_len)``; an axis left ``Dim.AUTO``
    keeps its label."""
    labels = {a.label: a.expr for a in spec.axes if a.role not in (SUM, STATIC) and not a.is_int}
    if not labels:
        return text
    pattern = re.compile("|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True)))
    return pattern.sub(
        lambda m: m.group(0) if labels[m.group(0)] == m.group(0) else f"{m.group(0)} ({labels[m.group(0)]})", text
    )
