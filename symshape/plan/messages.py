"""The message of a call no program holds: its sizes, the regions, the nearest program."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..core import trees
from ..infer.observation import describe_difference
from .routing import Route, Router, bind_arguments


def _shapes(values: Mapping[str, Any], limit: int = 4) -> str:
    shown = []
    for path, leaf in trees.leaves_by_path(dict(values)).items():
        if isinstance(leaf, torch.Tensor):
            shown.append(f"{path}={tuple(leaf.shape)}")
    return ", ".join(shown[:limit]) + (", ..." if len(shown) > limit else "")


def _fixed_mismatches(route: Route, leaves: Sequence[Any]) -> list[str]:
    out = []
    for (i, axis, value), label in zip(route.fixed, route.fixed_labels):
        try:
            got = leaves[i] if axis is None else leaves[i].shape[axis]
        except (AttributeError, IndexError, TypeError):
            got = None
        if got != value:
            hint = next((nv.hint for nv in route.spec.never_varied if label in nv.axes), None)
            extra = f"; it was {value} in every recorded call: export_plan(..., {hint})" if hint else ""
            if label in route.model_fixed:
                extra = "; the model fixes it in this program"
            out.append(f"{label} = {got} (the program has {value}{extra})")
    return out


def _few(items: list[str], limit: int = 3) -> list[str]:
    return items[:limit] + ([f"(+{len(items) - limit} more)"] if len(items) > limit else [])


def miss_message(router: Router, args: tuple, kwargs: Mapping[str, Any], errors: Sequence[tuple[str, str]]) -> str:
    """Why no program of ``router`` holds the call ``(args, kwargs)``."""
    try:
        values = bind_arguments(router.params, args, kwargs)
    except TypeError as exc:
        return f"no program of the plan holds this call: {exc}"
    head = f"no program of the plan holds this call ({_shapes(values)})"
    lines: list[str] = []
    nearest: tuple[tuple[int, int, int], str, str] | None = None
    for route in router.routes:
        arranged = router.arrange(values, route.layout)
        if arranged is None:
            missing = [p.name for p in route.layout.params if p.name not in values and p.name not in router.defaults]
            names = set(route.layout.names)
            extra = [n for n, v in values.items() if n not in names and v is not None]
            detail = (
                f"the call does not pass {', '.join(missing)}"
                if missing
                else f"the call passes {', '.join(extra)}, which this program's calls did not"
            )
            lines.append(f"  {route.name}: {route.contract.region}  <- {detail}")
            continue
        done = router.fill(route, arranged) if route.fills else None
        if done is not None:
            arranged = done[0]  # the empty cache as the program takes it: length 0
        pa, pk = route.layout.split(arranged)
        leaves, spec = trees.flatten((pa, pk))
        if spec != route.in_spec:
            hint = _structure_hint(route, arranged)
            lines.append(f"  {route.name}: {route.contract.region}  <- another structure: {hint}")
            score = (2, len(leaves), 0)
            text = f"{route.name} (another structure)"
        else:
            sizes = route.read(leaves)
            fixed = _fixed_mismatches(route, leaves)
            broken = route.contract.region.broken(sizes) if len(sizes) == len(route.dims) else []
            shown = ", ".join(f"{d}={v}" for d, v in sizes.items())
            # a broken region says it all; else the static sizes that differ (a batch never varied)
            why = [f"{c.text} is broken" for c in broken] or _few(fixed)
            lines.append(f"  {route.name}: {route.contract.region}  <- at {shown or 'these sizes'}: {'; '.join(why)}")
            count, excess = route.contract.region.distance(sizes) if len(sizes) == len(route.dims) else (9, 0)
            score = (0 if not fixed else 1, count + len(fixed), excess)
            text = f"{route.name} ({'; '.join(why) or 'its guards reject it'})"
        if nearest is None or score < nearest[0]:
            nearest = (score, route.name, text)
    for name, error in errors:
        lines.append(f"  {name} rejected it: {error.splitlines()[0][:300]}")
    nearest_line = [f"nearest: {nearest[2]}"] if nearest is not None else []
    return "\n".join([head, *nearest_line, "regions:", *lines])


def _structure_hint(route: Route, values: dict[str, Any]) -> str:
    try:
        text = describe_difference(1, route.example, values, ref_name="the program's example")
    except Exception:  # a description is a nicety; never fail the message on it
        return "its treespec differs"
    return text.replace("input set #1", "the call").replace("set #1", "the call")
