"""Refinement: read torch's constraint violations, check each suggested fix against
the observations, and rewrite the DimSpec where the fix is consistent.

torch reports (on the exception's ``.msg``)::

    Constraints violated (b)! ...
      - The values of b = L['y'].size()[0] and a = L['x'].size()[0] must always be equal.
    Suggested fixes:
      b = a

Fixes are ``name = 5`` (specialised), ``name = other`` (equal), ``name = 2*other + 1``
(derived), ``name = Dim('name', min=4, max=256)`` (bounds) and a new root ``_n`` with
``n = 3*_n`` (divisibility). A fix is applied only when every observed input set
satisfies it; otherwise it is a contradiction, explained with the sets that break it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Sequence

from .solver import format_linear
from .spec import AxisRow, DimRow, DimSpec, RelationRow, role_of, root_minimums

_SOURCE = re.compile(r"L\['([^']+)'\]((?:\[[^\]]+\]|\.[A-Za-z_]\w*)*)\.size\(\)\[(\d+)\]")
_AFFINE = re.compile(r"^(?:(\d+)\*)?([A-Za-z_]\w*)(?:\s*([+-])\s*(\d+))?$")
_DIM = re.compile(r"^Dim\('([^']+)'(.*)\)$")


_RUNTIME_SOURCE = re.compile(r"\b([A-Za-z_]\w*(?:\[[^\]]+\]|\.[A-Za-z_]\w*)*)\.size\(\)\[(\d+)\]")


#: An int input: ``L['cache']['cumulative_length'][0]`` (applied after _SOURCE).
_INT_SOURCE = re.compile(r"L\['([^']+)'\]((?:\[[^\]]+\]|\.[A-Za-z_]\w*)*)")


def translate_sources(text: str) -> str:
    """torch's input sources in symshape's paths: ``L['cache']['key_cache'][0].size()[2]``
    (trace time), ``z.size()[0]`` (run-time guards) and ``L['n']`` (an int input) ->
    ``cache['key_cache'][0].shape[2]``, ``z.shape[0]``, ``n``."""
    text = _SOURCE.sub(lambda m: f"{m.group(1)}{m.group(2)}.shape[{m.group(3)}]", text)
    text = _INT_SOURCE.sub(lambda m: f"{m.group(1)}{m.group(2)}", text)
    return _RUNTIME_SOURCE.sub(lambda m: f"{m.group(1)}.shape[{m.group(2)}]", text)


@dataclass(frozen=True)
class Fix:
    """One suggested fix: ``name = <kind>``."""

    name: str
    kind: str  # "const", "affine" (incl. plain equality), "bounds", "new_root"
    value: int | None = None  # const
    root: str | None = None  # affine
    coef: int = 1
    offset: int = 0
    low: int | None = None  # bounds
    high: int | None = None
    text: str = ""  # the fix as torch wrote it


@dataclass(frozen=True)
class Violation:
    """A parsed ``Constraints violated`` message."""

    bullets: tuple[str, ...]  # torch's bullets, sources translated to symshape paths
    fixes: tuple[Fix, ...]
    raw_bullets: tuple[str, ...] = ()  # torch's bullets as written (for guard analysis)


def _bounds(args: str) -> tuple[int | None, int | None]:
    low = re.search(r"min=(-?\d+)", args)
    high = re.search(r"max=(-?\d+)", args)  # max=oo means no bound
    return (int(low.group(1)) if low else None, int(high.group(1)) if high else None)


def parse_violation(message: str) -> Violation | None:
    """Parse torch's message; None if it is not a constraint violation."""
    if "Constraints violated" not in message:
        return None
    body, _, fixes_text = message.partition("Suggested fixes:")
    raw = tuple(dict.fromkeys(line.strip()[2:] for line in body.splitlines() if line.strip().startswith("- ")))
    bullets = tuple(translate_sources(b) for b in raw)
    fixes = []
    for line in fixes_text.splitlines():
        if not re.match(r"^\s+[A-Za-z_]\w*\s*=", line):
            if fixes:
                break  # the paragraph after the fixes
            continue
        name, _, rhs = (part.strip() for part in line.partition("="))
        text = f"{name} = {rhs}"
        if re.fullmatch(r"-?\d+", rhs):
            fixes.append(Fix(name, "const", value=int(rhs), text=text))
        elif (m := _DIM.match(rhs)) is not None:
            low, high = _bounds(m.group(2))
            kind = "bounds" if m.group(1) == name and not name.startswith("_") else "new_root"
            fixes.append(Fix(name, kind, low=low, high=high, text=text))
        elif (m := _AFFINE.match(rhs.replace(" ", ""))) is not None:
            sign = -1 if m.group(3) == "-" else 1
            fixes.append(Fix(name, "affine", root=m.group(2), coef=int(m.group(1) or 1), offset=sign * int(m.group(4) or 0), text=text))
        else:
            fixes.append(Fix(name, "unknown", text=text))
    return Violation(bullets, tuple(fixes), raw)


@dataclass(frozen=True)
class Refinement:
    """One change versus the first spec, with its reason."""

    dim: str
    change: str  # "seq_len >= 4", "past_len = 2*past_len_div2", "b = a"
    reason: str  # torch's words, in symshape's names
    source: str | None = None  # model file:line and code, where known


@dataclass(frozen=True)
class Contradiction:
    """A fix the observations break: which sets, with which values."""

    dim: str
    requirement: str  # "must be 5", "must equal x_dim0 + 1"
    breaking: tuple[tuple[int, str], ...]  # (set index, "x_dim0 = 7") for the sets that break it
    reason: str


