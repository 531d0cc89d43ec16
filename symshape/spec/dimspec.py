"""The result of inference: a ``DimSpec``, its rows, its report and its JSON form.

A DimSpec is data: rows of axes and relations plus the container template. The
torch objects (``dims``, ``dynamic_shapes``) are built from that data on first use,
so that ``to_json`` / ``from_json`` round-trip the contract exactly (no pickle).
The example tensors (``args`` / ``kwargs``) are data, not contract: copied when first
read (:class:`~symshape.core.copying.DeferredCopy`), they are not written to JSON,
and a DimSpec read back from JSON has ``args == ()`` and ``kwargs == {}`` until you
pass your own.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import asdict, replace
from functools import cached_property
from typing import Any

from torch.export import Dim

from ..core.binding import Layout
from ..core.rows import ROOT, SUM, AxisRow, AxisTable, BoundRow, DimRow, NeverVaried, RelationRow, root_minimums
from ..errors import InputsError
from ..report import explain as explain_report
from .template import template_json
from .to_torch import make_dims, shapes_by_input

FORMAT = "symshape.DimSpec"
VERSION = 1


class DimSpec:
    """Named dims, relations and the matching ``dynamic_shapes`` for torch.export."""

    def __init__(
        self,
        *,
        dim_rows: list[DimRow],
        axes: list[AxisRow] | AxisTable,
        relations: list[RelationRow],
        rejected: list[RelationRow],
        notes: list[str],
        num_sets: int,
        example_index: int,
        layout: Layout,
        template: list,
        args: tuple = (),
        kwargs: dict[str, Any] | None = None,
        example: Callable[[], tuple[tuple, dict[str, Any]]] | None = None,
        never_varied: list[NeverVaried] | None = None,
        bounds: list[BoundRow] | None = None,
    ) -> None:
        self.dim_rows = dim_rows
        self.axes = axes  # type: ignore[assignment]  # the setter takes rows or an AxisTable
        self.relations = relations
        self.rejected = rejected
        self.notes = notes
        self.num_sets = num_sets
        self.example_index = example_index
        self.layout = layout
        self.template = template
        self._args, self._kwargs = args, kwargs if kwargs is not None else {}
        #: ``(args, kwargs)`` built when first read (``infer_dims`` copies the example then).
        self._example = example
        #: Axes conventionally dynamic (``batch``, ``seq_len``, ...) that never varied.
        self.never_varied = never_varied if never_varied is not None else []
        #: Every bound of the contract with its reason (the ranges torch is given are in ``dim_rows``).
        self.bounds = bounds if bounds is not None else []

    def with_rows(
        self,
        *,
        dim_rows: list[DimRow] | None = None,
        axes: list[AxisRow] | AxisTable | None = None,
        relations: list[RelationRow] | None = None,
        rejected: list[RelationRow] | None = None,
    ) -> DimSpec:
        """The same spec (example, layout, notes) with new rows; each root's minimum is
        raised where a derived axis with a negative offset needs it (``x - 3``: ``x >= 3``)."""
        if axes is None:
            axes = self._axes if self._axes is not None else self._table  # rows are built only if read
        lows = root_minimums(axes)
        fixed = []
        for d in self.dim_rows if dim_rows is None else dim_rows:
            need = lows.get(d.name)
            fixed.append(replace(d, min=need) if need is not None and (d.min is None or d.min < need) else d)
        return DimSpec(
            dim_rows=fixed,
            axes=axes,
            relations=self.relations if relations is None else relations,
            rejected=self.rejected if rejected is None else rejected,
            notes=self.notes,
            num_sets=self.num_sets,
            example_index=self.example_index,
            layout=self.layout,
            template=self.template,
            args=self._args,
            kwargs=self._kwargs,
            example=self._example,  # one copy of the example, whichever spec reads it first
            never_varied=self.never_varied,
            bounds=self.bounds,
        )

    def with_bound(self, name: str, low: int | None, high: int | None, why: BoundRow | None = None) -> DimSpec:
        """The spec with root ``name`` narrowed to ``[low, high]`` (None: unchanged), and
        ``why`` recorded in ``bounds``."""
        dims = []
        for d in self.dim_rows:
            if d.name == name:
                new_low = d.min if low is None else max(low, d.min or 0)
                new_high = d.max if high is None else (high if d.max is None else min(high, d.max))
                d = replace(d, min=new_low, max=new_high)
            dims.append(d)
        spec = self.with_rows(dim_rows=dims)
        if why is not None:
            spec.bounds = [*self.bounds, why]
        return spec

    # -- the example (data, not contract) --------------------------------------------
    @property
    def args(self) -> tuple:
        """The example's positional arguments (pass to torch.export with ``kwargs``)."""
        self._build_example()
        return self._args

    @args.setter
    def args(self, value: tuple) -> None:
        self._build_example()
        self._args = value

    @property
    def kwargs(self) -> dict[str, Any]:
        self._build_example()
        return self._kwargs

    @kwargs.setter
    def kwargs(self, value: dict[str, Any]) -> None:
        self._build_example()
        self._kwargs = value

    def _build_example(self) -> None:
        if self._example is not None:
            self._args, self._kwargs = self._example()
            self._example = None

    # -- rows ------------------------------------------------------------------------
    @property
    def axes(self) -> list[AxisRow]:
        """One row per leaf axis (an int leaf: one row, ``axis`` None), in flatten order."""
        if self._axes is None:
            self._axes = self._table.rows()  # type: ignore[union-attr]  # one of the two is set
            self._built = tuple(self._axes)
        return self._axes

    @axes.setter
    def axes(self, axes: list[AxisRow] | AxisTable) -> None:
        self._built: tuple[AxisRow, ...] = ()  # the rows as built from the table (to see a change)
        if isinstance(axes, AxisTable):
            self._table: AxisTable | None = axes
            self._axes: list[AxisRow] | None = None
        else:
            self._table, self._axes = None, axes

    @property
    def axis_table(self) -> AxisTable:
        """The axes as columns (see :class:`~symshape.core.rows.AxisTable`), without building
        rows; from the rows when they were given, or changed since they were built."""
        rows = self._axes
        if rows is not None and (
            self._table is None or len(rows) != len(self._built) or not all(map(operator.is_, rows, self._built))
        ):
            self._table, self._built = AxisTable.from_rows(rows), tuple(rows)
        return self._table  # type: ignore[return-value]  # set above when absent

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
        return shapes_by_input(self.axis_table, self.dim_rows, self.dims, self.template)

    @property
    def dim_values(self) -> dict[str, tuple[int, ...]]:
        """Each root dim's value in every input set."""
        return {d.name: d.values for d in self.dim_rows}

    def root_axes(self, name: str) -> list[AxisRow]:
        """The axes that are exactly the root dim ``name`` (not derived from it)."""
        return [a for a in self.axes if a.role == ROOT and a.terms[0][0] == name]

    def named_root_labels(self) -> dict[str, str]:
        """``{axis label: root}`` for the tensor axes exported as a named root Dim itself
        (not derived from one, not a root given ``Dim.DYNAMIC``)."""
        named = {d.name for d in self.dim_rows if not d.unnamed}
        return {a.label: a.terms[0][0] for a in self.axes if a.role == ROOT and not a.is_int and a.terms[0][0] in named}

    def root_of(self, labels: tuple[str, ...]) -> str | None:
        """The root whose axes are exactly the axes ``labels``, if there is one."""
        names = {a.expr for a in self.axes if a.label in labels and a.role == ROOT}
        if len(names) != 1:
            return None
        (name,) = names
        return name if {a.label for a in self.root_axes(name)} == set(labels) else None

    # -- reports ---------------------------------------------------------------------
    def explain(self) -> str:
        """A human report: dims, derived axes, relations, static axes, warnings."""
        return explain_report(self)

    def __str__(self) -> str:
        dims = ", ".join(f"{d.name}={'/'.join(map(str, d.values))}" for d in self.dim_rows) or "none (all static)"
        sums = [r.expr for r in self.relations if r.kind == SUM]
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
            "template": template_json(self.template),
            "dims": [asdict(d) for d in self.dim_rows],
            "axes": [a._asdict() for a in self.axes],
            "relations": [asdict(r) for r in self.relations],
            "rejected": [asdict(r) for r in self.rejected],
            "notes": list(self.notes),
            "never_varied": [asdict(n) for n in self.never_varied],
            "bounds": [asdict(b) for b in self.bounds],
        }

    def to_json(self, indent: int | None = 1) -> str:
        """Deterministic JSON of the whole contract (not the example tensors)."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> DimSpec:
        """Read what :meth:`to_json` wrote. A document that is not one, or that misses or
        mistypes a field, is an :class:`InputsError` naming the field and the value."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise InputsError(f"not a symshape DimSpec JSON document: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise InputsError(f"not a symshape DimSpec JSON document (format is {found!r}, expected {FORMAT!r})")
        if data.get("version") != VERSION:
            raise InputsError(
                f"DimSpec JSON version {data.get('version')!r} is not supported (this symshape reads {VERSION})"
            )
        return _from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DimSpec) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]


