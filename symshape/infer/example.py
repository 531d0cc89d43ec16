"""The example set torch.export traces with: chosen among the observed sets, or
built from one when none is safe.

torch specialises a dynamic axis whose example size is 0 or 1, and duck-sizes two
roots with the same example value into one symbol; a safe example has neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..core.copying import copy_set
from ..core.sizes import SAFE_MIN, fresh_size
from .observation import Observation
from .resize import resize_set
from .solver import Solution


def choose_example(
    observation: Observation, solution: Solution, names: list[str], eligible: Iterable[int] | None = None
) -> tuple[int, list[str]]:
    """Pick the first input set that can be traced without specialising.

    torch specialises a dynamic axis whose example size is 0 or 1, and duck-sizes
    two roots with the same example value into one symbol; the best set has no
    such axis. Returns the set index and notes on what is still unsafe in it.
    """
    best: tuple[int, list[str]] | None = None
    candidates = range(observation.num_sets) if eligible is None else list(eligible) or range(observation.num_sets)
    for s in candidates:
        problems = []
        for cls, members in enumerate(solution.classes):
            value = solution.class_values[cls][s]
            if value < SAFE_MIN:
                problems.append(f"{observation.label(members[0])} = {value}")
        seen: dict[int, str] = {}
        for root, cls in enumerate(solution.roots):
            value = solution.class_values[cls][s]
            if value in seen:
                problems.append(f"{seen[value]} and {names[root]} are both {value}")
            seen.setdefault(value, names[root])
        if best is None or len(problems) < len(best[1]):
            best = (s, problems)
    index, problems = best if best is not None else (0, [])
    if not problems:
        return index, []
    wanted = ", ".join(names) if names else "every dynamic axis"
    return index, [
        f"no input set is fully safe to trace; using set #{index}, where {'; '.join(problems)} "
        f"(torch specialises sizes 0 and 1 and merges dims with equal example values). "
        f"Add a set where every dynamic axis is at least 2 and {wanted} all differ"
    ]


def safe_example(
    observation: Observation,
    solution: Solution,
    names: Sequence[str],
    sets: Sequence[Any],
    eligible: Iterable[int],
    declared: Mapping[str, list[int]],
    run: Any = None,
) -> tuple[Any, str] | tuple[None, str]:
    """Build an input set that is safe to trace from an observed one.

    Every dynamic root and every declared group gets an example value >= 2 distinct from
    the others (a decode step's one token becomes several, a batch of 1 becomes 2); each
    axis is resized to its expression at the new values, so every relation solved from
    the observations holds in the new set. ``run(set)`` (eager forward) must accept it.
    Returns (set, description) or (None, why not).
    """
    roots = list(solution.roots)
    group_names = list(declared)
    col_of = {key: i for i, key in enumerate(zip(observation.column_leaf, observation.column_axis))}
    static_values = {
        values[0]
        for values, cls, axis in zip(observation.column_values, solution.column_class, observation.column_axis)
        if cls < 0 and axis is not None
    }
    reasons: list[str] = []
    candidates = []
    for s in eligible:
        root_values = [solution.class_values[cls][s] for cls in roots]
        group_values = [observation.column_values[cols[0]][s] for cols in declared.values()]
        if min([*root_values, *group_values], default=1) < 1:
            zero = [names[r] for r, v in enumerate(root_values) if v < 1]
            reasons.append(f"set #{s} has {', '.join(zero) or 'a declared axis'} = 0")
            continue
        bad = (
            sum(v < SAFE_MIN for v in [*root_values, *group_values])
            + len(root_values)
            + len(group_values)
            - len(set([*root_values, *group_values]))
        )
        candidates.append((bad, -s, s, root_values, group_values))
    if not candidates:
        return None, "; ".join(reasons) or "no eligible input set"
    candidates.sort()
    for _, _, base, root_values, group_values in candidates:
        old = [*root_values, *group_values]
        new: list[int] = []
        for k, v in enumerate(old):
            declared_group = k >= len(roots)  # did not vary: must take another value
            if v >= SAFE_MIN and v not in new and not declared_group:
                new.append(v)
                continue
            # A declared group did not vary: it must take another value than the one it had.
            fresh = fresh_size(v + 1 if declared_group else v, {*new, *old, *static_values})
            assert fresh is not None  # unbounded: there is always a fresh size
            new.append(fresh)
        new_roots, new_groups = new[: len(roots)], new[len(roots) :]
        changes = [f"{names[r]} {a} -> {b}" for r, (a, b) in enumerate(zip(root_values, new_roots)) if a != b]
        changes += [f"{g} {a} -> {b}" for g, a, b in zip(group_names, group_values, new_groups) if a != b]
        group_of = {
            col: (g, v) for g, (cols, v) in zip(group_names, zip(declared.values(), new_groups)) for col in cols
        }
        try:
            candidate = _resized_set(observation, solution, sets[base], base, col_of, new_roots, group_of)
        except ValueError as exc:
            reasons.append(f"set #{base}: {exc}")
            continue
        if run is not None:
            try:
                run(copy_set(candidate))
            except Exception as exc:  # the model refuses the built set: say so, try the next
                reasons.append(
                    f"set #{base} resized ({', '.join(changes)}) fails in eager: {type(exc).__name__}: {str(exc)[:200]}"
                )
                continue
        return candidate, f"built from set #{base}: {', '.join(changes)}"
    return None, "; ".join(reasons)


def _resized_set(
    observation: Observation,
    solution: Solution,
    base: Any,
    base_index: int,
    col_of: Mapping,
    new_roots: Sequence[int],
    group_of: Mapping,
) -> Any:
    targets: dict[tuple[int, int | None], int] = {}
    cyclic = set()
    for (leaf, axis), col in col_of.items():
        rank = observation.ranks[leaf] or 0
        if col in group_of:
            targets[(leaf, axis)] = group_of[col][1]
            cyclic.add((leaf, axis))
        elif solution.column_class[col] >= 0:
            targets[(leaf, axis)] = solution.class_expr[solution.column_class[col]].evaluate(new_roots)
            if axis == 0 and rank >= 2:  # a batch: repeat whole rows
                cyclic.add((leaf, axis))
    flat = observation.flats[base_index] if base_index < len(observation.flats) else None
    return resize_set(base, targets, cyclic, flat)
