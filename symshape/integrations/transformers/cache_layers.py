"""One cache layer as leaves and back: which attributes are leaves, in which form, and
which go to the treespec context (see :mod:`.caches` for the layout of a whole cache).

Layers of one cache repeat one spec, so a flatten works a spec out once per kind of
layer; int counters travel as storage-free tensors, so a named Dim can bind them.
"""

from __future__ import annotations

import contextlib
import sys
import weakref
from typing import Any

import torch

from ...spec.template import class_path, resolve_class
from .cache_context import LayerSpec, decode, encode

#: Layer attribute -> group name (transformers' names for keys and values).
_GROUP_NAMES = {"keys": "key_cache", "values": "value_cache"}
#: Counters that vary with the past length: leaves (ints stay ints), never context.
_COUNTERS = frozenset({"cumulative_length", "cumulative_length_int", "_previous_number_of_accepted_tokens"})
#: Static-layer sizes that follow from the key/value tensors.
_STATIC_SIZES = {
    "batch_size": ("keys", 0),
    "num_heads": ("keys", 1),
    "k_head_dim": ("keys", -1),
    "v_head_dim": ("values", -1),
}
_SLIDING_TENSOR = "_sliding_window_tensor"

# Leaf forms: how a layer attribute sits in its group entry.
_PLAIN = "plain"  # the value itself (tensor, int or SymInt)
_COUNTER = "counter"  # an int counter, carried as the first size of a storage-free tensor
_STATE0 = "state0"  # a {0: value} dict (one linear-attention state), stored as the value
_TREE = "tree"  # a dict / list / tuple of tensors, stored as is


# ---------------------------------------------------------------- flatten


def _has_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if type(value) is dict:
        return any(isinstance(v, torch.Tensor) for v in value.values())
    if type(value) in (list, tuple):
        return any(isinstance(v, torch.Tensor) for v in value)
    return False


def _derived(layer: Any, attrs: dict[str, Any]) -> list[str]:
    """Attributes of ``layer`` rebuilt on unflatten instead of stored."""
    cache_utils = sys.modules["transformers.cache_utils"]
    names = []
    if isinstance(layer, cache_utils.StaticLayer):
        names += [n for n, (src, _) in _STATIC_SIZES.items() if n in attrs and isinstance(attrs.get(src), torch.Tensor)]
    if isinstance(layer, cache_utils.DynamicSlidingWindowLayer) and isinstance(
        attrs.get(_SLIDING_TENSOR), torch.Tensor
    ):
        names.append(_SLIDING_TENSOR)
    return names


def leaf_form(name: str, value: Any) -> str | None:
    """How an attribute is stored as leaves, or None if it is a context constant."""
    if value is None or isinstance(value, bool):
        return None
    if name in _COUNTERS:  # an int or SymInt (carried), a 0-d tensor, or whatever a tree_map put there
        return _COUNTER if isinstance(value, (int, torch.SymInt)) else _PLAIN
    if isinstance(value, (torch.Tensor, torch.SymInt)):
        return _PLAIN
    if _has_tensor(value):
        return _STATE0 if type(value) is dict and list(value) == [0] else _TREE
    return None


# Objects built by ``_unflatten`` remember which attributes came from leaves, so that
# flattening them again gives the same structure whatever a ``tree_map`` put in the
# leaves (torch.export wraps int leaves in ``_IntWrapper``, then fakes every leaf).
_FROM_LEAVES: weakref.WeakKeyDictionary[Any, tuple[dict[str, str], tuple[str, ...]]] = weakref.WeakKeyDictionary()


def remember(obj: Any, leaves: dict[str, str], derived: tuple[str, ...] = ()) -> None:
    try:
        _FROM_LEAVES[obj] = (leaves, derived)
    except TypeError:  # unhashable or not weak-referenceable: classify by value next time
        pass


def recalled(obj: Any) -> tuple[dict[str, str], tuple[str, ...]] | None:
    try:
        return _FROM_LEAVES.get(obj)
    except TypeError:
        return None


def counter_carrier(layer: Any, name: str, value: Any) -> Any:
    """An int counter as a tensor of shape ``(value, 0)``: no storage, and its first size
    can take a named Dim, which torch refuses for an int input. A counter equal to
    ``past_len`` then shares ``past_len``'s symbol instead of adding one per layer.

    The same layer and value give the same tensor object: torch.export flattens its
    inputs several times and matches leaves by identity."""
    if not isinstance(value, (int, torch.SymInt)) or isinstance(value, bool):
        return value  # already a carrier, or a leaf a tree_map replaced
    try:
        known = _CARRIERS.setdefault(layer, {})
    except TypeError:  # not weak-referenceable: a fresh carrier each time
        return torch.empty((value, 0), dtype=torch.uint8)
    held = known.get(name)
    if held is None or (held[0] is not value and not (isinstance(value, int) and held[0] == value)):
        held = known[name] = (value, torch.empty((value, 0), dtype=torch.uint8))
    return held[1]


#: Carriers handed out per layer and counter name, with the value they carry.
_CARRIERS: weakref.WeakKeyDictionary[Any, dict[str, tuple[Any, torch.Tensor]]] = weakref.WeakKeyDictionary()


def carried_count(leaf: Any) -> Any:
    """The counter a carrier holds: its first size (a SymInt while tracing)."""
    return leaf.shape[0] if isinstance(leaf, torch.Tensor) and leaf.dim() == 2 else leaf


