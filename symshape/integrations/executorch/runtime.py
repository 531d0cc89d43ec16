"""Running an input set through the ``.pte`` with the ExecuTorch runtime.

The runtime takes the program's user inputs as one flat list, in the program's input
order (not the order of the input set's keys), flags and ints included. Each program input
is matched to the input set's leaf by its symshape path (``cache['key_cache'][0]``), and fed
contiguous. It returns every user output, in the order of the program's output treespec
(constants included), so ``program.call_spec.out_spec.unflatten`` rebuilds them. A ``.pte``
may hold several methods (``Plan.to_executorch``): one runner per method, one loaded program.
The comparison with eager is :mod:`symshape.exporting.verify`'s, as for every target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ... import _torch
from ...core import trees
from ...errors import InputsError, SymshapeError
from ...exporting.readback import symshape_path, user_inputs
from ...spec import DimSpec
from .requirement import ExecuTorchApi

#: How the checks and their errors name what was run.
TARGET = "ExecuTorch program"


def input_order(program: torch.export.ExportedProgram, spec: DimSpec) -> list[str]:
    """The symshape path of each user input, in the order the runtime takes them (read
    from the input treespec when the program has no example inputs: a loaded plan's may not)."""
    if program.example_inputs is None:
        in_spec = program.call_spec.in_spec
        keyed = _torch.tree_flatten_with_path(in_spec.unflatten(list(range(in_spec.num_leaves))))[0]
        return [symshape_path(keys, spec) for keys, _ in keyed]
    return [symshape_path(keys, spec) for _, keys, _ in user_inputs(program)]


def load_program(api: ExecuTorchApi, path: Path) -> Any:
    """The runtime's program for the ``.pte`` at ``path`` (its methods load from it)."""
    try:
        return api.Runtime.get().load_program(str(path))
    except Exception as exc:  # the runtime raises RuntimeError with an error code only
        raise SymshapeError(f"the ExecuTorch runtime cannot load {path}: {type(exc).__name__}: {exc}") from exc


class PteRunner:
    """``run(values) -> output tensors`` (pytree order) for the method ``method`` of the
    ``.pte`` at ``path``, loaded once (a ``Runner`` of :mod:`symshape.exporting.verify`).
    ``program``: the runtime's program, already loaded (several methods of one file)."""

    def __init__(
        self, api: ExecuTorchApi, path: Path, order: list[str], method: str = "forward", program: Any = None
    ) -> None:
        self.order = order
        self.program = program if program is not None else load_program(api, path)  # kept alive with its method
        names = set(self.program.method_names)
        if method not in names:
            raise SymshapeError(f"{path} has no method {method!r} (its methods: {', '.join(sorted(names))})")
        self.name = method
        self.method = self.program.load_method(method)

    def flatten(self, values: dict[str, Any]) -> list[Any]:
        """The method's inputs, in its order, from an input set keyed by argument name."""
        leaves = trees.leaves_by_path(values)
        flat = []
        for where in self.order:
            if where not in leaves:
                raise InputsError(f"no input value for the program input {where} (the set has {', '.join(leaves)})")
            leaf = leaves[where]
            flat.append(leaf.detach().contiguous() if isinstance(leaf, torch.Tensor) else leaf)
        return flat

    def execute(self, values: dict[str, Any]) -> list[Any]:
        """Every user output, in the program's output order (tensors copied: they live in the
        program's planned memory, which the next call reuses)."""
        return self.execute_flat(self.flatten(values))

    def execute_flat(self, flat: list[Any]) -> list[Any]:
        """:meth:`execute` on inputs already in the method's order (contiguous tensors): the
        leaves of a call whose treespec is the program's (``Plan.to_executorch`` routing)."""
        try:
            outputs = self.method.execute(flat)
        except Exception as exc:  # the runtime raises RuntimeError with an error code only
            raise RuntimeError(f"{exc}{self._too_large(flat)}") from exc
        return [out.clone() if isinstance(out, torch.Tensor) else out for out in outputs]

    def __call__(self, values: dict[str, Any]) -> list[torch.Tensor]:
        return [out for out in self.execute(values) if isinstance(out, torch.Tensor)]

    def _too_large(self, flat: list[Any]) -> str:
        """Which inputs exceed the memory the program planned for them (the runtime only
        logs it): ``; cache['key_cache'][0] (8, 2, 253, 16) needs 259072 bytes, the program
        planned 253952 for (8, 2, 248, 16)``."""
        found = []
        try:
            meta = self.method.metadata
            for index, (where, value) in enumerate(zip(self.order, flat)):
                if not isinstance(value, torch.Tensor):  # a flag or an int: no tensor meta
                    continue
                info = meta.input_tensor_meta(index)
                need = value.numel() * value.element_size()
                if info.is_memory_planned() and need > info.nbytes():
                    found.append(
                        f"{where} {tuple(value.shape)} needs {need} bytes, the program planned "
                        f"{info.nbytes()} for {tuple(info.sizes())}"
                    )
        except Exception:  # noqa: BLE001 - an explanation is a nicety; never hide the runtime's error
            return ""
        return f"; {'; '.join(found)}" if found else ""
