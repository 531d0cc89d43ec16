"""The errors a plan raises on purpose (all :class:`symshape.SymshapeError`)."""

from __future__ import annotations

from ..errors import InputsError, SymshapeError


class PlanError(SymshapeError):
    """A plan cannot do what was asked (base of the plan's errors)."""


class NotCoveredError(PlanError):
    """No program of the plan holds a call: the message names the sizes, the regions and
    the nearest program."""


class PlanFileError(PlanError, InputsError):
    """A saved plan (its manifest or a program file) is missing, malformed or was modified
    after :meth:`Plan.save`."""
