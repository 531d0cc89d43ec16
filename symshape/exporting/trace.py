"""One torch.export trace, and what symshape learns from it besides the program:
which input size each torch symbol stands for, and the model line of each guard.
"""

from __future__ import annotations

import inspect
import linecache
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy
import torch

from .. import _torch
from ..core.binding import Layout, Param
from ..core.quiet import quiet_loggers
from ..core.rows import STATIC
from ..core.scopes import trace_scope
from ..spec import DimSpec
from .messages import translate_sources


def trace(
    module: torch.nn.Module,
    spec: DimSpec,
    layout: Layout,
    strict: bool,
    symbols: dict[str, str],
    fake_tensor_cache: bool | None,
    deferred: bool = False,
    failures: list[TraceFailure] | None = None,
) -> torch.export.ExportedProgram:
    """One torch.export trace; ``symbols`` receives ``{"s77": "x.shape[0]"}`` for the
    symbols torch created, so that messages never show a bare ``s77``.

    ``failures`` is emptied, and receives this trace's :class:`TraceFailure` if it fails:
    the guards torch added, each with the model line that added it. Pass it on to
    :func:`source_lines`, which then names the model code without tracing again.

    ``deferred`` asks torch to check at run time the guards it cannot prove for a named
    Dim (``prefer_deferred_runtime_asserts_over_guards``), instead of refusing the Dim.

    The axes of one named Dim share one symbol during the trace (:func:`_torch.sharing_symbols`):
    torch would give each its own, and repeat every guard the model adds once per axis.

    ``fake_tensor_cache`` None turns torch's fake-tensor dispatch cache on for a model of
    many repeated blocks only (:func:`cache_pays_off`).
    """
    dynamic_shapes = layout.nest(spec.shapes_by_input)
    if failures is not None:
        failures.clear()
    roots = spec.named_root_labels()
    with (
        trace_scope(module),
        _torch.recording_symbols() as recorded,
        _torch.sharing_symbols(lambda source: roots.get(translate_sources(source))),
        _torch.recording_guards() as guards,
        _torch.fake_tensor_cache(cache_pays_off(module) if fake_tensor_cache is None else fake_tensor_cache),
    ):
        try:
            return torch.export.export(
                module,
                spec.args,
                spec.kwargs,
                dynamic_shapes=dynamic_shapes,
                strict=strict,
                prefer_deferred_runtime_asserts_over_guards=deferred,
            )
        except Exception:
            if failures is not None:
                failures.append(TraceFailure(spec, strict, _guard_lines(guards, recorded)))
            raise
        finally:
            for symbol, source in recorded.items():
                symbols.setdefault(symbol, translate_sources(source))


#: Repeated blocks (the longest ``nn.ModuleList``) from which the fake-tensor cache is on.
CACHE_FROM_BLOCKS = 8


def cache_pays_off(module: torch.nn.Module) -> bool:
    """Whether torch's fake-tensor dispatch cache makes this model's trace faster.

    The cache pays per op it has not seen, and saves on every op it has: with one symbol
    per Dim, every decoder layer repeats the first one's ops on the same shapes. Measured
    on tiny Llama, symshape.export with the cache on vs off: 2 layers 0.62 / 0.45 s,
    4 layers 0.90 / 0.76, 8 layers 1.42 / 1.38, 16 layers 2.48 / 2.70, 32 layers 4.5 / 5.1.
    """
    blocks = [len(m) for m in module.modules() if isinstance(m, torch.nn.ModuleList)]
    return max(blocks, default=0) >= CACHE_FROM_BLOCKS


def name_symbols(text: str, symbols: dict[str, str], spec: DimSpec) -> str:
    """Replace torch symbols by symshape dim names (or axis labels) in a message."""
    by_label = {a.label: a.expr for a in spec.axes if a.role != STATIC}

    def name(match: re.Match) -> str:
        label = symbols.get(match.group(0))
        if label is None:
            return match.group(0)
        return by_label.get(label, label)

    return re.sub(r"\bs\d+\b", name, text)


def exportable(model: Any, layout: Layout) -> tuple[torch.nn.Module, Layout]:
    """A module torch.export can take, and the layout to pass its inputs.

    Plain functions are wrapped in a module with the same signature. A ``**kwargs``
    forward is given explicit keyword parameters: torch 2.13 fails on dynamic shapes
    nested under ``**kwargs`` ("Must provide a tree_name when there might be a mismatch").
    """
    var_keyword = [p for p in layout.params if p.group_kind == "var_keyword"]
    if isinstance(model, torch.nn.Module) and not var_keyword:
        return model, layout
    target = model.forward if isinstance(model, torch.nn.Module) else model
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for p in inspect.signature(target).parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            parameters += [inspect.Parameter(q.name, inspect.Parameter.KEYWORD_ONLY) for q in var_keyword]
        else:
            parameters.append(p)

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model if isinstance(model, torch.nn.Module) else None

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return target(*args, **kwargs)

    Wrapped.forward.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    flat = Layout(tuple(Param(p.name, p.passed) if p.group_kind == "var_keyword" else p for p in layout.params))
    return Wrapped(), flat


