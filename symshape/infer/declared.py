"""Axes named by convention: declared dynamic (``dynamic={"batch"}``), or
conventionally dynamic but never varied (one detector, reported once)."""

from __future__ import annotations

from collections.abc import Iterable

from ..core.paths import argument_of, axis_key
from ..core.rows import NeverVaried
from ..errors import InputsError
from .naming import conventional_name, conventionally_dynamic
from .observation import Observation
from .solver import Solution


def declared_columns(
    observation: Observation, solution: Solution, declared: Iterable[str]
) -> tuple[dict[str, list[int]], list[str]]:
    """Static columns made dynamic by ``dynamic=``: a conventional dim name (``"batch"``:
    every axis conventionally called so) or ``"path:axis"``. Returns name -> columns, and
    the entries whose axes are all dynamic already. An entry that names no axis at all
    is an :class:`InputsError`."""
    arguments = frozenset(argument_of(leaf.path) for leaf in observation.leaves)
    by_label = {axis_key(observation.leaves[c.leaf].path, c.axis): i for i, c in enumerate(observation.columns)}
    groups: dict[str, list[int]] = {}
    unmatched = []
    for entry in declared:
        if entry in by_label:
            cols = [by_label[entry]]
        else:
            cols = []
            for i, c in enumerate(observation.columns):
                leaf = observation.leaves[c.leaf]
                found = conventional_name(leaf.path, c.axis, leaf.rank, arguments)
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
            values = {observation.columns[i].values[0] for i in static}
            if len(values) > 1:  # conventional names over axes that differ: keep the most common value
                counts = {v: sum(observation.columns[i].values[0] == v for i in static) for v in values}
                keep = max(sorted(values), key=counts.get)
                static = [i for i in static if observation.columns[i].values[0] == keep]
            groups[entry] = static
        else:
            unmatched.append(entry)
    return groups, unmatched


def never_varied(observation: Observation, solution: Solution) -> list[NeverVaried]:
    """Static tensor axes with a conventionally dynamic name (batch, seq_len, past_len,
    ...), grouped by name and value. Nothing can vary with one input set: none then."""
    if observation.num_sets < 2:
        return []
    arguments = frozenset(argument_of(leaf.path) for leaf in observation.leaves)
    found: dict[tuple[str, int], list[str]] = {}
    for i, c in enumerate(observation.columns):
        if solution.column_class[i] >= 0 or c.axis is None:
            continue
        leaf = observation.leaves[c.leaf]
        name = conventionally_dynamic(leaf.path, c.axis, leaf.rank, arguments)
        if name is not None:
            found.setdefault((name, c.values[0]), []).append(observation.label(c))
    return [NeverVaried(name, value, tuple(axes)) for (name, value), axes in found.items()]
