"""Refinement: check each fix torch suggests against the observations, and rewrite
the DimSpec where the fix is consistent.

A fix is applied only when every observed input set satisfies it; otherwise it is a
contradiction, explained with the sets that break it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..core.linear import format_linear
from ..core.records import Refinement
from ..core.rows import BoundRow, DimRow, RelationRow, role_of
from ..spec import DimSpec
from .messages import Fix, Violation


@dataclass(frozen=True)
class Contradiction:
    """A fix the observations break: which sets, with which values."""

    dim: str
    requirement: str  # "must be 5", "must equal x_dim0 + 1"
    breaking: tuple[tuple[int, str], ...]  # (set index, "x_dim0 = 7") for the sets that break it
    reason: str


def _substitute_terms(
    terms: tuple[tuple[str, int], ...], const: int, name: str, by: tuple[tuple[str, int], ...], by_const: int
) -> tuple[tuple[tuple[str, int], ...], int]:
    coef = dict(terms).get(name)
    if coef is None:
        return terms, const
    merged: dict[str, int] = {n: c for n, c in terms if n != name}
    for n, c in by:
        merged[n] = merged.get(n, 0) + coef * c
    return tuple(sorted(merged.items())), const + coef * by_const


def substitute(
    spec: DimSpec,
    name: str,
    by: tuple[tuple[str, int], ...],
    by_const: int,
    new_dims: Sequence[DimRow] = (),
    required: RelationRow | None = None,
) -> DimSpec:
    """A new spec where root ``name`` is replaced by ``sum(c * root) + by_const``."""
    axes = []
    for row in spec.axes:
        terms, const = _substitute_terms(row.terms, row.const, name, by, by_const)
        if terms != row.terms or const != row.const:
            row = row._replace(terms=terms, const=const, expr=format_linear(terms, const), role=role_of(terms, const))
        axes.append(row)
    relations = []
    for rel in spec.relations:
        terms, const = _substitute_terms(rel.terms, rel.const, name, by, by_const)
        if terms != rel.terms or const != rel.const:
            rhs = format_linear(terms, const)
            rel = replace(rel, terms=terms, const=const, rhs=rhs, expr=" = ".join((*rel.members, rhs)))
        relations.append(rel)
    if required is not None:
        relations.append(required)
    dims = [d for d in spec.dim_rows if d.name != name] + list(new_dims)
    return spec.with_rows(dim_rows=dims, axes=axes, relations=relations)


def require(spec: DimSpec, rows: Sequence[RelationRow], guards: Sequence[str]) -> tuple[DimSpec, list[Refinement]]:
    """State relations the program's guards enforce (found on reading it back) as Dims:
    the root they define becomes a derived dim, so it adds no symbol of its own.

    Its bounds are dropped with it: torch asks again, in the other dims' names, if needed."""
    applied = []
    for rel in rows:
        root = spec.root_of(rel.members)
        if root is None:
            continue
        model_rel = replace(_required(spec, root, rel.terms, rel.const), reason=rel.reason)
        spec = substitute(spec, root, rel.terms, rel.const, (), model_rel)
        spec.bounds = [b for b in spec.bounds if root not in b.dims]
        spec = spec.with_rows(rejected=[r for r in spec.rejected if r.members != rel.members])
        why = f"the program's guards allow no other value of {root} (z3): {'; '.join(guards)}"
        applied.append(Refinement(root, f"{root} = {rel.rhs}", why))
    return spec, applied


def unnamed(spec: DimSpec, names: Sequence[str]) -> DimSpec:
    """A new spec where the roots ``names`` are exported as ``Dim.DYNAMIC`` per axis."""
    dims = [replace(d, unnamed=True) if d.name in names else d for d in spec.dim_rows]
    return spec.with_rows(dim_rows=dims)


