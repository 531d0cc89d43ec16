"""Reading an ExportedProgram back, in symshape's names.

Which symbols the user inputs carry, what the guards require (translated from
``L['x'].size()[0]`` to ``x.shape[0]`` and dim names), and whether each relation
symshape could not state as a Dim (a sum of roots, left ``Dim.AUTO``) is enforced
by the program: z3 checks that the guards leave no other value possible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.utils._pytree as pytree

from .observation import format_path
from .refine import _INT_SOURCE, _SOURCE

if TYPE_CHECKING:
    from .spec import DimSpec


def _user_placeholders(program: torch.export.ExportedProgram) -> list[tuple[Any, Any]]:
    """(pytree path in ``(args, kwargs)``, fake value) for each user input."""
    user = [s for s in program.graph_signature.input_specs if s.kind == torch.export.graph_signature.InputKind.USER_INPUT]
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    leaves = pytree.tree_flatten_with_path(program.example_inputs)[0]
    out = []
    for (path, _), spec in zip(leaves, user):
        node = nodes.get(getattr(spec.arg, "name", None))
        out.append((path, node.meta.get("val") if node is not None else None))
    return out


def input_symbols(program: torch.export.ExportedProgram) -> set[str]:
    """Free symbols in the shapes of the program's user inputs (``{"s13", "s70"}``).

    This is the number users care about: how many independent sizes the exported
    program accepts. Parameters and buffers are static and never contribute.
    """
    symbols: set[str] = set()
    for _, value in _user_placeholders(program):
        sizes = value.shape if isinstance(value, torch.Tensor) else [value]
        for size in sizes:
            if isinstance(size, torch.SymInt):
                symbols |= {str(s) for s in size.node.expr.free_symbols}
    return symbols


def guard_count(program: torch.export.ExportedProgram) -> int:
    """Guards on input shapes plus deferred runtime asserts in the graph."""
    asserts = sum(1 for n in program.graph.nodes if n.op == "call_function" and "_assert_scalar" in str(n.target))
    return len(getattr(program, "_guards_code", []) or []) + asserts


def _program_path(path: tuple, spec: DimSpec) -> str:
    """``(SequenceKey(1), MappingKey('cache'), MappingKey('key_cache'), SequenceKey(0))`` -> ``cache['key_cache'][0]``."""
    positional = [p.name for p in spec.layout.params if p.passed == "positional"]
    head, rest = path[0], path[1:]
    if getattr(head, "idx", None) == 0:  # args
        name, rest = positional[rest[0].idx], rest[1:]
    else:
        name, rest = rest[0].key, rest[1:]
    return format_path((pytree.MappingKey(name), *rest))


def _variable(label: str) -> str:
    return "v_" + re.sub(r"\W+", "_", label).strip("_")


@dataclass(frozen=True)
class RelationCheck:
    """Whether the program enforces a relation symshape left to torch (``Dim.AUTO``)."""

    expr: str  # "attention_mask.shape[1] = past_len + seq_len"
    status: str  # "stated" (in the program's shapes), "enforced" (by its guards), "not enforced"
    detail: str


@dataclass(frozen=True)
class ProgramReading:
    """What the program says about its input shapes, in symshape's names."""

    symbols: int  # free symbols in the user inputs
    guards: int
    requirements: tuple[str, ...]  # non-trivial guards, translated
    relation_checks: tuple[RelationCheck, ...]
    shapes: dict[str, str]  # axis label -> the program's expression in symshape names