def _layer_spec(layer: Any, attrs: dict[str, Any]) -> tuple[LayerSpec, tuple[tuple[str, str], ...]]:
    """The spec of one layer, and its leaf attributes with their forms."""
    memo = recalled(layer)
    known, derived = memo if memo is not None else ({}, tuple(_derived(layer, attrs)))
    constants, leaves = [], []
    for name, value in attrs.items():
        if name in derived:
            continue
        form = known.get(name) or leaf_form(name, value)
        if form == _STATE0 and not (type(value) is dict and list(value) == [0]):
            form = leaf_form(name, value)
        if form is None:
            constants.append((name, encode(value)))
        else:
            leaves.append((name, form))
    return LayerSpec(class_path(type(layer)), tuple(constants), tuple(leaves), derived), tuple(leaves)


#: Attribute types whose leaf form follows from the attribute's name and type.
_SIMPLE = frozenset({type(None), bool, int, float, str, torch.device, torch.dtype})


def _signature(layer: Any, attrs: dict[str, Any]) -> tuple | None:
    """What a layer's spec depends on, when that is its class, its attribute names and types,
    and the values of its non-tensor attributes (None: work the spec out)."""
    if recalled(layer) is not None:
        return None
    sig: list[Any] = [type(layer)]
    for name, value in attrs.items():
        kind = type(value)
        if kind is torch.Tensor:
            sig.append((name, kind))
        elif kind in _SIMPLE:
            sig.append((name, kind, value))
        else:
            return None
    return tuple(sig)


def flatten_layers(layers: list[Any]) -> tuple[dict[str, Any], tuple[LayerSpec, ...]]:
    """One group per leaf attribute: a list over the layers if every layer has a value
    there, else a dict ``{layer index: value}`` (no ``None`` leaves, indices stay layer
    indices, and a cache of full layers flattens like transformers' own registration).

    Layers of one class holding the same kinds of values share one spec, worked out once
    per flatten: the layers of one cache repeat it (a 32-layer flatten: 98 -> 41 us)."""
    entries: dict[str, dict[int, Any]] = {"key_cache": {}, "value_cache": {}}
    specs = []
    seen: dict[tuple, tuple[LayerSpec, tuple[tuple[str, str], ...]]] = {}
    for index, layer in enumerate(layers):
        attrs = vars(layer)
        sig = _signature(layer, attrs)
        found = seen.get(sig) if sig is not None else None
        if found is None:
            found = _layer_spec(layer, attrs)
            if sig is not None:
                seen[sig] = found
        spec, leaves = found
        for name, form in leaves:
            value = attrs[name]
            leaf = value[0] if form == _STATE0 else counter_carrier(layer, name, value) if form == _COUNTER else value
            entries.setdefault(_GROUP_NAMES.get(name, name), {})[index] = leaf
        specs.append(spec)
    groups: dict[str, Any] = {}
    for group, values in entries.items():
        if group in ("key_cache", "value_cache") and not values and layers:
            continue  # no attention layer with data (a pure Mamba-style cache)
        groups[group] = [values[i] for i in range(len(layers))] if len(values) == len(layers) else values
    return groups, tuple(specs)


# ---------------------------------------------------------------- unflatten


def new_object(path: str, constants: tuple) -> Any:
    cls = resolve_class(path)
    obj = cls.__new__(cls)
    for name, value in constants:
        obj.__dict__[name] = decode(value)
    return obj


def unflatten_layers(specs: tuple[LayerSpec, ...], groups: dict[str, Any]) -> list[Any]:
    """The layers of a cache, rebuilt from their specs and the leaf groups.

    Layers of one spec share its decoded constants when those are immutable (a device,
    flags), and its table of leaf forms: decoded and built once per spec, not per layer."""
    prepared: dict[LayerSpec, tuple[type, dict[str, Any] | None, dict[str, str]]] = {}
    layers = []
    for index, spec in enumerate(specs):
        try:
            found = prepared.get(spec)
        except TypeError:  # a constant symshape could not encode, kept as is (unhashable)
            found = None
        if found is None:
            decoded = {name: decode(value) for name, value in spec.constants}
            shared = decoded if all(type(v) in _SIMPLE or isinstance(v, type) for v in decoded.values()) else None
            found = (resolve_class(spec.cls), shared, dict(spec.leaves))
            with contextlib.suppress(TypeError):
                prepared[spec] = found
        layers.append(_unflatten_layer(spec, index, groups, *found))
    return layers


def _unflatten_layer(
    spec: LayerSpec, index: int, groups: dict[str, Any], cls: type, constants: dict[str, Any] | None, forms: dict
) -> Any:
    if constants is None:  # mutable constants: fresh ones for every layer (the model may mutate them)
        layer = new_object(spec.cls, spec.constants)
    else:
        layer = cls.__new__(cls)
        layer.__dict__.update(constants)
    for name, form in spec.leaves:
        value = groups[_GROUP_NAMES.get(name, name)][index]
        layer.__dict__[name] = {0: value} if form == _STATE0 else carried_count(value) if form == _COUNTER else value
    remember(layer, forms, spec.derived)
    for name in spec.derived:
        if name == _SLIDING_TENSOR:
            device = layer.__dict__.get("device") or "cpu"
            layer.__dict__[name] = torch.tensor(layer.__dict__["sliding_window"], dtype=torch.long, device=device)
        else:
            src, axis = _STATIC_SIZES[name]
            shape = getattr(layer.__dict__.get(src), "shape", None)
            layer.__dict__[name] = None if shape is None else shape[axis]
    return layer
