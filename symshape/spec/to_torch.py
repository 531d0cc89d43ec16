"""From the contract's rows to torch.export objects: root ``Dim``s, derived dims,
``Dim.AUTO`` / ``Dim.DYNAMIC`` hints, and the ``dynamic_shapes`` tree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.export import Dim

from ..core.rows import STATIC, AxisRow, DimRow
from .template import fill_template


def make_dims(bounds: Sequence[tuple[str, int | None, int | None]]) -> dict[str, Dim]:
    """Root ``Dim`` objects from ``(name, min, max)``; None means torch's default."""
    dims = {}
    for name, low, high in bounds:
        kwargs = {}
        if low is not None:
            kwargs["min"] = low
        if high is not None:
            kwargs["max"] = high
        dims[name] = Dim(name, **kwargs)
    return dims


def axis_spec(
    terms: Sequence[tuple[str, int]],
    const: int,
    dims: dict[str, Dim],
    is_int: bool,
    unnamed: frozenset[str] = frozenset(),
) -> Any:
    """The torch object for one axis: a root Dim, a derived dim, AUTO, DYNAMIC or None.

    A root in ``unnamed`` is exported as ``Dim.DYNAMIC`` on each of its axes (torch
    ties them itself), and an axis derived from it as ``Dim.AUTO``.
    """
    if not terms:
        return None
    if is_int:
        return Dim.DYNAMIC  # torch.export takes no named Dim for an int input
    if len(terms) > 1:
        return Dim.AUTO  # torch cannot state a sum of roots; checked after export
    ((name, coef),) = terms
    if name in unnamed:
        return Dim.DYNAMIC if coef == 1 and const == 0 else Dim.AUTO
    dim = dims[name]
    if coef != 1:
        dim = coef * dim
    if const:
        dim = dim + const
    return dim


def shapes_by_input(axes: Sequence[AxisRow], dim_rows: Sequence[DimRow], dims: dict[str, Dim], template: list) -> Any:
    """The dynamic shapes of each top-level input (``template`` filled leaf by leaf)."""
    by_leaf: dict[int, list[AxisRow]] = {}
    for row in axes:
        by_leaf.setdefault(row.leaf, []).append(row)

    # One torch object per distinct expression: building a derived Dim parses
    # its name with sympy (~0.5 ms), too slow to repeat for every axis.
    built: dict[tuple, Any] = {}
    unnamed = frozenset(d.name for d in dim_rows if d.unnamed)

    def one(row: AxisRow, is_int: bool) -> Any:
        key = (row.expr, is_int)  # the text names the expression; a str caches its hash
        if key not in built:
            built[key] = axis_spec(row.terms, row.const, dims, is_int, unnamed)
        return built[key]

    def leaf_spec(index: int) -> Any:
        rows = by_leaf.get(index, ())
        if len(rows) == 1 and rows[0].axis is None:
            return one(rows[0], True)
        spec = {r.axis: one(r, False) for r in rows if r.role != STATIC}
        return spec or None

    return fill_template(template, leaf_spec)
