"""The facts of a report, as plain data: one set of facts, three renderings.

:func:`build` collects the facts as plain data (:class:`Report`): a row per dim (name,
range, observed values per set, where it appears, whether the model requires
something of it or it is only observed), a row per relation (support, whether torch
can state it, origin), the static axes, what was seen but not trusted, and warnings
(relations resting on the minimum evidence with the input set that would break them,
conventionally dynamic axes that never varied, sizes 0 and 1). Then:

- :mod:`.text`: plain text (``spec.explain()``, ``result.explain()``, the CLI when
  stdout is not a terminal);
- :mod:`.rich`: rich tables for a terminal;
- :meth:`Report.to_dict`: JSON for machines (the CLI's ``--json`` and ``--format json``).

This package sits just above ``core``: it reads rows and records, never the stages
that make them, so every stage (``SpecLike.explain``, ``ExportResult.explain``, the
CLI) renders through it without an import cycle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..core.records import Check, ProgramReading, Refinement
from ..core.rows import ROOT, STATIC, AxisRow, BoundRow, DimRow, NeverVaried, RelationRow, root_minimums
from ..core.sizes import SAFE_MIN, fresh_size


class SpecLike(Protocol):
    """What the report reads of a ``DimSpec``."""

    dim_rows: list[DimRow]
    axes: list[AxisRow]
    relations: list[RelationRow]
    rejected: list[RelationRow]
    notes: list[str]
    never_varied: list[NeverVaried]
    bounds: list[BoundRow]
    num_sets: int
    example_index: int

    def root_axes(self, name: str) -> list[AxisRow]: ...


class ResultLike(Protocol):
    """What the report reads of an ``ExportResult``."""

    traces: int
    reading: ProgramReading | None
    refinements: list[Refinement]
    checks: list[Check]

    @property
    def ok(self) -> bool: ...


#: Axes listed per dim (and members per relation) before "(+N more)".
MAX_LISTED = 4

#: How torch.export is told about each kind of relation.
STATED_AS = {
    "equal": "yes: one shared Dim",
    "affine": "yes: a derived Dim",
    "sum": "no: left Dim.AUTO, checked after export",
    "int": "no: an int input takes Dim.DYNAMIC",
}


# -- the facts ------------------------------------------------------------------------


@dataclass
class DimInfo:
    name: str
    min: int  # the range torch.export is given (min 0 when unset: torch's default)
    max: int | None  # None: unbounded
    values: tuple[int, ...]  # observed, one per input set
    axes: list[str]  # axes that are exactly this dim
    derived_axes: list[str]  # axes whose size is an expression involving it
    origin: str  # "observed" or "model" (introduced by a fix torch required)
    required: list[str]  # what the model requires of it (bounds, relations), empty when only observed

    @property
    def range_text(self) -> str:
        return f"{self.min}..{'inf' if self.max is None else self.max}"

    @property
    def source_text(self) -> str:
        if not self.required:
            return self.origin
        return f"{'model' if self.origin == 'model' else 'observed; model'}: {'; '.join(self.required)}"


@dataclass
class RelationInfo:
    kind: str  # "equal", "affine", "sum", or "int" (an int input equal to a dim)
    text: str  # members (shortened) = rhs
    members: list[str]
    rhs: str
    support: int
    distinct: int
    fitted: int
    expressible: bool
    stated_as: str
    origin: str  # "observed" or "model"
    minimum_evidence: bool

    @property
    def support_text(self) -> str:
        return f"{self.support} sets, {self.distinct} distinct" + (
            ", minimum evidence" if self.minimum_evidence else ""
        )


@dataclass
class ReportWarning:
    kind: str  # "note", "minimum-evidence", "never-varied", "size-0-1"
    text: str
    probe: dict[str, int] | None = (
        None  # for "minimum-evidence": an input set (dim sizes) that would break a coincidence
    )


@dataclass
class Report:
    num_sets: int
    example_index: int
    num_dynamic: int
    num_static: int
    dims: list[DimInfo]
    relations: list[RelationInfo]
    ints: list[dict[str, Any]]
    static: list[str]
    rejected: list[dict[str, str]]
    warnings: list[ReportWarning]
    bounds: list[dict[str, Any]] = field(default_factory=list)  # every bound with its reason
    export: dict[str, Any] | None = None  # facts of an ExportResult, when there is one
    traced: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for d, info in zip(data["dims"], self.dims):
            d["range"] = info.range_text
        return data


def _members_text(members: tuple[str, ...] | list[str], rhs: str) -> str:
    shown = list(members)
    if len(shown) > MAX_LISTED:
        shown = [*shown[: MAX_LISTED - 1], f"... (+{len(members) - MAX_LISTED + 1} more)"]
    return " = ".join([*shown, rhs])


def listing(labels: list[str]) -> str:
    """The first MAX_LISTED labels, then \"(+N more)\"."""
    shown = ", ".join(labels[:MAX_LISTED])
    return shown + (f" (+{len(labels) - MAX_LISTED} more)" if len(labels) > MAX_LISTED else "")


