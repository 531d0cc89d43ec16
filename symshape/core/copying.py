"""Copies of input sets that never share a tensor or a cache with the user's.

``copy.deepcopy`` walks the containers and objects (caches keep their class and
attributes); tensors are replaced up front and handed to it through the memo, which
is an order of magnitude faster than ``Tensor.__deepcopy__`` on many leaves.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch

from . import trees


def memo_copy(values: Any, replace: Callable[[torch.Tensor], torch.Tensor | None]) -> Any:
    """A deep copy of ``values`` in which every tensor leaf ``t`` becomes ``replace(t)``
    (``None``: let deepcopy copy it)."""
    memo: dict[int, Any] = {}
    for leaf in trees.leaves(values):
        if isinstance(leaf, torch.Tensor):
            new = replace(leaf)
            if new is not None:
                memo[id(leaf)] = new
    return copy.deepcopy(values, memo)


def _clone(t: torch.Tensor) -> torch.Tensor | None:
    return t.clone() if type(t) is torch.Tensor and not t.requires_grad else None


def _meta(t: torch.Tensor) -> torch.Tensor:
    return torch.empty(t.shape, dtype=t.dtype, device="meta")


def copy_set(values: Any) -> Any:
    """A deep copy of an input set (forward mutates caches: run copies)."""
    return memo_copy(values, _clone)


def meta_copy(values: Any) -> Any:
    """A copy whose tensors are ``meta`` tensors: shapes and dtypes, no storage.
    (Cache layers may hold tensors pytree does not see; deepcopy copies those.)"""
    return memo_copy(values, _meta)


def is_shape_only(values: Any) -> bool:
    """True when an input set holds meta tensors (a call recorded as shapes only)."""
    return any(isinstance(leaf, torch.Tensor) and leaf.device.type == "meta" for leaf in trees.leaves(values))
