"""Keep a user's model as it was across the eager runs symshape makes (probes, bounds)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

_MISSING = object()


@contextlib.contextmanager
def modules_kept(model: Any) -> Iterator[None]:
    """Put back every submodule's attributes that an eager run rebound.

    Some forwards store size-dependent state on their modules (Swin clamps its window
    size to a small image's resolution and keeps it): a probe must neither leave the
    user's model changed nor let one run change the next one's outputs. Attributes a run
    adds are lazy set-up (transformers marks its output-capturing hooks installed, and
    the hooks stay registered): they stay."""
    if not isinstance(model, torch.nn.Module):
        yield
        return
    saved = [(module, dict(vars(module))) for module in model.modules()]
    try:
        yield
    finally:
        for module, before in saved:
            now = vars(module)
            for name, value in before.items():
                if now.get(name, _MISSING) is not value:
                    now[name] = value
