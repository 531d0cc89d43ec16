"""What ``symshape.export`` returns: the program, the final spec, what changed and
why, the program read back, and the checks against eager."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.records import Check, ProgramReading, Refinement
from ..report import explain as explain_report
from ..spec import DimSpec
from .verify import check_program


@dataclass
class ExportResult:
    """The program, the final spec, what changed and why, and the verification."""

    program: torch.export.ExportedProgram
    spec: DimSpec
    initial_spec: DimSpec
    refinements: list[Refinement] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    reading: ProgramReading | None = None
    traces: int = 1
    #: The normalised input sets (the user's objects, never modified), for :meth:`verify`.
    sets: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def verified(self) -> bool:
        """True when input sets were run through the program (``verify=True``)."""
        return bool(self.checks)

    @property
    def ok(self) -> bool:
        """Verified, every observed set accepted, outputs equal to eager within ``ATOL``.
        Sets of another structure than the example (``covered=False``) are reported but
        not counted. False when nothing was verified (``verify=False``)."""
        return self.verified and all(c.passed for c in self.checks if c.covered)

    def verify(self, model: Any) -> list[Check]:
        """Run every observed set through the program and through ``model`` (on copies:
        forward mutates caches); the checks are stored in ``checks`` and returned."""
        self.checks = check_program(self.program, model, self.spec, self.sets)
        return self.checks

    def explain(self) -> str:
        """The spec's report, then what export found and how the program was checked."""
        return explain_report(self.spec, self)

    def __str__(self) -> str:
        state = "CHECK FAILED" if self.verified and not self.ok else "verified" if self.ok else "not verified"
        return f"ExportResult({self.spec}; {len(self.refinements)} refinement(s); {state})"