@dataclass(frozen=True)
class _GuardLine:
    """A guard of a failed trace: the model line that added it, the input sources of its
    symbols (torch's text), whether it fixes one symbol to a constant, and the guard."""

    where: str  # "modeling_mamba.py:261 in mamba_selective_scan: for index in range(seq_len):"
    sources: tuple[str, ...]
    specialises: bool
    guard: Any  # sympy, over torch's symbols
    symbols: dict[str, str]  # torch symbol -> source, for the symbols of this guard


@dataclass(frozen=True)
class TraceFailure:
    """A failed trace: what it was traced with, and the guards it recorded."""

    spec: DimSpec
    strict: bool
    guards: list[_GuardLine]


def _guard_lines(guards: list[_torch.GuardEvent], recorded: dict[str, str]) -> list[_GuardLine]:
    """The guards on input sizes, with their model lines (as ``draft_export`` reports them)."""
    lines = []
    for (filename, lineno, function), names, guard in guards:
        symbols = {n: recorded[n] for n in names if n in recorded}
        if not symbols:
            continue  # on no input size (an unbacked symbol, a constant)
        where = f"{filename}:{lineno} in {function}: {linecache.getline(filename, lineno).strip()}"
        lines.append(_GuardLine(where, tuple(symbols.values()), _specialises(guard), guard, symbols))
    return lines


def _specialises(guard: Any) -> bool:
    """``Eq(s53, 3)``: the guard fixes a size to one value."""
    return isinstance(guard, sympy.Eq) and any(
        a.is_Symbol and b.is_Integer for a, b in ((guard.lhs, guard.rhs), (guard.rhs, guard.lhs))
    )


def _implied(line: _GuardLine, spec: DimSpec) -> bool:
    """An equality the contract states already (``Eq(s70, s53)`` for two axes of one dim,
    each with a symbol of its own): it names the dims' axes, not what the model requires."""
    if not isinstance(line.guard, sympy.Eq):
        return False
    rows = {a.label: a for a in spec.axes}
    values = {}
    for symbol in line.guard.free_symbols:  # torch's symbols carry assumptions: matched by name
        row = rows.get(translate_sources(line.symbols.get(str(symbol), "")))
        if row is None:
            return False
        values[symbol] = sum((c * sympy.Symbol(d) for d, c in row.terms), sympy.Integer(row.const))
    try:
        return sympy.expand((line.guard.lhs - line.guard.rhs).xreplace(values)) == 0
    except (TypeError, ValueError):  # a guard over more than sizes (booleans, floats)
        return False


def source_lines(
    module: torch.nn.Module,
    spec: DimSpec,
    layout: Layout,
    strict: bool,
    failures: Sequence[TraceFailure] = (),
) -> dict[str, list[str]]:
    """Model code that added each failing guard, by dim name.

    ``failures`` is what :func:`trace` recorded: the trace that failed recorded every
    guard with its model line. A dim the model fixed to one value gets the line that
    fixed it, another dim the lines of its guards the contract does not state already.
    Only when that trace left nothing (or was traced with another spec) is the model
    traced again, with ``draft_export``, which records the user stack of every guard it
    had to add (torch's violation message in non-strict mode does not carry it).
    """
    failure = failures[-1] if failures else None
    if failure is not None and failure.spec is spec and failure.strict == strict:
        found = _lines_by_dim(spec, failure.guards)
        if found:
            return found
    return _draft_source_lines(module, spec, layout, strict)


def _lines_by_dim(spec: DimSpec, guards: list[_GuardLine]) -> dict[str, list[str]]:
    labels = {a.label: [n for n, _ in a.terms] for a in spec.axes}
    fixing: dict[str, list[str]] = {}
    other: dict[str, list[str]] = {}
    for line in guards:
        target = fixing if line.specialises else other
        names = [n for source in line.sources for n in labels.get(translate_sources(source), [])]
        if not names or (not line.specialises and _implied(line, spec)):
            continue
        for name in names:
            if line.where not in target.setdefault(name, []):
                target[name].append(line.where)
    return {name: fixing.get(name) or other[name] for name in {**other, **fixing}}


def _draft_source_lines(module: torch.nn.Module, spec: DimSpec, layout: Layout, strict: bool) -> dict[str, list[str]]:
    """:func:`source_lines` from a second trace (``draft_export``): slow, the fallback."""
    labels = {a.label: [n for n, _ in a.terms] for a in spec.axes}
    found: dict[str, list[str]] = {}
    try:
        with trace_scope(module), quiet_loggers("torch.export._draft_export", "torch._export.non_strict_utils"):
            reported = _torch.guard_frames(module, spec.args, spec.kwargs, layout.nest(spec.shapes_by_input), strict)
    except Exception:  # no source lines is better than a second, unrelated failure
        return found
    for frames, sources in reported:
        user = [f for f in frames if "/torch/" not in f["filename"]]
        if not user:
            continue
        frame = user[-1]
        where = f"{frame['filename']}:{frame['line']} in {frame['name']}: {frame['loc'].strip()}"
        for source in sources:
            for name in labels.get(translate_sources(source), []):
                if where not in found.setdefault(name, []):
                    found[name].append(where)
    return found
