"""The user-input leaves of an exported program, read from the program itself.

Routing needs, per leaf of the program's ``(args, kwargs)`` flatten: its symshape path,
whether it is a tensor (with its dtype and static sizes), an int or a constant (a flag
the program was traced with), and the inputs' containers (to build a cache of length 0).
All of it comes from the program's input treespec and graph signature, so a program saved
without example inputs routes like one that has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .. import _torch
from ..exporting.readback import symshape_path
from ..spec import DimSpec


@dataclass(frozen=True)
class Leaf:
    """One user-input leaf of a program."""

    path: str
    kind: str  # "tensor", "int" or "constant"
    dtype: torch.dtype | None = None
    shape: tuple[int | None, ...] = ()  # static sizes; None where the program has a symbol
    value: Any = None  # the constant's value

    @property
    def empty(self) -> bool:
        """A tensor with a static size-0 axis (a cache of length 0)."""
        return self.kind == "tensor" and 0 in self.shape


def program_leaves(program: torch.export.ExportedProgram, spec: DimSpec) -> tuple[list[Leaf], dict[str, Any]]:
    """The leaves, in flatten order, and the inputs by name (the example inputs, or the
    containers rebuilt from the treespec with the leaf numbers as leaves)."""
    in_spec = program.call_spec.in_spec
    example = program.example_inputs
    if example is None:
        example = in_spec.unflatten(list(range(in_spec.num_leaves)))
    args, kwargs = example
    keyed = _torch.tree_flatten_with_path((tuple(args), dict(kwargs)))[0]
    user = [
        s for s in program.graph_signature.input_specs if s.kind == torch.export.graph_signature.InputKind.USER_INPUT
    ]
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    leaves = []
    for (keys, _), input_spec in zip(keyed, user):
        path = symshape_path(keys, spec)
        arg = input_spec.arg
        if isinstance(arg, torch.export.graph_signature.ConstantArgument):
            leaves.append(Leaf(path, "constant", value=arg.value))
            continue
        node = nodes.get(getattr(arg, "name", None))
        value = node.meta.get("val") if node is not None else None
        if isinstance(value, torch.Tensor):
            shape = tuple(int(s) if isinstance(s, int) else None for s in value.shape)
            leaves.append(Leaf(path, "tensor", value.dtype, shape))
        else:
            leaves.append(Leaf(path, "int"))
    return leaves, spec.layout.join(tuple(args), dict(kwargs))
