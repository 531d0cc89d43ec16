"""``symshape.export_plan``: calls -> regimes -> one program each -> regions -> a :class:`Plan`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..core import trees
from ..core.paths import axis_key
from ..errors import InputsError, OptionError
from ..exporting import ExportResult
from .build import Builder
from .calls import Call, collect
from .contract import contract_of
from .encoder import EncoderNames, encoder_calls, export_encoder
from .errors import NotCoveredError, PlanError
from .info import Coverage, ProgramInfo
from .names import NameTable
from .plan import Plan
from .regimes import Regime, initial_regimes
from .routing import Parameter, signature_of
from .sides import first_route, side_routers

#: Levels of splitting below a regime by guards (buckets of a specialised size do not count).
MAX_DEPTH = 3
#: The options of ``symshape.export`` passed to every program's export.
_EXPORT_OPTIONS = frozenset({"strict", "bounds", "max_rounds", "fake_tensor_cache"})


def export_plan(
    model: Any,
    inputs: Any,
    *,
    encoder: Any = None,
    names: Mapping[str, str] | None = None,
    dynamic: Iterable[str] | str | None = None,
    verify: bool = True,
    max_depth: int = MAX_DEPTH,
    **options: Any,
) -> Plan:
    """Export one program per regime of a workload (see ``docs/plans.md``).

    ``inputs`` is a list of input sets or a ``symshape.observe`` recording (the
    ``Observer`` or its ``inputs``). ``encoder`` is the recording (or the input sets) of
    ``model.get_encoder()`` for an encoder-decoder: ``generate()`` calls it outside
    ``forward``; its programs (``encoder*``) let ``plan.bind`` run it too (see
    :mod:`.encoder`). ``names``, ``dynamic``, ``bounds``, ``strict``, ...
    are those of :func:`symshape.export`, applied to every program; ``verify`` runs the
    probes of each program (the observed calls always run through their program and
    eager: a call a program rejects is split off). ``max_depth`` limits splits by guards
    and buckets below a regime.
    """
    if not isinstance(max_depth, int) or isinstance(max_depth, bool) or max_depth < 0:
        raise OptionError(f"export_plan(max_depth={max_depth!r}): max_depth must be an int >= 0")
    unknown = sorted(set(options) - _EXPORT_OPTIONS)
    if unknown:
        raise OptionError(
            f"export_plan: unknown option(s) {unknown}; the options of symshape.export it takes are "
            f"{sorted(_EXPORT_OPTIONS | {'names', 'dynamic', 'verify'})}"
        )
    if model is None:
        raise InputsError("export_plan needs a model (a torch.nn.Module or a function): its programs are exported")
    start = time.perf_counter()
    calls = collect(model, inputs)
    module, side = encoder_calls(model, encoder, len(calls)) if encoder is not None else (None, [])
    _check_names(names, calls + side)
    user_dynamic = sorted({dynamic} if isinstance(dynamic, str) else set(dynamic or ()))
    table = NameTable(names)
    builder = Builder(model, calls, table, user_dynamic, verify, options, max_depth)
    regimes = initial_regimes(calls)
    for regime in sorted(regimes, key=lambda r: -len(r.calls)):
        builder.solve(regime)
    built = builder.built
    if not built.made:
        failure = built.failed[0]
        raise PlanError(f"export_plan: no regime could be exported; {failure.regime.name}: {failure.error}")
    tables = [(table, _ordered(built.made))]
    failed = list(built.failed)
    if side:  # the encoder's programs come first: generate() runs the encoder first
        mine = EncoderNames(names)
        taken = [m.regime.name for m in built.made] + [f.regime.name for f in built.failed]
        done = export_encoder(module, side, mine, user_dynamic, verify, options, max_depth, taken)
        tables.insert(0, (mine, _ordered(done.made)))
        failed = list(done.failed) + failed
    programs = {m.regime.name: m.result for _, made in tables for m in made}
    contracts = {
        m.regime.name: contract_of(m.result.spec, _requirements(m.result), t, m.regime.constraints)
        for t, made in tables
        for m in made
    }
    info = {m.regime.name: _info(m.regime, m.seconds) for _, made in tables for m in made}
    plan = Plan(
        programs,
        contracts,
        info,
        signature_of(model),
        names=list(dict.fromkeys(n for t, _ in tables for n in t.names)),
        notes=list(getattr(getattr(inputs, "inputs", inputs), "notes", [])),
        model=model,
    )
    plan.coverage = check_coverage(plan, calls, failed, side, signature_of(module) if module is not None else [])
    plan.seconds = time.perf_counter() - start
    return plan


def _ordered(made: list[Any]) -> list[Any]:
    return sorted(made, key=lambda m: (min(m.regime.calls), m.regime.name))


def _check_names(names: Mapping[str, str] | None, calls: list[Call]) -> None:
    """A ``names`` key ``"path:axis"`` must name an axis of some call."""
    axes = set()
    for call in calls:
        for path, leaf in trees.leaves_by_path(call.values).items():
            axes |= {axis_key(path, a) for a in range(getattr(leaf, "ndim", 0))}
            if isinstance(leaf, int) and not isinstance(leaf, bool):
                axes.add(path)
    for key in names or {}:
        if ":" in key and key not in axes:
            example = ", ".join(repr(a) for a in sorted(axes)[:3])
            raise InputsError(f"export_plan: names[{key!r}] matches no axis of any call (axes are e.g. {example})")


def _requirements(result: ExportResult) -> tuple[str, ...]:
    return result.reading.requirements if result.reading is not None else ()


def _info(regime: Regime, seconds: float) -> ProgramInfo:
    return ProgramInfo(
        regime.name,
        regime.kind,
        regime.why,
        list(regime.calls),
        seconds,
        regime.parent,
        dict(regime.fixed),
        list(regime.moved),
    )


def check_coverage(
    plan: Plan,
    calls: list[Call],
    failed: Iterable[Any],
    encoder: Iterable[Call] = (),
    encoder_params: Iterable[Parameter] = (),
) -> Coverage:
    """Route every observed call (an encoder call over the encoder programs only); find
    the regions of one structure that overlap."""
    coverage = Coverage()
    forward, encoding = side_routers(plan.router.routes, plan.params, list(encoder_params))
    sides = [(forward, c, "") for c in calls] + [(encoding, c, "encoder") for c in encoder]
    for router, call, label in sides:
        args, kwargs = call.layout.split(call.values)
        try:
            if router is None:
                raise NotCoveredError(f"{label}: no encoder program (every encoder regime failed to export)")
            coverage.routed[call.index] = first_route(router, args, kwargs, label)
        except NotCoveredError as exc:
            coverage.routed[call.index] = None
            coverage.uncovered.append((call.index, str(exc).splitlines()[0]))
    for f in failed:
        coverage.failures.append((f.regime.name, list(f.regime.calls), f.error))
    for _, classes in plan.router.by_layout:
        for _, members in classes:
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    point = a.contract.region.overlap(b.contract.region)
                    if point is not None:
                        coverage.overlaps.append((a.name, b.name, point))
    return coverage
