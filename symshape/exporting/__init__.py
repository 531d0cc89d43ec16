"""Export: trace, refine where the model requires it, read the program back (z3),
verify against eager, and explain what cannot be reconciled."""

from .loop import MAX_ROUNDS, export
from .result import ExportResult

__all__ = ["MAX_ROUNDS", "ExportResult", "export"]
