"""The treespec context of a flattened cache: everything but its tensors, as
hashable, JSON-able data (``torch.export.save`` writes it)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ...spec.template import class_path, resolve_class


class LayerSpec(NamedTuple):
    """How one cache layer was flattened (part of the treespec context)."""

    cls: str  # "module:qualname"
    constants: tuple  # ((name, encoded value), ...)
    leaves: tuple  # ((name, form), ...), values in the groups
    derived: tuple  # names rebuilt from the leaves on unflatten

    def __repr__(self) -> str:  # short, for error messages: class and constants
        return _short_repr(self.cls, self.constants)


class CacheContext(NamedTuple):
    """Treespec context of a cache: everything but the leaves."""

    cls: str
    children: tuple  # ((name, "group" | "attr" | "layers_group"), ...), in children order
    constants: tuple  # ((name, encoded value), ...), cache-level attributes
    layers: tuple | None  # (LayerSpec, ...) or None if the cache has no ``layers``

    def __repr__(self) -> str:
        layers = "" if self.layers is None else f"layers=[{', '.join(map(repr, self.layers))}], "
        return _short_repr(self.cls, self.constants, f"{layers}leaves={[name for name, _ in self.children]}, ")


def _short_repr(cls: str, constants: tuple, prefix: str = "") -> str:
    items = ", ".join(f"{name}={decode(value)!r}" for name, value in constants)
    return f"{cls.rpartition(':')[2]}({prefix}{items})"


# ---------------------------------------------------------------- context values


def encode(value: Any) -> Any:
    """A hashable, JSON-able stand-in for a constant attribute (tuples are tags)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, torch.SymInt):
        const = value.node.maybe_as_int()
        if const is not None:
            return const
    if isinstance(value, torch.device):
        return ("device", str(value))
    if isinstance(value, torch.dtype):
        return ("dtype", str(value).removeprefix("torch."))
    if isinstance(value, type):
        return ("type", class_path(value))
    if type(value) is dict:
        return ("dict", tuple((encode(k), encode(v)) for k, v in value.items()))
    if type(value) is list:
        return ("list", tuple(encode(v) for v in value))
    if type(value) is tuple:
        return ("tuple", tuple(encode(v) for v in value))
    return ("object", value)  # compared with ==, not serialisable


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`; builds fresh containers (the model may mutate them)."""
    if not isinstance(value, tuple):
        return value
    tag, data = value
    if tag == "device":
        return torch.device(data)
    if tag == "dtype":
        return getattr(torch, data)
    if tag == "type":
        return resolve_class(data)
    if tag == "dict":
        return {decode(k): decode(v) for k, v in data}
    if tag == "list":
        return [decode(v) for v in data]
    if tag == "tuple":
        return tuple(decode(v) for v in data)
    return data


def to_dumpable(context: Any) -> Any:
    """Treespec context -> JSON data (for ``torch.export.save``)."""
    if isinstance(context, tuple):
        if len(context) == 2 and context[0] == "object":
            raise TypeError(f"cannot serialise a cache attribute of type {type(context[1]).__name__}")
        return [to_dumpable(v) for v in context]
    return context


def from_dumpable(data: Any) -> Any:
    def walk(v: Any) -> Any:
        return tuple(walk(x) for x in v) if isinstance(v, list) else v

    cache, children, constants, layers = walk(data)
    layers = None if layers is None else tuple(LayerSpec(*spec) for spec in layers)
    return CacheContext(cache, children, constants, layers)
