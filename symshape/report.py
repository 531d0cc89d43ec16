"""Plain-text report of a DimSpec: what was found, how sure, and what to watch."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spec import DimSpec

#: Axes listed per dim before "(+N more)".
MAX_LISTED = 4


def _values(values: tuple[int, ...]) -> str:
    return ", ".join(map(str, values))


def _listing(labels: list[str]) -> str:
    shown = ", ".join(labels[:MAX_LISTED])
    return shown + (f" (+{len(labels) - MAX_LISTED} more)" if len(labels) > MAX_LISTED else "")


def _evidence(support: int, distinct: int, prone: bool) -> str:
    text = f"{support} sets, {distinct} distinct"
    return text + (", minimum evidence" if prone else "")


def explain(spec: DimSpec) -> str:
    from .spec import ROOT, STATIC

    dynamic = [a for a in spec.axes if a.role != STATIC]
    lines = [
        f"symshape: {len(spec.dim_rows)} dim(s) from {spec.num_sets} input set(s); "
        f"{len(dynamic)} dynamic and {len(spec.axes) - len(dynamic)} static axes; "
        f"example for export: set #{spec.example_index}"
    ]
    if spec.dim_rows:
        width = max(len(d.name) for d in spec.dim_rows)
        lines += ["", "dims (name: values per set; where)"]
        for d in spec.dim_rows:
            labels = [a.label for a in spec.axes if a.role == ROOT and a.terms[0][0] == d.name]
            bound = f" [min {d.min}]" if d.min is not None else ""
            lines.append(f"  {d.name:<{width}} : {_values(d.values)}{bound}; {len(labels)} axes: {_listing(labels)}")
    derived = [r for r in spec.relations if r.kind == "affine"]
    if derived:
        lines += ["", "derived dims (torch derived Dims)"]
        lines += [f"  {r.expr}   ({_evidence(r.support, r.distinct, r.coincidence_prone)})" for r in derived]
    sums = [r for r in spec.relations if r.kind == "sum"]
    if sums:
        lines += ["", "relations torch cannot state (left Dim.AUTO; check them after export)"]
        lines += [f"  {r.expr}   ({_evidence(r.support, r.distinct, r.coincidence_prone)})" for r in sums]
    ints = [a for a in spec.axes if a.is_int and a.role != STATIC]
    if ints:
        lines += ["", "int inputs (torch.export takes Dim.DYNAMIC, not a named Dim, for an int)"]
        lines += [f"  {a.path} = {a.expr} (values {_values(a.values)})" for a in ints]
    static = [a for a in spec.axes if a.role == STATIC]
    if static:
        lines += ["", f"static ({len(static)} axes)", "  " + _listing([f"{a.label}={a.expr}" for a in static])]
    if spec.rejected:
        lines += ["", "seen but not trusted (not emitted)"]
        lines += [f"  {r.expr}: {r.reason}" for r in spec.rejected]
    prone = [r for r in spec.relations if r.coincidence_prone and r.kind != "equal"]
    warnings = list(spec.notes) + [
        f"{r.expr} rests on the minimum evidence ({r.distinct} distinct points for {r.fitted} fitted constant(s)); "
        f"one more input set with other sizes would confirm or break it"
        for r in prone
    ]
    if warnings:
        lines += ["", "notes"] + [f"  - {w}" for w in warnings]
    return "\n".join(lines)

