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
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import attrgetter
from typing import Any

import torch

from .. import _torch
from ..core import trees
from ..core.paths import axis_key, axis_label, format_path
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


@dataclass(frozen=True, eq=False)
class Observation:
    """The observation matrix, as parallel columns of plain data.

    Per leaf (flatten order): its path (``cache['key_cache'][0]``, starting with the
    argument name), its kind (TENSOR, INT or CONST), its rank (tensors only) and its
    top-level argument. Per column (a tensor axis, or an int leaf with axis None): its
    leaf, its axis and its values, one per input set. No object per leaf or per column:
    a model can have tens of thousands of both.
    """

    num_sets: int
    paths: tuple[str, ...]
    kinds: tuple[str, ...]
    ranks: tuple[int | None, ...]
    arguments: tuple[str, ...]
    column_leaf: tuple[int, ...]
    column_axis: tuple[int | None, ...]
    column_values: tuple[tuple[int, ...], ...]
    #: dtype / device differences between sets at one tensor leaf (see :func:`dtype_device_notes`).
    notes: tuple[str, ...] = ()
    #: Every set flattened once (leaves and treespec), for the stages that rebuild a set.
    flats: tuple[trees.Flat, ...] = field(default=(), repr=False)

    @property
    def num_columns(self) -> int:
        return len(self.column_leaf)

    def path(self, column: int) -> str:
        """The path of the leaf ``column`` belongs to."""
        return self.paths[self.column_leaf[column]]

    def label(self, column: int) -> str:
        """``x.shape[1]`` (an int leaf: its path)."""
        return axis_label(self.paths[self.column_leaf[column]], self.column_axis[column])

    def key(self, column: int) -> str:
        """``"x:1"``: how users name the column in ``names=`` and ``dynamic=``."""
        return axis_key(self.paths[self.column_leaf[column]], self.column_axis[column])


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
    """Flatten every normalised set once and build the observation matrix."""
    flats = [trees.flatten_keyed(sets[0])]
    for i, s in enumerate(sets[1:], start=1):
        flats.append(trees.flatten_keyed(s))
        if flats[i].spec != flats[0].spec:
            raise InputsError(
                f"input sets do not share one structure: {describe_difference(i, sets[0], s)}. "
                f"Every set must have the same containers, keys and leaf types."
            )
    paths = flats[0].paths
    per_set = [flat.leaves for flat in flats]
    if all(all(map(isinstance, leaves, repeat(torch.Tensor))) for leaves in per_set):
        kinds, ranks, parts = _tensor_leaves(paths, per_set)  # the common case: every leaf a tensor
    else:
        kinds, ranks, parts = _mixed_leaves(paths, per_set)
    widths = [r if k == TENSOR else int(k == INT) for k, r in zip(kinds, ranks)]  # columns per leaf
    column_leaf = tuple(chain.from_iterable(map(repeat, range(len(paths)), widths)))
    column_axis = tuple(
        chain.from_iterable(range(r) if k == TENSOR else (None,) if k == INT else () for k, r in zip(kinds, ranks))
    )
    # One tuple per distinct value vector (a static axis of 10,000 leaves is one (3, 3, 3)):
    # fewer live objects, and the garbage collector's full pass stays away.
    column_values = tuple(map(_Interned().__getitem__, zip(*(chain.from_iterable(p) for p in parts))))
    tensors = [i for i, k in enumerate(kinds) if k == TENSOR]
    return Observation(
        len(sets),
        tuple(paths),
        tuple(kinds),
        tuple(ranks),
        tuple(flats[0].arguments),
        column_leaf,
        column_axis,
        column_values,
        tuple(_notes(paths, per_set, tensors)),
        tuple(flats),
    )


