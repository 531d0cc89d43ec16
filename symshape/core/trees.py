"""Flattening input sets leaf by leaf, with the containers integrations register.

An integration (transformers' caches) adds a *flatten hook* that registers its
container classes with pytree before anything is flattened; every flatten in
symshape goes through this module, so registration happens in one place, lazily,
and lower layers never import the integration.

:func:`flatten_keyed` walks a tree once and returns its leaves, their paths and its
treespec together: ``tree_flatten_with_path`` walks it twice (once for the spec, once
for the key paths), and every registered container's flatten (a transformers cache's
runs over every layer) runs twice with it.
"""

from __future__ import annotations

import contextlib
import contextvars
import operator
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat
from typing import Any, NamedTuple

import torch

from .._torch import (
    LEAF_SPEC,
    TreeSpec,
    make_treespec,
    node_def,
    node_type,
    tree_flatten,
    tree_leaves,
    tree_structure,
    tree_unflatten,
)
from .paths import argument_of, format_key, mapping_step, sequence_step

_HOOKS: list[Callable[[], None]] = []


def add_flatten_hook(hook: Callable[[], None]) -> None:
    """Run ``hook`` before every flatten (it must be cheap and idempotent)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)


def prepare() -> None:
    """Let every integration register its containers (cheap when nothing is new)."""
    for hook in _HOOKS:
        hook()


class Flat(NamedTuple):
    """One tree, flattened: its leaves in pytree order, their symshape paths, its spec,
    and the top-level argument each leaf belongs to (:func:`~.paths.argument_of` of its path)."""

    leaves: list[Any]
    paths: list[str]
    spec: TreeSpec
    arguments: list[str]


def flatten_keyed(values: Any) -> Flat:
    """Leaves, paths (``cache['key_cache'][0]``), treespec and arguments in one walk.

    The spec equals ``tree_flatten``'s and the paths are ``format_path`` of
    ``tree_flatten_with_path``'s key paths: lists, tuples and dicts are walked without
    building key objects, every other container through its ``flatten_with_keys_fn``.
    """
    prepare()
    leaves: list[Any] = []
    paths: list[str] = []
    irregular = False  # a key whose step starts with neither "[" nor ".": arguments from full paths

    def walk(node: Any, path: str, first: bool) -> TreeSpec:
        nonlocal irregular
        if type(node) is torch.Tensor:  # the common leaf: no registry lookup
            leaves.append(node)
            paths.append(path)
            return LEAF_SPEC
        kind = node_type(node)
        entry = node_def(kind)
        if entry is None:
            leaves.append(node)
            paths.append(path)
            return LEAF_SPEC
        if kind is list or kind is tuple:
            children, context = entry.flatten_fn(node)
            steps = sequence_steps(len(children))
        elif kind is dict:
            children, context = entry.flatten_fn(node)
            steps = [mapping_step(k, first) for k in context]
        else:
            if entry.flatten_with_keys_fn is None:
                raise ValueError(
                    f"Did not find a flatten_with_keys_fn for type: {kind}. "
                    "Please pass a flatten_with_keys_fn argument to register_pytree_node."
                )
            keyed, context = entry.flatten_with_keys_fn(node)
            children = [child for _, child in keyed]
            steps = [format_key(key, first) for key, _ in keyed]
            irregular = irregular or (not first and any(not s.startswith(("[", ".")) for s in steps))
        if len(children) > 1 and set(map(type, children)) == {torch.Tensor}:  # a list of tensors: no call each
            leaves.extend(children)
            paths.extend(map(operator.add, repeat(path), steps))
            return make_treespec(kind, context, [LEAF_SPEC] * len(children))
        return make_treespec(kind, context, [walk(c, path + s, False) for c, s in zip(children, steps)])

    if type(values) is dict and node_def(dict) is not None:  # a normalised set: one argument per key
        arguments: list[str] = []
        children, context = node_def(dict).flatten_fn(values)
        specs = []
        for key, child in zip(context, children):
            step = mapping_step(key, True)
            before = len(leaves)
            specs.append(walk(child, step, False))
            arguments.extend(repeat(argument_of(step), len(leaves) - before))
        spec = make_treespec(dict, context, specs)
    else:
        spec = walk(values, "", True)
        arguments = [argument_of(p) for p in paths]
    if irregular:
        arguments = [argument_of(p) for p in paths]
    return Flat(leaves, paths, spec, arguments)


#: Trees already flattened, by id, while a :func:`known` block is open.
_KNOWN: contextvars.ContextVar[dict[int, tuple[Any, Flat]] | None] = contextvars.ContextVar(
    "symshape_known_trees", default=None
)


@contextlib.contextmanager
def known(flattened: Iterable[tuple[Any, Flat]]) -> Iterator[None]:
    """Inside the block, :func:`flatten` and :func:`leaves` of one of these trees (the very
    object, not an equal one) reuse its :class:`Flat` instead of walking it again.

    For code that takes a tree and flattens it (``copy_set``) when the caller flattened
    it already; the trees must not change inside the block.
    """
    table = dict(_KNOWN.get() or {})
    table.update((id(tree), (tree, flat)) for tree, flat in flattened)
    token = _KNOWN.set(table)
    try:
        yield
    finally:
        _KNOWN.reset(token)


def _known(values: Any) -> Flat | None:
    table = _KNOWN.get()
    if table is None:
        return None
    found = table.get(id(values))
    return found[1] if found is not None and found[0] is values else None


def flatten(values: Any) -> tuple[list[Any], TreeSpec]:
    flat = _known(values)
    if flat is not None:
        return list(flat.leaves), flat.spec
    prepare()
    return tree_flatten(values)


def flatten_with_paths(values: Any) -> tuple[list[tuple[str, Any]], TreeSpec]:
    """``([(path, leaf), ...], treespec)`` with symshape's paths (``cache['key_cache'][0]``)."""
    flat = flatten_keyed(values)
    return list(zip(flat.paths, flat.leaves)), flat.spec


