"""The optional ExecuTorch dependency: imported on first use, never with ``import symshape``."""

from __future__ import annotations

from typing import Any, NamedTuple

from ...core.quiet import quiet_loggers
from ...errors import SymshapeError

#: How to get the optional dependency (in every "missing extra" message).
INSTALL_HINT = "pip install 'symshape[executorch]'  (or: pip install executorch==1.5.1)"

#: Loggers that speak while executorch is imported (torchao's "Failed to load ..._C_mxfp8.so"
#: for CUDA kernels a CPU machine never uses; torch's pytree deprecation notes).
_IMPORT_LOGGERS = ("torchao", "torch.utils._pytree")


class ExecuTorchApi(NamedTuple):
    """The executorch entry points symshape uses."""

    to_edge_transform_and_lower: Any
    XnnpackPartitioner: Any
    Runtime: Any
    EdgeCompileConfig: Any = None  # the lowering's options (its IR verifier, see :mod:`.lowering`)


def require_executorch() -> ExecuTorchApi:
    """executorch's lowering, XNNPACK partitioner and runtime, or a :class:`SymshapeError`
    that says how to install them (raised before any work)."""
    try:
        with quiet_loggers(*_IMPORT_LOGGERS):
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower
            from executorch.runtime import Runtime
    except ImportError as exc:
        raise SymshapeError(
            f"export_executorch needs the optional dependency executorch ({exc}). Install it with: {INSTALL_HINT}"
        ) from exc
    return ExecuTorchApi(to_edge_transform_and_lower, XnnpackPartitioner, Runtime, EdgeCompileConfig)
