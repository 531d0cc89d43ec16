"""Companion sets: a regime's call resized where the workload shows a size varies.

A regime often has one value of a size that varies in the workload: one recorded
prompt gives one prefill length, and the decode steps feed one token. A program traced
from that call alone would fix the prompt length. So, for each size that is constant in
the regime (at a value other than 0 and 1, which define regimes: an empty cache, a
one-token step) but takes other values elsewhere, symshape builds a *companion*: the
regime's first call resized to another value of that size, and exports from both.

Which axes move together: those the structure's own spec ties to one dim (the prefill
and the decode steps of a decoder share a structure, where ``attention_mask.shape[1] =
past_len + seq_len``: at ``past_len = 0`` the mask moves with ``seq_len``); then, for
axes no spec relates (a prefill of its own structure), the axes that have one value in
the call move as one. A size the user declared dynamic (``dynamic={"batch"}``) that has
one value here moves too. Eager forward must accept the companion, or there is none.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import torch

from ..core import trees
from ..core.copying import copy_set, is_shape_only
from ..core.paths import argument_of, axis_key, axis_label
from ..core.preserve import modules_kept
from ..core.rows import STATIC
from ..core.sizes import fresh_size
from ..infer.naming import conventional_name
from ..infer.resize import resize_set
from ..spec import DimSpec
from .calls import Call


def _sizes_by_axis(call: Call) -> dict[tuple[int, int], int]:
    out = {}
    for index, (_, leaf) in enumerate(trees.flatten_with_paths(call.values)[0]):
        if isinstance(leaf, torch.Tensor):
            out.update({(index, axis): int(size) for axis, size in enumerate(leaf.shape)})
    return out


def _labels(call: Call) -> dict[tuple[int, int], str]:
    out = {}
    for index, (path, leaf) in enumerate(trees.flatten_with_paths(call.values)[0]):
        if isinstance(leaf, torch.Tensor):
            out.update({(index, axis): axis_label(path, axis) for axis in range(leaf.dim())})
    return out


def _elsewhere(calls: Sequence[Call], members: Collection[int]) -> dict[str, set[int]]:
    """Axis label -> the sizes it takes in calls outside the regime."""
    seen: dict[str, set[int]] = {}
    for call in calls:
        if call.index in members:
            continue
        for path, leaf in trees.leaves_by_path(call.values).items():
            if isinstance(leaf, torch.Tensor):
                for axis, size in enumerate(leaf.shape):
                    seen.setdefault(axis_label(path, axis), set()).add(int(size))
    return seen


def _declared(entry: str, call: Call, sizes: dict[tuple[int, int], int]) -> list[tuple[int, int]]:
    """The axes a ``dynamic=`` entry names in a call (``"path:axis"`` or a conventional
    name), keeping those at the value most of them have (never 0)."""
    leaves = trees.flatten_with_paths(call.values)[0]
    arguments = frozenset(argument_of(p) for p, _ in leaves)
    keys = []
    for index, (path, leaf) in enumerate(leaves):
        if not isinstance(leaf, torch.Tensor):
            continue
        for axis in range(leaf.dim()):
            named = conventional_name(path, axis, leaf.dim(), arguments)
            if axis_key(path, axis) == entry or (named is not None and named[0] == entry):
                keys.append((index, axis))
    counts: dict[int, int] = {}
    for k in keys:
        counts[sizes[k]] = counts.get(sizes[k], 0) + 1
    counts.pop(0, None)
    if not counts:
        return []
    value = max(sorted(counts), key=lambda v: counts[v])
    return [k for k in keys if sizes[k] == value]


def companion(
    model: Any,
    calls: Sequence[Call],
    members: Sequence[int],
    group: DimSpec | None,
    fixed: Collection[str] = (),
    declared: Sequence[str] = (),
) -> tuple[dict[str, Any] | None, list[str], list[str]]:
    """A companion of the regime ``members`` (indices into ``calls``), or None; the labels
    of the axes it moves; and the ``declared`` entries (the user's ``dynamic=``) it made
    vary. ``group``: the spec inferred from every call of the regime's structure (None when
    nothing varies there); ``fixed``: axis labels never to move (the model fixes them)."""
    by_index = {c.index: c for c in calls}
    own = [by_index[i] for i in members]
    kept = [c for c in own if not is_shape_only(c.values)]
    if not kept:  # every call of the regime was recorded as shapes only: nothing to resize
        return None, [], []
    # The base: the kept call whose sizes coincide least (torch merges equal example sizes).
    first = max(kept, key=lambda c: (len(set(_sizes_by_axis(c).values())), -c.index))
    sizes = [_sizes_by_axis(first)] + [_sizes_by_axis(c) for c in own if c is not first]
    labels = _labels(first)
    constant = {k: v for k, v in sizes[0].items() if all(s.get(k) == v for s in sizes[1:]) and v not in (0, 1)}
    elsewhere = _elsewhere(calls, set(members))
    movable = {k: v for k, v in constant.items() if labels[k] not in fixed and elsewhere.get(labels[k], {v}) - {v}}
    taken = set(sizes[0].values())
    targets: dict[tuple[int, int | None], int] = {}
    if group is not None:
        _from_group(group, sizes[0], movable, taken, targets)
    groups: dict[Any, list[tuple[int, int]]] = {}
    handled = []
    for entry in declared:  # a size the user declared dynamic that has one value here
        keys = [k for k in _declared(entry, first, sizes[0]) if labels[k] not in fixed and k not in targets]
        if keys and all(all(s.get(k) == sizes[0][k] for s in sizes[1:]) for k in keys):
            groups[("declared", entry)] = keys
            handled.append(entry)
    grouped = {k for keys in groups.values() for k in keys}
    for key, value in movable.items():
        if key not in targets and key not in grouped:
            groups.setdefault(("value", value), []).append(key)
    for keys in groups.values():
        new = fresh_size(sizes[0][keys[0]] + 1, taken)
        assert new is not None  # unbounded: there is always a fresh size
        taken.add(new)
        targets.update({k: new for k in keys})
    if not targets:
        return None, [], []
    cyclic = {k for k in targets if k[1] == 0}
    try:
        built = resize_set(first.values, targets, cyclic)
        args, kwargs = first.layout.split(copy_set(built))
        with torch.no_grad(), modules_kept(model):  # a companion must not change the user's model
            model(*args, **kwargs)
    except Exception:  # the model refuses the resized call: no companion
        return None, [], []
    return built, sorted({labels[k] for k in targets if k[1] is not None and k in labels}), handled


def _from_group(
    group: DimSpec,
    sizes: dict[tuple[int, int], int],
    movable: dict[tuple[int, int], int],
    taken: set[int],
    targets: dict[tuple[int, int | None], int],
) -> None:
    """Targets from the structure's spec: each of its dims that is constant (and movable)
    in the regime takes a fresh value, and every axis follows its expression."""
    rows = [r for r in group.axes if r.axis is not None]
    current: dict[str, int] = {}
    for row in rows:
        if row.role != STATIC and len(row.terms) == 1 and row.terms[0][1] == 1 and row.const == 0:
            current.setdefault(row.terms[0][0], sizes.get((row.leaf, row.axis), -1))
    moved = dict(current)
    for dim, value in current.items():
        root = [(r.leaf, r.axis) for r in rows if r.expr == dim]
        if root and all(k in movable for k in root):
            new = fresh_size(value + 1, taken)
            assert new is not None
            taken.add(new)
            moved[dim] = new
    if moved == current:
        return
    for row in rows:
        if row.role == STATIC or not all(d in moved for d, _ in row.terms):
            continue
        value = sum(c * moved[d] for d, c in row.terms) + row.const
        if value != sizes.get((row.leaf, row.axis)):
            targets[(row.leaf, row.axis)] = value
