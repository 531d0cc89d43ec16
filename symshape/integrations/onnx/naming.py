"""symshape's dim names as ONNX ``dim_param``s: torch's symbols (``s13``,
``s10 + s70``) mapped back to what symshape inferred for the axis each stands for
(``batch``, ``past_len + seq_len``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sympy
import torch

from ... import _torch
from ...core.paths import format_path
from ...exporting.readback import symshape_path, user_inputs
from ...spec import DimSpec

_TORCH_SYMBOL = re.compile(r"\b[su]\d+\b")


def input_values(program: torch.export.ExportedProgram, spec: DimSpec) -> dict[str, tuple[str, Any]]:
    """Placeholder (= ONNX input) name -> (symshape path, fake value), for user inputs."""
    return {name: (symshape_path(keys, spec), value) for name, keys, value in user_inputs(program) if name is not None}


def output_names(program: torch.export.ExportedProgram, taken: set[str]) -> list[str] | None:
    """Readable output names from the program's output tree (``logits``,
    ``out_cache_key_cache_0`` when an input has that name), or None (torch's names)
    when they cannot be made."""
    try:
        n = len(program.graph_signature.user_outputs)
        tree = _torch.tree_unflatten(list(range(n)), program.call_spec.out_spec)
        leaves = _torch.tree_flatten_with_path(tree)[0]
    except Exception:  # noqa: BLE001 - an output container that does not rebuild from ints
        return None
    if len(leaves) != n:
        return None
    names = [re.sub(r"\W+", "_", format_path(keys) if keys else "output").strip("_") or "output" for keys, _ in leaves]
    names = [f"out_{name}" if name[0].isdigit() or name in taken else name for name in names]
    return names if len(set(names)) == n else None


def _axis_expr(row: Any) -> sympy.Expr:
    return sum(
        (c * sympy.Symbol(name, integer=True, nonnegative=True) for name, c in row.terms), sympy.Integer(row.const)
    )


def symbol_names(values: dict[str, tuple[str, Any]], spec: DimSpec) -> dict[str, sympy.Expr]:
    """torch symbol name (``s13``) -> symshape expression (``batch``), read from the
    user inputs' symbolic shapes and symshape's axis rows."""
    rows = {(a.path, a.axis): a for a in spec.axes if a.role != "static"}
    found: dict[str, sympy.Expr] = {}
    pending = []
    for path, value in values.values():
        if not isinstance(value, torch.Tensor):
            continue
        for axis, size in enumerate(value.shape):
            row = rows.get((path, axis))
            if not isinstance(size, torch.SymInt) or row is None:
                continue
            expr = size.node.expr
            if expr.is_Symbol:
                found.setdefault(str(expr), _axis_expr(row))
            else:
                pending.append((expr, _axis_expr(row)))
    for expr, target in pending:  # a derived axis (``s0 + 1``): solve for its one unknown symbol
        unknown = [s for s in expr.free_symbols if str(s) not in found]
        if len(unknown) == 1:
            known = expr.subs({s: found[str(s)] for s in expr.free_symbols if str(s) in found})
            solved = sympy.solve(sympy.Eq(known, target), unknown[0])
            if len(solved) == 1:
                found[str(unknown[0])] = sympy.expand(solved[0])
    return found


def readable(text: str, renamed: Mapping[str, sympy.Expr]) -> str:
    """torch's ``dim_param`` (``s10 + s70``) with symshape's names (``past_len + seq_len``)."""
    symbols = set(_TORCH_SYMBOL.findall(text))
    if not symbols or not symbols <= set(renamed):
        return text
    local = {s: sympy.Symbol(s, integer=True, nonnegative=True) for s in symbols}
    try:
        expr = sympy.sympify(text.replace("//", " // "), locals=local)
        return _print(sympy.expand(expr.subs({local[s]: renamed[s] for s in symbols})))
    except Exception:  # noqa: BLE001 - an expression sympy cannot read: substitute names textually
        return _TORCH_SYMBOL.sub(lambda m: _wrap(_print(renamed[m.group(0)])), text)


def _print(expr: sympy.Expr) -> str:
    """``past_len + seq_len``, ``2*past_len + 1``: names first, the constant last."""
    if isinstance(expr, sympy.Add):
        terms = sorted(expr.args, key=lambda t: (t.is_number, str(t.free_symbols and sorted(map(str, t.free_symbols)))))
        text = " + ".join(str(t) for t in terms)
        return text.replace("+ -", "- ")
    return str(expr)


def _wrap(text: str) -> str:
    return f"({text})" if re.search(r"[\s+\-*/]", text) else text


def rename_dim_params(proto: Any, renamed: Mapping[str, sympy.Expr]) -> None:
    cache: dict[str, str] = {}
    graph = proto.graph
    for value in (*graph.input, *graph.output, *graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                text = dim.dim_param
                if text not in cache:
                    cache[text] = readable(text, renamed)
                dim.dim_param = cache[text]


def dims_of(value: Any) -> tuple[str | int, ...]:
    dims = value.type.tensor_type.shape.dim
    return tuple(d.dim_param if d.HasField("dim_param") else d.dim_value for d in dims)
