"""The text and fields of an :class:`ExportError`: what torch requires, in symshape's
names, against the observed values, with the model line that forced it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..errors import CONTRADICTION, OTHER, UNFIXABLE, ExportError, Problem
from ..spec import DimSpec
from .messages import Fix, Violation, translate_sources
from .prove import GuardTranslator
from .refine import Contradiction

_ADVICE = {
    "specialised": (
        "the model fixes {dim} to one value (int(), .item(), a Python loop or branch over the size). Make that "
        "code size-independent, or, if {dim} is fixed in real use, give input sets where it does not vary."
    ),
    "bounds": (
        "the model only supports {dim} {requirement_tail}. Check the inputs that exceed it, or the model's "
        "maximum length."
    ),
    "relation": (
        "the model ties {dim} to other sizes in a way the input sets break. Either those sets are not valid "
        "inputs for this model, or the model should not tie them."
    ),
}


def explained_error(
    spec: DimSpec,
    violation: Violation,
    contradictions: list[Contradiction],
    skipped: list[Fix],
    sources: dict[str, list[str]],
) -> ExportError:
    """An :class:`ExportError` for a violation symshape cannot refine away: what torch
    requires, where it appears, the values per set, the sets that break it, the model line."""
    values = spec.dim_values
    problems = [
        Problem(
            dim=c.dim,
            requirement=c.requirement,
            axes=tuple(a.label for a in spec.root_axes(c.dim)),
            values=tuple(values.get(c.dim, ())),
            breaking=c.breaking,
            torch_says=c.reason,
            sources=tuple(sources.get(c.dim, [])),
        )
        for c in contradictions
    ]
    lines = [
        "torch.export requires what the observed input sets contradict."
        if contradictions
        else "torch.export stopped on a shape guard it offers no fix for."
    ]
    for c in contradictions:
        axes = [a.label for a in spec.root_axes(c.dim)]
        observed = ", ".join(f"set #{i}: {v}" for i, v in enumerate(values.get(c.dim, ())))
        kind = (
            "specialised"
            if c.requirement.startswith("is specialised")
            else "bounds"
            if c.requirement.startswith("must be >=") or c.requirement.startswith("must be <=")
            else "relation"
        )
        advice = _ADVICE[kind].format(dim=c.dim, requirement_tail=c.requirement.removeprefix("must be "))
        lines += [
            "",
            f"{c.dim} {c.requirement}",
            f"  appears at:  {', '.join(axes) or '(no axis)'}",
            f"  observed:    {observed}",
            f"  broken by:   {', '.join(f'set #{i} ({text})' for i, text in c.breaking)}",
            f"  torch says:  {c.reason}",
        ]
        for where in sources.get(c.dim, []):
            lines.append(f"  model code:  {where}")
        lines.append(f"  what to do:  {advice}")
    if not contradictions:
        lines += _explain_unfixable(spec, violation, skipped, sources)
        problems = [
            _unfixable_problem(spec, raw, bullet, sources)
            for raw, bullet in zip(violation.raw_bullets, violation.bullets)
        ]
    return ExportError("\n".join(lines), kind=CONTRADICTION if contradictions else UNFIXABLE, problems=tuple(problems))


def _unfixable_problem(spec: DimSpec, raw: str, bullet: str, sources: dict[str, list[str]]) -> Problem:
    match = _UNPROVEN.match(raw)
    dim = match.group(1) if match and match.group(1) in spec.dim_values else None
    if dim is None:
        return Problem(None, bullet, torch_says=bullet)
    axes = tuple(a.label for a in spec.root_axes(dim))
    return Problem(
        dim, bullet, axes, tuple(spec.dim_values[dim]), torch_says=bullet, sources=tuple(sources.get(dim, []))
    )


_UNPROVEN = re.compile(r"Not all values of (\w+) = .*? satisfy the generated guard (.*?)\.?$")


def _unproven(violation: Violation, dims: set[str], guards: GuardTranslator) -> Iterator[tuple[str, str, Any]]:
    """``(dim, guard as read, translated guard or None)`` for each guard torch could not
    prove for one of ``dims``."""
    for raw, bullet in zip(violation.raw_bullets, violation.bullets):
        match = _UNPROVEN.match(raw)
        if match is None or match.group(1) not in dims:
            continue
        readable = _UNPROVEN.match(bullet)
        yield match.group(1), readable.group(2) if readable else match.group(2), guards.condition(match.group(2))


def unprovable_dims(spec: DimSpec, violation: Violation, *, include_unnamed: bool = False) -> list[tuple[str, str]]:
    """``(dim, guard)`` for each dim torch could not prove a guard for, where z3 proves
    the guard holds for every non-negative size (torch's limit, not the model's).
    Dims already exported as ``Dim.DYNAMIC`` count only with ``include_unnamed``."""
    named = {d.name for d in spec.dim_rows if include_unnamed or not d.unnamed}
    guards = GuardTranslator(spec)
    return [
        (dim, text)
        for dim, text, guard in _unproven(violation, named, guards)
        if guard is not None and guards.always_true(guard.condition)
    ]


def unproven_but_observed(spec: DimSpec, violation: Violation, dims: set[str]) -> list[tuple[str, str]] | None:
    """``(dim, guard)`` for the guards torch could not prove for ``dims`` when every one of
    them holds in every observed input set, else None.

    torch then suggests a fix fitted to the example alone (wav2vec2's conv stack:
    ``num_samples = 20*k - 17`` from 1603), which the other sets break although the
    guards themselves accept them: the guards are the model's, the fix is not."""
    guards = GuardTranslator(spec)
    values = spec.dim_values
    found = []
    for dim, text, guard in _unproven(violation, dims, guards):
        if guard is None:
            return None
        for index in range(spec.num_sets):
            sizes = [guards.variables[d] == v[index] for d, v in values.items()]
            if not guards.always_true(guard.condition, *sizes):
                return None
        found.append((dim, text))
    return found if {d for d, _ in found} >= dims else None


