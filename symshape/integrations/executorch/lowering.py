"""Lowering: an ExportedProgram to an ExecuTorch ``.pte`` file, delegated to XNNPACK."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ...errors import SymshapeError
from .requirement import ExecuTorchApi


def lower_to_file(program: torch.export.ExportedProgram, path: Path, api: ExecuTorchApi) -> float:
    """``to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()``,
    written to ``path``; returns the seconds the lowering took (writing excluded)."""
    start = time.perf_counter()
    try:
        edge = api.to_edge_transform_and_lower(program, partitioner=[api.XnnpackPartitioner()])
        lowered = edge.to_executorch()
    except Exception as exc:  # executorch raises many types (verifier, partitioner, memory planning)
        raise SymshapeError(
            f"ExecuTorch lowering (XNNPACK) failed on the program symshape exported "
            f"({type(exc).__name__}): {str(exc)[:2000]}"
        ) from exc
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb") as file:
            lowered.write_to_file(file)
    except OSError as exc:
        raise SymshapeError(f"cannot write the ExecuTorch program to {path}: {exc}") from exc
    return seconds
