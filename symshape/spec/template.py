"""The container structure of the example input, as plain data (the *template*).

The structure is recorded once as a *template*, plain JSON-able data that mirrors
the example input: builtin containers keep their type (tuples stay tuples), and a
registered pytree class (a transformers cache) becomes the list of its flattened
children, which is what torch.export expects for user-defined nodes. The template
is derived from the registered flatten, never from one hard-coded cache layout.
"""

from __future__ import annotations

import collections
import importlib
from collections.abc import Callable
from typing import Any

from .. import _torch
from ..core import trees

# Template nodes: ["leaf", i] | ["dict", [[key, node], ...]] | ["odict", ...]
# (in memory a leaf node is the tuple ("leaf", i), which the garbage collector does not
# track: a template of 40,000 leaves adds no 40,000 objects to every full collection;
# ``template_json`` writes it with lists, as JSON reads it back)
# (None is a pytree leaf in torch 2.13, like every other non-container.)
#                 ["list", [node, ...]] | ["tuple", [...]] | ["namedtuple", "module:qualname", [...]]
#                 ["node", [...]]  (registered class: list of its flattened children)


def build_template(obj: Any) -> Any:
    """Describe the container structure of ``obj``, numbering leaves in flatten order."""
    return template_of(trees.structure(obj))


def template_of(spec: _torch.TreeSpec) -> Any:
    """The template of a tree from its treespec alone (no walk of the tree: a cache's flatten
    is the costly part of a walk, and the caller has the spec from its own flatten)."""
    counter = iter(range(1 << 62))

    def walk(node: _torch.TreeSpec) -> Any:
        if node.is_leaf():
            return ("leaf", next(counter))
        node_type, context = node.type, node.context
        count = node.num_children
        if node.num_leaves == count and node.num_nodes == count + 1:  # every child a leaf
            walked = [("leaf", next(counter)) for _ in range(count)]
        else:
            walked = [walk(c) for c in node.children()]
        if node_type is dict or node_type is collections.defaultdict:
            return ["dict", [[k, w] for k, w in zip(context if node_type is dict else context[1], walked)]]
        if node_type is collections.OrderedDict:
            return ["odict", [[k, w] for k, w in zip(context, walked)]]
        if node_type is list:
            return ["list", walked]
        if node_type is tuple:
            return ["tuple", walked]
        if node_type is _torch.NAMEDTUPLE:  # pytree's node type for every namedtuple; the context is its class
            return ["namedtuple", class_path(context), walked]
        return ["node", walked]

    return walk(spec)


def class_path(cls: type) -> str:
    """``module:qualname``: how a class is named in templates and treespec contexts."""
    return f"{cls.__module__}:{cls.__qualname__}"


_RESOLVED: dict[str, Any] = {}


def resolve_class(path: str) -> Any:
    """The class a :func:`class_path` names (imports its module once).

    A plain dict, not ``functools.lru_cache``: in strict mode dynamo traces cache
    unflattening, and it would trace through an lru_cache into ``importlib``,
    which it refuses; a dict hit is a plain lookup.
    """
    target = _RESOLVED.get(path)
    if target is None:
        module, _, qualname = path.partition(":")
        target = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
        _RESOLVED[path] = target
    return target


def _namedtuple_class(path: str) -> Callable[..., Any]:
    try:
        target = resolve_class(path)
    except (ImportError, AttributeError):
        return lambda *items: tuple(items)
    return lambda *items: target(*items)


def fill_template(template: Any, leaf_spec: Callable[[int], Any]) -> Any:
    """Replace each leaf of the template by ``leaf_spec(index)``."""
    tag = template[0]
    if tag == "leaf":
        return leaf_spec(template[1])
    if tag in ("dict", "odict"):
        items = [(k, fill_template(v, leaf_spec)) for k, v in template[1]]
        return dict(items) if tag == "dict" else collections.OrderedDict(items)
    if tag == "namedtuple":
        return _namedtuple_class(template[1])(*(fill_template(v, leaf_spec) for v in template[2]))
    # "list", "tuple" and "node" (a list): leaves filled in place, without a call each
    filled = [leaf_spec(v[1]) if v[0] == "leaf" else fill_template(v, leaf_spec) for v in template[1]]
    return tuple(filled) if tag == "tuple" else filled


def template_json(template: Any) -> list:
    """The template as JSON data (every node a list): what ``DimSpec.to_dict`` writes and
    ``from_json`` reads back."""
    tag = template[0]
    if tag == "leaf":
        return ["leaf", template[1]]
    if tag in ("dict", "odict"):
        return [tag, [[k, template_json(v)] for k, v in template[1]]]
    if tag == "namedtuple":
        return [tag, template[1], [template_json(v) for v in template[2]]]
    return [tag, [["leaf", v[1]] if v[0] == "leaf" else template_json(v) for v in template[1]]]
