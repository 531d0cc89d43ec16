"""Stop a trace at the first divisibility guard on a named Dim.

A model that pads to a multiple (Swin's ``if width % patch_size != 0``) adds the guard
``width % 4 == 0`` in its first lines. A Dim's range cannot imply it, so torch refuses
the Dim, but only after tracing the whole model on sizes such as
``(w//4 + (4 - (w//4) % 4) % 4) // 4``, which its symbolic reasoning is slow on: Swin's
first trace took 4x its second. Stopping there (at the next guard on such a size, so
that ``height % 4`` right after ``width % 4`` is found by the same trace), and writing
the fixes torch would have suggested (``width = 4*_width``), leaves the rest to the next
trace.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from .. import _torch
from ..spec import DimSpec
from .messages import Fix, Violation, translate_sources

DivisibilityGuardError = _torch.DivisibilityGuardError


@contextlib.contextmanager
def stopping_early(spec: DimSpec, strict: bool, deferred: bool) -> Iterator[None]:
    """Stop the trace after ``size % c == 0`` for axes that are a named root Dim by itself.

    Not in strict mode (dynamo names inputs by flat position), nor when guards are checked
    at run time (torch defers such a guard instead of refusing the Dim)."""
    if strict or deferred:
        yield
        return
    labels = spec.named_root_labels()
    with _torch.stopping_on_divisibility(lambda source: translate_sources(source) in labels):
        yield


def as_violation(spec: DimSpec, stop: DivisibilityGuardError) -> Violation:
    """The violation torch would have reported for the guards, with its suggested fixes."""
    raw, bullets, fixes = [], [], []
    for source, c, where in stop.found:
        label = translate_sources(source)
        row = next(a for a in spec.axes if a.label == label)
        dim = row.terms[0][0]
        guard = f"({source} % {c}) == 0"
        text = f"Not all values of {dim} = {source} in the specified range satisfy the generated guard {guard}"
        line = f" (model code: {where[0]}:{where[1]} in {where[2]})" if where else ""
        raw.append(f"{text}.")
        bullets.append(translate_sources(text) + line)
        low = next((d.min for d in spec.dim_rows if d.name == dim), None)
        root = f"_{dim}"
        fixes += [
            Fix(root, "new_root", low=max(1, math.ceil((low or 0) / c)), text=f"{root} = Dim({root!r})"),
            Fix(dim, "affine", root=root, coef=c, text=f"{dim} = {c}*{root}"),
        ]
    return Violation(tuple(bullets), tuple(fixes), tuple(raw))
