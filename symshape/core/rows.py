"""The rows of a contract: one per axis, per relation, per root dim.

Plain data that every stage reads and the report renders; ``DimSpec`` holds lists
of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .paths import axis_label

STATIC, ROOT, DERIVED, SUM = "static", "root", "derived", "sum"


def role_of(terms: Sequence[tuple[Any, int]], const: int) -> str:
    """What an axis expression is: STATIC (no term), ROOT, DERIVED (one root) or SUM."""
    if not terms:
        return STATIC
    if len(terms) == 1:
        return ROOT if terms[0][1] == 1 and const == 0 else DERIVED
    return SUM


def root_minimums(axes: Sequence[AxisRow] | AxisTable) -> dict[str, int]:
    """The smallest value each root needs so that its derived axes stay >= 0
    (``x - 3`` needs ``x >= 3``); roots that need none are absent."""
    if isinstance(axes, AxisTable):
        described: Iterable[tuple[str, str, tuple[tuple[str, int], ...], int]] = axes.described  # each kind once
    else:
        described = ((row.expr, row.role, row.terms, row.const) for row in axes)
    derived: dict[str, list[tuple[int, int]]] = {}
    for _, role, terms, const in described:
        if role == DERIVED:
            ((name, coef),) = terms
            derived.setdefault(name, []).append((coef, const))
    found = {name: root_min(pairs) for name, pairs in derived.items()}
    return {name: low for name, low in found.items() if low is not None}


class AxisRow(NamedTuple):
    """One leaf axis (or one int leaf, ``axis`` None) and what it was found to be.

    A NamedTuple rather than a dataclass: a model can have tens of thousands of axes.
    """

    path: str  # pytree key path starting with the argument name
    axis: int | None  # None for a Python int input
    expr: str  # "batch", "past_len + 1", "past_len + seq_len", "16"
    values: tuple[int, ...]  # one per input set
    role: str  # STATIC, ROOT, DERIVED or SUM
    leaf: int  # leaf index in flatten order
    terms: tuple[tuple[str, int], ...] = ()  # (dim name, coefficient)
    const: int = 0
    is_int: bool = False

    @property
    def label(self) -> str:
        return axis_label(self.path, self.axis)


#: What an axis is, shared by every axis of a class: (expr, role, terms, const).
Described = tuple[str, str, tuple[tuple[str, int], ...], int]


@dataclass(frozen=True, eq=False)
class AxisTable:
    """Every :class:`AxisRow` of a contract as parallel columns, one entry per row.

    What a spec keeps until someone reads ``spec.axes``: the columns are the
    observation's own tuples (paths, leaves, axes and value vectors are shared, not
    copied) and each class is described once (``kind`` indexes ``described``). Tens of
    thousands of ``NamedTuple`` rows stay tracked by the garbage collector (CPython
    untracks plain tuples only), and every full collection walks them; these tuples of
    strings and ints do not add a tracked object per row.
    """

    path: tuple[str, ...]
    axis: tuple[int | None, ...]
    values: tuple[tuple[int, ...], ...]
    leaf: tuple[int, ...]
    is_int: tuple[bool, ...]
    kind: tuple[int, ...]
    described: tuple[Described, ...]

    def __len__(self) -> int:
        return len(self.kind)

    def rows(self) -> list[AxisRow]:
        """The rows, in column order (what ``spec.axes`` holds)."""
        make = AxisRow._make
        return [
            make((path, axis, expr, values, role, leaf, terms, const, is_int))
            for path, axis, values, leaf, is_int, (expr, role, terms, const) in zip(
                self.path, self.axis, self.values, self.leaf, self.is_int, map(self.described.__getitem__, self.kind)
            )
        ]

    @classmethod
    def from_rows(cls, rows: Sequence[AxisRow]) -> AxisTable:
        if not rows:
            return cls((), (), (), (), (), (), ())
        index: dict[Described, int] = {}
        kind = tuple(index.setdefault((r.expr, r.role, r.terms, r.const), len(index)) for r in rows)
        path, axis, _, values, _, leaf, _, _, is_int = zip(*rows)
        return cls(path, axis, values, leaf, is_int, kind, tuple(index))


@dataclass(frozen=True)
class RelationRow:
    """A relation between axes, with its evidence and whether torch can state it."""

    kind: str  # "equal" (a shared dim), "affine" (derived dim) or "sum"
    expr: str  # "input_ids.shape[0] = attention_mask.shape[0] = batch"
    members: tuple[str, ...]  # the axes it defines
    rhs: str  # the expression they equal
    support: int  # input sets it holds on (always all of them)
    distinct: int  # distinct points seen
    fitted: int  # constants fitted from the data
    expressible: bool  # torch.export can state it as Dims
    coincidence_prone: bool  # seen on the minimum evidence only
    reason: str = ""  # for rejected relations: why it was not trusted
    terms: tuple[tuple[str, int], ...] = ()  # rhs as (dim name, coefficient)
    const: int = 0  # rhs constant
    origin: str = "observed"  # "observed" in the data, or "model": required by the model at export


@dataclass(frozen=True)
class DimRow:
    name: str
    min: int | None
    max: int | None
    values: tuple[int, ...]
    #: Exported as ``Dim.DYNAMIC`` on each axis instead of the named Dim: set when torch
    #: cannot prove a guard for the named Dim that holds for every size.
    unnamed: bool = False


def root_min(derived: Sequence[tuple[int, int]]) -> int | None:
    """Smallest root value keeping every derived ``a*root + b`` non-negative
    (torch refuses a derived dim whose minimum is below 0)."""
    lows = [math.ceil(-b / a) for a, b in derived if b < 0]
    return max(lows) if lows else None


@dataclass(frozen=True)
class NeverVaried:
    """Axes with a conventionally dynamic name (``batch``) that had one value in every set."""

    name: str  # the conventional name: "batch", "seq_len", ...
    value: int  # the one value they had
    axes: tuple[str, ...]  # their labels

    @property
    def hint(self) -> str:
        return f"dynamic={{{self.name!r}}}"


@dataclass(frozen=True)
class BoundRow:
    """A bound of the contract, where it comes from, and how torch is told it."""

    expr: str  # what is bounded: "seq_len", or "past_len + seq_len" (a relation bound)
    low: int | None
    high: int | None
    origin: str  # "config" (the model's config), "user" (bounds=), "model" (a guard torch required)
    reason: str  # "config.max_position_embeddings = 256", torch's words, ...
    #: How it was stated as per-dim Dim bounds, when that differs from ``expr``:
    #: "split as seq_len <= 8, past_len <= 248 (a torch Dim cannot state a sum)".
    stated_as: str = ""

    @property
    def dims(self) -> tuple[str, ...]:
        """The dims the bound is on (the names in ``expr``)."""
        return tuple(_IDENTIFIER.findall(self.expr))


_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
