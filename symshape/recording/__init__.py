"""``symshape.observe``: record the real calls of a model (e.g. during ``generate()``)."""

from .recorder import KEEP_FIRST, CallRecord, Observer, RecordedInputs, observe

__all__ = ["KEEP_FIRST", "CallRecord", "Observer", "RecordedInputs", "observe"]
