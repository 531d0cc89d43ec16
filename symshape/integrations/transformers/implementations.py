"""Export-friendly implementations that transformers offers, selected for a trace only.

transformers 5.24 runs MoE experts through ``config._experts_implementation``, read at
every forward. Its default, ``"grouped_mm"``, calls the custom op
``transformers.grouped_mm_fallback``, which torch.onnx has no function for and
ExecuTorch's verifier refuses; ``"batched_mm"`` computes the same with plain ops and
exports, lowers and runs everywhere (``"eager"`` loops over the experts hit, which is
data-dependent). Inside :func:`export_friendly` every config of the model that uses
``"grouped_mm"`` says ``"batched_mm"``; on exit each gets its own value back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

#: Experts implementations that do not export, and the one used instead while tracing.
UNEXPORTABLE_EXPERTS = frozenset({"grouped_mm"})
EXPORTABLE_EXPERTS = "batched_mm"


def _configs(model: Any) -> list[Any]:
    """Every distinct config object the model's modules read (sub-configs included)."""
    if not isinstance(model, torch.nn.Module):
        return []
    found: dict[int, Any] = {}
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_experts_implementation"):
            found.setdefault(id(config), config)
    return list(found.values())


@contextlib.contextmanager
def export_friendly(model: Any) -> Iterator[None]:
    saved = [
        (c, c._experts_implementation) for c in _configs(model) if c._experts_implementation in UNEXPORTABLE_EXPERTS
    ]
    try:
        for config, _ in saved:
            config._experts_implementation = EXPORTABLE_EXPERTS
        yield
    finally:
        for config, value in saved:
            config._experts_implementation = value
