"""The errors symshape raises on purpose.

Every message names the input path, the axis and the observed values, so that the
user can act on it without a debugger.
"""

from __future__ import annotations


class SymshapeError(Exception):
    """Base of every error symshape raises on purpose."""


class InputsError(SymshapeError, ValueError):
    """The input sets cannot be used as given (structure, types, names)."""


class ExportError(SymshapeError):
    """torch.export failed; the message is the explained constraint report."""
