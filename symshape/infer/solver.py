"""Solve the observation matrix for roots and relations.

Pure integer work on value vectors (one value per input set); no torch, no names.

1. A column with one value everywhere is static.
2. Columns equal in every set form a class (one symbol), except that two axes of
   one leaf are never unified: equal axes of one tensor moving together (a square
   image, the seed's ``(5, 6) -> (7, 8)``) are the usual coincidence of hand-written
   examples.
3. Classes are related by single-root affine maps ``y = a*x + b`` (integers, a > 0):
   ``y - y[0] = a * (x - x[0])`` so candidates share the primitive direction of their
   difference vectors and are found by hashing, not by pairwise search.
4. Remaining roots may be integer sums of two or three roots
   (``mask = past + seq``, ``z = x + 2*y + 1``), found by hashing combinations.

Evidence policy: a relation is kept only if it holds in every set and was seen on at
least ``k + 2`` distinct points, ``k`` being the number of constants it fits (an
offset or a factor other than 1 each count one). Equalities and constant-free sums
need two. Affine maps never link a class to another that shares a leaf with it
(lockstep axes of one tensor). Among the admissible explanations the simplest wins:
fewest roots, then fewest fitted constants, then smallest coefficients.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.linear import format_linear

EQUAL = "equal"
AFFINE = "affine"
SUM = "sum"

#: Coefficients tried for each term of a two-root sum; three-root sums use 1 only.
SUM_COEFFICIENTS = (1, 2, 3)
#: Above this many free roots, three-root sums are not searched (cost grows as m**3).
MAX_ROOTS_FOR_TRIPLES = 48
#: Above this many free roots, sums are not searched at all.
MAX_ROOTS_FOR_SUMS = 400


@dataclass(frozen=True)
class LinExpr:
    """``sum(coef * root) + const`` with positive integer coefficients."""

    terms: tuple[tuple[int, int], ...] = ()  # (root id, coefficient), sorted by root id
    const: int = 0

    @property
    def is_static(self) -> bool:
        return not self.terms

    @property
    def is_root(self) -> bool:
        return len(self.terms) == 1 and self.terms[0][1] == 1 and self.const == 0

    @property
    def roots(self) -> tuple[int, ...]:
        return tuple(r for r, _ in self.terms)

    def evaluate(self, root_values: Sequence[int]) -> int:
        return sum(c * root_values[r] for r, c in self.terms) + self.const

    def substitute(self, root: int, expr: LinExpr) -> LinExpr:
        """Replace ``root`` by ``expr`` (used when a root turns out to be a sum)."""
        coef = dict(self.terms).get(root)
        if coef is None:
            return self
        terms: dict[int, int] = {r: c for r, c in self.terms if r != root}
        for r, c in expr.terms:
            terms[r] = terms.get(r, 0) + coef * c
        return LinExpr(tuple(sorted(terms.items())), self.const + coef * expr.const)

    def format(self, names: Sequence[str]) -> str:
        return format_linear([(names[r], c) for r, c in self.terms], self.const)


@dataclass(frozen=True)
class Relation:
    """A relation the data supports (``kept``) or suggested but did not support enough."""

    kind: str  # EQUAL, AFFINE or SUM
    target: int  # class id: the class the relation defines
    expr: LinExpr  # the target class in terms of roots
    support: int  # number of input sets it was checked on (it holds on all of them)
    distinct: int  # distinct points seen (the evidence)
    fitted: int  # constants fitted (k in the k + 2 rule)
    kept: bool = True
    reason: str = ""

    def with_expr(self, expr: LinExpr) -> Relation:
        """This relation with its expression rewritten (``dataclasses.replace``, without
        its field-by-field introspection)."""
        return Relation(self.kind, self.target, expr, self.support, self.distinct, self.fitted, self.kept, self.reason)

    @property
    def coincidence_prone(self) -> bool:
        """Seen on exactly the minimum evidence: one more set could break it."""
        return self.kept and self.distinct <= self.fitted + 2


@dataclass
class Solution:
    """What the solver found; class and root ids index ``classes`` and ``roots``."""

    num_sets: int
    column_class: list[int]  # column index -> class id, -1 for static columns
    classes: list[list[int]]  # class id -> column indices
    class_values: list[tuple[int, ...]]
    class_expr: list[LinExpr]  # class id -> expression in roots
    roots: list[int]  # root id -> class id that defines it
    relations: list[Relation] = field(default_factory=list)
    split_classes: list[list[int]] = field(default_factory=list)  # columns equal in value, kept apart

    def column_expr(self, column: int, values: tuple[int, ...]) -> LinExpr:
        cls = self.column_class[column]
        return LinExpr((), values[0]) if cls < 0 else self.class_expr[cls]


def _distinct(*vectors: tuple[int, ...]) -> int:
    return len(set(zip(*vectors)))


def _direction(values: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """Primitive direction and gcd of the difference vector ``values - values[0]``."""
    diffs = [v - values[0] for v in values]
    g = 0
    for d in diffs:
        g = math.gcd(g, d)
    return tuple(d // g for d in diffs), g


def _group_by_values(columns: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], list[int]]:
    """Column indices by value vector, in order of first appearance (one dict pass: the
    rest of the solver works per distinct vector, never per column)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, values in enumerate(columns):
        members = groups.get(values)
        if members is None:
            groups[values] = [i]
        else:
            members.append(i)
    return groups


