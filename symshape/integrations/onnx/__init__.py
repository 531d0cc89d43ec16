"""ONNX through ``torch.onnx.export(..., dynamo=True)`` with symshape's dim names,
verified with onnxruntime (the ``symshape[onnx]`` extra)."""

from .export import INSTALL_HINT, OnnxExportResult, OnnxValue, export_onnx, require_onnx

__all__ = ["INSTALL_HINT", "OnnxExportResult", "OnnxValue", "export_onnx", "require_onnx"]