def leaves(values: Any) -> list[Any]:
    flat = _known(values)
    if flat is not None:
        return list(flat.leaves)
    prepare()
    return tree_leaves(values)


def structure(values: Any) -> TreeSpec:
    prepare()
    return tree_structure(values)


def unflatten(leaves_: list[Any], spec: TreeSpec) -> Any:
    """``tree_unflatten``, with the leaves of a node whose children are all leaves taken as
    one slice (pytree makes a recursive call per leaf: a third of a copy of 10,000 leaves)."""
    if len(leaves_) != spec.num_leaves:
        return tree_unflatten(leaves_, spec)  # torch's error
    position = 0

    def build(node: TreeSpec) -> Any:
        nonlocal position
        if node.is_leaf():
            position += 1
            return leaves_[position - 1]
        count = node.num_children
        if node.num_leaves == count and node.num_nodes == count + 1:  # every child a leaf
            children = leaves_[position : position + count]
            position += count
        else:
            children = [build(child) for child in node.children()]
        return node_def(node.type).unflatten_fn(children, node.context)

    return build(spec)


def sequence_steps(count: int) -> list[str]:
    """``["[0]", "[1]", ...]``: the steps of a list's children (the first 65,536 made once, as
    needed: at most ~4 MB of short strings)."""
    if count > len(_STEPS) and len(_STEPS) < _MAX_STEPS:
        _STEPS.extend(map(sequence_step, range(len(_STEPS), min(max(count, 64), _MAX_STEPS))))
    if count <= len(_STEPS):
        return _STEPS[:count]
    return _STEPS + list(map(sequence_step, range(len(_STEPS), count)))


_STEPS: list[str] = []
_MAX_STEPS = 1 << 16


def leaves_by_path(values: Any) -> dict[str, Any]:
    """Every leaf of ``values`` by its symshape path."""
    return dict(flatten_with_paths(values)[0])