def values_text(values: tuple[int, ...] | list[int]) -> str:
    return ", ".join(map(str, values))


def _probe(spec: SpecLike) -> dict[str, int]:
    """Dim sizes for one more input set: every dim at a new value, each growing by a
    different step (no lockstep), no two dims equal, none below 2, within the dim's bounds."""
    steps = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29)
    probe: dict[str, int] = {}
    for i, d in enumerate(spec.dim_rows):
        low, high = max(SAFE_MIN, d.min or 0), d.max
        value = max(max(d.values, default=1), low) + steps[i % len(steps)] + i // len(steps)
        fresh = fresh_size(value, {*d.values, *probe.values()}, low=low, high=high)
        probe[d.name] = value if fresh is None else fresh
    return probe


def _evaluate(terms: tuple[tuple[str, int], ...], const: int, probe: dict[str, int]) -> int | None:
    try:
        return sum(c * probe[n] for n, c in terms) + const
    except KeyError:
        return None


def _model_requirements(spec: SpecLike, result: ResultLike | None) -> dict[str, list[str]]:
    """What the model requires of each dim: bounds and relations found while tracing."""
    required: dict[str, list[str]] = {d.name: [] for d in spec.dim_rows}
    derived_lows = root_minimums(spec.axes)  # bounds symshape set itself, not the model
    chosen = {n for b in spec.bounds if b.origin != "model" for n in b.dims}  # config, user, default
    for d in spec.dim_rows:
        base = derived_lows.get(d.name)
        if d.name in chosen:
            continue  # its range was chosen (bounds=); what the model required of it is in the refinements
        if d.max is not None or (d.min is not None and d.min != base):
            bounds = [
                f">= {d.min}" if d.min is not None and d.min != base else "",
                f"<= {d.max}" if d.max is not None else "",
            ]
            required[d.name].append(f"{d.name} {' and '.join(b for b in bounds if b)}")
    for rel in spec.relations:
        if rel.origin == "model":
            for name, _ in rel.terms:
                text = _members_text(rel.members, rel.rhs)
                if name in required and text not in required[name]:
                    required[name].append(text)
    if result is not None:
        for r in result.refinements:
            if r.dim in required and not any(r.change in text for text in required[r.dim]):
                required[r.dim].append(r.change)
    return required