def _equality_classes(
    groups: dict[tuple[int, ...], list[int]], num_columns: int, leaf_of: Sequence[int]
) -> tuple[list[int], list[list[int]], list[list[int]]]:
    """Varying groups become classes; a group holding two axes of one leaf is split."""
    column_class = [-1] * num_columns
    classes: list[list[int]] = []
    split: list[list[int]] = []
    for values, members in groups.items():
        if len(set(values)) == 1:
            continue  # static
        if len({leaf_of[m] for m in members}) == len(members):
            parts = [members]
        else:
            per_leaf: dict[int, list[int]] = {}
            for m in members:
                per_leaf.setdefault(leaf_of[m], []).append(m)
            width = max(len(v) for v in per_leaf.values())
            # The i-th equal axis of every leaf that has several goes to part i;
            # leaves with one such axis join the first part.
            split.append(members)
            parts = [[] for _ in range(width)]
            for m in members:
                axes = per_leaf[leaf_of[m]]
                parts[axes.index(m) if len(axes) > 1 else 0].append(m)
        for part in parts:
            cls = len(classes)
            for m in part:
                column_class[m] = cls
            classes.append(sorted(part))
    return column_class, classes, split


def solve(columns: Sequence[tuple[int, ...]], leaf_of: Sequence[int]) -> Solution:
    """Find static columns, shared symbols, affine and sum relations.

    ``columns[i]`` holds the values of column i in every set and ``leaf_of[i]`` the
    leaf it belongs to (for the lockstep rule).
    """
    num_sets = len(columns[0]) if columns else 0
    groups = _group_by_values(columns)
    column_class, classes, split = _equality_classes(groups, len(columns), leaf_of)
    class_values = [columns[c[0]] for c in classes]
    class_leaves = [frozenset(map(leaf_of.__getitem__, c)) for c in classes]
    class_expr: list[LinExpr | None] = [None] * len(classes)
    roots: list[int] = []
    relations: list[Relation] = []

    for cls, members in enumerate(classes):
        if len(members) > 1:
            values = class_values[cls]
            relations.append(Relation(EQUAL, cls, LinExpr(), num_sets, _distinct(values), 0))

    # --- single-root affine maps, bucketed by primitive direction -----------------
    buckets: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for cls, values in enumerate(class_values):
        direction, g = _direction(values)
        buckets.setdefault(direction, []).append((g, cls))
    root_of_class: dict[int, int] = {}
    family: dict[int, set[int]] = {}  # root id -> leaves of its class and of classes derived from it
    for direction in buckets:
        bucket_roots: list[tuple[int, int]] = []  # (g, class id)
        for g, cls in sorted(buckets[direction], key=lambda gc: (gc[0], min(class_values[gc[1]]), gc[1])):
            values = class_values[cls]
            best: tuple | None = None
            rejected: tuple | None = None
            for g_root, root_cls in bucket_roots:
                if g % g_root:
                    continue
                a = g // g_root
                b = values[0] - a * class_values[root_cls][0]
                fitted = (a != 1) + (b != 0)
                distinct = _distinct(class_values[root_cls])
                rank = (fitted, a, abs(b), b < 0, root_cls)
                root = root_of_class[root_cls]
                if class_leaves[cls] & family[root]:
                    reason = "axes of one tensor moving together are a coincidence, not a relation"
                elif distinct < fitted + 2:
                    reason = f"needs {fitted + 2} distinct values to fit {fitted} constant(s), saw {distinct}"
                else:
                    if best is None or rank < best[0]:
                        best = (rank, root, a, b, fitted, distinct)
                    continue
                if rejected is None or rank < rejected[0]:
                    rejected = (rank, root, a, b, fitted, distinct, reason)
            if best is not None:
                _, root, a, b, fitted, distinct = best
                class_expr[cls] = LinExpr(((root, a),), b)
                family[root] |= class_leaves[cls]
                relations.append(Relation(AFFINE, cls, class_expr[cls], num_sets, distinct, fitted))
                continue
            if rejected is not None:
                _, root, a, b, fitted, distinct, reason = rejected
                relations.append(
                    Relation(AFFINE, cls, LinExpr(((root, a),), b), num_sets, distinct, fitted, False, reason)
                )
            root_of_class[cls] = len(roots)
            family[len(roots)] = set(class_leaves[cls])
            class_expr[cls] = LinExpr(((len(roots), 1),), 0)
            bucket_roots.append((g, cls))
            roots.append(cls)

    # --- sums of two or three roots ---------------------------------------------
    sums = _find_sums([class_values[c] for c in roots], [frozenset(family[r]) for r in range(len(roots))])
    for root, expr, distinct, fitted in sums:
        relations.append(Relation(SUM, roots[root], expr, num_sets, distinct, fitted))
    summed = {root for root, *_ in sums}
    free = sorted((r for r in range(len(roots)) if r not in summed), key=lambda r: roots[r])
    renumber = {old: new for new, old in enumerate(free)}

    def finalise(expr: LinExpr) -> LinExpr:
        """Rewrite in the free roots only, numbered by first appearance."""
        for root, sum_expr, *_ in sums:  # sum terms are always free roots
            expr = expr.substitute(root, sum_expr)
        return LinExpr(tuple(sorted((renumber[r], c) for r, c in expr.terms)), expr.const)

    class_expr = [finalise(e) for e in class_expr]
    roots = [roots[r] for r in free]
    relations = [r.with_expr(class_expr[r.target] if r.kept else finalise(r.expr)) for r in relations]
    solution = Solution(num_sets, column_class, classes, class_values, class_expr, roots, relations, split)
    _check(solution, groups)
    return solution


