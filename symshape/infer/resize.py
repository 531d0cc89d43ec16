"""Resizing tensors and input sets consistently with what each axis holds.

Used to build a safe tracing example from an observed set, and to run calls that
were recorded as shapes only on real values tiled from a kept call.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import torch

from ..core import trees
from ..core.paths import argument_of
from ..core.rows import STATIC, AxisRow


def resize(t: torch.Tensor, shape: Sequence[int], path: str = "", cyclic_axes: Iterable[int] = ()) -> torch.Tensor:
    """``t`` grown or cut to ``shape``, axis by axis, consistently with what the axis holds.

    Growing: position-like int tensors (``position_ids``, ``cache_position``) continue
    counting; axes in ``cyclic_axes`` (a batch) repeat their rows; other axes repeat
    their last slice (a mask gains ones after a real token, ids repeat the last token).
    Cutting keeps the leading part. An axis of size 0 cannot grow: ValueError.
    """
    cyclic = set(cyclic_axes)
    positional = "position" in argument_of(path) and not t.is_floating_point()
    for axis, new in enumerate(shape):
        old = t.shape[axis]
        if new == old:
            continue
        if new < old:
            t = t.narrow(axis, 0, new)
            continue
        if old == 0:
            raise ValueError(f"{path}.shape[{axis}] is 0 and cannot be grown to {new}")
        if axis in cyclic:
            index = torch.arange(new, device=t.device) % old
            t = t.index_select(axis, index)
            continue
        last = t.narrow(axis, old - 1, 1)
        reps = [1] * t.dim()
        reps[axis] = new - old
        tail = last.repeat(*reps)
        if positional:
            steps = torch.arange(1, new - old + 1, dtype=t.dtype, device=t.device)
            view = [1] * t.dim()
            view[axis] = new - old
            tail = tail + steps.view(view)
        t = torch.cat([t, tail], dim=axis)
    return t.contiguous()


def materialise_like(target: Any, source: Any) -> Any:
    """A set with ``target``'s structure and shapes (meta tensors allowed) and real
    values taken from ``source`` (same structure), resized leaf by leaf."""
    t_leaves, spec = trees.flatten_with_paths(target)
    s_leaves = trees.leaves(source)
    out = []
    for (path, t), s in zip(t_leaves, s_leaves):
        if isinstance(t, torch.Tensor) and t.device.type == "meta":
            if isinstance(s, torch.Tensor) and s.device.type != "meta" and s.dim() == t.dim():
                try:
                    out.append(resize(s.to(t.dtype), t.shape, path, cyclic_axes=(0,) if t.dim() >= 2 else ()))
                    continue
                except ValueError:
                    pass
            out.append(
                torch.zeros(t.shape, dtype=t.dtype)
                if not t.is_floating_point()
                else torch.randn(t.shape, generator=torch.Generator().manual_seed(0)).to(t.dtype)
            )
        else:
            out.append(copy.deepcopy(t) if isinstance(t, torch.Tensor) else t)
    return trees.unflatten(out, spec)


def resize_set(
    values: Any,
    targets: Mapping[tuple[int, int | None], int],
    cyclic: Collection[tuple[int, int | None]] = (),
    flat: trees.Flat | None = None,
) -> Any:
    """A copy of an input set with leaf ``i``'s axis ``a`` resized to ``targets[(i, a)]``
    (an int leaf ``i`` set to ``targets[(i, None)]``); leaves are numbered in flatten
    order. Axes in ``cyclic`` repeat whole rows (a batch); see :func:`resize`. ``flat``
    is ``values`` already flattened (:func:`~symshape.core.trees.flatten_keyed`)."""
    if flat is None:
        flat = trees.flatten_keyed(values)
    spec = flat.spec
    out = []
    for index, (path, value) in enumerate(zip(flat.paths, flat.leaves)):
        if isinstance(value, torch.Tensor):
            shape = [targets.get((index, axis), size) for axis, size in enumerate(value.shape)]
            rows = [axis for axis in range(value.dim()) if (index, axis) in cyclic]
            out.append(resize(value, shape, path, rows) if shape != list(value.shape) else value.clone())
        elif isinstance(value, int) and not isinstance(value, bool) and (index, None) in targets:
            out.append(targets[(index, None)])
        else:
            out.append(copy.deepcopy(value))
    return trees.unflatten(out, spec)


def resize_to_dims(values: Any, axes: Sequence[AxisRow], dims: Mapping[str, int]) -> Any:
    """A copy of an input set where every dim takes its value in ``dims`` (the others
    keep the set's): each axis is resized to its expression, so every relation holds,
    and a batch axis (axis 0 of a tensor of rank >= 2) repeats whole rows."""
    ranks: dict[int, int] = {}
    for row in axes:
        if row.axis is not None:
            ranks[row.leaf] = max(ranks.get(row.leaf, 0), row.axis + 1)
    targets: dict[tuple[int, int | None], int] = {}
    for row in axes:
        if row.role != STATIC and all(name in dims for name, _ in row.terms):
            targets[(row.leaf, row.axis)] = sum(c * dims[name] for name, c in row.terms) + row.const
    cyclic = {(leaf, 0) for leaf, rank in ranks.items() if rank >= 2 and (leaf, 0) in targets}
    return resize_set(values, targets, cyclic)