def _substitute_terms(terms: tuple[tuple[str, int], ...], const: int, name: str, by: tuple[tuple[str, int], ...], by_const: int) -> tuple[tuple[tuple[str, int], ...], int]:
    coef = dict(terms).get(name)
    if coef is None:
        return terms, const
    merged: dict[str, int] = {n: c for n, c in terms if n != name}
    for n, c in by:
        merged[n] = merged.get(n, 0) + coef * c
    return tuple(sorted(merged.items())), const + coef * by_const


def substitute(spec: DimSpec, name: str, by: tuple[tuple[str, int], ...], by_const: int, new_dims: Sequence[DimRow] = (), required: RelationRow | None = None) -> DimSpec:
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
    return _rebuild(spec, dims, axes, relations)


def with_bounds(spec: DimSpec, name: str, low: int | None, high: int | None) -> DimSpec:
    dims = []
    for d in spec.dim_rows:
        if d.name == name:
            new_low = d.min if low is None else max(low, d.min or 0)
            new_high = d.max if high is None else (high if d.max is None else min(high, d.max))
            d = replace(d, min=new_low, max=new_high)
        dims.append(d)
    return _rebuild(spec, dims, spec.axes, spec.relations)


def unnamed(spec: DimSpec, names: Sequence[str]) -> DimSpec:
    """A new spec where the roots ``names`` are exported as ``Dim.DYNAMIC`` per axis."""
    dims = [replace(d, unnamed=True) if d.name in names else d for d in spec.dim_rows]
    return _rebuild(spec, dims, spec.axes, spec.relations)


def _rebuild(spec: DimSpec, dims: list[DimRow], axes: list[AxisRow], relations: list[RelationRow]) -> DimSpec:
    """Same spec with new rows; root minimums recomputed for negative derived offsets."""
    lows = root_minimums(axes)
    fixed = []
    for d in dims:
        need = lows.get(d.name)
        if need is not None and (d.min is None or d.min < need):
            d = replace(d, min=need)
        fixed.append(d)
    return DimSpec(
        dim_rows=fixed,
        axes=axes,
        relations=relations,
        rejected=spec.rejected,
        notes=spec.notes,
        num_sets=spec.num_sets,
        example_index=spec.example_index,
        layout=spec.layout,
        template=spec.template,
        args=spec.args,
        kwargs=spec.kwargs,
    )


def apply_fixes(spec: DimSpec, violation: Violation) -> tuple[DimSpec, list[Refinement], list[Contradiction], list[Fix]]:
    """Apply every fix consistent with the observations.

    Returns the new spec, what was applied, what the data contradicts, and fixes
    that name nothing symshape owns (skipped).
    """
    values = spec.dim_values
    reason = "; ".join(violation.bullets)
    new_roots = {f.name: f for f in violation.fixes if f.kind == "new_root"}
    applied: list[Refinement] = []
    contradictions: list[Contradiction] = []
    skipped: list[Fix] = []
    for fix in violation.fixes:
        if fix.kind == "new_root":
            continue
        if fix.name not in values:
            skipped.append(fix)
            continue
        observed = values[fix.name]
        if fix.kind == "const":
            breaking = tuple((i, f"{fix.name} = {v}") for i, v in enumerate(observed) if v != fix.value)
            contradictions.append(Contradiction(fix.name, f"is specialised to {fix.value}", breaking, reason))
        elif fix.kind == "bounds":
            breaking = tuple(
                (i, f"{fix.name} = {v}") for i, v in enumerate(observed)
                if (fix.low is not None and v < fix.low) or (fix.high is not None and v > fix.high)
            )
            bound = " and ".join(p for p in (f">= {fix.low}" if fix.low is not None else "", f"<= {fix.high}" if fix.high is not None else "") if p)
            if breaking:
                contradictions.append(Contradiction(fix.name, f"must be {bound}", breaking, reason))
            else:
                spec = with_bounds(spec, fix.name, fix.low, fix.high)
                applied.append(Refinement(fix.name, f"{fix.name} {bound}", reason))
        elif fix.kind == "affine" and fix.root in new_roots:
            new = new_roots[fix.root]
            root_name = _fresh(spec, f"{fix.name}_div{fix.coef}" if fix.offset == 0 else f"{fix.name}_base")
            quotients = [(v - fix.offset) / fix.coef for v in observed]
            breaking = tuple((i, f"{fix.name} = {v}") for i, (v, q) in enumerate(zip(observed, quotients)) if q != int(q) or (new.low is not None and q < new.low))
            requirement = f"must be of the form {format_linear(((root_name, fix.coef),), fix.offset)}"
            if breaking:
                contradictions.append(Contradiction(fix.name, requirement, breaking, reason))
                continue
            row = DimRow(root_name, new.low, new.high, tuple(int(q) for q in quotients))
            model_rel = _required(spec, fix.name, ((root_name, fix.coef),), fix.offset)
            spec = substitute(spec, fix.name, ((root_name, fix.coef),), fix.offset, [row], model_rel)
            values = spec.dim_values
            applied.append(Refinement(fix.name, f"{fix.name} = {format_linear(((root_name, fix.coef),), fix.offset)}", reason))
        elif fix.kind == "affine" and fix.root in values:
            expected = [fix.coef * v + fix.offset for v in values[fix.root]]
            rhs = format_linear(((fix.root, fix.coef),), fix.offset)
            breaking = tuple((i, f"{fix.name} = {v}, {rhs} = {e}") for i, (v, e) in enumerate(zip(observed, expected)) if v != e)
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