def apply_fixes(
    spec: DimSpec, violation: Violation
) -> tuple[DimSpec, list[Refinement], list[Contradiction], list[Fix]]:
    """Apply every fix consistent with the observations.

    Returns the new spec, what was applied, what the data contradicts, and fixes
    that name nothing symshape owns (skipped).
    """
    values = spec.dim_values
    new_roots = {f.name: f for f in violation.fixes if f.kind == "new_root"}
    applied: list[Refinement] = []
    contradictions: list[Contradiction] = []
    skipped: list[Fix] = []
    for fix in violation.fixes:
        if fix.kind == "new_root":
            continue
        reason = _reason(violation, fix.name)
        if fix.name not in values:
            skipped.append(fix)
            continue
        observed = values[fix.name]
        if fix.kind == "const":
            breaking = tuple((i, f"{fix.name} = {v}") for i, v in enumerate(observed) if v != fix.value)
            contradictions.append(Contradiction(fix.name, f"is specialised to {fix.value}", breaking, reason))
        elif fix.kind == "bounds":
            breaking = tuple(
                (i, f"{fix.name} = {v}")
                for i, v in enumerate(observed)
                if (fix.low is not None and v < fix.low) or (fix.high is not None and v > fix.high)
            )
            bound = " and ".join(
                p
                for p in (
                    f">= {fix.low}" if fix.low is not None else "",
                    f"<= {fix.high}" if fix.high is not None else "",
                )
                if p
            )
            if breaking:
                contradictions.append(Contradiction(fix.name, f"must be {bound}", breaking, reason))
            else:
                why = BoundRow(fix.name, fix.low, fix.high, "model", f"a guard torch required: {reason}")
                spec = spec.with_bound(fix.name, fix.low, fix.high, why)
                applied.append(Refinement(fix.name, f"{fix.name} {bound}", reason))
        elif fix.kind == "affine" and fix.root in new_roots:
            new = new_roots[fix.root]
            root_name = _fresh(spec, f"{fix.name}_div{fix.coef}" if fix.offset == 0 else f"{fix.name}_base")
            quotients = [(v - fix.offset) / fix.coef for v in observed]
            breaking = tuple(
                (i, f"{fix.name} = {v}")
                for i, (v, q) in enumerate(zip(observed, quotients))
                if q != int(q) or (new.low is not None and q < new.low)
            )
            requirement = f"must be of the form {format_linear(((root_name, fix.coef),), fix.offset)}"
            if breaking:
                contradictions.append(Contradiction(fix.name, requirement, breaking, reason))
                continue
            row = DimRow(root_name, new.low, new.high, tuple(int(q) for q in quotients))
            model_rel = _required(spec, fix.name, ((root_name, fix.coef),), fix.offset)
            spec = substitute(spec, fix.name, ((root_name, fix.coef),), fix.offset, [row], model_rel)
            values = spec.dim_values
            applied.append(
                Refinement(fix.name, f"{fix.name} = {format_linear(((root_name, fix.coef),), fix.offset)}", reason)
            )
        elif fix.kind == "affine" and fix.root in values:
            expected = [fix.coef * v + fix.offset for v in values[fix.root]]
            rhs = format_linear(((fix.root, fix.coef),), fix.offset)
            breaking = tuple(
                (i, f"{fix.name} = {v}, {rhs} = {e}") for i, (v, e) in enumerate(zip(observed, expected)) if v != e
            )
            if breaking:
                contradictions.append(Contradiction(fix.name, f"must equal {rhs}", breaking, reason))
                continue
            model_rel = _required(spec, fix.name, ((fix.root, fix.coef),), fix.offset)
            spec = substitute(spec, fix.name, ((fix.root, fix.coef),), fix.offset, (), model_rel)
            values = spec.dim_values
            applied.append(Refinement(fix.name, f"{fix.name} = {rhs}", reason))
        else:
            skipped.append(fix)
    return spec, applied, contradictions, skipped


def _reason(violation: Violation, name: str) -> str:
    """torch's bullets about ``name`` (all of them if none names it)."""
    about = [b for b in violation.bullets if re.search(rf"\b{re.escape(name)}\b", b)]
    return "; ".join(about or violation.bullets)


def _fresh(spec: DimSpec, base: str) -> str:
    taken = {d.name for d in spec.dim_rows}
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def _required(spec: DimSpec, name: str, terms: tuple[tuple[str, int], ...], const: int) -> RelationRow:
    members = tuple(a.label for a in spec.root_axes(name))
    rhs = format_linear(terms, const)
    return RelationRow(
        kind="affine" if len(terms) == 1 else "sum",
        expr=" = ".join((*members, rhs)),
        members=members,
        rhs=rhs,
        support=spec.num_sets,
        distinct=len(set(spec.dim_values[name])),
        fitted=0,
        expressible=len(terms) == 1,
        coincidence_prone=False,
        terms=terms,
        const=const,
        origin="model",
    )