def _field(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    if key not in data:
        raise InputsError(f"DimSpec JSON: {where}{key!r} is missing")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise InputsError(f"DimSpec JSON: {where}{key!r} is {value!r}, expected {getattr(kind, '__name__', kind)}")
    return value


def _rows(data: dict[str, Any], key: str, build: Any) -> list[Any]:
    rows = []
    for i, item in enumerate(_field(data, key, list)):
        try:
            if not isinstance(item, dict):
                raise TypeError(f"expected an object, got {type(item).__name__}")
            rows.append(build(item))
        except (TypeError, ValueError, KeyError) as exc:
            raise InputsError(f"DimSpec JSON: {key}[{i}] = {item!r} is not a valid row: {exc}") from None
    return rows


def _axis_row(d: dict[str, Any]) -> AxisRow:
    return AxisRow(**{**d, "values": tuple(d["values"]), "terms": tuple(tuple(t) for t in d["terms"])})


def _relation_row(d: dict[str, Any]) -> RelationRow:
    return RelationRow(**{**d, "members": tuple(d["members"]), "terms": tuple(tuple(t) for t in d["terms"])})


def _dim_row(d: dict[str, Any]) -> DimRow:
    return DimRow(**{**d, "values": tuple(d["values"])})


def _never_varied(d: dict[str, Any]) -> NeverVaried:
    return NeverVaried(**{**d, "axes": tuple(d["axes"])})


def _from_dict(data: dict[str, Any]) -> DimSpec:
    rows = _field(data, "layout", list)
    try:
        layout = Layout.from_json(rows)
    except (TypeError, ValueError) as exc:
        raise InputsError(f"DimSpec JSON: 'layout' = {rows!r} is not a valid layout: {exc}") from None
    return DimSpec(
        dim_rows=_rows(data, "dims", _dim_row),
        axes=_rows(data, "axes", _axis_row),
        relations=_rows(data, "relations", _relation_row),
        rejected=_rows(data, "rejected", _relation_row),
        notes=[str(n) for n in _field(data, "notes", list)],
        num_sets=_field(data, "num_sets", int),
        example_index=_field(data, "example_index", int),
        layout=layout,
        template=_field(data, "template", list),
        never_varied=_rows(data, "never_varied", _never_varied) if "never_varied" in data else [],
        bounds=_rows(data, "bounds", lambda d: BoundRow(**d)) if "bounds" in data else [],
    )
