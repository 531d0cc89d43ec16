"""The :class:`Plan`: programs that together hold a workload, routed by region, and
:func:`load_plan`. ``symshape.export_plan`` (in :mod:`.make`) builds one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..exporting import ExportResult
from .bind import Binding, run_routed
from .contract import Contract
from .executorch import ExecuTorchPlan, plan_to_executorch
from .explain import explain_plan
from .info import Coverage, ProgramInfo
from .onnx import plan_to_onnx
from .region import Region
from .routing import Parameter, Router, make_route
from .sides import first_route
from .storage import read_plan, save_plan


class Plan:
    """Programs that together hold a workload (see ``docs/plans.md``).

    ``programs`` maps a program name to its :class:`~symshape.ExportResult`;
    ``regions`` to the :class:`~symshape.plan.Region` it holds, in symshape's dim names.
    Calling the plan routes the call to the first program whose structure and region
    hold it.
    """

    def __init__(
        self,
        programs: Mapping[str, ExportResult],
        contracts: Mapping[str, Contract],
        info: Mapping[str, ProgramInfo],
        params: Iterable[Parameter],
        *,
        names: Iterable[str] = (),
        coverage: Coverage | None = None,
        notes: Iterable[str] = (),
        seconds: float = 0.0,
        model: Any = None,
    ) -> None:
        self.programs: dict[str, ExportResult] = dict(programs)
        self.contracts = dict(contracts)
        self.info = dict(info)
        self.params = list(params)
        self.names = list(names)
        self.coverage = coverage or Coverage()
        self.notes = list(notes)
        self.seconds = seconds
        self.model = model
        routes = [make_route(n, r.program, r.spec, self.contracts[n]) for n, r in self.programs.items()]
        for route in routes:
            route.model_fixed = frozenset(self.info[route.name].fixed)
        self.router = Router(routes, self.params)

    # -- routing -----------------------------------------------------------------------
    @property
    def regions(self) -> dict[str, Region]:
        return {n: c.region for n, c in self.contracts.items()}

    def route(self, *args: Any, **kwargs: Any) -> str:
        """The name of the program that would run this call (nothing runs)."""
        return first_route(self.router, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the call through the program whose region holds it. A cache argument is
        updated in place with the program's returned cache, as eager ``forward`` does."""
        return run_routed(self.router, args, kwargs)

    def bind(self, model: Any, method: str = "forward") -> Binding:
        """``with plan.bind(model): model.generate(...)``: every call of ``model.<method>``
        inside the block runs through the plan (never eager); a call no program holds
        raises :class:`NotCoveredError`. The model is restored exactly on exit."""
        return Binding(model, self, method)

    # -- artifacts and report ----------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """One ``.pt2`` per program and ``manifest.json`` (names, regions, routing)."""
        return save_plan(self, Path(directory))

    def to_onnx(self, directory: str | Path, *, verify: bool = True) -> dict[str, Any]:
        """One ``.onnx`` per program (``symshape.export_onnx``), with the plan's dim names."""
        return plan_to_onnx(self, Path(directory), verify=verify)

    def to_executorch(self, path: str | Path, *, verify: bool = True) -> ExecuTorchPlan:
        """One ``.pte`` with one method per program (XNNPACK), routed like the plan; every dim
        needs a max (``export_plan(..., bounds="config")``). See :mod:`.executorch`."""
        return plan_to_executorch(self, path, verify=verify)

    def explain(self) -> str:
        """The programs, their regions, the calls each holds, and why the split happened."""
        return explain_plan(self)

    def __str__(self) -> str:
        inner = "; ".join(f"{n}: {c.region}" for n, c in self.contracts.items())
        return f"Plan({len(self.programs)} program(s): {inner})"

    __repr__ = __str__


def load_plan(directory: str | Path) -> Plan:
    """Read a plan written by :meth:`Plan.save` (see :mod:`.storage`). A missing, malformed
    or modified manifest, or a program file that is missing or whose SHA-256 differs, is a
    :class:`~symshape.plan.PlanFileError`. The loaded plan has no model: bind it to one."""
    parts = read_plan(Path(directory))
    return Plan(
        parts["programs"],
        parts["contracts"],
        parts["info"],
        parts["params"],
        names=parts["names"],
        coverage=parts["coverage"],
        notes=parts["notes"],
        seconds=parts["seconds"],
    )