class GuardTranslator:
    """torch guard text (``L['x'].size()[0] <= 16``) -> z3 over symshape's dims.

    Root and derived axes become expressions in dim names; an axis left
    ``Dim.AUTO`` becomes a variable of its own.
    """

    def __init__(self, spec: DimSpec) -> None:
        import z3

        self.z3 = z3
        self.rows = {(a.path, a.axis): a for a in spec.axes}
        self.dims = {d.name: z3.Int(d.name) for d in spec.dim_rows}
        self.variables: dict[str, Any] = dict(self.dims)

    def variable(self, row: Any) -> str:
        """The z3 variable of an axis that has a symbol of its own (an axis left
        ``Dim.AUTO``, an int input), created on first use."""
        var = _variable(row.label)
        self.variables.setdefault(var, self.z3.Int(var))
        return var

    def _axis(self, match: re.Match) -> str:
        row = self.rows.get((f"{match.group(1)}{match.group(2)}", int(match.group(3))))
        if row is None:
            return match.group(0)
        return self.variable(row) if row.role == "sum" else f"({row.expr})"

    def _int(self, match: re.Match) -> str:
        """An int input: a variable of its own (torch does not tie it to a dim)."""
        row = self.rows.get((f"{match.group(1)}{match.group(2)}", None))
        return match.group(0) if row is None else self.variable(row)

    def text(self, guard: str) -> str:
        return _INT_SOURCE.sub(self._int, _SOURCE.sub(self._axis, guard))

    def to_z3(self, text: str) -> Any:
        z3 = self.z3
        low = lambda a, b: z3.If(a <= b, a, b)  # noqa: E731
        high = lambda a, b: z3.If(a >= b, a, b)  # noqa: E731
        namespace = {
            "min": low, "max": high, "Min": low, "Max": high,  # guard text / sympy text of asserts
            "Eq": lambda a, b: a == b, "Ne": lambda a, b: a != b,
            "Le": lambda a, b: a <= b, "Lt": lambda a, b: a < b, "Ge": lambda a, b: a >= b, "Gt": lambda a, b: a > b,
            "And": z3.And, "Or": z3.Or, "Not": z3.Not,
            **self.variables,
        }
        return eval(text, {"__builtins__": {}}, namespace)  # noqa: S307 - torch's guard text over our own variables

    def condition(self, guard: str) -> Any | None:
        """The guard as a z3 condition, or None for a form we do not model (skipping is sound)."""
        try:
            condition = self.to_z3(self.text(guard))
        except Exception:  # e.g. Python's `and`, sympy functions we do not map
            return None
        return condition if isinstance(condition, self.z3.BoolRef) else None

    def always_true(self, condition: Any, *facts: Any) -> bool:
        """True when no non-negative sizes (satisfying ``facts``) break ``condition``."""
        solver = self.z3.Solver()
        solver.add(*[v >= 0 for v in self.variables.values()], *facts, self.z3.Not(condition))
        return solver.check() == self.z3.unsat

    def readable(self, guard: str) -> str:
        labels = {_variable(r.label): r.label for r in self.rows.values() if r.role == "sum" or r.is_int}
        text = re.sub(r"\bv_\w+", lambda m: labels.get(m.group(0), m.group(0)), self.text(guard))
        return re.sub(r"\(([A-Za-z_]\w*)\)", r"\1", text)


def read_program(program: torch.export.ExportedProgram, spec: DimSpec) -> ProgramReading:
    """Translate the program's symbolic input shapes and guards into symshape's names."""
    guards = GuardTranslator(spec)
    symbol_names: dict[str, str] = {}  # torch symbol -> dim name, or variable of an AUTO axis / int input
    auto_axes = []
    for path, value in _user_placeholders(program):
        our_path = _program_path(path, spec)
        if isinstance(value, torch.SymInt):  # an int input (Dim.DYNAMIC)
            row = guards.rows.get((our_path, None))
            if row is not None and value.node.expr.is_Symbol:
                symbol_names[str(value.node.expr)] = guards.variable(row)
            continue
        if not isinstance(value, torch.Tensor):
            continue
        for axis, size in enumerate(value.shape):
            row = guards.rows.get((our_path, axis))
            if row is None or not isinstance(size, torch.SymInt):
                continue
            expr = size.node.expr
            if row.role == "root" and expr.is_Symbol:
                symbol_names[str(expr)] = row.terms[0][0]
            elif row.role == "sum":
                auto_axes.append((row, expr))
                if expr.is_Symbol:
                    symbol_names[str(expr)] = guards.variable(row)

    def named(text: str) -> str:
        return re.sub(r"\b[su]\d+\b", lambda m: symbol_names.get(m.group(0), m.group(0)), text)

    requirements = []
    # Guards on the inputs, and the deferred asserts torch leaves in the graph
    # (strict mode moves relations there).
    asserts = [
        named(str(n.args[0].meta["val"].node.expr))
        for n in program.graph.nodes
        if n.op == "call_function" and "_assert_scalar" in str(n.target)
        and isinstance(getattr(n.args[0], "meta", {}).get("val"), torch.SymBool)
    ]
    for guard in [*(getattr(program, "_guards_code", []) or []), *asserts]:
        condition = guards.condition(guard)
        if condition is None or guards.always_true(condition):
            continue  # unmodelled, or true for every size: says nothing
        requirements.append((guards.readable(guard), condition))

    shapes = {}
    checks = []
    for row, expr in auto_axes:
        stated = named(str(expr))
        shapes[row.label] = guards.readable(stated)
        relation = f"{row.label} = {row.expr}"
        if not expr.is_Symbol:
            try:
                ok = guards.always_true(guards.to_z3(stated) == guards.to_z3(row.expr))
            except Exception:
                ok = False
            checks.append(RelationCheck(relation, "stated" if ok else "not enforced", f"the program computes {row.label} as {stated}"))
            continue
        if guards.always_true(guards.to_z3(guards.variable(row)) == guards.to_z3(row.expr), *[c for _, c in requirements]):
            checks.append(RelationCheck(relation, "enforced", f"{row.label} has its own symbol, and the program's guards allow no other value"))
        else:
            related = [text for text, _ in requirements if row.label in text]
            what = f"the program's guards only require {' and '.join(related)}" if related else "no guard of the program checks it"
            checks.append(RelationCheck(
                relation, "not enforced",
                f"{row.label} has its own symbol and {what} (a wrong size may still fail inside the graph); the relation held on every observed set",
            ))
    return ProgramReading(
        symbols=len(input_symbols(program)),
        guards=guard_count(program),
        requirements=tuple(text for text, _ in requirements),
        relation_checks=tuple(checks),
        shapes=shapes,
    )
