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
from .explain import explained_error, unexplained_error, unprovable_dims
from .messages import parse_violation
from .readback import read_program
from .refine import apply_fixes, require, unnamed
from .result import ExportResult
from .trace import exportable, name_symbols, source_lines, trace

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
    fake_tensor_cache: bool = False,
    dynamic: Iterable[str] | str | None = None,
    bounds: Any = None,
) -> ExportResult:
    """Infer the dims, export with them, refine where the model requires it, verify.

    ``verify=True`` runs the program on every observed input set (copies: forward
    mutates caches) and compares every output with eager. ``fake_tensor_cache``
    turns torch's fake-tensor cache back on during tracing (off by default: faster).
    ``dynamic`` declares axes dynamic that did not vary, and ``bounds`` bounds the dims
    (None, ``"config"`` or ``{dim: (min, max)}``; see ``infer_dims``).
    """
    if model is None:
        raise InputsError("export needs a model (a torch.nn.Module or a function); infer_dims accepts model=None")
    if not isinstance(max_rounds, int) or isinstance(max_rounds, bool) or max_rounds < 1:
        raise OptionError(f"export(max_rounds={max_rounds!r}): max_rounds must be an int >= 1 (each round is a trace)")
    spec, sets = infer_with_sets(model, inputs, names, dynamic=dynamic, bounds=bounds)
    module, layout = exportable(model, spec.layout)
    initial, refinements = spec, []
    symbols: dict[str, str] = {}
    stated, fallback = False, None  # model-required relations: stated once; the program before it
    deferred = False  # guards torch cannot prove for a named Dim: checked at run time
    for round_ in range(1, max_rounds + 1):  # noqa: B007 - after the loop, round_ is the number of traces
        try:
            program = trace(module, spec, layout, strict, symbols, fake_tensor_cache, deferred)
        except Exception as exc:  # torch raises many types; only violations are refined
            message = name_symbols(getattr(exc, "msg", None) or str(exc), symbols, spec)
            violation = parse_violation(message)
            if violation is None:
                raise unexplained_error(exc, message) from exc
            new_spec, applied, contradictions, skipped = apply_fixes(spec, violation)
            if not contradictions and not applied and (stuck := unprovable_dims(spec, violation)):
                # torch cannot prove, for a named Dim, a guard z3 proves for every size. First
                # keep the Dim (one symbol for all its axes) and let the program check the guard
                # at run time; only if torch still refuses, give its axes Dim.DYNAMIC.
                refinements += [_unproven(dim, guard, deferred) for dim, guard in stuck]
                if deferred:
                    spec = unnamed(spec, [dim for dim, _ in stuck])
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
                sources = source_lines(module, spec, layout, strict)
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


def _unproven(dim: str, guard: str, deferred: bool) -> Refinement:
    """What symshape did about a guard torch cannot prove for the named Dim ``dim``."""
    if not deferred:
        change = f"{dim}: guard checked at run time"
        what = "the program checks it at run time, and the Dim stays shared by all its axes"
    else:
        change = f"{dim}: Dim.DYNAMIC on its axes"
        what = "torch refused it even as a run-time check, so each axis takes Dim.DYNAMIC (torch ties them itself)"
    return Refinement(
        dim, change, f"torch cannot prove {guard} for the named Dim {dim}; z3 proves it holds for every size; {what}"
    )
