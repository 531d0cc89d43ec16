"""Observe every leaf of every normalised input set.

Each set (an ordered dict ``name -> value``) is flattened with pytree. Tensor leaves
contribute one column per axis, Python ``int`` leaves one column for their value;
``None``, ``bool``, ``float``, ``str`` and torch dtypes/devices are constants. All sets
must have one structure; where they do not, :class:`InputsError` names the first
differing path and what differs.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .. import _torch
from ..core import trees
from ..core.paths import axis_label, format_path
from ..errors import InputsError

TENSOR = "tensor"
INT = "int"
CONST = "const"

_CONSTANT_TYPES = (
    bool,
    float,
    complex,
    str,
    bytes,
    type(None),
    torch.dtype,
    torch.device,
    torch.memory_format,
    torch.layout,
    enum.Enum,
)


@dataclass(frozen=True)
class Leaf:
    """One leaf of the input structure, with what every set showed there."""

    index: int
    path: str  # "cache['key_cache'][0]", starting with the argument name
    kind: str  # TENSOR, INT or CONST
    rank: int | None  # tensors only

    def axis_label(self, axis: int | None) -> str:
        return axis_label(self.path, axis)


@dataclass(frozen=True)
class Column:
    """One observed integer: a tensor axis (``axis`` set) or an int leaf (``axis`` None)."""

    leaf: int
    axis: int | None
    values: tuple[int, ...]  # one per input set


@dataclass(frozen=True)
class Observation:
    """The observation matrix: leaves, and one column per leaf axis / int leaf."""

    num_sets: int
    leaves: tuple[Leaf, ...]
    columns: tuple[Column, ...]
    #: dtype / device differences between sets at one tensor leaf (see :func:`dtype_device_notes`).
    notes: tuple[str, ...] = ()

    def label(self, column: Column) -> str:
        return self.leaves[column.leaf].axis_label(column.axis)


def _kind(path: str, value: Any, set_index: int) -> str:
    if isinstance(value, torch.Tensor):
        return TENSOR
    if isinstance(value, int) and not isinstance(value, bool):
        return INT
    if isinstance(value, _CONSTANT_TYPES):
        return CONST
    holds_tensors = (
        any(isinstance(v, torch.Tensor) for v in vars(value).values()) if hasattr(value, "__dict__") else False
    )
    hint = (
        "; it holds tensors, so register its class with torch.utils._pytree.register_pytree_node "
        "so that torch.export (and symshape) can see them"
        if holds_tensors
        else "; torch.export accepts tensors, ints, floats, bools, strings and registered containers"
    )
    raise InputsError(
        f"{path} is a {type(value).__qualname__} in input set #{set_index}, which is not a pytree container{hint}"
    )


def _type_name(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a Tensor of rank {value.dim()}"
    return f"a {type(value).__name__}"


def describe_difference(
    set_index: int, ref: dict[str, Any], other: dict[str, Any], ref_name: str = "input set #0"
) -> str:
    """Walk both structures and say where they first part ways (``ref_name`` names the
    reference in the text: "input set #0", or "the example")."""
    return _describe(set_index, ref, other).replace("input set #0", ref_name)


def _describe(set_index: int, ref: dict[str, Any], other: dict[str, Any]) -> str:
    ref_leaves = trees.flatten_with_paths(ref)[0]
    other_leaves = trees.flatten_with_paths(other)[0]
    ref_paths = [p for p, _ in ref_leaves]
    other_paths = [p for p, _ in other_leaves]
    for path, (_, rv), op in zip(ref_paths, ref_leaves, other_paths):
        if path != op:
            if op not in ref_paths:
                return f"{op} exists in input set #{set_index} but not in set #0"
            return f"{path} is {_type_name(rv)} in input set #0 but absent (or None) in set #{set_index}"
    if len(ref_paths) != len(other_paths):
        longer, which = (ref_paths, 0) if len(ref_paths) > len(other_paths) else (other_paths, set_index)
        first = longer[min(len(ref_paths), len(other_paths))]
        other_which = set_index if which == 0 else 0
        return f"{first} exists in input set #{which} but not in set #{other_which}"
    return _describe_container_difference(set_index, ref, other, "")


def _describe_container_difference(set_index: int, ref: Any, other: Any, path: str) -> str:
    """Same leaf paths, different treespecs: a container type or a context differs."""
    ref_type, other_type = _torch.node_type(ref), _torch.node_type(other)
    where = path or "the input set"
    if ref_type is not other_type:
        return f"{where} is a {type(ref).__name__} in input set #0 but a {type(other).__name__} in set #{set_index}"
    node = _torch.node_def(ref_type)
    if node is None:
        return f"{where} differs between input set #0 and set #{set_index}"
    ref_children, ref_context = node.flatten_fn(ref)
    other_children, other_context = node.flatten_fn(other)
    if ref_context != other_context or len(ref_children) != len(other_children):
        return (
            f"{where} ({type(ref).__name__}) has different structure metadata in input set #0 "
            f"({ref_context!r}) and set #{set_index} ({other_context!r})"
        )
    keys = [k for k, _ in node.flatten_with_keys_fn(ref)[0]] if node.flatten_with_keys_fn else range(len(ref_children))
    for key, rc, oc in zip(keys, ref_children, other_children):
        if trees.structure(rc) != trees.structure(oc):
            sub = format_path([key]) if path else str(getattr(key, "key", key))
            return _describe_container_difference(set_index, rc, oc, path + sub if path else sub)
    return f"{where} differs between input set #0 and set #{set_index}"


def observe_sets(sets: Sequence[dict[str, Any]]) -> Observation:
    """Flatten every normalised set and build the observation matrix."""
    first_leaves, spec = trees.flatten_with_paths(sets[0])
    paths = [p for p, _ in first_leaves]
    flat = [[v for _, v in first_leaves]]
    for i, s in enumerate(sets[1:], start=1):
        values, other_spec = trees.flatten(s)
        if other_spec != spec:
            raise InputsError(
                f"input sets do not share one structure: {describe_difference(i, sets[0], s)}. "
                f"Every set must have the same containers, keys and leaf types."
            )
        flat.append(values)

    leaves: list[Leaf] = []
    columns: list[Column] = []
    notes: list[str] = []
    for index, path in enumerate(paths):
        per_set = [f[index] for f in flat]
        if all(isinstance(v, torch.Tensor) for v in per_set):  # the common case, on every tensor leaf
            shapes = [v.shape for v in per_set]
            rank = len(shapes[0])
            if any(len(shape) != rank for shape in shapes):
                _raise_rank(path, shapes, rank)
            leaves.append(Leaf(index, path, TENSOR, rank))
            notes.extend(dtype_device_notes(path, per_set))
            columns.extend(Column(index, axis, values) for axis, values in enumerate(zip(*shapes)))
            continue
        kinds = [_kind(path, v, i) for i, v in enumerate(per_set)]
        kind = kinds[0]
        for i, k in enumerate(kinds):
            if k != kind:
                raise InputsError(
                    f"{path} is {_type_name(per_set[0])} in input set #0 but {_type_name(per_set[i])} "
                    f"in set #{i}; every set must pass the same kind of value there"
                )
        if kind == INT:
            leaves.append(Leaf(index, path, INT, None))
            columns.append(Column(index, None, tuple(int(v) for v in per_set)))
        else:
            leaves.append(Leaf(index, path, CONST, None))
    return Observation(len(sets), tuple(leaves), tuple(columns), tuple(notes))


def _raise_rank(path: str, shapes: Sequence[Sequence[int]], rank: int) -> None:
    i, shape = next((i, shape) for i, shape in enumerate(shapes) if len(shape) != rank)
    raise InputsError(
        f"{path} has rank {rank} in input set #0 (shape {list(shapes[0])}) but rank "
        f"{len(shape)} in set #{i} (shape {list(shape)}); the rank of a tensor cannot vary"
    )


def dtype_device_notes(path: str, per_set: Sequence[Any]) -> list[str]:
    """Notes where the sets disagree on a tensor leaf's dtype or (real) device.

    Shapes are inferred all the same, so this is not an error; but torch.export
    specialises dtype and device: the program is traced with the example set's, and a
    set with another dtype runs through it only where every op accepts that dtype.
    ``meta`` tensors are shapes only (``symshape.observe`` records calls so) and never
    count as a device difference.
    """
    first = per_set[0]
    if all(v.dtype == first.dtype and v.device == first.device for v in per_set[1:]):
        return []  # the common case, on every tensor leaf: keep it cheap
    notes = []
    dtypes = _where_differ([getattr(v, "dtype", None) for v in per_set], lambda d: str(d).removeprefix("torch."))
    if dtypes:
        notes.append(
            f"{path} has different dtypes across the input sets ({dtypes}); torch.export specialises dtype, "
            f"so the program is traced with the example set's dtype. Export once per dtype if both are used, "
            f"or cast the inputs to one dtype"
        )
    real = [d if getattr(d, "type", None) != "meta" else None for d in (getattr(v, "device", None) for v in per_set)]
    devices = _where_differ(real, str)
    if devices:
        notes.append(
            f"{path} is on different devices across the input sets ({devices}); torch.export specialises "
            f"device, so the program is traced on the example set's device. Move the inputs to one device "
            f"(meta tensors, as recorded shapes, do not count)"
        )
    return notes


def _where_differ(values: Sequence[Any], show: Any) -> str | None:
    """``"float32 in set #0, float64 in set #1"`` when the non-None values differ, else None."""
    present = [v for v in values if v is not None]
    if len(set(present)) < 2:
        return None
    return ", ".join(f"{show(v)} in set #{values.index(v)}" for v in dict.fromkeys(present))
