"""symshape: named torch.export dims and relations inferred from example inputs.

    spec = symshape.infer_dims(model, [inputs_1, inputs_2])
    torch.export.export(model, spec.args, spec.kwargs, dynamic_shapes=spec.dynamic_shapes)

This module is the public API and only re-exports it. The pipeline lives in
subpackages, one per stage (``core`` <- ``report`` <- ``spec`` <- ``infer`` <-
``exporting`` <- ``integrations`` <- ``recording`` <- ``cli``). The export stage's
package is ``symshape.exporting``, so that ``symshape.export`` is always the function.
"""

from .errors import ExportError, InputsError, OptionError, Problem, SymshapeError
from .versions import check_versions

check_versions()  # fail at import, clearly, on an unsupported torch / transformers

from . import integrations  # noqa: F401 - registers the transformers caches' flatten before any flatten
from .core.binding import Layout, Param
from .core.records import ATOL, Check, ProgramReading, Refinement, RelationCheck
from .core.rows import AxisRow, BoundRow, DimRow, NeverVaried, RelationRow
from .exporting import ExportResult, export
from .exporting.readback import input_symbols
from .infer import infer_dims
from .integrations.executorch import ExecuTorchResult, export_executorch
from .integrations.onnx import OnnxExportResult, OnnxValue, export_onnx
from .integrations.transformers import ensure_registered as register_caches
from .plan import Plan, export_plan, load_plan
from .recording import CallRecord, Observer, RecordedInputs, observe
from .report import Report
from .spec import DimSpec

__version__ = "0.1.0"

__all__ = [
    "ATOL",
    "AxisRow",
    "BoundRow",
    "CallRecord",
    "Check",
    "DimRow",
    "DimSpec",
    "ExecuTorchResult",
    "ExportError",
    "ExportResult",
    "InputsError",
    "Layout",
    "NeverVaried",
    "Observer",
    "OnnxExportResult",
    "OnnxValue",
    "OptionError",
    "Param",
    "Plan",
    "Problem",
    "ProgramReading",
    "RecordedInputs",
    "Refinement",
    "RelationCheck",
    "RelationRow",
    "Report",
    "SymshapeError",
    "check_versions",
    "export",
    "export_executorch",
    "export_onnx",
    "export_plan",
    "infer_dims",
    "input_symbols",
    "load_plan",
    "observe",
    "register_caches",
]
