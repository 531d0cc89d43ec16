"""Flattening input sets leaf by leaf, with the containers integrations register.

An integration (transformers' caches) adds a *flatten hook* that registers its
container classes with pytree before anything is flattened; every flatten in
symshape goes through this module, so registration happens in one place, lazily,
and lower layers never import the integration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._torch import TreeSpec, tree_flatten, tree_flatten_with_path, tree_leaves, tree_structure, tree_unflatten
from .paths import format_path

_HOOKS: list[Callable[[], None]] = []


def add_flatten_hook(hook: Callable[[], None]) -> None:
    """Run ``hook`` before every flatten (it must be cheap and idempotent)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)


def prepare() -> None:
    """Let every integration register its containers (cheap when nothing is new)."""
    for hook in _HOOKS:
        hook()


def flatten(values: Any) -> tuple[list[Any], TreeSpec]:
    prepare()
    return tree_flatten(values)


def flatten_with_paths(values: Any) -> tuple[list[tuple[str, Any]], TreeSpec]:
    """``([(path, leaf), ...], treespec)`` with symshape's paths (``cache['key_cache'][0]``)."""
    prepare()
    leaves, spec = tree_flatten_with_path(values)
    return [(format_path(keys), leaf) for keys, leaf in leaves], spec


def leaves(values: Any) -> list[Any]:
    prepare()
    return tree_leaves(values)


def structure(values: Any) -> TreeSpec:
    prepare()
    return tree_structure(values)


def unflatten(leaves_: list[Any], spec: TreeSpec) -> Any:
    return tree_unflatten(leaves_, spec)


def leaves_by_path(values: Any) -> dict[str, Any]:
    """Every leaf of ``values`` by its symshape path."""
    return dict(flatten_with_paths(values)[0])
