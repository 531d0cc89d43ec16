"""One torch.export trace, and what symshape learns from it besides the program:
which input size each torch symbol stands for, and the model line of each guard.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

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
    fake_tensor_cache: bool,
    deferred: bool = False,
) -> torch.export.ExportedProgram:
    """One torch.export trace; ``symbols`` receives ``{"s77": "x.shape[0]"}`` for the
    symbols torch created, so that messages never show a bare ``s77``.

    ``deferred`` asks torch to check at run time the guards it cannot prove for a named
    Dim (``prefer_deferred_runtime_asserts_over_guards``), instead of refusing the Dim.

    torch's fake-tensor dispatch cache costs more than it saves on these traces
    (measured: 16-layer tiny Llama 5.56 s -> 4.28 s with it off, same program, same
    guards), so it is off during symshape's traces unless asked for.
    """
    dynamic_shapes = layout.nest(spec.shapes_by_input)
    with trace_scope(module), _torch.recording_symbols() as recorded, _torch.fake_tensor_cache(fake_tensor_cache):
        try:
            return torch.export.export(
                module,
                spec.args,
                spec.kwargs,
                dynamic_shapes=dynamic_shapes,
                strict=strict,
                prefer_deferred_runtime_asserts_over_guards=deferred,
            )
        finally:
            for symbol, source in recorded.items():
                symbols.setdefault(symbol, translate_sources(source))


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


def source_lines(module: torch.nn.Module, spec: DimSpec, layout: Layout, strict: bool) -> dict[str, list[str]]:
    """Model code that added each failing guard, by dim name (one extra trace, errors only).

    ``draft_export`` records the user stack of every guard it had to add; torch's
    violation message in non-strict mode does not carry it.
    """
    labels = {a.label: [n for n, _ in a.terms] for a in spec.axes}
    found: dict[str, list[str]] = {}
    try:
        with trace_scope(module), quiet_loggers("torch.export._draft_export", "torch._export.non_strict_utils"):
            failures = _torch.guard_frames(module, spec.args, spec.kwargs, layout.nest(spec.shapes_by_input), strict)
    except Exception:  # no source lines is better than a second, unrelated failure
        return found
    for frames, sources in failures:
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
