"""Which sizes of a program have no maximum, for ExecuTorch's memory plan.

ExecuTorch plans the memory of every tensor ahead of time for the largest size each dim
may take. A dim without a max gets the example's size as its capacity (a bigger input is
rejected at run time, see :mod:`.runtime`): ``symshape.export_executorch`` accepts that and
reports it; a plan, whose programs were traced from other examples than the calls they
serve, refuses it (``Plan.to_executorch``). Named dims are found in the spec; a symbol
torch left free (an axis left ``Dim.AUTO``) in the program's range constraints.
"""

from __future__ import annotations

import torch

from ...core.paths import axis_label
from ...spec import DimSpec
from .runtime import input_order


def _has_max(value_range: object) -> bool:
    return bool(getattr(getattr(value_range, "upper", None), "is_Integer", False))


def unbounded_sizes(program: torch.export.ExportedProgram, spec: DimSpec) -> list[str]:
    """One line per dim (or free symbol) of ``program`` without a max: its name and
    observed values, or the input axes a free symbol sizes."""
    found = [
        f"{d.name} (observed {', '.join(map(str, d.values))})" if d.values else d.name
        for d in spec.dim_rows
        if d.max is None
    ]
    if found:
        return found
    free = {str(s) for s, r in program.range_constraints.items() if not _has_max(r)}
    if not free:
        return []
    user = [
        getattr(s.arg, "name", None)
        for s in program.graph_signature.input_specs
        if s.kind == torch.export.graph_signature.InputKind.USER_INPUT
    ]
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    axes: dict[str, list[str]] = {}
    for path, name in zip(input_order(program, spec), user):
        value = nodes[name].meta.get("val") if name in nodes else None
        for axis, size in enumerate(value.shape if isinstance(value, torch.Tensor) else ()):
            if isinstance(size, torch.SymInt) and str(size.node.expr) in free:
                axes.setdefault(str(size.node.expr), []).append(axis_label(path, axis))
    return [
        f"{', '.join(axes.get(s, [])) or 'an intermediate size'} (a size torch left free, e.g. an axis left Dim.AUTO)"
        for s in sorted(free)
    ]
