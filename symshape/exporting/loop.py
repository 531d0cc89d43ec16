"""``symshape.export``: infer, export, refine on torch's request, read back, verify.

The loop: trace with the spec; when torch reports a constraint violation, apply
each suggested fix that every observed set satisfies (bounds, equalities, derived
dims, divisibility), record why, and trace again. A fix the observations break is
never applied: it is an :class:`ExportError` that names the dim, the axes, the
values per set, the sets that break it and the model line that forced it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ..core.records import Refinement
from ..errors import NOT_CONVERGED, ExportError, InputsError, OptionError
from ..infer import infer_with_sets
from ..spec import DimSpec
from .divisibility import DivisibilityGuardError, as_violation, stopping_early
from .explain import explained_error, unexplained_error, unprovable_dims, unproven_but_observed
from .messages import Violation, parse_violation, range_guards
from .readback import read_program
from .refine import Contradiction, apply_fixes, require, unnamed
from .result import ExportResult
from .trace import TraceFailure, exportable, name_symbols, source_lines, trace

#: Refinement rounds before giving up (each is one trace).
MAX_ROUNDS = 8


def export(
    model: Any,
    inputs: Iterable[Any],
    *,
    strict: bool = False,
    verify: bool = True,
    names: Mapping[str, str] | None = None,
    max_rounds: int = MAX_ROUNDS,
    fake_tensor_cache: bool | None = None,
    dynamic: Iterable[str] | str | None = None,
    bounds: Any = None,
) -> ExportResult:
    """Infer the dims, export with them, refine where the model requires it, verify.

    ``verify=True`` runs the program on every observed input set (copies: forward
    mutates caches) and compares every output with eager. ``fake_tensor_cache`` turns
    torch's fake-tensor cache on or off during tracing (None: on for a model of many
    repeated blocks, where it is faster).
    ``dynamic`` declares axes dynamic that did not vary, and ``bounds`` bounds the dims
    (None, ``"config"`` or ``{dim: (min, max)}``; see ``infer_dims``).
    """
    if model is None:
        raise InputsError("export needs a model (a torch.nn.Module or a function); infer_dims accepts model=None")
    if not isinstance(max_rounds, int) or isinstance(max_rounds, bool) or max_rounds < 1:
        raise OptionError(f"export(max_rounds={max_rounds!r}): max_rounds must be an int >= 1 (each round is a trace)")
    if fake_tensor_cache not in (None, True, False):
        raise OptionError(f"export(fake_tensor_cache={fake_tensor_cache!r}): must be True, False or None (automatic)")
    spec, sets = infer_with_sets(model, inputs, names, dynamic=dynamic, bounds=bounds)
    module, layout = exportable(model, spec.layout)
    initial, refinements = spec, []
    symbols: dict[str, str] = {}
    stated, fallback = False, None  # model-required relations: stated once; the program before it
    deferred = False  # guards torch cannot prove for a named Dim: checked at run time
    failures: list[TraceFailure] = []  # the failed trace's guards and model lines, for the error
    for round_ in range(1, max_rounds + 1):  # noqa: B007 - after the loop, round_ is the number of traces
        try:
            with stopping_early(spec, strict, deferred):
                program = trace(module, spec, layout, strict, symbols, fake_tensor_cache, deferred, failures)
        except Exception as exc:  # torch raises many types; only violations are refined
            stop = _divisibility_stop(exc)
            message = name_symbols(getattr(exc, "msg", None) or str(exc), symbols, spec)
            violation = as_violation(spec, stop) if stop else parse_violation(message)
            if violation is None:
                raise unexplained_error(exc, message) from exc
            new_spec, applied, contradictions, skipped = apply_fixes(spec, violation)
            if not contradictions and not applied and (stuck := unprovable_dims(spec, violation)):
                # torch cannot prove, for a named Dim, a guard z3 proves for every size. First
                # keep the Dim (one symbol for all its axes) and let the program check the guard
                # at run time; only if torch still refuses, give its axes Dim.DYNAMIC.
                refinements += [_unproven(dim, guards, deferred) for dim, guards in _by_dim(stuck).items()]
                if deferred:
                    spec = unnamed(spec, [dim for dim, _ in stuck])
                deferred = True
                continue
            kept = _keep_observed_guards(spec, new_spec, violation, contradictions, applied, deferred)
            if kept:  # torch's fix fits the example only, its guards hold in every set: check them at run time
                spec, more = kept
                refinements += more
                deferred = True
                continue
            if fallback is not None and (contradictions or not applied):
                program, spec, reading, refinements = fallback  # torch cannot state them: keep the checked program
                spec = spec.with_rows(
                    relations=[*spec.relations, *(replace(r, expressible=False) for r in reading.required)],
                    rejected=[r for r in spec.rejected if r not in reading.required],
                )
                break
            if contradictions or not applied:
                sources = source_lines(module, spec, layout, strict, failures)
                raise explained_error(spec, violation, contradictions, skipped, sources) from None
            refinements += applied
            spec = new_spec
            continue
        reading = read_program(program, spec)
        if not reading.required or stated:
            break
        # Relations the data showed too rarely to trust, which the guards enforce: state
        # them as derived dims and trace once more, so that they add no symbol.
        fallback, stated = (program, spec, reading, list(refinements)), True
        spec, applied = require(spec, reading.required, reading.requirements)
        refinements += applied
    else:
        last = "; ".join(r.change for r in refinements[-3:])
        raise ExportError(
            f"torch.export still reported violations after {max_rounds} refinement rounds; last refinements: {last}",
            kind=NOT_CONVERGED,
        )
    result = ExportResult(program, spec, initial, refinements, reading=reading, traces=round_, sets=sets)
    if verify:
        result.verify(model)
    return result


def _divisibility_stop(exc: BaseException) -> DivisibilityGuardError | None:
    """The divisibility stop behind ``exc`` (torch may wrap what the model raised)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, DivisibilityGuardError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _keep_observed_guards(
    spec: DimSpec,
    new_spec: DimSpec,
    violation: Violation,
    contradictions: list[Contradiction],
    applied: list[Refinement],
    deferred: bool,
) -> tuple[DimSpec, list[Refinement]] | None:
    """When every set satisfies the guards torch could not prove, and only its suggested fix
    (fitted to the example) breaks them: the spec with the consistent fixes and the ranges
    those guards state, to trace with the guards checked at run time. None otherwise."""
    held = contradictions and unproven_but_observed(spec, violation, {c.dim for c in contradictions})
    if not held:
        return None
    new_spec, ranged, _, _ = apply_fixes(new_spec, range_guards(violation))
    if deferred and not applied and not ranged:
        return None  # already checked at run time, and nothing new to state: torch is stuck
    refused = {c.dim: c.requirement for c in contradictions}
    notes = [] if deferred else [_unproven(d, g, False, _fitted(d, refused[d])) for d, g in _by_dim(held).items()]
    return new_spec, [*applied, *ranged, *notes]


def _fitted(dim: str, requirement: str) -> str:
    return (
        f"they hold in every input set, and torch's suggestion that {dim} {requirement} fits the example only "
        "(other sets break it)"
    )


def _by_dim(found: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for dim, guard in found:
        grouped.setdefault(dim, []).append(guard)
    return grouped


def _unproven(
    dim: str, guards: list[str], deferred: bool, holds: str = "z3 proves it holds for every size"
) -> Refinement:
    """What symshape did about the guards torch cannot prove for the named Dim ``dim``."""
    guard = guards[0] if len(guards) == 1 else f"{len(guards)} guards ({'; '.join(guards)})"
    if not deferred:
        change = f"{dim}: guard checked at run time"
        what = "the program checks it at run time, and the Dim stays shared by all its axes"
    else:
        change = f"{dim}: Dim.DYNAMIC on its axes"
        what = "torch refused it even as a run-time check, so each axis takes Dim.DYNAMIC (torch ties them itself)"
    return Refinement(dim, change, f"torch cannot prove {guard} for the named Dim {dim}; {holds}; {what}")