def _find_sums(
    root_values: list[tuple[int, ...]], root_leaves: list[frozenset[int]]
) -> list[tuple[int, LinExpr, int, int]]:
    """Express roots as sums of other roots: ``z = sum(c_i * r_i) + b``.

    Returns ``(root, expr, distinct, fitted)`` per root re-expressed; terms are always
    roots that stay free. Targets are tried from the smallest values up. A target
    never sums terms it shares a tensor with: with lockstep examples (batch 2->3,
    seq 3->4, past 5->7) ``past = batch + seq`` fits as well as the real
    ``mask = past + seq``, and only the tensor layout tells them apart.
    """
    m = len(root_values)
    if m < 3 or m > MAX_ROOTS_FOR_SUMS:
        return []
    diffs = [tuple(v - values[0] for v in values) for values in root_values]
    # Only a combination whose difference vector is some root's can explain it.
    wanted = set(diffs)
    scaled = [[tuple(c * x for x in d) for c in SUM_COEFFICIENTS] for d in diffs]
    combos: dict[tuple[int, ...], list[tuple[tuple[int, int], ...]]] = {}
    for i, j in itertools.combinations(range(m), 2):
        for ci, si in zip(SUM_COEFFICIENTS, scaled[i]):
            for cj, sj in zip(SUM_COEFFICIENTS, scaled[j]):
                key = tuple(map(operator.add, si, sj))
                if key in wanted:
                    combos.setdefault(key, []).append(((i, ci), (j, cj)))
    if m <= MAX_ROOTS_FOR_TRIPLES:
        for i, j, k in itertools.combinations(range(m), 3):
            key = tuple(map(operator.add, map(operator.add, diffs[i], diffs[j]), diffs[k]))
            if key in wanted:
                combos.setdefault(key, []).append(((i, 1), (j, 1), (k, 1)))

    def candidates(z: int) -> list[tuple[tuple, LinExpr, int, int]]:
        out = []
        for terms in combos.get(diffs[z], ()):
            roots_used = [r for r, _ in terms]
            if z in roots_used:
                continue
            if any(root_leaves[z] & root_leaves[r] for r in roots_used):
                continue
            const = root_values[z][0] - sum(c * root_values[r][0] for r, c in terms)
            fitted = sum(c != 1 for _, c in terms) + (const != 0)
            distinct = _distinct(root_values[z], *(root_values[r] for r in roots_used))
            if distinct >= fitted + 2:
                rank = (len(terms), fitted, sum(c for _, c in terms), abs(const), const < 0, terms)
                out.append((rank, LinExpr(tuple(sorted(terms)), const), distinct, fitted))
        return out

    # Roots that some sum explains make poor terms: with c = r1 + r2 + r3 and
    # a = r1 + r2 + 4, "c = a + r3 - 4" would leave a as an extra root.
    every = [candidates(z) for z in range(m)]
    explainable = {z for z in range(m) if every[z]}
    is_sum: set[int] = set()
    used_as_term: set[int] = set()
    found = []
    for z in sorted(range(m), key=lambda r: (max(root_values[r]), r)):
        if z in used_as_term:
            continue
        options = [o for o in every[z] if not any(r in is_sum for r in o[1].roots)]
        if not options:
            continue
        _, expr, distinct, fitted = min(options, key=lambda o: (sum(r in explainable for r in o[1].roots), o[0]))
        is_sum.add(z)
        used_as_term.update(expr.roots)
        found.append((z, expr, distinct, fitted))
    return found


def _check(solution: Solution, groups: dict[tuple[int, ...], list[int]]) -> None:
    """The invariant: every expression reproduces every observed value.

    Checked per class (its columns have identical values by construction) and per
    group of columns with one value vector.
    """
    root_values = [solution.class_values[c] for c in solution.roots]
    per_set = list(zip(*root_values)) if root_values else [()] * solution.num_sets
    for cls, expr in enumerate(solution.class_expr):
        for s, observed in enumerate(solution.class_values[cls]):
            if expr.evaluate(per_set[s]) != observed:  # pragma: no cover - a solver bug, never user input
                raise AssertionError(f"symshape solver bug: class {cls} set {s}: {expr} != {observed}")
    for values, members in groups.items():
        found = set(map(solution.column_class.__getitem__, members))
        static = len(set(values)) == 1
        if (found != {-1}) if static else (-1 in found or any(solution.class_values[c] != values for c in found)):
            raise AssertionError(f"symshape solver bug: columns {members[:3]}... misclassified")  # pragma: no cover
