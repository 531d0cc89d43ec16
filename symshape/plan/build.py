"""``export_plan``'s engine: export one program per regime, split where the model requires it.

For each regime (largest first, so that its names seed the table):

1. build a companion where a size is constant here but varies in the workload (see
   :mod:`.companions`), infer the dims, rename them through the plan's name table, export;
2. on an :class:`~symshape.ExportError`:
   - a size that varied only through the companion, which the model fixes: do not move
     it and export again (it is then static in this program);
   - a requirement that some observed calls meet and others break (a sliding window full
     or not: torch guards on the crop slice): split the calls by it and solve each part;
   - a size the model specialises (a Python loop over ``seq_len``): a static program for
     the value it was fixed to (a bucket), and the other calls go on the same way;
   - anything else: the regime has no program, and the error is kept for the report;
3. run the observed calls through the program: calls it rejects are split off and solved
   on their own (a guard torch did not raise on).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExportError, InputsError, Problem
from ..exporting import ExportResult, export
from ..infer import infer_dims
from ..recording import RecordedInputs
from ..spec import DimSpec
from .calls import Call
from .companions import companion
from .names import NameTable
from .regimes import BUCKET, GUARD, Regime
from .region import Constraint


@dataclass
class Made:
    """One exported program, the regime it holds and how long it took."""

    regime: Regime
    result: ExportResult
    seconds: float


@dataclass
class Failed:
    """A regime that has no program, and why."""

    regime: Regime
    error: str
    seconds: float


@dataclass
class Built:
    made: list[Made] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    table: NameTable = field(default_factory=NameTable)


def _specialised(p: Problem) -> bool:
    return p.requirement.startswith("is specialised")


_BOUND = re.compile(r"(<=|>=|<|>) (-?\d+)")


def _required(p: Problem) -> tuple[list[Constraint], list[Constraint]]:
    """What a problem's requirement says of its dim, for the calls that meet it and for
    those that break it: ``must be >= 8`` -> ``[dim >= 8]``, ``[dim <= 7]``; a range gives
    nothing for the breaking side (it is a disjunction)."""
    if p.dim is None or not p.requirement.startswith("must be "):
        return [], []
    found = _BOUND.findall(p.requirement)
    why = f"split: {p.dim} {p.requirement}"
    meets = []
    for op, value in found:
        k = int(value)
        op, k = {"<": ("<=", k - 1), ">": (">=", k + 1)}.get(op, (op, k))
        meets.append(Constraint(((p.dim, 1),), op, k, why))
    breaks = []
    if len(meets) == 1:
        c = meets[0]
        breaks = [Constraint(c.terms, ">=" if c.op == "<=" else "<=", c.bound + (1 if c.op == "<=" else -1), why)]
    return meets, breaks


def _source(p: Problem) -> str:
    return f" ({p.sources[0]})" if p.sources else ""


class Builder:
    """Exports the regimes of one plan (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        calls: Sequence[Call],
        table: NameTable,
        dynamic: Iterable[str],
        verify: bool,
        options: dict[str, Any],
        max_depth: int,
    ) -> None:
        self.model = model
        self.calls = {c.index: c for c in calls}
        self.all_calls = list(calls)
        self.dynamic = list(dynamic)
        self.verify = verify
        self.options = options
        self.max_depth = max_depth
        self.built = Built(table=table)
        self.names: set[str] = set()
        self._groups: dict[tuple, DimSpec | None] = {}

    def group_spec(self, key: tuple) -> DimSpec | None:
        """The spec of every call of one structure (what relates its axes), if any varies."""
        if key not in self._groups:
            sets = [c.values for c in self.all_calls if c.key == key]
            spec = None
            if len(sets) > 1:
                try:
                    spec = infer_dims(self.model, sets)
                except InputsError:
                    spec = None
            self._groups[key] = spec if spec is not None and spec.dims else None
        return self._groups[key]

    def solve(self, regime: Regime, depth: int = 0) -> None:
        start = time.perf_counter()
        sets = [self.calls[i].values for i in regime.calls]
        n = len(sets)
        try:
            result = self._export(regime, sets)
        except ExportError as error:
            self._on_error(regime, error, n, depth, start)
            return
        except InputsError as error:
            self.built.failed.append(Failed(regime, str(error), time.perf_counter() - start))
            return
        rejected = [c.set_index for c in result.observed_checks if c.covered and not c.accepted and c.set_index < n]
        if rejected and len(rejected) < n and depth < self.max_depth:
            first = next(c for c in result.observed_checks if c.set_index == rejected[0])
            why = f"the program exported with the other calls rejects them: {first.error}"
            child = Regime(
                self._unique(f"{regime.name}_2"), [regime.calls[k] for k in rejected], GUARD, why, parent=regime.name
            )
            child.fixed = dict(regime.fixed)
            child.constraints = list(regime.constraints)
            regime.calls = [i for k, i in enumerate(regime.calls) if k not in set(rejected)]
            result.sets = [s for k, s in enumerate(result.sets) if k not in set(rejected)]
            result.verify(self.model, probes=self.verify)  # its checks: the calls it keeps
            self.solve(child, depth + 1)
        self.built.table.record(result.spec)
        self.built.made.append(Made(regime, result, time.perf_counter() - start))

    def _export(self, regime: Regime, sets: list[dict[str, Any]]) -> ExportResult:
        key = self.calls[regime.calls[0]].key
        extra, regime.moved, handled = companion(
            self.model, self.all_calls, regime.calls, self.group_spec(key), regime.fixed, self.dynamic
        )
        given = sets + ([extra] if extra is not None else [])
        dynamic = [e for e in self.dynamic if e not in handled]
        while True:
            try:
                first = infer_dims(self.model, RecordedInputs(given), dynamic=dynamic or None)
                break
            except InputsError as error:  # an entry that names no axis of this regime
                bad = [e for e in dynamic if f"dynamic={e!r} names no input axis" in str(error)]
                if not bad:
                    raise
                dynamic = [e for e in dynamic if e not in bad]
        # A set symshape built (axes declared dynamic, or no set safe to trace) joins the
        # sets, so that every dim varies among them and takes its name from the table.
        if first.num_sets > len(given):
            given.append(first.layout.join(first.args, first.kwargs))
        names = self.built.table.names_for(first)
        self.built.table.record(first, names)  # a dim static in every program still reads by its name
        result = export(self.model, RecordedInputs(given), names=names or None, verify=False, **self.options)
        result.sets = result.sets[: len(sets)]  # verify the observed calls (the built sets are examples)
        result.verify(self.model, probes=self.verify)
        return result

    def _on_error(self, regime: Regime, error: ExportError, n: int, depth: int, start: float) -> None:
        moved = set(regime.moved)
        fix = {}
        for p in error.problems:
            if len(set(p.values[:n])) <= 1 and moved & set(p.axes):  # it varied only in the companion
                fix.update({a: f"{p.dim} {p.requirement}{_source(p)}" for a in moved & set(p.axes)})
        if not error.problems and moved:  # torch names no dim: do not move anything
            fix.update({a: f"export failed when it varied ({error.kind})" for a in moved})
        if fix:
            regime.fixed.update(fix)
            self.solve(regime, depth)
            return
        for p in sorted(error.problems, key=_specialised):
            breaking = sorted({i for i, _ in p.breaking if i < n})
            if not breaking or len(breaking) >= n:
                continue
            if _specialised(p):  # a static program for the value it is fixed to; the others go on
                self._split(regime, breaking, depth, p, error.problems)
                return
            if depth < self.max_depth:
                self._split(regime, breaking, depth + 1, p, error.problems)
                return
        self.built.failed.append(Failed(regime, str(error), time.perf_counter() - start))

    def _unique(self, name: str) -> str:
        taken = {m.regime.name for m in self.built.made} | {f.regime.name for f in self.built.failed} | self.names
        out, k = name, 2
        while out in taken:
            out, k = f"{name}_{k}", k + 1
        self.names.add(out)
        return out

    def _split(
        self, regime: Regime, breaking: Sequence[int], depth: int, problem: Problem, problems: Sequence[Problem]
    ) -> None:
        """Two regimes: the calls that meet ``problem``'s requirement, then those that break
        it. A part whose calls all have one value of a specialised dim is a bucket, named
        by that value (``prefill_seq_len_5``). The axes of every problem stay fixed in both."""
        broken = set(breaking)
        root = regime.parent or regime.name
        fixed = dict(regime.fixed)
        for p in problems:
            fixed.update({a: f"{p.dim} {p.requirement}{_source(p)}" for a in p.axes if a not in fixed})
        parts = [
            [k for k in range(len(regime.calls)) if k not in broken],
            [k for k in range(len(regime.calls)) if k in broken],
        ]
        meets, breaks = _required(problem)
        for number, positions in enumerate(parts, start=1):
            members = [regime.calls[k] for k in positions]
            values = {problem.values[k] for k in positions if k < len(problem.values)}
            if _specialised(problem) and len(values) == 1:
                (value,) = values
                kind, name = BUCKET, f"{root}_{problem.dim}_{value}"
                text = f"the model specialises {problem.dim}{_source(problem)}: "
                text += f"a static program for {problem.dim} = {value}"
            else:
                kind, name = GUARD, f"{regime.name}_{number}"
                text = f"split on {problem.dim} {problem.requirement}{_source(problem)}: these calls "
                text += "meet it" if number == 1 else "break it"
            child = Regime(self._unique(name), members, kind, text, parent=root)
            child.fixed = dict(fixed)
            child.constraints = [*regime.constraints, *(meets if number == 1 else breaks)]
            self.solve(child, depth)
