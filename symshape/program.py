"""Reading an ExportedProgram back: which symbols its inputs really carry."""

from __future__ import annotations

import torch


def input_symbols(program: torch.export.ExportedProgram) -> set[str]:
    """Free symbols in the shapes of the program's user inputs (``{"s13", "s70"}``).

    This is the number users care about: how many independent sizes the exported
    program accepts. Parameters and buffers are static and never contribute.
    """
    user_inputs = {spec.arg.name for spec in program.graph_signature.input_specs if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT}
    symbols: set[str] = set()
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in user_inputs:
            continue
        value = node.meta.get("val")
        sizes = value.shape if isinstance(value, torch.Tensor) else [value]
        for size in sizes:
            if isinstance(size, torch.SymInt):
                symbols |= {str(s) for s in size.node.expr.free_symbols}
    return symbols
