"""The result of inference: a ``DimSpec``, its rows, its report and its JSON form.

A DimSpec is data: rows of axes and relations plus the container template. The
torch objects (``dims``, ``dynamic_shapes``) are built from that data on first use,
so that ``to_json`` / ``from_json`` round-trip the contract exactly (no pickle).
The example tensors (``args`` / ``kwargs``) are data, not contract: they are not
written to JSON, and a DimSpec read back from JSON has ``args == ()`` and
``kwargs == {}`` until you pass your own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, NamedTuple, Sequence

from torch.export import Dim

from .emit import axis_spec, fill_template, make_dims, root_min
from .errors import InputsError
from .inputs import Layout

FORMAT = "symshape.DimSpec"
VERSION = 1

STATIC, ROOT, DERIVED, SUM = "static", "root", "derived", "sum"


def role_of(terms: Sequence[tuple[Any, int]], const: int) -> str:
    """What an axis expression is: STATIC (no term), ROOT, DERIVED (one root) or SUM."""
    if not terms:
        return STATIC
    if len(terms) == 1:
        return ROOT if terms[0][1] == 1 and const == 0 else DERIVED
    return SUM


def root_minimums(axes: Sequence[AxisRow]) -> dict[str, int]:
    """The smallest value each root needs so that its derived axes stay >= 0
    (``x - 3`` needs ``x >= 3``); roots that need none are absent."""
    derived: dict[str, list[tuple[int, int]]] = {}
    for row in axes:
        if row.role == DERIVED:
            (name, coef), = row.terms
            derived.setdefault(name, []).append((coef, row.const))
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
        return self.path if self.axis is None else f"{self.path}.shape[{self.axis}]"


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


class DimSpec:
    """Named dims, relations and the matching ``dynamic_shapes`` for torch.export."""

    def __init__(
        self,
        *,
        dim_rows: list[DimRow],
        axes: list[AxisRow],
        relations: list[RelationRow],
        rejected: list[RelationRow],
        notes: list[str],
        num_sets: int,
        example_index: int,
        layout: Layout,
        template: list,
        args: tuple = (),
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.dim_rows = dim_rows
        self.axes = axes
        self.relations = relations
        self.rejected = rejected
        self.notes = notes
        self.num_sets = num_sets
        self.example_index = example_index
        self.layout = layout
        self.template = template
        self.args = args
        self.kwargs = kwargs if kwargs is not None else {}

    # -- torch objects -------------------------------------------------------------
    @cached_property
    def dims(self) -> dict[str, Dim]:
        """Root dims by name (derived dims and AUTO axes are in ``dynamic_shapes``)."""
        return make_dims([(d.name, d.min, d.max) for d in self.dim_rows])

    @cached_property
    def dynamic_shapes(self) -> tuple | dict[str, Any]:
        """Pass as ``dynamic_shapes=`` together with ``args`` / ``kwargs``."""
        return self.layout.nest(self.shapes_by_input)

    @cached_property
    def shapes_by_input(self) -> dict[str, Any]:
        """The dynamic shapes of each top-level input, by name, before the layout nests
        them (``*args`` into a tuple, ``**kwargs`` into a dict)."""
        by_leaf: dict[int, list[AxisRow]] = {}
        for row in self.axes:
            by_leaf.setdefault(row.leaf, []).append(row)

        # One torch object per distinct expression: building a derived Dim parses
        # its name with sympy (~0.5 ms), too slow to repeat for every axis.
        built: dict[tuple, Any] = {}
        unnamed = frozenset(d.name for d in self.dim_rows if d.unnamed)

        def one(row: AxisRow, is_int: bool) -> Any:
            key = (row.terms, row.const, is_int)
            if key not in built:
                built[key] = axis_spec(row.terms, row.const, self.dims, is_int, unnamed)
            return built[key]

        def leaf_spec(index: int) -> Any:
            rows = by_leaf.get(index, ())
            if len(rows) == 1 and rows[0].axis is None:
                return one(rows[0], True)
            spec = {r.axis: one(r, False) for r in rows if r.role != STATIC}
            return spec or None

        return fill_template(self.template, leaf_spec)

    @property
    def dim_values(self) -> dict[str, tuple[int, ...]]:
        """Each root dim's value in every input set."""
        return {d.name: d.values for d in self.dim_rows}

    def root_axes(self, name: str) -> list[AxisRow]:
        """The axes that are exactly the root dim ``name`` (not derived from it)."""
        return [a for a in self.axes if a.role == ROOT and a.terms[0][0] == name]

    # -- reports ---------------------------------------------------------------------
    def explain(self) -> str:
        """A human report: dims, derived axes, relations, static axes, warnings."""
        from .report import explain

        return explain(self)

    def __str__(self) -> str:
        dims = ", ".join(f"{d.name}={'/'.join(map(str, d.values))}" for d in self.dim_rows) or "none (all static)"
        sums = [r.expr for r in self.relations if r.kind == "sum"]
        extra = f"; {'; '.join(sums)}" if sums else ""
        return f"DimSpec({self.num_sets} sets; dims {dims}{extra})"

    def __repr__(self) -> str:
        return str(self)

    # -- JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "num_sets": self.num_sets,
            "example_index": self.example_index,
            "layout": self.layout.to_json(),
            "template": self.template,
            "dims": [asdict(d) for d in self.dim_rows],
            "axes": [a._asdict() for a in self.axes],
            "relations": [asdict(r) for r in self.relations],
            "rejected": [asdict(r) for r in self.rejected],
            "notes": list(self.notes),
        }

    def to_json(self, indent: int | None = 1) -> str:
        """Deterministic JSON of the whole contract (not the example tensors)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> DimSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputsError(f"not a symshape DimSpec JSON document: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputsError(f"not a symshape DimSpec JSON document (format is {data.get('format') if isinstance(data, dict) else type(data).__name__!r})")
        if data.get("version") != VERSION:
            raise InputsError(f"DimSpec JSON version {data.get('version')!r} is not supported (this symshape reads {VERSION})")

        def axis_row(d: dict[str, Any]) -> AxisRow:
            return AxisRow(**{**d, "values": tuple(d["values"]), "terms": tuple(tuple(t) for t in d["terms"])})

        def relation_row(d: dict[str, Any]) -> RelationRow:
            return RelationRow(**{**d, "members": tuple(d["members"]), "terms": tuple(tuple(t) for t in d["terms"])})

        return cls(
            dim_rows=[DimRow(**{**d, "values": tuple(d["values"])}) for d in data["dims"]],
            axes=[axis_row(a) for a in data["axes"]],
            relations=[relation_row(r) for r in data["relations"]],
            rejected=[relation_row(r) for r in data["rejected"]],
            notes=list(data["notes"]),
            num_sets=data["num_sets"],
            example_index=data["example_index"],
            layout=Layout.from_json(data["layout"]),
            template=data["template"],
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DimSpec) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]
