"""``symshape.export``: infer, export, refine on torch's request, read back, verify.

The loop: trace with the spec; when torch reports a constraint violation, apply
each suggested fix that every observed set satisfies (bounds, equalities, derived
dims, divisibility), record why, and trace again. A fix the observations break is
never applied: it is an :class:`ExportError` that names the dim, the axes, the
values per set, the sets that break it and the model line that forced it.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import torch
import torch.utils._pytree as pytree

from .errors import ExportError
from .infer import infer_with_sets
from .inputs import Layout, Param, copy_set
from .program import GuardTranslator, ProgramReading, read_program
from .refine import Contradiction, Refinement, Violation, apply_fixes, parse_violation, translate_sources, unnamed
from .spec import DimSpec

#: Refinement rounds before giving up (each is one trace).
MAX_ROUNDS = 8
#: Largest |program - eager| difference a verified set may show.
ATOL = 1e-4


@dataclass(frozen=True)
class Check:
    """One observed input set run through the program and through eager."""

    set_index: int
    accepted: bool
    max_abs_diff: float | None  # over every output tensor; None if not accepted
    error: str | None = None
    #: False for a set of another structure than the example (e.g. a prefill call whose
    #: cache is empty, recorded by ``observe``): another graph, not run through the program.
    covered: bool = True
    #: True when the set was recorded as shapes only and run on values tiled from the example.
    synthetic: bool = False

    @property
    def passed(self) -> bool:
        """Accepted by the program, every output within ``ATOL`` of eager."""
        return self.accepted and (self.max_abs_diff or 0.0) <= ATOL


@dataclass
class ExportResult:
    """The program, the final spec, what changed and why, and the verification."""

    program: torch.export.ExportedProgram
    spec: DimSpec
    initial_spec: DimSpec
    refinements: list[Refinement] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    reading: ProgramReading | None = None
    traces: int = 1
    #: The normalised input sets (the user's objects, never modified), for :meth:`verify`.
    sets: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        """Every observed set accepted, outputs equal to eager within ``ATOL`` (sets of
        another structure than the example, ``covered=False``, are reported but not counted)."""
        return all(c.passed for c in self.checks if c.covered)

    def verify(self, model: Any) -> list[Check]:
        """Run every observed set through the program and through ``model`` (on copies:
        forward mutates caches); the checks are stored in ``checks`` and returned."""
        runnable = self.program.module()
        self.checks = [_check_any(runnable, model, self.spec, i, s) for i, s in enumerate(self.sets)]
        return self.checks

    def explain(self) -> str:
        lines = [self.spec.explain(), ""]
        lines.append(f"export: {self.traces} trace(s); {self.reading.symbols if self.reading else '?'} free symbols in the program's inputs")
        for r in self.refinements:
            lines.append(f"  refined {r.change}: {r.reason}" + (f" [{r.source}]" if r.source else ""))
        if self.reading:
            for c in self.reading.relation_checks:
                lines.append(f"  {c.expr}: {c.status} ({c.detail})")
            if self.reading.requirements:
                lines.append("  the program requires:")
                lines += [f"    {text}" for text in self.reading.requirements]
        for c in self.checks:
            if not c.covered:
                state = f"not covered: {c.error}"
            elif not c.accepted:
                state = f"REJECTED: {c.error}"
            else:
                state = f"max |program - eager| = {c.max_abs_diff:.2e}"
                if c.error:
                    state += f" ({c.error})"
                if c.synthetic:
                    state += " (shapes recorded; values tiled from the example)"
            lines.append(f"  set #{c.set_index}: {state}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return f"ExportResult({self.spec}; {len(self.refinements)} refinement(s); {'verified' if self.checks and self.ok else 'not verified' if not self.checks else 'CHECK FAILED'})"


def export(
    model: Any,
    inputs: Iterable[Any],
    *,
    strict: bool = False,
    verify: bool = True,
    names: Mapping[str, str] | None = None,
    max_rounds: int = MAX_ROUNDS,
    fake_tensor_cache: bool = False,
    dynamic: Iterable[str] | None = None,
) -> ExportResult:
    """Infer the dims, export with them, refine where the model requires it, verify.

    ``verify=True`` runs the program on every observed input set (copies: forward
    mutates caches) and compares every output with eager. ``fake_tensor_cache``
    turns torch's fake-tensor cache back on during tracing (off by default: faster).
    ``dynamic`` declares axes dynamic that did not vary (see ``infer_dims``).
    """
    spec, sets = infer_with_sets(model, inputs, names, dynamic=dynamic)
    module, layout = _exportable(model, spec.layout)
    initial, refinements = spec, []
    symbols: dict[str, str] = {}
    for round_ in range(1, max_rounds + 1):
        try:
            program = _trace(module, spec, layout, strict, symbols, fake_tensor_cache)
            break
        except Exception as exc:  # torch raises many types; only violations are refined
            message = name_symbols(getattr(exc, "msg", None) or str(exc), symbols, spec)
            violation = parse_violation(message)
            if violation is None:
                raise ExportError(_unexplained(exc, message)) from exc
            new_spec, applied, contradictions, skipped = apply_fixes(spec, violation)
            if not contradictions and not applied and (stuck := unprovable_dims(spec, violation)):
                # torch cannot prove, for a named Dim, a guard that holds for every size:
                # give those axes Dim.DYNAMIC (torch ties them itself) and trace again.
                refinements += [
                    Refinement(dim, f"{dim}: Dim.DYNAMIC on its axes", f"torch cannot prove {guard} for the named Dim {dim}; z3 proves it holds for every size")
                    for dim, guard in stuck
                ]
                spec = unnamed(spec, [dim for dim, _ in stuck])
                continue
            if contradictions or not applied:
                sources = _source_lines(module, spec, layout, strict)
                raise ExportError(_explain(spec, violation, contradictions, skipped, sources)) from None
            refinements += applied
            spec = new_spec
    else:
        raise ExportError(f"torch.export still reported violations after {max_rounds} refinement rounds; last refinements: " + "; ".join(r.change for r in refinements[-3:]))
    result = ExportResult(program, spec, initial, refinements, reading=read_program(program, spec), traces=round_, sets=sets)
    if verify:
        result.verify(model)
    return result


def _check_any(runnable: torch.nn.Module, model: Any, spec: DimSpec, index: int, values: dict[str, Any]) -> Check:
    """``_check``, for sets of another structure (not covered) or recorded as shapes only."""
    from .caches import ensure_registered
    from .observation import _describe_difference
    from .recording import is_shape_only, materialise_like

    ensure_registered()
    example = spec.layout.join(spec.args, spec.kwargs)
    if pytree.tree_structure(values) != pytree.tree_structure(example):
        try:
            why = _describe_difference(index, example, values).replace("input set #0", "the example")
        except Exception:  # a description is a nicety
            why = "its structure differs from the example's"
        return Check(index, False, None, f"another structure than the example ({why}): another graph, not covered by this program", covered=False)
    if is_shape_only(values):
        check = _check(runnable, model, spec.layout, index, materialise_like(values, example))
        return Check(check.set_index, check.accepted, check.max_abs_diff, check.error, synthetic=True)
    return _check(runnable, model, spec.layout, index, values)


def _trace(module: torch.nn.Module, spec: DimSpec, layout: Layout, strict: bool, symbols: dict[str, str], fake_tensor_cache: bool) -> torch.export.ExportedProgram:
    """One torch.export trace; ``symbols`` receives torch's symbol -> source for messages.

    torch's fake-tensor dispatch cache costs more than it saves on these traces
    (measured: 16-layer tiny Llama 5.56 s -> 4.28 s with it off, same program, same
    guards), so it is off during symshape's traces unless asked for.
    """
    dynamic_shapes = layout.nest(spec.shapes_by_input)
    with _recording_symbols(symbols), torch._dynamo.config.patch(fake_tensor_cache_enabled=fake_tensor_cache):
        return torch.export.export(module, spec.args, spec.kwargs, dynamic_shapes=dynamic_shapes, strict=strict)


@contextlib.contextmanager
def _recording_symbols(symbols: dict[str, str]):
    """Record which input size each torch symbol (``s77``) stands for.

    torch's non-constraint errors ("size of tensor a (s77) must match ... (s17)")
    name symbols only; symshape never shows a bare symbol, so it notes the source of
    each symbol as torch creates it.
    """
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    original = ShapeEnv.create_symbol

    def create_symbol(self: Any, val: Any, source: Any, *args: Any, **kwargs: Any) -> Any:
        expr = original(self, val, source, *args, **kwargs)
        name = getattr(source, "name", None)
        name = name() if callable(name) else name  # a property in torch 2.13, a method before
        if getattr(expr, "is_Symbol", False) and isinstance(name, str):
            symbols.setdefault(str(expr), translate_sources(name))
        return expr

    ShapeEnv.create_symbol = create_symbol
    try:
        yield
    finally:
        ShapeEnv.create_symbol = original


def name_symbols(text: str, symbols: dict[str, str], spec: DimSpec) -> str:
    """Replace torch symbols by symshape dim names (or axis labels) in a message."""
    by_label = {a.label: a.expr for a in spec.axes if a.role != "static"}

    def name(match: re.Match) -> str:
        label = symbols.get(match.group(0))
        if label is None:
            return match.group(0)
        return by_label.get(label, label)

    return re.sub(r"\bs\d+\b", name, text)


def _exportable(model: Any, layout: Layout) -> tuple[torch.nn.Module, Layout]:
    """A module torch.export can take, and the layout to pass its inputs.

    Plain functions are wrapped in a module with the same signature. A ``**kwargs``
    forward is given explicit keyword parameters: torch 2.13 fails on dynamic shapes
    nested under ``**kwargs`` ("Must provide a tree_name when there might be a mismatch").
    """
    if model is None:
        raise ExportError("export needs a model (a torch.nn.Module or a function); infer_dims accepts model=None")
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


@contextlib.contextmanager
def _quiet(*loggers: str):
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _source_lines(module: torch.nn.Module, spec: DimSpec, layout: Layout, strict: bool) -> dict[str, list[str]]:
    """Model code that added each failing guard, by dim name (one extra trace, errors only).

    ``draft_export`` records the user stack of every guard it had to add; torch's
    violation message in non-strict mode does not carry it.
    """
    labels = {a.label: [n for n, _ in a.terms] for a in spec.axes}
    found: dict[str, list[str]] = {}
    try:
        with _quiet("torch.export._draft_export", "torch._export.non_strict_utils"):
            draft = torch.export.draft_export(module, spec.args, spec.kwargs, dynamic_shapes=layout.nest(spec.shapes_by_input), strict=strict)
    except Exception:  # no source lines is better than a second, unrelated failure
        return found
    report = draft._report
    # Frames name files by index into torch's process-wide intern table; a report
    # only lists the files first seen during its own trace.
    from torch._logging.structured import INTERN_TABLE

    files = {index: name for name, index in INTERN_TABLE.items()} | dict(getattr(report, "str_to_filename", {}))
    for failure in report.failures:
        data = failure.data if isinstance(failure.data, dict) else {}
        frames = [f for f in data.get("user_stack", []) if "/torch/" not in str(files.get(f.get("filename"), f.get("filename")))]
        if not frames:
            continue
        frame = frames[-1]
        where = f"{files.get(frame['filename'], frame['filename'])}:{frame['line']} in {frame['name']}: {frame['loc'].strip()}"
        for source in data.get("symbol_to_sources", {}).values():
            for name in labels.get(translate_sources(source), []):
                if where not in found.setdefault(name, []):
                    found[name].append(where)
    return found


_ADVICE = {
    "specialised": "the model fixes {dim} to one value (int(), .item(), a Python loop or branch over the size). Make that code size-independent, or, if {dim} is fixed in real use, give input sets where it does not vary.",
    "bounds": "the model only supports {dim} {requirement_tail}. Check the inputs that exceed it, or the model's maximum length.",
    "relation": "the model ties {dim} to other sizes in a way the input sets break. Either those sets are not valid inputs for this model, or the model should not tie them.",
}


def _explain(spec: DimSpec, violation: Violation, contradictions: list[Contradiction], skipped: list, sources: dict[str, list[str]]) -> str:
    values = spec.dim_values
    lines = [
        "torch.export requires what the observed input sets contradict."
        if contradictions
        else "torch.export stopped on a shape guard it offers no fix for."
    ]
    for c in contradictions:
        axes = [a.label for a in spec.root_axes(c.dim)]
        observed = ", ".join(f"set #{i}: {v}" for i, v in enumerate(values.get(c.dim, ())))
        kind = "specialised" if c.requirement.startswith("is specialised") else "bounds" if c.requirement.startswith("must be >=") or c.requirement.startswith("must be <=") else "relation"
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
    return "\n".join(lines)


_UNPROVEN = re.compile(r"Not all values of (\w+) = .*? satisfy the generated guard (.*?)\.?$")


def unprovable_dims(spec: DimSpec, violation: Violation, *, include_unnamed: bool = False) -> list[tuple[str, str]]:
    """``(dim, guard)`` for each dim torch could not prove a guard for, where z3 proves
    the guard holds for every non-negative size (torch's limit, not the model's).
    Dims already exported as ``Dim.DYNAMIC`` count only with ``include_unnamed``."""
    named = {d.name for d in spec.dim_rows if include_unnamed or not d.unnamed}
    guards = GuardTranslator(spec)
    found = []
    for raw, bullet in zip(violation.raw_bullets, violation.bullets):
        match = _UNPROVEN.match(raw)
        if match is None or match.group(1) not in named:
            continue
        condition = guards.condition(match.group(2))
        if condition is not None and guards.always_true(condition):
            readable = _UNPROVEN.match(bullet)
            found.append((match.group(1), readable.group(2) if readable else match.group(2)))
    return found


def _explain_unfixable(spec: DimSpec, violation: Violation, skipped: list, sources: dict[str, list[str]]) -> list[str]:
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
            lines.append(f"  {dim} appears at: {', '.join(axes)}; observed: {', '.join(f'set #{i}: {v}' for i, v in enumerate(values[dim]))}")
        if dim in proven:
            lines.append(
                f"  this guard holds for every size >= 0 (checked with z3): torch cannot prove it, which is a limitation "
                f"of its symbolic reasoning, not of the model or the inputs; Dim.DYNAMIC on {dim}'s axes did not help either. "
                f"Work-around: export with {dim} static."
            )
        for where in sources.get(dim, []) if dim else []:
            lines.append(f"  model code:  {where}")
    lines += [f"  torch suggested: {f.text} (names nothing symshape inferred)" for f in skipped]
    return lines


def _unexplained(exc: Exception, message: str) -> str:
    text = translate_sources(message.split("\n\nThe error above occurred")[0]).strip()
    return f"torch.export failed for a reason other than a shape constraint ({type(exc).__name__}):\n{text}"


def _check(runnable: torch.nn.Module, model: Any, layout: Layout, index: int, values: dict[str, Any]) -> Check:
    """Run one observed set through the program's module and through eager, on copies."""
    args, kwargs = layout.split(copy_set(values))
    try:
        got = runnable(*args, **kwargs)
    except Exception as exc:  # a guard of the program rejected this set
        return Check(index, False, None, re.sub(r"\s+", " ", translate_sources(str(exc)))[:500])
    e_args, e_kwargs = layout.split(copy_set(values))
    try:
        with torch.no_grad():
            expected = model(*e_args, **e_kwargs)
    except Exception as exc:  # the model itself fails on this set: a failed check, not a traceback
        reason = re.sub(r"\s+", " ", str(exc))[:400]
        return Check(index, True, float("inf"), f"the program accepted set #{index} but eager forward raised {type(exc).__name__}: {reason}; nothing to compare")
    diffs = [0.0]
    for e, g in zip(_tensors(expected), _tensors(got)):
        if e.shape != g.shape:
            return Check(index, True, float("inf"), f"output shape {tuple(g.shape)} from the program, {tuple(e.shape)} from eager")
        if e.numel():
            diffs.append((e.double() - g.double()).abs().max().item())
    return Check(index, True, max(diffs))


def _tensors(obj: Any) -> list[torch.Tensor]:
    return [t for t in pytree.tree_leaves(obj) if isinstance(t, torch.Tensor)]
