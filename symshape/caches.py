"""transformers integration: make cache objects flatten leaf by leaf.

``DynamicCache`` is not a registered pytree node by default (torch 2.13,
transformers 5.24); without registration a cache is one opaque leaf and export fails
("Cannot associate shape ... to non-tensor type DynamicCache"). We reuse
transformers' own registration (``register_dynamic_cache_export_support``, which
flattens to ``{"key_cache": [...], "value_cache": [...]}``) and only when the user
has not registered the class already.
"""

from __future__ import annotations

import sys

import torch.utils._pytree as pytree


def ensure_registered() -> None:
    """Register transformers' cache classes with pytree if transformers is in use.

    Cheap when transformers was never imported: a cache object cannot exist then.
    """
    if "transformers" not in sys.modules:
        return
    from transformers import DynamicCache

    if DynamicCache not in pytree.SUPPORTED_NODES:
        from transformers.integrations.executorch import register_dynamic_cache_export_support

        register_dynamic_cache_export_support()
