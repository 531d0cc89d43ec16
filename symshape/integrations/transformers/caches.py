"""transformers integration: make cache objects flatten leaf by leaf.

Cache classes are not registered pytree nodes by default (torch 2.13, transformers
5.24); without registration a cache is one opaque leaf and export fails ("Cannot
associate shape ... to non-tensor type DynamicCache"). transformers ships two
registrations and neither fits symshape:

* ``integrations.executorch.register_dynamic_cache_export_support`` registers
  ``DynamicCache`` alone as ``{"key_cache": [...], "value_cache": [...]}``. It refuses
  linear-attention (Mamba, Jamba, Qwen3-Next, ...) layers, drops ``None`` layers
  without keeping the layer index, and rebuilds sliding-window layers with
  ``update``, which resets ``cumulative_length`` to the kept key length: once the
  window is full the rebuilt cache reports another sequence length and mask offset.
* ``exporters.exporter_dynamo.register_cache_pytrees_for_model`` stores every
  non-tensor attribute in the treespec context, so a sliding layer's
  ``cumulative_length`` or a static layer's ``batch_size`` make two input sets
  with different past lengths / batch sizes different structures; its leaves are
  named ``[0]``, ``[1]``, ...

So this module registers its own flatten for ``DynamicCache``, ``StaticCache`` and
``EncoderDecoderCache`` (and their subclasses defined in transformers), only for a
class nobody registered yet:

* The children of a cache are groups named after the layer attribute, indexed by
  layer: a list when every layer has a value there, else a dict ``{layer index:
  value}`` (no ``None`` leaves, and indices stay layer indices).
  ``cache['key_cache'][0]``, ``cache['value_cache'][0]`` come first (transformers'
  names: a cache of full ``DynamicLayer`` flattens exactly like transformers' own
  registration), then ``cache['cumulative_length'][1]`` (a dynamic sliding layer's
  int counter, carried as a storage-free ``(n, 0)`` tensor so that a named Dim can
  bind it; a static layer's 0-d tensor as is), ``cache['cumulative_length_int'][1]``
  (a static sliding layer's int counter, carried the same way),
  ``cache['conv_states'][0]`` / ``cache['recurrent_states'][0]`` (linear attention:
  Mamba, Jamba, Qwen3-Next, LFM2...; a layer with several states gives a dict
  ``[0][state]``), and any other tensor attribute under its own name.
* A cache held by a cache (``EncoderDecoderCache``) is a child under its attribute
  name: ``cache.self_attention_cache['key_cache'][0]``.
* Everything else (layer classes, sliding window, max length, device, dtype, flags)
  goes to the treespec context as JSON-able data; attributes that follow from the
  tensors (a static layer's ``batch_size``/``num_heads``/head dims, a sliding
  layer's ``_sliding_window_tensor``) are left out and derived on unflatten, so
  they cannot make two input sets differ in structure.
* Unflatten rebuilds the objects without running ``__init__`` or ``update`` (no
  guard, no copy): same classes, same attributes, same behaviour in ``forward``.
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from ... import _torch
from ...spec.template import class_path
from .cache_context import CacheContext, encode, from_dumpable, to_dumpable
from .cache_layers import flatten_layers, leaf_form, new_object, recalled, remember, unflatten_layers

# ---------------------------------------------------------------- flatten


def is_cache(value: Any) -> bool:
    """True for a transformers cache (cheap when transformers was never imported)."""
    cache_utils = sys.modules.get("transformers.cache_utils")
    return cache_utils is not None and isinstance(value, cache_utils.Cache)


def _flatten_items(cache: Any) -> tuple[list[tuple[Any, Any]], CacheContext]:
    """Children with their pytree keys, and the context."""
    attrs = vars(cache)
    memo = recalled(cache)
    known = memo[0] if memo is not None else {}
    children: list[tuple[Any, Any]] = []
    kinds: list[tuple[str, str]] = []
    constants = []
    layer_specs = None
    if isinstance(attrs.get("layers"), list):
        groups, layer_specs = flatten_layers(attrs["layers"])
        for group, entries in groups.items():
            children.append((_torch.MappingKey(group), entries))
            kinds.append((group, "layers_group"))
    for name, value in attrs.items():
        if name == "layers" and layer_specs is not None:
            continue
        kind = known.get(name)
        if kind is None:
            if is_cache(value):
                kind = "attr"
            elif leaf_form(name, value) is not None:
                kind = "group"
        if kind is None:
            constants.append((name, encode(value)))
            continue
        children.append((_torch.GetAttrKey(name) if kind == "attr" else _torch.MappingKey(name), value))
        kinds.append((name, kind))
    return children, CacheContext(class_path(type(cache)), tuple(kinds), tuple(constants), layer_specs)


def _flatten(cache: Any) -> tuple[list[Any], CacheContext]:
    children, context = _flatten_items(cache)
    return [c for _, c in children], context


def _flatten_with_keys(cache: Any) -> tuple[list[tuple[Any, Any]], CacheContext]:
    return _flatten_items(cache)


def flatten_spec(cache: Any, spec: _torch.TreeSpec) -> list[Any]:
    """For ``torch.fx._pytree.tree_flatten_spec`` (the unlifted program's input flatten)."""
    children, context = _flatten(cache)
    if context != spec.context:
        raise ValueError(
            f"{type(cache).__name__} does not have the structure the program was exported with "
            f"(layer types, sliding windows, flags): got {context!r}, expected {spec.context!r}"
        )
    return children


# ---------------------------------------------------------------- unflatten


def _unflatten(values: Any, context: CacheContext) -> Any:
    cache = new_object(context.cls, context.constants)
    groups: dict[str, list[Any]] = {}
    for (name, kind), value in zip(context.children, values):
        if kind == "layers_group":
            groups[name] = value
        else:
            cache.__dict__[name] = value
    if context.layers is not None:
        cache.__dict__["layers"] = unflatten_layers(context.layers, groups)
    remember(cache, {name: kind for name, kind in context.children if kind != "layers_group"})
    return cache


# ---------------------------------------------------------------- registration


def _register(cls: type) -> None:
    try:
        _torch.register_pytree_node(
            cls,
            _flatten,
            _unflatten,
            serialized_type_name=f"{cls.__module__}.{cls.__qualname__}",
            to_dumpable_context=to_dumpable,
            from_dumpable_context=from_dumpable,
            flatten_with_keys_fn=_flatten_with_keys,
        )
    except ValueError as e:  # registered meanwhile (another thread, or a racing import)
        if "already registered" not in str(e):
            raise
        return
    _torch.register_flatten_spec(cls, flatten_spec)


def _candidates(cache_utils: Any) -> list[type]:
    """DynamicCache, StaticCache, EncoderDecoderCache and their transformers subclasses."""
    found, stack = [], [cache_utils.DynamicCache, cache_utils.StaticCache, cache_utils.EncoderDecoderCache]
    while stack:
        cls = stack.pop()
        if cls not in found and cls.__module__.startswith("transformers."):
            found.append(cls)
            stack.extend(cls.__subclasses__())
    return found


def ensure_registered() -> None:
    """Register transformers' cache classes with pytree if transformers is in use.

    Cheap when transformers (or its ``cache_utils``) was never imported: a cache object
    cannot exist then. A class already registered (by the user, by transformers'
    ``register_dynamic_cache_export_support`` or ``register_cache_pytrees_for_model``)
    is left alone.
    """
    cache_utils = sys.modules.get("transformers.cache_utils")
    if cache_utils is None or _SEEN.get("module") is cache_utils:
        return  # the hot path: every flatten in symshape runs this hook
    registered = [cls for cls in _candidates(cache_utils) if not _torch.is_registered(cls)]
    for cls in registered:
        _register(cls)
    if registered:
        _allow_in_safe_load(cache_utils, registered)
    _SEEN["module"] = cache_utils  # transformers defines its cache classes when cache_utils is imported


#: The ``transformers.cache_utils`` module whose cache classes were all registered.
_SEEN: dict[str, Any] = {}


def _allow_in_safe_load(cache_utils: Any, caches: list[type]) -> None:
    """Let ``torch.export.load`` read example inputs holding caches with ``weights_only=True``.

    A saved program pickles its example inputs; without this, loading fails the safe
    unpickler on ``DynamicCache`` and torch falls back to ``weights_only=False`` (and
    logs the fallback with a broken format string). Only the plain data classes we
    flatten are allowed: caches and their layers.
    """
    mixin = getattr(cache_utils, "CacheLayerMixin", None)
    layers = [
        obj
        for obj in vars(cache_utils).values()
        if isinstance(obj, type)
        and mixin is not None
        and issubclass(obj, mixin)
        and obj.__module__ == cache_utils.__name__
    ]
    torch.serialization.add_safe_globals([*caches, *layers])
