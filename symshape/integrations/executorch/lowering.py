"""Lowering: an ExportedProgram (or several, one method each) to an ExecuTorch ``.pte``
file, delegated to XNNPACK.

ExecuTorch's edge verifier accepts no Python function in a graph but its own ``alloc``,
while torch writes ``torch.sym_min`` / ``sym_max`` into the runtime asserts of some
programs (a decode step whose ``seq_len`` is static: ``Eq(Min(8*s10 + 8, 16*s10 + 16), ...)``),
and re-creates them on every retrace, so they cannot be stripped beforehand. The emitter
supports those functions (``executorch_prim::sym_min``) and ``to_executorch`` drops every
runtime assert anyway, so such programs are lowered with the IR check off
(``EdgeCompileConfig(_check_ir_validity=False)``, as ExecuTorch's own tests of these
functions do); every other program keeps the check.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ...errors import SymshapeError
from .requirement import ExecuTorchApi

#: The Python functions torch puts in graphs that ExecuTorch's edge verifier rejects.
_SYM_FUNCTIONS = frozenset(
    f
    for f in (getattr(torch, n, None) for n in ("sym_min", "sym_max", "sym_not", "sym_ite", "sym_float", "sym_int"))
    if f is not None
)


def has_sym_functions(program: torch.export.ExportedProgram) -> bool:
    """Whether a graph of ``program`` calls ``torch.sym_min`` & co (see the module note)."""
    for module in program.graph_module.modules():
        graph = getattr(module, "graph", None)
        if isinstance(graph, torch.fx.Graph) and any(
            n.op == "call_function" and n.target in _SYM_FUNCTIONS for n in graph.nodes
        ):
            return True
    return False


def lower_to_file(
    program: torch.export.ExportedProgram | Mapping[str, torch.export.ExportedProgram],
    path: Path,
    api: ExecuTorchApi,
) -> float:
    """``to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()``,
    written to ``path``; returns the seconds the lowering took (writing excluded).

    ``program`` may be ``{method name: ExportedProgram}``: one ``.pte`` with one method
    per program (ExecuTorch lowers them together; the weights are stored per method)."""
    programs = dict(program) if isinstance(program, Mapping) else {"forward": program}
    if not programs:
        raise SymshapeError(f"nothing to lower to {path}: no program given")
    options: dict[str, Any] = {}
    if api.EdgeCompileConfig is not None and any(has_sym_functions(p) for p in programs.values()):
        options["compile_config"] = api.EdgeCompileConfig(_check_ir_validity=False)
    what = "the program symshape exported" if len(programs) == 1 else f"the programs {', '.join(programs)}"
    start = time.perf_counter()
    try:
        edge = api.to_edge_transform_and_lower(
            programs if isinstance(program, Mapping) else program, partitioner=[api.XnnpackPartitioner()], **options
        )
        lowered = edge.to_executorch()
    except Exception as exc:  # executorch raises many types (verifier, partitioner, memory planning)
        raise SymshapeError(
            f"ExecuTorch lowering (XNNPACK) failed on {what} ({type(exc).__name__}): {str(exc)[:2000]}"
        ) from exc
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb") as file:
            lowered.write_to_file(file)
    except OSError as exc:
        raise SymshapeError(f"cannot write the ExecuTorch program to {path}: {exc}") from exc
    return seconds
