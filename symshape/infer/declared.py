"""Axes named by convention: declared dynamic (``dynamic={"batch"}``), or
conventionally dynamic but never varied (one detector, reported once)."""

from __future__ import annotations

from collections.abc import Iterable

from ..core.rows import NeverVaried
from ..errors import InputsError
from .naming import conventions
from .observation import Observation
from .solver import Solution


def declared_columns(
    observation: Observation, solution: Solution, declared: Iterable[str]
) -> tuple[dict[str, list[int]], list[str]]:
    """Static columns made dynamic by ``dynamic=``: a conventional dim name (``"batch"``:
    every axis conventionally called so) or ``"path:axis"``. Returns name -> columns, and
    the entries whose axes are all dynamic already. An entry that names no axis at all
    is an :class:`InputsError`."""
    hints = conventions(observation)
    by_label = {observation.key(i): i for i in range(observation.num_columns)}
    groups: dict[str, list[int]] = {}
    unmatched = []
    for entry in declared:
        if entry in by_label:
            cols = [by_label[entry]]
        else:
            cols = []
            for i in range(observation.num_columns):
                found = hints(i)
                if found and found[0] == entry:
                    cols.append(i)
        if not cols:
            examples = ", ".join(repr(k) for k in list(by_label)[:3])
            raise InputsError(
                f"dynamic={entry!r} names no input axis: give a conventional dim name (batch, seq_len, past_len, "
                f"...) or 'path:axis' (for example {examples})"
            )
        static = [i for i in cols if solution.column_class[i] < 0]
        if static:
            first = observation.column_values
            values = {first[i][0] for i in static}
            if len(values) > 1:  # conventional names over axes that differ: keep the most common value
                counts = {v: sum(first[i][0] == v for i in static) for v in values}
                keep = max(sorted(values), key=counts.get)
                static = [i for i in static if first[i][0] == keep]
            groups[entry] = static
        else:
            unmatched.append(entry)
    return groups, unmatched


def never_varied(observation: Observation, solution: Solution) -> list[NeverVaried]:
    """Static tensor axes with a conventionally dynamic name (batch, seq_len, past_len,
    ...), grouped by name and value. Nothing can vary with one input set: none then."""
    if observation.num_sets < 2:
        return []
    hints = conventions(observation)
    found: dict[tuple[str, int], list[str]] = {}
    for i, (cls, axis) in enumerate(zip(solution.column_class, observation.column_axis)):
        if cls >= 0 or axis is None:
            continue
        name = hints.dynamic(i)
        if name is not None:
            found.setdefault((name, observation.column_values[i][0]), []).append(observation.label(i))
    return [NeverVaried(name, value, tuple(axes)) for (name, value), axes in found.items()]
