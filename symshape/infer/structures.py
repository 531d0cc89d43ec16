"""Input sets of several structures (a prefill without cache among decode steps):
keep the structure most sets share, and use the others' sizes where they fit."""

from __future__ import annotations

from typing import Any

import torch

from ..core import trees


def _set_key(values: Any) -> tuple[tuple[Any, ...], dict[str, str]]:
    leaves, spec = trees.flatten_with_paths(values)
    tags: dict[str, str] = {}
    for path, leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            tags[path] = f"tensor{leaf.dim()}"
        elif isinstance(leaf, int) and not isinstance(leaf, bool):
            tags[path] = "int"
    return (str(spec), tuple(tags.items())), tags


def main_structure(sets: list[dict[str, Any]]) -> tuple[list[int], dict[int, Any], list[str]]:
    """Sets of several structures: keep the structure most sets share (ties: more sized
    leaves), project onto it the sets that hold all its sized leaves, leave out the others."""
    keys = [_set_key(s) for s in sets]
    counts: dict[Any, int] = {}
    for key, _ in keys:
        counts[key] = counts.get(key, 0) + 1
    if len(counts) == 1:
        return list(range(len(sets))), {}, []
    main_key = max(counts, key=lambda k: (counts[k], len(k[1])))
    main_index = next(i for i, (k, _) in enumerate(keys) if k == main_key)
    main_tags = keys[main_index][1]
    used, projected, notes = [], {}, []
    for i, (key, tags) in enumerate(keys):
        if key == main_key:
            used.append(i)
            continue
        missing = [p for p, tag in main_tags.items() if tags.get(p) != tag]
        if missing:
            notes.append(
                f"input set #{i} is left out: it lacks {missing[0]} as {main_tags[missing[0]]}"
                + (f" (and {len(missing) - 1} more leaves)" if len(missing) > 1 else "")
                + f" that {counts[main_key]} other set(s) have; a call of another structure is another graph "
                f"(e.g. a prefill without cache): export it separately"
            )
            continue
        flat = trees.leaves_by_path(sets[i])
        main_leaves, spec = trees.flatten_with_paths(sets[main_index])
        values = [flat[p] if p in main_tags else v for p, v in main_leaves]
        projected[i] = trees.unflatten(values, spec)
        used.append(i)
        extra = [p for p in tags if p not in main_tags]
        notes.append(
            f"input set #{i} has another structure ({', '.join(extra[:3]) or 'other constants'} present only there); "
            f"its sizes of the shared inputs are used, not as an example"
        )
    return used, projected, notes
