"""Running an input set through the ``.pte`` with the ExecuTorch runtime.

The runtime takes the program's user inputs as one flat list, in the program's input
order (not the order of the input set's keys). Each program input is matched to the
input set's leaf by its symshape path (``cache['key_cache'][0]``), and fed contiguous.
The comparison with eager is :mod:`symshape.exporting.verify`'s, as for every target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...core import trees
from ...errors import InputsError
from ...exporting.readback import symshape_path, user_inputs
from ...spec import DimSpec
from .requirement import ExecuTorchApi

#: How the checks and their errors name what was run.
TARGET = "ExecuTorch program"


def input_order(program: torch.export.ExportedProgram, spec: DimSpec) -> list[str]:
    """The symshape path of each user input, in the order the runtime takes them."""
    return [symshape_path(keys, spec) for _, keys, _ in user_inputs(program)]


class PteRunner:
    """``run(values) -> output tensors`` (pytree order) for the ``.pte`` at ``path``,
    loaded once (a ``Runner`` of :mod:`symshape.exporting.verify`)."""

    def __init__(self, api: ExecuTorchApi, path: Path, order: list[str]) -> None:
        self.order = order
        self.program = api.Runtime.get().load_program(str(path))  # kept alive with its method
        self.method = self.program.load_method("forward")

    def __call__(self, values: dict[str, Any]) -> list[torch.Tensor]:
        leaves = trees.leaves_by_path(values)
        flat = []
        for where in self.order:
            if where not in leaves:
                raise InputsError(f"no input value for the program input {where} (the set has {', '.join(leaves)})")
            leaf = leaves[where]
            flat.append(leaf.detach().contiguous() if isinstance(leaf, torch.Tensor) else leaf)
        try:
            outputs = self.method.execute(flat)
        except Exception as exc:  # the runtime raises RuntimeError with an error code only
            raise RuntimeError(f"{exc}{self._too_large(flat)}") from exc
        # The outputs live in the program's planned memory, reused by the next execute: copy them.
        return [out.clone() for out in outputs if isinstance(out, torch.Tensor)]

    def _too_large(self, flat: list[Any]) -> str:
        """Which inputs exceed the memory the program planned for them (the runtime only
        logs it): ``; cache['key_cache'][0] (8, 2, 253, 16) needs 259072 bytes, the program
        planned 253952 for (8, 2, 248, 16)``."""
        found = []
        try:
            meta = self.method.metadata
            for index, (where, value) in enumerate(zip(self.order, flat)):
                info = meta.input_tensor_meta(index)
                need = value.numel() * value.element_size() if isinstance(value, torch.Tensor) else 0
                if info.is_memory_planned() and need > info.nbytes():
                    found.append(
                        f"{where} {tuple(value.shape)} needs {need} bytes, the program planned "
                        f"{info.nbytes()} for {tuple(info.sizes())}"
                    )
        except Exception:  # noqa: BLE001 - an explanation is a nicety; never hide the runtime's error
            return ""
        return f"; {'; '.join(found)}" if found else ""
