"""``symshape.export_onnx``: ONNX through ``torch.onnx.export(..., dynamo=True)``, with
symshape's dim names as the graph's ``dim_param``s, verified with onnxruntime.

torch names every dynamic ONNX dimension after its internal symbol (``s13``,
``s10 + s70``). Here each symbol is mapped back to what symshape inferred for the
input axis it stands for (``batch``, ``past_len``, ``past_len + seq_len``) and every
``dim_param`` of the graph (inputs, outputs, intermediate values) is rewritten with
those names. Needs the ``onnx`` extra: ``pip install 'symshape[onnx]'``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sympy
import torch
import torch.utils._pytree as pytree

from .errors import SymshapeError

#: How to get the optional dependencies (in every "missing extra" message).
INSTALL_HINT = "pip install 'symshape[onnx]'  (or: pip install onnx onnxscript onnxruntime)"

#: Tolerance of the onnxruntime check (max absolute difference to eager, every output).
ATOL = 1e-4

_TORCH_SYMBOL = re.compile(r"\b[su]\d+\b")


def require_onnx() -> tuple[Any, Any]:
    """``(onnx, onnxruntime)``, or a :class:`SymshapeError` that says how to install them."""
    missing = []
    modules = {}
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            modules[name] = __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise SymshapeError(
            f"export_onnx needs the optional dependencies onnx, onnxscript and onnxruntime "
            f"({', '.join(missing)} not installed). Install them with: {INSTALL_HINT}"
        )
    return modules["onnx"], modules["onnxruntime"]


@dataclass(frozen=True)
class OnnxValue:
    """One graph input or output: its ONNX name, symshape path, and dims (names or sizes)."""

    name: str
    path: str | None
    dims: tuple[str | int, ...]

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path and self.path != self.name else ""
        return f"{self.name}{where}: [{', '.join(map(str, self.dims))}]"


@dataclass(frozen=True)
class OnnxCheck:
    """One input set run through onnxruntime and through eager."""

    label: str  # "set #0" or "held-out #0"
    shapes: str  # the input shapes fed, for the report
    max_abs_diff: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.max_abs_diff is not None and self.max_abs_diff <= ATOL


@dataclass
class OnnxExportResult:
    """Where the model went, its graph inputs/outputs with their ``dim_param``s, the checks."""

    path: Path
    inputs: list[OnnxValue]
    outputs: list[OnnxValue]
    export: Any  # the symshape ExportResult the ONNX model was made from
    checks: list[OnnxCheck] = field(default_factory=list)
    #: ``s13 -> batch``: how torch's symbols were renamed.
    renamed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def dim_params(self) -> dict[str, tuple[str | int, ...]]:
        """Graph input name -> its dims (``dim_param`` names, ``dim_value`` ints)."""
        return {v.name: v.dims for v in self.inputs}

    def explain(self) -> str:
        lines = [f"ONNX model: {self.path}", "graph inputs:"]
        lines += [f"  {v}" for v in self.inputs]
        lines.append("graph outputs:")
        lines += [f"  {v}" for v in self.outputs]
        if self.checks:
            lines.append(f"onnxruntime vs eager (atol {ATOL:g}):")
        for c in self.checks:
            state = f"ERROR: {c.error}" if c.error else f"max |onnx - eager| = {c.max_abs_diff:.2e}" + ("" if c.ok else "  MISMATCH")
            lines.append(f"  {c.label} {c.shapes}: {state}")
        return "\n".join(lines)

    def __str__(self) -> str:
        state = "verified" if self.ok else "not verified" if not self.checks else "CHECK FAILED"
        return f"OnnxExportResult({self.path}; {len(self.inputs)} inputs; {state})"


def export_onnx(
    model: Any,
    inputs: Iterable[Any],
    path: str | Path,
    *,
    held_out: Iterable[Any] = (),
    verify: bool = True,
    names: Mapping[str, str] | None = None,
    strict: bool = False,
    dynamic: Iterable[str] | None = None,
    opset_version: int | None = None,
    optimize: bool = True,
    result: Any = None,
) -> OnnxExportResult:
    """Infer and export with symshape, convert to ONNX, name the dims, verify, save.

    ``held_out``: more input sets (same structure, other sizes) to check with
    onnxruntime besides the observed ones. ``result``: an ``ExportResult`` already
    made by ``symshape.export`` for these inputs (skips the second trace).
    ``.ok`` on the result says whether every check matched eager within ``ATOL``.
    Raises :class:`SymshapeError` when the extra is missing or the conversion fails.
    """
    onnx, ort = require_onnx()
    from .export import export
    from .infer import infer_with_sets
    from .inputs import normalise

    inputs = list(inputs)
    if result is None:
        result = export(model, inputs, strict=strict, verify=False, names=names, dynamic=dynamic)
    program, spec = result.program, result.spec

    values = _input_values(program, spec)
    output_names = _output_names(program, set(values))
    try:
        onnx_program = torch.onnx.export(
            program, (), dynamo=True, verbose=False, opset_version=opset_version, optimize=optimize, output_names=output_names
        )
    except Exception as exc:  # torch raises many types
        raise SymshapeError(f"torch.onnx.export failed on the program symshape exported ({type(exc).__name__}): {str(exc)[:2000]}") from exc
    proto = onnx_program.model_proto

    renamed = _symbol_names(values, spec)
    _rename_dim_params(proto, renamed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(path))

    paths = {name: p for name, (p, _) in values.items()}
    made = OnnxExportResult(
        path,
        [OnnxValue(v.name, paths.get(v.name), _dims(v)) for v in proto.graph.input],
        [OnnxValue(v.name, None, _dims(v)) for v in proto.graph.output],
        result,
        renamed={k: str(v) for k, v in renamed.items()},
    )
    if verify:
        _, sets = infer_with_sets(model, inputs, names, dynamic=dynamic)
        extra = list(held_out)
        extra_sets = normalise(model, extra)[1] if extra else []
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        made.checks = [_check(session, model, spec, values, f"set #{i}", s) for i, s in enumerate(sets)]
        made.checks += [_check(session, model, spec, values, f"held-out #{i}", s) for i, s in enumerate(extra_sets)]
    return made


# -- naming -----------------------------------------------------------------------------------


def _input_values(program: torch.export.ExportedProgram, spec: Any) -> dict[str, tuple[str, Any]]:
    """Placeholder (= ONNX input) name -> (symshape path, fake value), for user inputs."""
    from .program import _program_path, _user_placeholders

    user = [s for s in program.graph_signature.input_specs if s.kind == torch.export.graph_signature.InputKind.USER_INPUT]
    out = {}
    for (keys, value), input_spec in zip(_user_placeholders(program), user):
        name = getattr(input_spec.arg, "name", None)
        if name is not None:
            out[name] = (_program_path(keys, spec), value)
    return out


def _output_names(program: torch.export.ExportedProgram, taken: set[str]) -> list[str] | None:
    """Readable output names from the program's output tree (``logits``,
    ``out_cache_key_cache_0`` when an input has that name), or None (torch's names)
    when they cannot be made."""
    from .observation import format_path

    try:
        n = len(program.graph_signature.user_outputs)
        tree = pytree.tree_unflatten(list(range(n)), program.call_spec.out_spec)
        leaves = pytree.tree_flatten_with_path(tree)[0]
    except Exception:  # noqa: BLE001 - an output container that does not rebuild from ints
        return None
    if len(leaves) != n:
        return None
    names = [re.sub(r"\W+", "_", format_path(keys) if keys else "output").strip("_") or "output" for keys, _ in leaves]
    names = [f"out_{name}" if name[0].isdigit() or name in taken else name for name in names]
    return names if len(set(names)) == n else None


def _axis_expr(row: Any) -> sympy.Expr:
    return sum((c * sympy.Symbol(name, integer=True, nonnegative=True) for name, c in row.terms), sympy.Integer(row.const))


def _symbol_names(values: dict[str, tuple[str, Any]], spec: Any) -> dict[str, sympy.Expr]:
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


def _rename_dim_params(proto: Any, renamed: Mapping[str, sympy.Expr]) -> None:
    cache: dict[str, str] = {}
    graph = proto.graph
    for value in (*graph.input, *graph.output, *graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                text = dim.dim_param
                if text not in cache:
                    cache[text] = readable(text, renamed)
                dim.dim_param = cache[text]


def _dims(value: Any) -> tuple[str | int, ...]:
    dims = value.type.tensor_type.shape.dim
    return tuple(d.dim_param if d.HasField("dim_param") else d.dim_value for d in dims)


# -- verification -----------------------------------------------------------------------------


def _check(session: Any, model: Any, spec: Any, values: dict[str, tuple[str, Any]], label: str, inputs: dict[str, Any]) -> OnnxCheck:
    from .inputs import copy_set
    from .observation import leaves_by_path

    leaves = leaves_by_path(copy_set(inputs))
    feed, shapes = {}, []
    for graph_input in session.get_inputs():
        path = values.get(graph_input.name, (graph_input.name, None))[0]
        if path not in leaves:
            return OnnxCheck(label, "", None, f"no input value for the graph input {graph_input.name} ({path})")
        leaf = leaves[path]
        feed[graph_input.name] = leaf.detach().cpu().numpy() if isinstance(leaf, torch.Tensor) else leaf
        if isinstance(leaf, torch.Tensor):
            shapes.append(f"{path}={tuple(leaf.shape)}")
    shown = f"({', '.join(shapes[:3])}{', ...' if len(shapes) > 3 else ''})"
    try:
        got = session.run(None, feed)
    except Exception as exc:  # noqa: BLE001 - onnxruntime rejects the shapes, or fails inside
        return OnnxCheck(label, shown, None, re.sub(r"\s+", " ", str(exc))[:500])
    args, kwargs = spec.layout.split(copy_set(inputs))
    with torch.no_grad():
        expected = [t for t in pytree.tree_leaves(model(*args, **kwargs)) if isinstance(t, torch.Tensor)]
    if len(expected) != len(got):
        return OnnxCheck(label, shown, None, f"{len(got)} ONNX outputs, {len(expected)} eager output tensors")
    diff = 0.0
    for e, g in zip(expected, got):
        g = torch.from_numpy(g)
        if tuple(e.shape) != tuple(g.shape):
            return OnnxCheck(label, shown, None, f"output shape {tuple(g.shape)} from onnxruntime, {tuple(e.shape)} from eager")
        if e.numel():
            diff = max(diff, (e.double() - g.double()).abs().max().item())
    return OnnxCheck(label, shown, diff)
