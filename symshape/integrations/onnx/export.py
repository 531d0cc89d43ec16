"""``symshape.export_onnx``: ONNX through ``torch.onnx.export(..., dynamo=True)``, with
symshape's dim names as the graph's ``dim_param``s, verified with onnxruntime.

torch names every dynamic ONNX dimension after its internal symbol (``s13``,
``s10 + s70``). Here each symbol is mapped back to what symshape inferred for the
input axis it stands for (``batch``, ``past_len``, ``past_len + seq_len``) and every
``dim_param`` of the graph (inputs, outputs, intermediate values) is rewritten with
those names. Needs the ``onnx`` extra: ``pip install 'symshape[onnx]'``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...core.binding import normalise
from ...core.records import ATOL, Check, failed
from ...core.trees import leaves_by_path
from ...errors import InputsError, SymshapeError
from ...exporting import ExportResult, export
from ...exporting.verify import check_sets
from .naming import dims_of, input_values, output_names, rename_dim_params, symbol_names

#: How to get the optional dependencies (in every "missing extra" message).
INSTALL_HINT = "pip install 'symshape[onnx]'  (or: pip install onnx onnxscript onnxruntime)"


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


@dataclass
class OnnxExportResult:
    """Where the model went, its graph inputs/outputs with their ``dim_param``s, the checks."""

    path: Path
    inputs: list[OnnxValue]
    outputs: list[OnnxValue]
    export: ExportResult  # the symshape ExportResult the ONNX model was made from
    checks: list[Check] = field(default_factory=list)
    #: ``s13 -> batch``: how torch's symbols were renamed.
    renamed: dict[str, str] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        """True when input sets were run through onnxruntime (``verify=True``)."""
        return bool(self.checks)

    @property
    def ok(self) -> bool:
        """Verified, and every covered set equal to eager within ``ATOL`` (as ``ExportResult.ok``)."""
        return self.verified and not failed(self.checks)

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
            if not c.accepted or c.error:
                state = f"ERROR: {c.error}"
            else:
                state = f"max |onnx - eager| = {c.max_abs_diff:.2e}" + ("" if c.passed else "  MISMATCH")
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
    result: ExportResult | None = None,
) -> OnnxExportResult:
    """Infer and export with symshape, convert to ONNX, name the dims, verify, save.

    ``held_out``: more input sets (same structure, other sizes) to check with
    onnxruntime besides the observed ones. ``result``: an ``ExportResult`` already
    made by ``symshape.export`` for these inputs (skips the second trace).
    ``.ok`` on the result says whether every check matched eager within ``ATOL``.
    Raises :class:`SymshapeError` when the extra is missing or the conversion fails.
    """
    if not isinstance(path, (str, Path)) or not str(path):
        raise InputsError(f"export_onnx(path={path!r}): path must be a file name (str or pathlib.Path)")
    if result is not None and not isinstance(result, ExportResult):
        raise InputsError(
            f"export_onnx(result=...) must be an ExportResult from symshape.export, got {type(result).__name__}"
        )
    onnx, ort = require_onnx()
    inputs = list(inputs) if result is None else inputs
    if result is None:
        result = export(model, inputs, strict=strict, verify=False, names=names, dynamic=dynamic)
    program, spec = result.program, result.spec

    values = input_values(program, spec)
    try:
        onnx_program = torch.onnx.export(
            program,
            (),
            dynamo=True,
            verbose=False,
            opset_version=opset_version,
            optimize=optimize,
            output_names=output_names(program, set(values)),
        )
    except Exception as exc:  # torch raises many types
        raise SymshapeError(
            f"torch.onnx.export failed on the program symshape exported ({type(exc).__name__}): {str(exc)[:2000]}"
        ) from exc
    proto = onnx_program.model_proto

    renamed = symbol_names(values, spec)
    rename_dim_params(proto, renamed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(path))

    paths = {name: p for name, (p, _) in values.items()}
    made = OnnxExportResult(
        path,
        [OnnxValue(v.name, paths.get(v.name), dims_of(v)) for v in proto.graph.input],
        [OnnxValue(v.name, None, dims_of(v)) for v in proto.graph.output],
        result,
        renamed={k: str(v) for k, v in renamed.items()},
    )
    if verify:
        extra = list(held_out)
        extra_sets = normalise(model, extra)[1] if extra else []
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        run_onnx = _onnx_runner(session, values)
        made.checks = check_sets(run_onnx, model, spec, result.sets, target="ONNX model")
        made.checks += check_sets(run_onnx, model, spec, extra_sets, origin="held-out", target="ONNX model")
    return made


def _onnx_runner(session: Any, values: dict[str, tuple[str, Any]]) -> Any:
    """Feed an input set to onnxruntime by graph input name (matched by symshape path)."""

    def run(inputs: dict[str, Any]) -> list[torch.Tensor]:
        leaves = leaves_by_path(inputs)
        feed = {}
        for graph_input in session.get_inputs():
            path = values.get(graph_input.name, (graph_input.name, None))[0]
            if path not in leaves:
                raise InputsError(f"no input value for the graph input {graph_input.name} ({path})")
            leaf = leaves[path]
            feed[graph_input.name] = leaf.detach().cpu().numpy() if isinstance(leaf, torch.Tensor) else leaf
        return [torch.from_numpy(out) for out in session.run(None, feed)]

    return run