def build(spec: SpecLike, result: ResultLike | None = None) -> Report:
    """The facts of the report, as data. ``result`` adds what tracing found."""
    dynamic = [a for a in spec.axes if a.role != STATIC]
    required = _model_requirements(spec, result)
    in_model_relations = {n for rel in spec.relations if rel.origin == "model" for n, _ in rel.terms}

    dims = []
    for d in spec.dim_rows:
        axes = [a.label for a in spec.root_axes(d.name) if not a.is_int]
        derived = [a.label for a in spec.axes if a.role not in (ROOT, STATIC) and any(n == d.name for n, _ in a.terms)]
        dims.append(
            DimInfo(
                name=d.name,
                min=d.min if d.min is not None else 0,
                max=d.max,
                values=tuple(d.values),
                axes=axes,
                derived_axes=derived,
                # A root a fix introduced (``past_len = 2*past_len_div2``) has no axis of its own.
                origin="model" if d.name in in_model_relations and not axes else "observed",
                required=required[d.name],
            )
        )

    relations = []
    for r in spec.relations:
        int_member = any(a.is_int and a.label in r.members for a in spec.axes)
        relations.append(
            RelationInfo(
                kind=r.kind,
                text=_members_text(r.members, r.rhs),
                members=list(r.members),
                rhs=r.rhs,
                support=r.support,
                distinct=r.distinct,
                fitted=r.fitted,
                expressible=r.expressible,
                stated_as=STATED_AS["int"]
                if int_member and not r.expressible
                else STATED_AS.get(r.kind, "yes" if r.expressible else "no"),
                origin=r.origin,
                minimum_evidence=r.coincidence_prone and r.kind != "equal",
            )
        )

    ints = [
        {"path": a.path, "expr": a.expr, "values": list(a.values)} for a in spec.axes if a.is_int and a.role != STATIC
    ]
    static = [f"{a.label}={a.expr}" for a in spec.axes if a.role == STATIC]
    rejected = [{"relation": r.expr, "reason": r.reason} for r in spec.rejected]

    warnings = [ReportWarning("note", n) for n in spec.notes]
    # Relations on the minimum evidence: the input set that would break a coincidence.
    probe = _probe(spec)
    probe_text = ", ".join(f"{k}={v}" for k, v in probe.items())
    for r in spec.relations:
        if not (r.coincidence_prone and r.kind != "equal" and r.origin != "model"):
            continue
        expected = _evaluate(r.terms, r.const, probe)
        member = r.members[0] if r.members else "the axis"
        warnings.append(
            ReportWarning(
                "minimum-evidence",
                f"{r.expr} rests on the minimum evidence ({r.distinct} distinct points for {r.fitted} fitted "
                "constant(s)); "
                "one more input set with other sizes would confirm or break it. The set that would break a "
                "coincidence: "
                f"{probe_text}, where the relation gives {member} = {expected}",
                probe,
            )
        )
    # Conventionally dynamic axes that never varied (found by inference).
    for nv in spec.never_varied:
        warnings.append(
            ReportWarning(
                "never-varied",
                f"{listing(list(nv.axes))}: {nv.name} by convention, but {nv.value} in every input set, so exported "
                f"static (= {nv.value}); if {nv.name} varies in real use, pass {nv.hint} or add an input set "
                "where it differs",
            )
        )
    # Sizes 0 and 1.
    for d in spec.dim_rows:
        small = [(i, v) for i, v in enumerate(d.values) if v < SAFE_MIN and i != spec.example_index]
        if small:
            where = ", ".join(f"{d.name} = {v} in set #{i}" for i, v in small)
            warnings.append(
                ReportWarning(
                    "size-0-1",
                    f"{where}: torch specialises sizes 0 and 1 while tracing, so such a set "
                    f"is never the export example (set #{spec.example_index}, {d.name} = "
                    f"{d.values[spec.example_index]}); "
                    f"check that the program accepts it (symshape.export does)",
                )
            )
    for value in (0, 1):
        labels = [a.label for a in spec.axes if a.role == STATIC and a.axis is not None and a.expr == str(value)]
        conventional = {label for nv in spec.never_varied for label in nv.axes}
        labels = [lab for lab in labels if lab not in conventional]
        if labels and value == 0:
            warnings.append(
                ReportWarning(
                    "size-0-1",
                    f"{listing(labels)} {'is' if len(labels) == 1 else 'are'} 0 in every set (an empty "
                    "tensor): exported static",
                )
            )

    report = Report(
        num_sets=spec.num_sets,
        example_index=spec.example_index,
        num_dynamic=len(dynamic),
        num_static=len(spec.axes) - len(dynamic),
        dims=dims,
        relations=relations,
        ints=ints,
        static=static,
        rejected=rejected,
        warnings=warnings,
        bounds=[asdict(b) for b in spec.bounds],
        traced=result is not None,
    )
    if result is not None:
        report.export = _export_facts(result)
    return report


def _export_facts(result: ResultLike) -> dict[str, Any]:
    reading = result.reading
    return {
        "traces": result.traces,
        "free_symbols": reading.symbols if reading else None,
        "guards": reading.guards if reading else None,
        "refinements": [
            {"dim": r.dim, "change": r.change, "reason": r.reason, "source": r.source} for r in result.refinements
        ],
        "relation_checks": [
            {"relation": c.expr, "status": c.status, "detail": c.detail} for c in reading.relation_checks
        ]
        if reading
        else [],
        "requirements": list(reading.requirements) if reading else [],
        "checks": [check_facts(c) for c in result.checks],
        "ok": result.ok if result.checks else None,
        "verified": bool(result.checks),
    }


def check_facts(c: Check) -> dict[str, Any]:
    """One check as data (what the text and rich renderers, and ``--format json``, show)."""
    return {
        "set": c.set_index,
        "accepted": c.accepted,
        "max_abs_diff": c.max_abs_diff,
        "error": c.error,
        "covered": c.covered,
        "synthetic": c.synthetic,
        "origin": c.origin,
        "passed": c.passed,
        "shapes": c.shapes,
        "sizes": c.sizes,
    }
