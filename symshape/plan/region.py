"""A program's region: the sizes it holds, in symshape's dim names.

A region is a conjunction of integer linear constraints over dims,
``sum(coef * dim) OP bound`` with OP one of ``==``, ``<=``, ``>=``:
``seq_len == 1``, ``past_len + seq_len <= 15``. It is built from the program's spec
(dims that are static there, ranges, bounds) and from the program's guards that are
linear in dims; z3 proves that the region implies every such guard, and finds
overlaps between regions. Testing a call against a region is a few integer
operations on precomputed tuples (no z3, no trace).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from ..core.linear import format_linear

_OPS = ("==", "<=", ">=")


@dataclass(frozen=True)
class Constraint:
    """``sum(coef * dim) OP bound``, with the reason it is part of the region."""

    terms: tuple[tuple[str, int], ...]
    op: str
    bound: int
    reason: str = ""

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.terms)

    @property
    def text(self) -> str:
        """``seq_len == 1``, ``past_len + seq_len <= 15``, ``mask_len == past_len + 1``."""
        pos = [(d, c) for d, c in self.terms if c > 0]
        neg = [(d, -c) for d, c in self.terms if c < 0]
        if not neg:
            return f"{format_linear(pos, 0)} {self.op} {self.bound}"
        return f"{format_linear(pos, 0)} {self.op} {format_linear(neg, self.bound)}"

    def value(self, sizes: Mapping[str, int]) -> int:
        return sum(c * sizes[d] for d, c in self.terms)

    def holds(self, sizes: Mapping[str, int]) -> bool:
        v = self.value(sizes)
        return v == self.bound if self.op == "==" else v <= self.bound if self.op == "<=" else v >= self.bound

    def excess(self, sizes: Mapping[str, int]) -> int:
        """How far ``sizes`` are outside the constraint (0 inside)."""
        v = self.value(sizes)
        if self.op == "==":
            return abs(v - self.bound)
        return max(0, v - self.bound) if self.op == "<=" else max(0, self.bound - v)

    def z3(self, variables: Mapping[str, Any]) -> Any:
        v = sum((c * variables[d] for d, c in self.terms), z3.IntVal(0))
        return v == self.bound if self.op == "==" else v <= self.bound if self.op == "<=" else v >= self.bound

    def to_json(self) -> dict[str, Any]:
        return {"terms": [list(t) for t in self.terms], "op": self.op, "bound": self.bound, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Any) -> Constraint:
        terms = tuple((str(d), int(c)) for d, c in data["terms"])
        if data["op"] not in _OPS or not terms or not all(d.isidentifier() for d, _ in terms):
            raise ValueError(f"not a constraint: {data!r}")
        return cls(terms, data["op"], int(data["bound"]), str(data.get("reason", "")))


def normal(c: Constraint) -> Constraint:
    """The same constraint with its terms in name order and the first coefficient positive."""
    terms = tuple(sorted(c.terms))
    if terms and terms[0][1] < 0:
        flip = {"<=": ">=", ">=": "<=", "==": "=="}
        return Constraint(tuple((d, -k) for d, k in terms), flip[c.op], -c.bound, c.reason)
    return Constraint(terms, c.op, c.bound, c.reason)


def equal(dim: str, value: int, reason: str = "") -> Constraint:
    return Constraint(((dim, 1),), "==", value, reason)


@dataclass
class Region:
    """The sizes a program holds: constraints over dims, plus what only the program checks."""

    constraints: list[Constraint] = field(default_factory=list)
    #: Guards that are not linear in dims (they name an axis or use //, %): the program checks them.
    unmodelled: list[str] = field(default_factory=list)

    @property
    def dims(self) -> list[str]:
        return list(dict.fromkeys(d for c in self.constraints for d in c.dims))

    @property
    def text(self) -> str:
        return " and ".join(c.text for c in self.constraints) or "any size"

    def __str__(self) -> str:
        return self.text

    def compiled(self, dims: Sequence[str]) -> tuple[tuple[tuple[tuple[int, int], ...], str, int], ...]:
        """The constraints with dims replaced by their index in ``dims`` (for routing)."""
        index = {d: i for i, d in enumerate(dims)}
        return tuple((tuple((index[d], c) for d, c in k.terms), k.op, k.bound) for k in self.constraints)

    def holds(self, sizes: Mapping[str, int]) -> bool:
        return all(c.holds(sizes) for c in self.constraints)

    def broken(self, sizes: Mapping[str, int]) -> list[Constraint]:
        return [c for c in self.constraints if not c.holds(sizes)]

    def distance(self, sizes: Mapping[str, int]) -> tuple[int, int]:
        """(constraints broken, total excess): how far ``sizes`` are from the region."""
        broken = self.broken(sizes)
        return len(broken), sum(c.excess(sizes) for c in broken)

    def add(self, constraint: Constraint) -> None:
        """Add a constraint (normalised); ``a <= k`` and ``a >= k`` on the same terms merge
        into ``a == k``."""
        constraint = normal(constraint)
        for i, c in enumerate(self.constraints):
            if c.terms != constraint.terms or c.bound != constraint.bound:
                continue
            if c.op == constraint.op or c.op == "==":
                return
            if constraint.op == "==" or {c.op, constraint.op} == {"<=", ">="}:
                self.constraints[i] = Constraint(c.terms, "==", c.bound, c.reason or constraint.reason)
                return
        self.constraints.append(constraint)

    def z3(self, variables: Mapping[str, Any]) -> list[Any]:
        return [c.z3(variables) for c in self.constraints]

    def implies(self, constraint: Constraint) -> bool:
        """z3: every non-negative point of the region satisfies ``constraint``."""
        variables = _variables([*self.dims, *constraint.dims])
        solver = z3.Solver()
        solver.add(*[v >= 0 for v in variables.values()], *self.z3(variables), z3.Not(constraint.z3(variables)))
        return solver.check() == z3.unsat

    def overlap(self, other: Region) -> dict[str, int] | None:
        """A point both regions hold (z3), or None."""
        variables = _variables([*self.dims, *other.dims])
        solver = z3.Solver()
        solver.add(*[v >= 0 for v in variables.values()], *self.z3(variables), *other.z3(variables))
        if solver.check() != z3.sat:
            return None
        model = solver.model()
        return {d: model.eval(v, model_completion=True).as_long() for d, v in variables.items()}

    def to_json(self) -> dict[str, Any]:
        return {"constraints": [c.to_json() for c in self.constraints], "unmodelled": list(self.unmodelled)}

    @classmethod
    def from_json(cls, data: Any) -> Region:
        return cls([Constraint.from_json(c) for c in data["constraints"]], [str(u) for u in data["unmodelled"]])


def _variables(dims: Iterable[str]) -> dict[str, Any]:
    return {d: z3.Int(d) for d in dict.fromkeys(dims)}


# -- reading a guard written by symshape (``past_len + seq_len <= 15``) ------------------

_COMPARISON = re.compile(r"^(.*?)\s(<=|>=|==|=|<|>|!=)\s(.*)$")
_TERM = re.compile(r"\s*([+-])?\s*(?:(\d+)\*)?([A-Za-z_]\w*|\d+)\s*")


def _linear(text: str) -> tuple[dict[str, int], int] | None:
    terms: dict[str, int] = {}
    const = 0
    pos = 0
    text = text.strip()
    if text.startswith("-"):
        text = "0 " + text
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None or m.end() == pos:
            return None
        sign = -1 if m.group(1) == "-" else 1
        if pos and m.group(1) is None:
            return None  # two terms without an operator between them
        factor = int(m.group(2) or 1)
        atom = m.group(3)
        if atom.isdigit():
            const += sign * factor * int(atom)
        else:
            terms[atom] = terms.get(atom, 0) + sign * factor
        pos = m.end()
    return {d: c for d, c in terms.items() if c}, const


def parse_guard(text: str, dims: Iterable[str]) -> Constraint | None:
    """A guard as symshape writes it, as a constraint over ``dims``; None when it names
    anything else (an axis, an int input) or is not linear."""
    m = _COMPARISON.match(text.strip())
    if m is None:
        return None
    left, op, right = _linear(m.group(1)), m.group(2), _linear(m.group(3))
    if left is None or right is None or op == "!=":
        return None
    terms = dict(left[0])
    for d, c in right[0].items():
        terms[d] = terms.get(d, 0) - c
    terms = {d: c for d, c in terms.items() if c}
    known = set(dims)
    if not terms or not set(terms) <= known:
        return None
    bound = right[1] - left[1]
    if op == "<":
        op, bound = "<=", bound - 1
    elif op == ">":
        op, bound = ">=", bound + 1
    elif op == "=":
        op = "=="
    if all(c < 0 for c in terms.values()):  # -a - b <= -3  ->  a + b >= 3
        terms = {d: -c for d, c in terms.items()}
        bound = -bound
        op = {"<=": ">=", ">=": "<=", "==": "=="}[op]
    return Constraint(tuple(sorted(terms.items())), op, bound, f"guard of the program: {text.strip()}")
