"""``Plan.to_executorch(path)``: every program of a plan as one method of ONE ``.pte``, and
:class:`ExecuTorchPlan`, which routes calls as the plan does and runs the method chosen in
the ExecuTorch runtime.

Routing is the plan's: the same :class:`~.routing.Router` over the same routes (layouts,
treespecs, the axes each region reads, caches of length 0 built for an empty cache), each
route's ``run`` swapped for its method. A method takes the program's user inputs flat, in
flatten order, flags included: the router has matched the call's treespec to the program's,
so the call's leaves are those inputs, in order (checks of recorded sets go through
:class:`~symshape.integrations.executorch.runtime.PteRunner`, which orders them by path).
It returns its flat outputs, rebuilt with the program's output treespec (a
``CausalLMOutputWithPast`` holding a new ``DynamicCache``); as for the plan, the returned
cache is written into the caller's (:func:`.bind.restore_caches`).

Bounds: ExecuTorch plans each method's memory for the largest size of every dim. A plan's
programs serve calls far from the examples they were traced with, so every dim needs a
max (``export_plan(..., bounds="config")`` or ``bounds={dim: (min, max)}``); a program
with an unbounded size is refused before any lowering. The regions then include each
dim's max, so a call beyond it is not routed to the method (a ``NotCoveredError``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..core import trees
from ..core.records import ATOL, Check, failed
from ..errors import InputsError
from ..exporting.verify import check_sets
from ..integrations.executorch import require_executorch
from ..integrations.executorch.bounds import unbounded_sizes
from ..integrations.executorch.lowering import lower_to_file
from ..integrations.executorch.result import bound_lines
from ..integrations.executorch.runtime import TARGET, PteRunner, input_order, load_program
from .bind import Binding, run_routed
from .errors import PlanError, PlanFileError
from .routing import Router
from .sides import first_route, model_of


def require_bounds(plan: Any) -> None:
    """A :class:`PlanError` naming every program and size without a max (see the module note)."""
    missing = {name: unbounded_sizes(r.program, r.spec) for name, r in plan.programs.items()}
    missing = {name: sizes for name, sizes in missing.items() if sizes}
    if not missing:
        return
    listed = "; ".join(f"{name}: {', '.join(sizes)}" for name, sizes in missing.items())
    dims = sorted({d.name for r in plan.programs.values() for d in r.spec.dim_rows if d.max is None})
    example = ", ".join(f"{d!r}: (min, max)" for d in dims) or "'dim': (min, max)"
    raise PlanError(
        f"Plan.to_executorch: ExecuTorch plans each method's memory for the largest size of every dim, and "
        f"these have no max: {listed}. Make the plan with bounds, as symshape.export_executorch does by "
        f'default: symshape.export_plan(model, inputs, bounds="config") (maxima from the model\'s config, a '
        f"default max for the others) or bounds={{{example}}}"
    )


def plan_to_executorch(plan: Any, path: str | Path, *, verify: bool = True) -> ExecuTorchPlan:
    """Lower every program of ``plan`` as a method of one ``.pte`` at ``path``, load it, and
    (``verify`` and the plan knows its model) run each program's calls in the runtime
    against eager."""
    if not isinstance(path, (str, Path)) or not str(path):
        raise InputsError(f"Plan.to_executorch(path={path!r}): path must be a file name (str or pathlib.Path)")
    api = require_executorch()  # the install hint before any work
    require_bounds(plan)
    path = Path(path)
    seconds = lower_to_file({name: r.program for name, r in plan.programs.items()}, path, api)
    made = ExecuTorchPlan(plan, path, lowering_seconds=seconds)
    if verify and plan.model is not None:
        made.verify(plan.model)
    return made


class _MethodRun:
    """A route's ``run`` in the ``.pte``: ``(args, kwargs)`` in the program's layout ->
    the program's outputs, rebuilt from the method's flat outputs."""

    def __init__(self, runner: PteRunner, layout: Any, out_spec: Any, runs: dict[str, int]) -> None:
        self.runner = runner
        self.layout = layout
        self.out_spec = out_spec
        self.runs = runs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The router matched the call's treespec to the program's: its leaves are the method's
        # inputs, in order (the runtime takes the program's user inputs in flatten order).
        leaves = trees.flatten((args, kwargs))[0]
        if len(leaves) != len(self.runner.order):
            raise RuntimeError(
                f"method {self.runner.name!r} takes {len(self.runner.order)} inputs, the call has {len(leaves)}"
            )
        flat = [t.detach().contiguous() if isinstance(t, torch.Tensor) else t for t in leaves]
        outputs = self.runner.execute_flat(flat)
        if len(outputs) != self.out_spec.num_leaves:
            raise RuntimeError(
                f"method {self.runner.name!r} returned {len(outputs)} outputs, its program's output treespec "
                f"has {self.out_spec.num_leaves}: the .pte was not lowered from this plan's program"
            )
        self.runs[self.runner.name] += 1
        return self.out_spec.unflatten(outputs)


class ExecuTorchPlan:
    """A plan's programs as the methods of one ``.pte``, routed by the plan's regions.

    ``ExecuTorchPlan(plan, path)`` opens a ``.pte`` written by :meth:`Plan.to_executorch`
    (a loaded plan works: ``symshape.load_plan(dir)``); every program of the plan must be
    a method of it. Calling it routes the call like the plan and runs the method in the
    ExecuTorch runtime; ``runs`` counts the calls each method ran.
    """

    def __init__(self, plan: Any, path: str | Path, *, lowering_seconds: float = 0.0) -> None:
        api = require_executorch()
        self.plan = plan
        self.path = Path(path)
        self.lowering_seconds = lowering_seconds
        program = load_program(api, self.path)
        self.method_names: list[str] = sorted(program.method_names)
        absent = [name for name in plan.programs if name not in self.method_names]
        if absent:
            raise PlanFileError(
                f"{self.path} has no method for the program(s) {', '.join(absent)} of the plan (its methods: "
                f"{', '.join(self.method_names)}): write it with plan.to_executorch(path)"
            )
        self.runs: dict[str, int] = {name: 0 for name in plan.programs}
        self.checks: dict[str, list[Check]] = {}
        self.runners: dict[str, PteRunner] = {}
        routes = []
        for route in plan.router.routes:
            result = plan.programs[route.name]
            runner = PteRunner(api, self.path, input_order(result.program, result.spec), route.name, program)
            self.runners[route.name] = runner
            out_spec = result.program.call_spec.out_spec
            routes.append(replace(route, run=_MethodRun(runner, route.layout, out_spec, self.runs)))
        #: The plan's router over the same routes, each running its method of the ``.pte``.
        self.router = Router(routes, plan.router.params)
        self.params = list(plan.router.params)

    # -- routing, as Plan ------------------------------------------------------------------
    @property
    def regions(self) -> dict[str, Any]:
        return self.plan.regions

    def route(self, *args: Any, **kwargs: Any) -> str:
        """The name of the method that would run this call (nothing runs)."""
        return first_route(self.router, args, kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the call through the method whose region holds it (one the runtime rejects,
        over its memory plan, passes it on); a cache argument is updated in place with the
        method's returned cache, as eager ``forward`` does."""
        return run_routed(self.router, args, kwargs)

    def bind(self, model: Any, method: str = "forward") -> Binding:
        """``with et.bind(model): model.generate(...)``: every call of ``model.<method>`` runs
        a method of the ``.pte`` (never eager); the model is restored exactly on exit."""
        return Binding(model, self, method)

    # -- checks and report -----------------------------------------------------------------
    def verify(self, model: Any) -> dict[str, list[Check]]:
        """Run each program's calls (its ``ExportResult.sets``) through its method and
        through ``model``; outputs must match within ``ATOL``."""
        for name, result in self.plan.programs.items():
            module = model_of(model, name)  # an encoder program is checked against the encoder
            self.checks[name] = check_sets(self.runners[name], module, result.spec, result.sets, target=TARGET)
        return self.checks

    @property
    def verified(self) -> bool:
        return any(self.checks.values())

    @property
    def failed(self) -> dict[str, list[Check]]:
        """Per method, the checks that make ``ok`` False (as ``ExecuTorchResult.failed``)."""
        return {name: bad for name, checks in self.checks.items() if (bad := failed(checks))}

    @property
    def ok(self) -> bool:
        return self.verified and not self.failed

    @property
    def inputs(self) -> dict[str, list[str]]:
        """Per method, the paths of its inputs in the order the runtime takes them (flags
        and ints included): what a C++ caller of the method passes."""
        return {name: list(runner.order) for name, runner in self.runners.items()}

    @property
    def size(self) -> int:
        """The ``.pte`` file's size in bytes."""
        return self.path.stat().st_size

    def explain(self) -> str:
        """The file, and per method: its region, the bounds its memory is planned for, the checks."""
        lines = [
            f"ExecuTorch plan: {self.path} ({len(self.method_names)} method(s), {self.size / 1024:.1f} KiB, XNNPACK"
            + (f"; lowered in {self.lowering_seconds:.1f} s)" if self.lowering_seconds else ")")
        ]
        for name, result in self.plan.programs.items():
            lines.append(f"{name}: {self.plan.contracts[name].region}")
            lines.append(f"  inputs: {', '.join(self.runners[name].order)}")
            lines += [f"  bounds: {line.strip()}" for line in bound_lines(result.spec)]
            for c in self.checks.get(name, []):
                if not c.covered:
                    state = f"not run: {c.error}"
                elif not c.accepted or c.error:
                    state = f"ERROR: {c.error}"
                else:
                    state = f"max |pte - eager| = {c.max_abs_diff:.2e}" + ("" if c.passed else "  MISMATCH")
                lines.append(f"  {c.label}{f' {c.shapes}' if c.shapes else ''}: {state}")
        if self.checks:
            lines.append(f"(checks: the ExecuTorch runtime vs eager, atol {ATOL:g})")
        return "\n".join(lines)

    def __str__(self) -> str:
        state = "verified" if self.ok else "not verified" if not self.verified else "CHECK FAILED"
        return f"ExecuTorchPlan({self.path}; methods {', '.join(self.method_names)}; {state})"

    __repr__ = __str__
