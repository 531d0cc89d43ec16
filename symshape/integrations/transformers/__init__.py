"""transformers: caches flattened leaf by leaf (registered before any flatten),
prefill fix-ups for recorded calls, and tiny models for tests and the demo."""

from ...core import trees
from .caches import ensure_registered, is_cache

trees.add_flatten_hook(ensure_registered)

__all__ = ["ensure_registered", "is_cache"]
