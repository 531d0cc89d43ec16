"""transformers prefill realities in recorded calls.

An empty ``DynamicCache`` (prefill: no layer initialised yet) is given the layout
another recorded call shows for that cache (same layers; keys and values of shape
``(batch, heads, 0, head_dim)``), so that prefill and decode calls share one
structure. An ``EncoderDecoderCache`` whose cross-attention cache is still empty is
left as is (the first decoder step is another graph) and a note says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .caches import is_cache


def fill_empty_caches(sets: list[Any], names: list[str]) -> list[str]:
    """Give every empty cache among the arguments ``names`` of ``sets`` (dicts, or
    ``(args, kwargs)`` pairs; changed in place) the layout of the first call whose cache
    is full. Returns a note per cache changed or left as is."""
    notes: list[str] = []
    for name in names:
        for i, s in enumerate(sets):
            kwargs = s[1] if isinstance(s, tuple) else s
            if not is_cache(kwargs.get(name)):
                continue
            reference = _reference_call(sets, name)
            if reference is None:
                continue
            note = _materialise_empty_cache(kwargs, name, reference, i)
            if note:
                notes.append(note)
    return notes


def _layers_initialised(cache: Any) -> bool | None:
    layers = getattr(cache, "layers", None)
    if not layers:
        return None
    states = [bool(getattr(layer, "is_initialized", False)) for layer in layers]
    return all(states) if all(states) or not any(states) else None


def _reference_call(sets: list[Any], name: str) -> dict[str, Any] | None:
    """The first call whose cache ``name`` has every layer initialised (for its layout)."""
    for s in sets:
        kwargs = s[1] if isinstance(s, tuple) else s
        cache = kwargs.get(name)
        target = getattr(cache, "self_attention_cache", cache)
        if _layers_initialised(target) and (
            not hasattr(cache, "cross_attention_cache") or _layers_initialised(cache.cross_attention_cache)
        ):
            return kwargs
    return None


def _batch_of(kwargs: Mapping[str, Any], reference: Mapping[str, Any], ref_batch: int) -> int:
    """This call's batch: axis 0 of the first tensor argument whose axis 0 is the reference cache's."""
    for name, value in reference.items():
        if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == ref_batch:
            mine = kwargs.get(name)
            if isinstance(mine, torch.Tensor) and mine.dim() >= 1:
                return mine.shape[0]
    return ref_batch


def _materialise_empty_cache(kwargs: dict[str, Any], name: str, reference: Mapping[str, Any], index: int) -> str | None:
    cache = kwargs[name]
    ref_cache = reference[name]
    if hasattr(cache, "cross_attention_cache"):
        if _layers_initialised(cache.cross_attention_cache) is False:
            return (
                f"call #{index}: {name}.cross_attention_cache is empty: the model computes the "
                "cross-attention keys and "
                f"values from encoder_outputs at this call (the first decoder step), a different graph from the later "
                f"steps; a program exported from a later step does not cover it (export it separately)"
            )
        cache, ref_cache, where = (
            cache.self_attention_cache,
            ref_cache.self_attention_cache,
            f"{name}.self_attention_cache",
        )
    else:
        where = name
    if _layers_initialised(cache) is not False:
        return None
    layers, ref_layers = cache.layers, getattr(ref_cache, "layers", [])
    if len(layers) != len(ref_layers) or any(
        type(a).__name__ != "DynamicLayer" or type(a) is not type(b) for a, b in zip(layers, ref_layers)
    ):
        return f"call #{index}: {where} is empty and its layers are not plain DynamicLayers: left as is"
    batch = _batch_of(kwargs, reference, ref_layers[0].keys.shape[0])
    for layer, ref in zip(layers, ref_layers):
        for attr in ("keys", "values"):
            t = getattr(ref, attr)
            shape = (batch, *t.shape[1:-2], 0, t.shape[-1])
            device = "meta" if t.device.type == "meta" else t.device
            setattr(layer, attr, torch.zeros(shape, dtype=t.dtype, device=device))
        layer.device = ref.device if hasattr(ref, "device") else torch.device("cpu")
        layer.is_initialized = True
    return f"call #{index}: {where} was empty (prefill): recorded as a cache of length 0"
