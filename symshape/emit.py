"""Stage 4: build torch.export ``dynamic_shapes`` from the solved expressions.

The structure is recorded once as a *template*, plain JSON-able data that mirrors
the example input: builtin containers keep their type (tuples stay tuples), and a
registered pytree class (a transformers cache) becomes the list of its flattened
children, which is what torch.export expects for user-defined nodes. The template
is derived from the registered flatten, never from one hard-coded cache layout.
"""

from __future__ import annotations

import collections
import importlib
import math
from typing import Any, Callable, Sequence

import torch.utils._pytree as pytree
from torch.export import Dim

# Template nodes: ["leaf", i] | ["dict", [[key, node], ...]] | ["odict", ...]
# (None is a pytree leaf in torch 2.13, like every other non-container.)
#                 ["list", [node, ...]] | ["tuple", [...]] | ["namedtuple", "module:qualname", [...]]
#                 ["node", [...]]  (registered class: list of its flattened children)


def build_template(obj: Any) -> list:
    """Describe the container structure of ``obj``, numbering leaves in flatten order."""
    counter = iter(range(1 << 62))

    def walk(node: Any) -> list:
        node_type = pytree._get_node_type(node)
        if node_type not in pytree.SUPPORTED_NODES:
            return ["leaf", next(counter)]
        children, context = pytree.SUPPORTED_NODES[node_type].flatten_fn(node)
        walked = [walk(c) for c in children]
        if node_type is dict or node_type is collections.defaultdict:
            return ["dict", [[k, w] for k, w in zip(context if node_type is dict else context[1], walked)]]
        if node_type is collections.OrderedDict:
            return ["odict", [[k, w] for k, w in zip(context, walked)]]
        if node_type is list:
            return ["list", walked]
        if node_type is tuple:
            return ["tuple", walked]
        if node_type is collections.namedtuple:  # pytree's node type for every namedtuple
            cls = type(node)
            return ["namedtuple", class_path(cls), walked]
        return ["node", walked]

    return walk(obj)


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


def fill_template(template: list, leaf_spec: Callable[[int], Any]) -> Any:
    """Replace each leaf of the template by ``leaf_spec(index)``."""
    tag = template[0]
    if tag == "leaf":
        return leaf_spec(template[1])
    if tag in ("dict", "odict"):
        items = [(k, fill_template(v, leaf_spec)) for k, v in template[1]]
        return dict(items) if tag == "dict" else collections.OrderedDict(items)
    if tag == "tuple":
        return tuple(fill_template(v, leaf_spec) for v in template[1])
    if tag == "namedtuple":
        return _namedtuple_class(template[1])(*(fill_template(v, leaf_spec) for v in template[2]))
    return [fill_template(v, leaf_spec) for v in template[1]]  # "list" and "node"


def make_dims(bounds: Sequence[tuple[str, int | None, int | None]]) -> dict[str, Dim]:
    """Root ``Dim`` objects from ``(name, min, max)``; None means torch's default."""
    dims = {}
    for name, low, high in bounds:
        kwargs = {}
        if low is not None:
            kwargs["min"] = low
        if high is not None:
            kwargs["max"] = high
        dims[name] = Dim(name, **kwargs)
    return dims


def root_min(derived: Sequence[tuple[int, int]]) -> int | None:
    """Smallest root value keeping every derived ``a*root + b`` non-negative
    (torch refuses a derived dim whose minimum is below 0)."""
    lows = [math.ceil(-b / a) for a, b in derived if b < 0]
    return max(lows) if lows else None


def axis_spec(terms: Sequence[tuple[str, int]], const: int, dims: dict[str, Dim], is_int: bool, unnamed: frozenset[str] = frozenset()) -> Any:
    """The torch object for one axis: a root Dim, a derived dim, AUTO, DYNAMIC or None.

    A root in ``unnamed`` is exported as ``Dim.DYNAMIC`` on each of its axes (torch
    ties them itself), and an axis derived from it as ``Dim.AUTO``.
    """
    if not terms:
        return None
    if is_int:
        return Dim.DYNAMIC  # torch.export takes no named Dim for an int input
    if len(terms) > 1:
        return Dim.AUTO  # torch cannot state a sum of roots; checked after export
    (name, coef), = terms
    if name in unnamed:
        return Dim.DYNAMIC if coef == 1 and const == 0 else Dim.AUTO
    dim = dims[name]
    if coef != 1:
        dim = coef * dim
    if const:
        dim = dim + const
    return dim
