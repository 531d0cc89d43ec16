"""The calls a plan is built from: normalised, keyed by structure, and described.

A call is one input set, bound to the forward signature (:func:`symshape.core.binding.normalise`).
Calls that pass different arguments (an optional argument given in some calls only) are
normalised group by group, so each group gets its own layout. The *structure key* of a call
is what makes it another graph: its treespec (caches included, with their layer layout),
the rank and dtype of each tensor and the value of each constant leaf (flags, ``None``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from ..core import trees
from ..core.binding import Layout, normalise
from ..errors import InputsError, MixedArgumentsError
from ..integrations.transformers import is_cache


@dataclass
class Call:
    """One observed call: its index in the user's inputs, its values by parameter name
    (the user's objects, never modified), its layout and its structure key."""

    index: int
    values: dict[str, Any]
    layout: Layout
    key: tuple[Any, ...]


def _as_sets(inputs: Any) -> Any:
    """A recording (``symshape.observe``'s Observer) stands for its recorded inputs."""
    if hasattr(inputs, "inputs") and hasattr(inputs, "records") and not isinstance(inputs, (list, tuple)):
        return inputs.inputs
    return inputs


def structure_key(layout: Layout, values: dict[str, Any]) -> tuple[Any, ...]:
    """What must be equal for two calls to run through one graph."""
    leaves, spec = trees.flatten(values)
    tags = []
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            tags.append(f"tensor{leaf.dim()}:{leaf.dtype}")
        elif isinstance(leaf, int) and not isinstance(leaf, bool):
            tags.append("int")
        else:
            tags.append(repr(leaf))
    return (tuple(map(tuple, layout.to_json())), str(spec), tuple(tags))


def collect(model: Any, inputs: Any) -> list[Call]:
    """Normalise every input set; calls passing different arguments are grouped by the
    arguments they pass and normalised per group."""
    inputs = _as_sets(inputs)
    if isinstance(inputs, (torch.Tensor, dict, str, bytes)) or not isinstance(inputs, Iterable):
        raise InputsError(
            f"export_plan: inputs must be a list of input sets or a symshape.observe recording, "
            f"got a {type(inputs).__name__}"
        )
    sets = list(inputs)
    if not sets:
        raise InputsError("export_plan: no input sets: give the calls of the workload (e.g. obs.inputs)")
    try:
        layout, values = normalise(model, sets)
        groups = [(layout, list(range(len(sets))), values)]
    except MixedArgumentsError:
        by_names: dict[tuple[str, ...], list[int]] = {}
        for i, s in enumerate(sets):
            names = normalise(model, [s])[0].names
            by_names.setdefault(tuple(sorted(names)), []).append(i)
        groups = []
        for indices in by_names.values():
            layout, values = normalise(model, [sets[i] for i in indices])
            groups.append((layout, indices, values))
    calls: list[Call | None] = [None] * len(sets)
    for layout, indices, values in groups:
        for i, v in zip(indices, values):
            calls[i] = Call(i, v, layout, structure_key(layout, v))
    return [c for c in calls if c is not None]


def tensor_leaves(value: Any) -> list[torch.Tensor]:
    return [t for t in trees.leaves(value) if isinstance(t, torch.Tensor)]


def cache_state(call: Call) -> str | None:
    """``"empty"`` when every cache argument holds no cached position (no tensor, or only
    tensors with a zero-size axis), ``"full"`` when one holds some, None without a cache."""
    caches = [v for v in call.values.values() if is_cache(v)]
    if not caches:
        return None
    empty = all(t.numel() == 0 for c in caches for t in tensor_leaves(c))
    return "empty" if empty else "full"


def zero_axes(call: Call) -> frozenset[tuple[str, int]]:
    """The tensor axes of size 0 in a call (a prefill's cache recorded with length 0)."""
    found = set()
    for path, leaf in trees.leaves_by_path(call.values).items():
        if isinstance(leaf, torch.Tensor):
            found |= {(path, axis) for axis, size in enumerate(leaf.shape) if size == 0}
    return frozenset(found)


def none_arguments(call: Call) -> frozenset[str]:
    """The top-level arguments that are ``None`` in this call."""
    return frozenset(name for name, v in call.values.items() if v is None)