def _tensor_leaves(paths: Sequence[str], per_set: Sequence[Sequence[torch.Tensor]]) -> tuple[list, list, list]:
    """Every leaf a tensor in every set: ranks compared set by set as lists, and each set's
    sizes streamed leaf by leaf. Reading ``.shape`` twice costs less than keeping a list
    of ``torch.Size`` per set alive: with 10,000s of leaves, such live temporaries are what
    makes the garbage collector run a full pass (over every tensor in the process)."""
    ranks = [list(map(_NDIM, leaves)) for leaves in per_set]  # no torch.Size built
    if any(r != ranks[0] for r in ranks[1:]):
        index = next(i for i in range(len(paths)) if any(r[i] != ranks[0][i] for r in ranks))
        _raise_rank(paths[index], [leaves[index].shape for leaves in per_set], ranks[0][index])
    return [TENSOR] * len(paths), ranks[0], [map(_SHAPE, leaves) for leaves in per_set]


def _mixed_leaves(paths: Sequence[str], per_set: Sequence[Sequence[Any]]) -> tuple[list, list, list]:
    """Tensors, ints and constants: every leaf checked for one kind across the sets, in
    leaf order (the first leaf that differs is the one reported)."""
    kinds: list[str] = []
    ranks: list[int | None] = []
    parts: list[list[tuple[int, ...]]] = [[] for _ in per_set]
    for index, path in enumerate(paths):
        values = [leaves[index] for leaves in per_set]
        if all(isinstance(v, torch.Tensor) for v in values):
            shapes = [v.shape for v in values]
            rank = len(shapes[0])
            if any(len(shape) != rank for shape in shapes):
                _raise_rank(path, shapes, rank)
            kinds.append(TENSOR)
            ranks.append(rank)
            for part, shape in zip(parts, shapes):
                part.append(shape)
            continue
        found = [_kind(path, v, i) for i, v in enumerate(values)]
        kind = found[0]
        for i, k in enumerate(found):
            if k != kind:
                raise InputsError(
                    f"{path} is {_type_name(values[0])} in input set #0 but {_type_name(values[i])} "
                    f"in set #{i}; every set must pass the same kind of value there"
                )
        kinds.append(kind)
        ranks.append(None)
        for part, v in zip(parts, values):
            part.append((int(v),) if kind == INT else ())
    return kinds, ranks, parts


def _notes(paths: Sequence[str], per_set: Sequence[Sequence[Any]], tensors: Sequence[int]) -> list[str]:
    """:func:`dtype_device_notes` of every tensor leaf, in leaf order; the sets' dtypes and
    devices are compared as whole lists first (they agree almost always)."""
    if len(per_set) < 2:
        return []
    pick = [[leaves[i] for i in tensors] for leaves in per_set] if len(tensors) < len(paths) else per_set
    dtypes = [list(map(_DTYPE, leaves)) for leaves in pick]
    same_dtypes = all(d == dtypes[0] for d in dtypes[1:])
    if same_dtypes and all(all(map(_IS_CPU, leaves)) for leaves in pick):
        return []  # one dtype per leaf, every tensor on the CPU (reading .device builds an object per call)
    devices = [list(map(_DEVICE, leaves)) for leaves in pick]
    if same_dtypes and all(d == devices[0] for d in devices[1:]):
        return []
    notes = []
    for k, index in enumerate(tensors):
        if any(d[k] != dtypes[0][k] for d in dtypes) or any(d[k] != devices[0][k] for d in devices):
            notes.extend(dtype_device_notes(paths[index], [leaves[k] for leaves in pick]))
    return notes


class _Interned(dict):
    """``table[v]`` is the first vector equal to ``v`` (a lookup in C; a call only for a new one)."""

    def __missing__(self, key: tuple[int, ...]) -> tuple[int, ...]:
        self[key] = key
        return key


_SHAPE = attrgetter("shape")
_NDIM = attrgetter("ndim")
_DTYPE = attrgetter("dtype")
_DEVICE = attrgetter("device")
_IS_CPU = attrgetter("is_cpu")


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