def _explain_unfixable(
    spec: DimSpec, violation: Violation, skipped: list[Fix], sources: dict[str, list[str]]
) -> list[str]:
    """Violations torch offers no usable fix for: name the dims, and say with z3
    whether the guard holds for every size (then torch, not the model, is stuck)."""
    values = spec.dim_values
    proven = {d for d, _ in unprovable_dims(spec, violation, include_unnamed=True)}
    lines = []
    for raw, bullet in zip(violation.raw_bullets, violation.bullets):
        match = _UNPROVEN.match(raw)
        dim = match.group(1) if match else None
        lines += ["", f"torch says:  {bullet}"]
        if dim in values:
            axes = [a.label for a in spec.root_axes(dim)]
            observed = ", ".join(f"set #{i}: {v}" for i, v in enumerate(values[dim]))
            lines.append(f"  {dim} appears at: {', '.join(axes)}; observed: {observed}")
        if dim in proven:
            lines.append(
                "  this guard holds for every size >= 0 (checked with z3): torch cannot prove it, which is a "
                "limitation "
                f"of its symbolic reasoning, not of the model or the inputs; Dim.DYNAMIC on {dim}'s axes did "
                "not help either. "
                f"Work-around: export with {dim} static."
            )
        for where in sources.get(dim, []) if dim else []:
            lines.append(f"  model code:  {where}")
    lines += [f"  torch suggested: {f.text} (names nothing symshape inferred)" for f in skipped]
    return lines


def unexplained_error(exc: Exception, message: str) -> ExportError:
    """torch.export failed for another reason than a shape constraint: its words, in
    symshape's paths and names."""
    text = translate_sources(message.split("\n\nThe error above occurred")[0]).strip()
    return ExportError(
        f"torch.export failed for a reason other than a shape constraint ({type(exc).__name__}):\n{text}", kind=OTHER
    )
