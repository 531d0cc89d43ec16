"""ExecuTorch through ``to_edge_transform_and_lower`` with the XNNPACK partitioner, from a
program exported with symshape's bounded dims, verified in the ExecuTorch runtime (the
``symshape[executorch]`` extra). executorch is imported on first use only."""

from .export import export_executorch
from .requirement import INSTALL_HINT, require_executorch
from .result import ExecuTorchResult

__all__ = ["INSTALL_HINT", "ExecuTorchResult", "export_executorch", "require_executorch"]
