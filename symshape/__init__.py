"""symshape: named torch.export dims and relations inferred from example inputs.

    spec = symshape.infer_dims(model, [inputs_1, inputs_2])
    torch.export.export(model, spec.args, spec.kwargs, dynamic_shapes=spec.dynamic_shapes)
"""

from .errors import ExportError, InputsError, SymshapeError
from .versions import check_versions

check_versions()  # fail at import, clearly, on an unsupported torch / transformers

from .export import Check, ExportResult, export
from .infer import infer_dims
from .onnx_export import OnnxExportResult, export_onnx
from .recording import Observer, observe
from .spec import AxisRow, DimRow, DimSpec, RelationRow

__version__ = "0.1.0"

__all__ = [
    "AxisRow",
    "Check",
    "ExportResult",
    "DimRow",
    "DimSpec",
    "ExportError",
    "InputsError",
    "Observer",
    "OnnxExportResult",
    "RelationRow",
    "SymshapeError",
    "check_versions",
    "export",
    "export_onnx",
    "infer_dims",
    "observe",
]
