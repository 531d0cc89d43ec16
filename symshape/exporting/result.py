"""What ``symshape.export`` returns: the program, the final spec, what changed and
why, the program read back, and the checks against eager."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..core.records import Check, ProgramReading, Refinement, failed
from ..report import explain as explain_report
from ..spec import DimSpec
from .probes import run_probes
from .verify import check_sets, program_runner


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
    #: Probes dropped because eager refused them (not valid inputs of the model).
    probes_refused: int = 0

    @property
    def verified(self) -> bool:
        """True when input sets were run through the program (``verify=True``)."""
        return bool(self.checks)

    @property
    def ok(self) -> bool:
        """Verified, every observed set accepted, every output (observed sets and probes)
        equal to eager within ``ATOL``. Sets of another structure than the example
        (``covered=False``) and coverage gaps (probes the program rejects) are reported,
        not counted. False when nothing was verified (``verify=False``)."""
        return self.verified and not failed(self.checks)

    @property
    def observed_checks(self) -> list[Check]:
        """The checks of the input sets, in their order (``checks`` also holds the probes)."""
        return [c for c in self.checks if c.origin == "observed"]

    @property
    def probe_checks(self) -> list[Check]:
        return [c for c in self.checks if c.origin == "probe"]

    @property
    def coverage_gaps(self) -> list[Check]:
        """Probes eager runs and the program rejects: where the contract is narrower than the model."""
        return [c for c in self.checks if c.gap]

    def verify(self, model: Any, *, probes: bool = True) -> list[Check]:
        """Run every observed set, then every probe (see :mod:`symshape.exporting.probes`),
        through the program and through ``model`` (on copies: forward mutates caches);
        the checks are stored in ``checks`` and returned."""
        run_program = program_runner(self.program, self.spec)  # one unlifted module for every check
        self.checks = check_sets(run_program, model, self.spec, self.sets)
        self.probes_refused = 0
        if probes:
            found, self.probes_refused = run_probes(run_program, model, self.spec)
            self.checks += found
        return self.checks

    def explain(self) -> str:
        """The spec's report, then what export found and how the program was checked."""
        return explain_report(self.spec, self)

    def __str__(self) -> str:
        state = "CHECK FAILED" if self.verified and not self.ok else "verified" if self.ok else "not verified"
        return f"ExportResult({self.spec}; {len(self.refinements)} refinement(s); {state})"
