"""What one program holds, as data: its region and how to read a call's sizes.

Built from the program's final spec and the plan's name table, after every program is
exported: a dim that is static in this program but a dim of another (``seq_len`` is 1
in every decode step) is stated as an equality, so that regions of one structure can be
told apart. The data is JSON (the plan's manifest stores it) and names places by
symshape path; :mod:`.routing` turns paths into leaf indices once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.paths import axis_key
from ..core.rows import ROOT, STATIC
from ..spec import DimSpec
from .names import NameTable
from .region import Constraint, Region, equal, parse_guard


@dataclass
class Contract:
    """Region and readers of one program."""

    region: Region
    #: dim -> (path, axis) of an axis that is exactly that dim (axis None: an int input).
    readers: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    #: (path, axis, value) of every static axis and static int input.
    fixed: list[tuple[str, int | None, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region.to_json(),
            "readers": {d: [p, a] for d, (p, a) in self.readers.items()},
            "fixed": [list(f) for f in self.fixed],
        }

    @classmethod
    def from_json(cls, data: Any) -> Contract:
        readers = {str(d): (str(p), None if a is None else int(a)) for d, (p, a) in data["readers"].items()}
        fixed = [(str(p), None if a is None else int(a), int(v)) for p, a, v in data["fixed"]]
        region = Region.from_json(data["region"])
        missing = [d for d in region.dims if d not in readers]
        if missing:
            raise ValueError(f"the region names {missing} but no axis reads them")
        return cls(region, readers, fixed)


def _bound_constraints(spec: DimSpec) -> list[Constraint]:
    out = []
    for d in spec.dim_rows:
        if d.min:
            out.append(Constraint(((d.name, 1),), ">=", d.min, "minimum of the dim in the program's spec"))
        if d.max is not None:
            out.append(Constraint(((d.name, 1),), "<=", d.max, "maximum of the dim in the program's spec"))
    for b in spec.bounds:
        if len(b.dims) < 2:
            continue
        for op, value in ((">=", b.low), ("<=", b.high)):
            if value is not None:
                c = parse_guard(f"{b.expr} {op} {value}", spec.dims)
                if c is not None:
                    out.append(Constraint(c.terms, c.op, c.bound, f"bound ({b.origin}): {b.reason}"))
    return out


def _in_dims(text: str, spec: DimSpec) -> str:
    """A guard with each axis label that is exactly one dim (an int input) replaced by it:
    ``cache['cumulative_length'][0] >= 8`` -> ``cumulative_length >= 8``."""
    for row in sorted(spec.axes, key=lambda a: -len(a.label)):
        if row.role == ROOT and row.label in text and row.label != row.expr:
            text = text.replace(row.label, row.expr)
    return text


def contract_of(
    spec: DimSpec, requirements: tuple[str, ...], table: NameTable, extra: Sequence[Constraint] = ()
) -> Contract:
    """The region and readers of a program with final spec ``spec``, guards
    ``requirements`` (``ProgramReading.requirements``, in symshape's names) and ``extra``
    constraints (what the splits above it require of its calls)."""
    readers: dict[str, tuple[str, int | None]] = {}
    fixed: list[tuple[str, int | None, int]] = []
    region = Region()
    for row in spec.axes:
        if row.role == ROOT and not row.is_int:
            readers.setdefault(row.terms[0][0], (row.path, row.axis))
        elif row.role == ROOT and row.is_int:
            readers.setdefault(row.terms[0][0], (row.path, None))
        elif row.role == STATIC:
            value = int(row.expr)
            fixed.append((row.path, row.axis, value))
            name = table.by_axis.get(axis_key(row.path, row.axis))
            if name and name not in spec.dims and name not in readers:
                readers[name] = (row.path, row.axis)
                region.add(equal(name, value, f"{row.label} is {value} in every call of this program"))
    for c in [*_bound_constraints(spec), *extra]:
        if not region.implies(c):
            region.add(c)
    for text in requirements:
        c = parse_guard(_in_dims(text, spec), spec.dims)
        if c is None:
            region.unmodelled.append(text)
        elif not region.implies(c):
            region.add(c)
    unread = [c for c in region.constraints if not set(c.dims) <= set(readers)]
    region.constraints = [c for c in region.constraints if c not in unread]
    region.unmodelled += [c.text for c in unread]  # a dim no axis is exactly (a phantom root)
    return Contract(region, readers, fixed)
