"""Guards in symshape's names, as z3 formulas, and proofs about them.

torch states what a program requires in two forms: the input guards, as Python
source text (``L['x'].size()[0] <= 16``), and sympy expressions over its symbols
(deferred asserts, derived shapes). Both are walked node by node into one
representation, never evaluated: each value is a z3 term, its linear form where it
has one (for readable text: ``attention_mask.shape[1] >= past_len + seq_len``), and
a fallback text. A form the walk does not know gives None: skipping a guard is
sound, it only proves less.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy
import z3

from ..core.linear import format_comparison, format_linear
from ..core.rows import SUM, AxisRow
from ..spec import DimSpec
from .messages import INT_SOURCE, SOURCE


class UnmodelledError(Exception):
    """A guard form the walk does not translate."""


@dataclass(frozen=True)
class Term:
    """An integer value: its z3 term, its linear form (``{key: coef}``, const) or None, its text."""

    z3: Any
    lin: tuple[dict[str, int], int] | None
    text: str
    #: A product of sizes, or a division by one: z3 may take very long, so no proof is tried.
    nonlinear: bool = False


@dataclass(frozen=True)
class Guard:
    """A translated guard: the z3 condition and how a person reads it."""

    condition: Any
    text: str
    nonlinear: bool = False


#: z3's budget per question; an answer it cannot find in time counts as "not proven".
PROOF_TIMEOUT_MS = 2000

#: torch's names for an unbounded end of a range, in guard text.
_INFINITY = frozenset({"IntInfinity", "int_oo", "oo"})
_FLAT_ARG = re.compile(r"\[(\d+)\]")

_COMPARE = {ast.LtE: "<=", ast.Lt: "<", ast.GtE: ">=", ast.Gt: ">", ast.Eq: "==", ast.NotEq: "!="}
_SYMPY_COMPARE = {"<=": "<=", "<": "<", ">=": ">=", ">": ">", "==": "==", "!=": "!="}


_INT_COMPARE = {
    "<=": int.__le__,
    "<": int.__lt__,
    ">=": int.__ge__,
    ">": int.__gt__,
    "==": int.__eq__,
    "!=": int.__ne__,
}


def _z3_compare(a: Any, op: str, b: Any) -> Any:
    return {"<=": a <= b, "<": a < b, ">=": a >= b, ">": a > b, "==": a == b, "!=": a != b}[op]


def _add(a: Term, b: Term, sign: int = 1) -> Term:
    lin = None
    if a.lin is not None and b.lin is not None:
        terms = dict(a.lin[0])
        for k, c in b.lin[0].items():
            terms[k] = terms.get(k, 0) + sign * c
        lin = ({k: c for k, c in terms.items() if c}, a.lin[1] + sign * b.lin[1])
    text = f"{a.text} {'+' if sign > 0 else '-'} {b.text}"
    return Term(a.z3 + b.z3 if sign > 0 else a.z3 - b.z3, lin, text, a.nonlinear or b.nonlinear)


def _mul(a: Term, b: Term) -> Term:
    lin = None
    for x, y in ((a, b), (b, a)):
        if x.lin is not None and not x.lin[0] and y.lin is not None:
            k = x.lin[1]
            lin = ({n: k * c for n, c in y.lin[0].items() if k * c}, k * y.lin[1])
    nonlinear = a.nonlinear or b.nonlinear or not (_constant(a) or _constant(b))
    return Term(a.z3 * b.z3, lin, f"{_wrap(a.text)}*{_wrap(b.text)}", nonlinear)


def _constant(term: Term) -> int | None:
    return term.lin[1] if term.lin is not None and not term.lin[0] else None


def _wrap(text: str) -> str:
    return f"({text})" if " " in text else text


def _const(value: int) -> Term:
    return Term(z3.IntVal(value), ({}, value), str(value))


def _divmod(a: Term, b: Term, op: str) -> Term:
    k = _constant(b)
    if k and a.lin is not None and all(c % k == 0 for c in (*a.lin[0].values(), a.lin[1])):
        # exact: ``(4*h) // 4`` is ``h`` and ``(4*h) % 4`` is 0 (a derived dim divided back)
        if op == "%":
            return _const(0)
        lin = ({n: c // k for n, c in a.lin[0].items()}, a.lin[1] // k)
        readable = not any(n.startswith("v:") for n in lin[0])  # dim names (own variables show their label)
        text = format_linear(list(lin[0].items()), lin[1]) if readable else f"{_wrap(a.text)} // {k}"
        return Term(a.z3 / k, lin, text, a.nonlinear)
    text = f"{_wrap(a.text)} {op} {_wrap(b.text)}"
    return Term(a.z3 / b.z3 if op == "//" else a.z3 % b.z3, None, text, a.nonlinear or b.nonlinear or k is None)


def _join(parts: list[Guard], conjunction: bool) -> Guard:
    join, word = (z3.And, " and ") if conjunction else (z3.Or, " or ")
    text = word.join(f"({p.text})" for p in parts)
    return Guard(join(*[p.condition for p in parts]), text, any(p.nonlinear for p in parts))


def _negate(guard: Guard) -> Guard:
    return Guard(z3.Not(guard.condition), f"not ({guard.text})", guard.nonlinear)


#: The value of an unbounded end (compared, never computed with).
INFINITY = Term(None, None, "inf")


def _minmax(args: list[Term], pick_low: bool) -> Term:
    result = args[0].z3
    for a in args[1:]:
        result = z3.If(a.z3 <= result, a.z3, result) if pick_low else z3.If(a.z3 >= result, a.z3, result)
    name = "min" if pick_low else "max"
    return Term(result, None, f"{name}({', '.join(a.text for a in args)})", any(a.nonlinear for a in args))


class GuardTranslator:
    """torch guards -> z3 over symshape's dims.

    Root and derived axes become expressions in dim names; an axis left ``Dim.AUTO``
    (a sum of roots) and an int input each get a variable of their own, named by
    their label.
    """

    def __init__(self, spec: DimSpec) -> None:
        self.rows = {(a.path, a.axis): a for a in spec.axes}
        #: Strict mode names inputs ``L['flat_args'][i]``: the i-th leaf in flatten order.
        self.leaf_paths = {a.leaf: a.path for a in spec.axes}
        self.variables: dict[str, Any] = {d.name: z3.Int(d.name) for d in spec.dim_rows}
        self._display: dict[str, str] = {d.name: d.name for d in spec.dim_rows}
        self._solver = z3.Solver()  # one solver, a push/pop per question: making one costs more than most checks
        self._solver.set("timeout", PROOF_TIMEOUT_MS)

    # -- variables -------------------------------------------------------------------
    def own_variable(self, row: AxisRow) -> str:
        """The key of the variable of an axis with a symbol of its own (``Dim.AUTO``,
        an int input), created on first use."""
        key = f"v:{row.label}"
        if key not in self.variables:
            self.variables[key] = z3.Int(key)
            self._display[key] = row.label
        return key

    def has_own_symbol(self, row: AxisRow) -> bool:
        return row.role == SUM or row.is_int

    def row_term(self, row: AxisRow) -> Term:
        """What torch's symbol for ``row`` stands for, in symshape's names."""
        if self.has_own_symbol(row):
            return self.key_term(self.own_variable(row))
        return self.expression_term(row)

    def key_term(self, key: str) -> Term:
        return Term(self.variables[key], ({key: 1}, 0), self._display[key])

    def expression_term(self, row: AxisRow) -> Term:
        """The expression symshape inferred for ``row`` (a sum for an AUTO axis)."""
        return self.linear_term(row.terms, row.const, row.expr)

    def linear_term(self, terms: tuple[tuple[str, int], ...], const: int, text: str) -> Term:
        """``sum(c * dim) + const`` over dim names."""
        value = sum((c * self.variables[name] for name, c in terms), z3.IntVal(const))
        return Term(value, (dict(terms), const), text)

    # -- torch's guard text ----------------------------------------------------------
    def condition(self, guard: str) -> Guard | None:
        """A guard of ``program_guards``, or None for a form that is not modelled."""
        try:
            tree = ast.parse(guard.strip(), mode="eval").body
            return self._boolean(tree)
        except (UnmodelledError, SyntaxError, KeyError, z3.Z3Exception):
            return None

    def _path(self, name: str, rest: str) -> str:
        flat = _FLAT_ARG.fullmatch(rest) if name == "flat_args" else None
        return self.leaf_paths.get(int(flat.group(1)), f"{name}{rest}") if flat else f"{name}{rest}"

    def _source(self, node: ast.AST) -> Term | None:
        text = ast.unparse(node)
        if (m := SOURCE.fullmatch(text)) is not None:
            row = self.rows.get((self._path(m.group(1), m.group(2)), int(m.group(3))))
        elif (m := INT_SOURCE.fullmatch(text)) is not None:
            row = self.rows.get((self._path(m.group(1), m.group(2)), None))
        else:
            return None
        if row is None:
            raise UnmodelledError(text)
        return self.row_term(row)

    def _value(self, node: ast.AST) -> Term:
        source = self._source(node) if isinstance(node, (ast.Subscript, ast.Call)) else None
        if source is not None:
            return source
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return _const(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return _mul(_const(-1), self._value(node.operand))
        if isinstance(node, ast.BinOp):
            a, b = self._value(node.left), self._value(node.right)
            if isinstance(node.op, ast.Add):
                return _add(a, b)
            if isinstance(node.op, ast.Sub):
                return _add(a, b, -1)
            if isinstance(node.op, ast.Mult):
                return _mul(a, b)
            if isinstance(node.op, (ast.FloorDiv, ast.Mod)):
                return _divmod(a, b, "//" if isinstance(node.op, ast.FloorDiv) else "%")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _INFINITY:
            return INFINITY
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("min", "max", "Min", "Max")
        ):
            return _minmax([self._value(a) for a in node.args], node.func.id.lower() == "min")
        raise UnmodelledError(ast.unparse(node))

    def _boolean(self, node: ast.AST) -> Guard:
        if isinstance(node, ast.Compare):
            values = [self._value(node.left), *(self._value(c) for c in node.comparators)]
            parts = []
            for i, op in enumerate(node.ops):
                if type(op) not in _COMPARE:
                    raise UnmodelledError(type(op).__name__)
                parts.append(self._compare(values[i], _COMPARE[type(op)], values[i + 1]))
            return parts[0] if len(parts) == 1 else _join(parts, True)
        if isinstance(node, ast.BoolOp):
            return _join([self._boolean(v) for v in node.values], isinstance(node.op, ast.And))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return _negate(self._boolean(node.operand))
        raise UnmodelledError(ast.unparse(node))

    def _compare(self, a: Term, op: str, b: Term) -> Guard:
        if a is INFINITY or b is INFINITY:  # a range with no upper end: ``n <= IntInfinity()``
            holds = (op in ("<=", "<", "!=")) == (b is INFINITY) if a is not b else op in ("<=", ">=", "==")
            return Guard(z3.BoolVal(holds), f"{a.text} {op} {b.text}")
        condition = _z3_compare(a.z3, op, b.z3)
        nonlinear = a.nonlinear or b.nonlinear
        if a.lin is not None and b.lin is not None:
            diff = _add(a, b, -1).lin
            assert diff is not None
            terms = {self._display[k]: c for k, c in diff[0].items()}
            if not terms:  # both sides the same dims (input consistency, ``batch == batch``): decided here
                condition = z3.BoolVal(_INT_COMPARE[op](diff[1], 0))
            return Guard(condition, format_comparison(terms, diff[1], op), nonlinear)
        return Guard(condition, f"{a.text} {'=' if op == '==' else op} {b.text}", nonlinear)

    # -- sympy (asserts, program shapes) -------------------------------------------------
    def sympy_term(self, expr: Any, symbols: Mapping[str, str]) -> Term:
        """A sympy integer expression over torch symbols; ``symbols`` maps a torch
        symbol (``s77``) to a variable key (a dim name or an own variable)."""
        if expr.is_Symbol:
            key = symbols.get(str(expr))
            if key is None:
                raise UnmodelledError(str(expr))
            return self.key_term(key)
        if expr.is_Integer:
            return _const(int(expr))
        if isinstance(expr, (sympy.Add, sympy.Mul)):
            terms = [self.sympy_term(a, symbols) for a in expr.args]
            return functools.reduce(_add if isinstance(expr, sympy.Add) else _mul, terms)
        name = type(expr).__name__
        if name in ("Min", "Max"):
            return _minmax([self.sympy_term(a, symbols) for a in expr.args], name == "Min")
        if name in ("FloorDiv", "PythonMod", "Mod") and len(expr.args) == 2:
            a, b = (self.sympy_term(x, symbols) for x in expr.args)
            return _divmod(a, b, "//" if name == "FloorDiv" else "%")
        raise UnmodelledError(name)

    def sympy_condition(self, expr: Any, symbols: Mapping[str, str]) -> Guard | None:
        """A sympy boolean (a deferred assert), or None for a form that is not modelled."""
        try:
            return self._sympy_boolean(expr, symbols)
        except (UnmodelledError, z3.Z3Exception):
            return None

    def _sympy_boolean(self, expr: Any, symbols: Mapping[str, str]) -> Guard:
        if isinstance(expr, sympy.core.relational.Relational) and expr.rel_op in _SYMPY_COMPARE:
            a, b = self.sympy_term(expr.lhs, symbols), self.sympy_term(expr.rhs, symbols)
            return self._compare(a, _SYMPY_COMPARE[expr.rel_op], b)
        if isinstance(expr, (sympy.And, sympy.Or)):
            return _join([self._sympy_boolean(a, symbols) for a in expr.args], isinstance(expr, sympy.And))
        if isinstance(expr, sympy.Not):
            return _negate(self._sympy_boolean(expr.args[0], symbols))
        raise UnmodelledError(type(expr).__name__)

    # -- proofs ----------------------------------------------------------------------
    def always_true(self, condition: Any, *facts: Any) -> bool:
        """True when no non-negative sizes (satisfying ``facts``) break ``condition``."""
        if z3.is_true(condition):  # most guards: equalities the shared Dims already imply
            return True
        solver = self._solver
        solver.push()
        try:
            solver.add(*[v >= 0 for v in self.variables.values()], *facts, z3.Not(condition))
            return solver.check() == z3.unsat
        finally:
            solver.pop()

    def describe(self, term: Term) -> str:
        """A term as text in symshape's names (a linear one written in order)."""
        if term.lin is not None:
            return format_linear([(self._display[k], c) for k, c in term.lin[0].items()], term.lin[1])
        return term.text
