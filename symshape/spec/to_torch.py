"""From the contract's rows to torch.export objects: root ``Dim``s, derived dims,
``Dim.AUTO`` / ``Dim.DYNAMIC`` hints, and the ``dynamic_shapes`` tree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.export import Dim

from ..core.rows import STATIC, AxisTable, DimRow
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


def shapes_by_input(table: AxisTable, dim_rows: Sequence[DimRow], dims: dict[str, Dim], template: list) -> Any:
    """The dynamic shapes of each top-level input (``template`` filled leaf by leaf): a
    tensor leaf gets ``{axis: dim}`` over its non-static axes (None if it has none), an int
    leaf (its one column has ``axis`` None) the hint of its column."""
    unnamed = frozenset(d.name for d in dim_rows if d.unnamed)
    described = table.described
    # One torch object per kind (a distinct expression), built on first use: building a
    # derived Dim parses its name with sympy (~0.5 ms), too slow to repeat for every axis.
    tensor_dims: list[Any] = [None if role == STATIC else _UNBUILT for _, role, _, _ in described]
    by_leaf: dict[int, Any] = {}
    for leaf, axis, kind in zip(table.leaf, table.axis, table.kind):
        if axis is None:  # an int leaf
            _, _, terms, const = described[kind]
            by_leaf[leaf] = axis_spec(terms, const, dims, True, unnamed)
            continue
        dim = tensor_dims[kind]
        if dim is None:
            continue  # a static axis
        if dim is _UNBUILT:
            _, _, terms, const = described[kind]
            dim = tensor_dims[kind] = axis_spec(terms, const, dims, False, unnamed)
        spec = by_leaf.get(leaf)
        if spec is None:
            by_leaf[leaf] = {axis: dim}
        else:
            spec[axis] = dim
    return fill_template(template, by_leaf.get)


_UNBUILT = object()
