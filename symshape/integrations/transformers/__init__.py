"""transformers: caches flattened leaf by leaf (registered before any flatten),
prefill fix-ups for recorded calls, export-friendly implementations while tracing
(MoE experts), and tiny models for tests and the demo."""

from ...core import scopes, trees
from .caches import ensure_registered, is_cache
from .implementations import export_friendly

trees.add_flatten_hook(ensure_registered)
scopes.add_trace_scope(export_friendly)

__all__ = ["ensure_registered", "export_friendly", "is_cache"]
