"""``infer_dims``: the pipeline normalise -> observe -> solve -> name -> example -> rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from ..core import trees
from ..core.binding import Layout, normalise
from ..core.copying import DeferredCopy, is_shape_only
from ..core.paths import axis_label
from ..core.rows import AxisTable, DimRow, RelationRow, role_of, root_minimums
from ..spec import DimSpec
from ..spec.template import template_of
from .bounds import apply_bounds
from .declared import declared_columns, never_varied
from .example import choose_example, safe_example
from .naming import name_roots
from .observation import INT, Observation, observe_sets
from .solver import EQUAL, SUM, LinExpr, Relation, Solution, solve
from .structures import main_structure


def infer_dims(
    model: Any,
    inputs: Iterable[Any],
    *,
    names: Mapping[str, str] | None = None,
    dynamic: Iterable[str] | str | None = None,
    bounds: Any = None,
) -> DimSpec:
    """Infer named dims and relations from several example input sets.

    ``model`` is a ``torch.nn.Module``, a plain function, or None (names then come
    from positions). ``inputs`` is a list (or any iterable) of input sets, each a
    tuple (positional), a dict (keyword) or a pair ``(tuple, dict)``. ``names`` maps
    ``"path:axis"`` (or an inferred dim name) to the name you want, e.g.
    ``{"x:0": "batch"}``. ``dynamic`` declares axes dynamic although they did not
    vary: a conventional dim name (``{"batch"}``: every axis conventionally called so)
    or ``"path:axis"``; symshape then builds an example where they differ (rows
    repeated). ``bounds`` is None (unbounded, as torch.export and ONNX need), ``"config"``
    (from the model's config, checked in eager; every dim bounded, as ExecuTorch needs)
    or ``{dim: (min, max)}``; each bound is in ``spec.bounds`` with its reason. Nothing
    is exported and the inputs are not modified.
    """
    return infer_with_sets(model, inputs, names, dynamic=dynamic, bounds=bounds)[0]


def infer_with_sets(
    model: Any,
    inputs: Iterable[Any],
    names: Mapping[str, str] | None = None,
    *,
    dynamic: Iterable[str] | str | None = None,
    partial: bool | None = None,
    synthesize: bool | None = None,
    bounds: Any = None,
) -> tuple[DimSpec, list[dict[str, Any]]]:
    """``infer_dims`` that also returns the normalised sets (the user's objects, not copies).

    ``partial`` (default: on for ``symshape.observe`` recordings) accepts sets of
    different structures: the contract is inferred for the structure most sets share;
    a set of another structure adds its sizes where it holds every sized leaf of that
    structure, and is left out otherwise (a note says which and why). ``synthesize``
    (default: on for recordings and with ``dynamic``) builds a safe example when no
    set is safe to trace.
    """
    declared = sorted({dynamic} if isinstance(dynamic, str) else set(dynamic or ()))
    if partial is None:
        partial = bool(getattr(inputs, "symshape_partial", False))
    if synthesize is None:
        synthesize = bool(getattr(inputs, "symshape_synthesize", False)) or bool(declared)
    layout, sets = normalise(model, inputs)
    used, projected, notes = list(range(len(sets))), {}, []
    if partial:
        used, projected, notes = main_structure(sets)
    obs_sets = [projected.get(i, sets[i]) for i in used]
    eligible = [k for k, i in enumerate(used) if i not in projected]
    if partial:
        eligible = [k for k in eligible if not is_shape_only(obs_sets[k])]
    observation, solution, dim_names, example_index, example_notes = _solve(obs_sets, names, eligible)

    if declared or (synthesize and example_notes):
        groups, unmatched = declared_columns(observation, solution, declared)
        for entry in unmatched:
            notes.append(f"dynamic: {entry!r} is already dynamic; nothing to declare")
        if groups or example_notes:
            run = _eager_runner(model, layout)
            built, text = safe_example(observation, solution, dim_names, obs_sets, eligible, groups, run)
            if built is not None:
                why = f"declared dynamic {sorted(groups)}" if groups else "no observed set was safe to trace"
                obs_sets.append(built)
                synthetic = len(obs_sets) - 1
                extra = dict(names or {})
                for group, cols in groups.items():
                    if group.isidentifier():
                        extra.setdefault(observation.key(cols[0]), group)
                observation, solution, dim_names, example_index, example_notes = _solve(obs_sets, extra, [synthetic])
                notes.append(
                    f"set #{synthetic} is synthetic ({why}): {text}; it is the example for export, "
                    f"and its sizes count as evidence like an observed set"
                )
            else:
                notes.append(f"could not build a safe example: {text}")
                if example_notes:
                    notes.append(_what_to_record(observation, solution, dim_names))
    if (partial and len(used) < len(sets)) or projected:
        shown = ", ".join(f"#{i}" for i in used)
        notes.insert(0, f"input sets used, in order: {shown} (set numbers in this report count these)")

    with trees.known(zip(obs_sets, observation.flats)):  # observed: flattened once, not again to copy
        example = DeferredCopy(obs_sets[example_index])
    axes = _axis_table(observation, solution, dim_names)
    relations, rejected = _relation_rows(observation, solution, dim_names)
    spec = DimSpec(
        dim_rows=_dim_rows(solution, dim_names, axes),
        axes=axes,
        relations=relations,
        rejected=rejected,
        notes=_notes(observation, solution) + example_notes + notes,
        num_sets=observation.num_sets,
        example_index=example_index,
        layout=layout,
        template=template_of(observation.flats[example_index].spec),  # the spec of the observed flatten
        example=lambda: layout.split(example.get()),
        never_varied=never_varied(observation, solution),
    )
    return apply_bounds(spec, bounds, model, _eager_runner(model, layout)), sets


def _solve(sets: list[Any], names: Mapping[str, str] | None, eligible: list[int] | None):
    observation = observe_sets(sets)
    solution = solve(observation.column_values, observation.column_leaf)
    dim_names = name_roots(observation, solution, names)
    example_index, example_notes = choose_example(observation, solution, dim_names, eligible)
    return observation, solution, dim_names, example_index, example_notes


def _eager_runner(model: Any, layout: Layout) -> Any:
    if model is None:
        return None

    def run(values: dict[str, Any]) -> Any:
        args, kwargs = layout.split(values)
        with torch.no_grad():
            return model(*args, **kwargs)

    return run


def _what_to_record(observation: Observation, solution: Solution, names: list[str]) -> str:
    wanted = " and ".join(f"{n} >= 2" for n in names) or "every dynamic axis >= 2"
    return (
        f"record (or add) one call where {wanted}, all different, with a non-empty cache: e.g. a decode "
        f"step that feeds 2 or more tokens after a cached prefix (a prefill call has no cache and a plain "
        f"decode call feeds 1 token, and torch specialises sizes 0 and 1)"
    )


def _axis_table(observation: Observation, solution: Solution, names: list[str]) -> AxisTable:
    """The axis rows as columns, in column order: the observation's columns as they are,
    and each class (and each static value) described once."""
    described = [_described(expr, names) for expr in solution.class_expr]
    static: dict[int, int] = {}  # value -> its kind

    def static_kind(value: int) -> int:
        found = static.get(value)
        if found is None:
            found = static[value] = len(described)
            described.append(_described(LinExpr((), value), names))
        return found

    kind = tuple(
        cls if cls >= 0 else static_kind(values[0])
        for cls, values in zip(solution.column_class, observation.column_values)
    )
    leaf = observation.column_leaf
    is_int = tuple(k == INT for k in observation.kinds)
    return AxisTable(
        path=tuple(map(observation.paths.__getitem__, leaf)),
        axis=observation.column_axis,
        values=observation.column_values,
        leaf=leaf,
        is_int=tuple(map(is_int.__getitem__, leaf)),
        kind=kind,
        described=tuple(described),
    )


def _described(expr: LinExpr, names: list[str]) -> tuple[str, str, tuple[tuple[str, int], ...], int]:
    """An expression as rows show it: text, role, named terms, constant."""
    terms = tuple((names[r], c) for r, c in expr.terms)
    return expr.format(names), role_of(expr.terms, expr.const), terms, expr.const


def _dim_rows(solution: Solution, names: list[str], axes: AxisTable) -> list[DimRow]:
    lows = root_minimums(axes)
    return [DimRow(name, lows.get(name), None, solution.class_values[cls]) for name, cls in zip(names, solution.roots)]


def _relation_row(observation: Observation, solution: Solution, names: list[str], relation: Relation) -> RelationRow:
    columns = solution.classes[relation.target]
    axes = tuple(map(observation.column_axis.__getitem__, columns))
    paths = map(observation.paths.__getitem__, map(observation.column_leaf.__getitem__, columns))
    members = tuple(map(axis_label, paths, axes))  # observation.label of each, without a call each
    rhs = relation.expr.format(names)
    all_tensors = None not in axes
    return RelationRow(
        kind=relation.kind,
        expr=" = ".join((*members, rhs)),
        members=members,
        rhs=rhs,
        support=relation.support,
        distinct=relation.distinct,
        fitted=relation.fitted,
        expressible=all_tensors and relation.kind != SUM,
        coincidence_prone=relation.coincidence_prone,
        reason=relation.reason,
        terms=tuple((names[r], c) for r, c in relation.expr.terms),
        const=relation.expr.const,
    )


def _relation_rows(
    observation: Observation, solution: Solution, names: list[str]
) -> tuple[list[RelationRow], list[RelationRow]]:
    """One row per class that is shared or derived; the strongest relation describes it."""
    kept: dict[int, Relation] = {}
    for relation in solution.relations:
        if relation.kept and (relation.kind != EQUAL or relation.target not in kept):
            kept[relation.target] = relation  # affine / sum supersede the plain equality
    rows = [_relation_row(observation, solution, names, kept[c]) for c in sorted(kept)]
    # A candidate rejected for a class that another relation explains is noise.
    rejected = [
        _relation_row(observation, solution, names, r)
        for r in solution.relations
        if not r.kept and (r.target not in kept or kept[r.target].kind == EQUAL)
    ]
    return rows, rejected


def _notes(observation: Observation, solution: Solution) -> list[str]:
    notes = list(observation.notes)  # dtype / device differences
    if observation.num_sets == 1:
        notes.append(
            "only one input set: nothing could vary, so every axis is static; give two or more sets with "
            "different sizes"
        )
    elif not solution.roots:
        notes.append(f"nothing varied across the {observation.num_sets} input sets: every axis is static")
    for members in solution.split_classes:
        labels = ", ".join(map(observation.label, members))
        notes.append(
            f"{labels} were equal in every set but share a tensor, so they were kept as separate dims (a "
            "coincidence of the examples, not a relation)"
        )
    return notes
