"""``Plan.to_onnx(dir)``: one ONNX model per program, with the plan's dim names.

Each program goes through :func:`symshape.export_onnx` (``result=`` the program: no
second trace), so every ``dim_param`` is a symshape name from the plan's one name table:
``batch`` is ``batch`` in every file. ``plan.json`` next to them lists each file with
its region, for a runtime that routes calls itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..integrations.onnx import OnnxExportResult, export_onnx
from .sides import model_of


def plan_to_onnx(plan: Any, directory: Path, *, verify: bool = True) -> dict[str, OnnxExportResult]:
    """Write ``<name>.onnx`` per program and ``plan.json``; checks run with onnxruntime
    against eager when ``verify`` and the plan knows its model (a loaded plan does not)."""
    directory.mkdir(parents=True, exist_ok=True)
    made: dict[str, OnnxExportResult] = {}
    for name, result in plan.programs.items():
        model = model_of(plan.model, name)  # an encoder program is checked against the encoder
        check = verify and model is not None and bool(result.sets)
        made[name] = export_onnx(model, [], directory / f"{name}.onnx", result=result, verify=check)
    index: dict[str, Any] = {
        "names": plan.names,
        "programs": [
            {
                "name": name,
                "file": f"{name}.onnx",
                "region": plan.contracts[name].region.text,
                "constraints": [c.to_json() for c in plan.contracts[name].region.constraints],
                "inputs": {k: list(v) for k, v in onnx_result.dim_params.items()},
            }
            for name, onnx_result in made.items()
        ],
    }
    (directory / "plan.json").write_text(json.dumps(index, indent=1))
    return made
