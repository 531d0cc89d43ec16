"""Property tests for the solver and ``infer_dims`` on random ground-truth systems.

A *system* is a ground truth: 1-4 roots with a value per input set, and tensors whose
axes are expressions in those roots (a root, ``root + b``, ``k*root``, ``k*root + b``,
sums of two or three roots, static constants), nested in lists and dicts.

(a) Soundness: every emitted expression reproduces every observed value. Checked on
    adversarial systems (tiny value ranges, repeated values, roots never seen alone,
    related axes inside one tensor) through ``solve`` and through ``infer_dims``,
    together with the evidence rule (a kept ``k*root + b`` saw k + 2 distinct root
    values) and the lockstep rule (no two axes of one tensor related through a root).
(b) Recovery: with enough distinct points for the evidence policy (k + 2 for k fitted
    constants) and a non-degenerate system, the ground truth comes back exactly, up to
    renaming of the roots: always for equalities and affine maps (hypothesis), and as
    a rate on a fixed seeded batch (``pytest -s`` prints it): 100% for equalities and
    affine maps, at least 99% for sums. A sum defect hypothesis found is pinned as a
    regression test at the end of the file.
(c) Lockstep: the axes of one tensor are never related to each other.

Tensors are ``torch.empty`` on the CPU; only a tensor too large to allocate cheaply
(wide value ranges) is made on the ``meta`` device, which has the same shape and
costs nothing (symshape reads shapes only).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Any, NamedTuple

import pytest
import torch
import torch.utils._pytree as pytree
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import symshape
from symshape.infer.solver import SUM_COEFFICIENTS, solve

# ---------------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------------


class Expr(NamedTuple):
    """``sum(coef * root) + const``; terms sorted by root index, coefficients > 0."""

    terms: tuple[tuple[int, int], ...]
    const: int

    @property
    def support(self) -> frozenset[int]:
        return frozenset(r for r, _ in self.terms)

    @property
    def fitted(self) -> int:
        """Constants the evidence policy counts for this relation (k in k + 2)."""
        return sum(c != 1 for _, c in self.terms) + (self.const != 0)

    def evaluate(self, root_values: list[tuple[int, ...]], s: int) -> int:
        return sum(c * root_values[r][s] for r, c in self.terms) + self.const

    def __str__(self) -> str:
        if not self.terms:
            return str(self.const)
        text = " + ".join(f"r{r}" if c == 1 else f"{c}*r{r}" for r, c in self.terms)
        return f"{text} + {self.const}" if self.const else text


def _expr(terms: dict[int, int], const: int = 0) -> Expr:
    return Expr(tuple(sorted(terms.items())), const)


@dataclass
class System:
    num_sets: int
    root_values: list[tuple[int, ...]]  # root -> value per set
    tensors: list[list[Expr]]  # tensor -> axis expressions
    template: Any  # nested lists / dicts with _Leaf(i) markers, one entry per argument

    @property
    def num_roots(self) -> int:
        return len(self.root_values)

    def vector(self, expr: Expr) -> tuple[int, ...]:
        return tuple(expr.evaluate(self.root_values, s) for s in range(self.num_sets))

    def columns(self) -> tuple[list[Expr], list[tuple[int, ...]], list[int]]:
        """Truth, observed values and leaf per column, tensors in index order."""
        truth, values, leaf_of = [], [], []
        for leaf, axes in enumerate(self.tensors):
            for expr in axes:
                truth.append(expr)
                values.append(self.vector(expr))
                leaf_of.append(leaf)
        return truth, values, leaf_of

    def in_flatten_order(self, per_column: list) -> list:
        """Reorder per-column items (tensors in index order) the way pytree, hence
        symshape, flattens the inputs."""
        starts = list(itertools.accumulate([0] + [len(a) for a in self.tensors]))
        order = [leaf.index for leaf in pytree.tree_leaves(list(self.template))]
        return [per_column[starts[t] + k] for t in order for k in range(len(self.tensors[t]))]

    def input_sets(self) -> list[tuple]:
        def build(node: Any, s: int) -> Any:
            if isinstance(node, _Leaf):
                return _tensor([e.evaluate(self.root_values, s) for e in self.tensors[node.index]])
            if isinstance(node, dict):
                return {k: build(v, s) for k, v in node.items()}
            return [build(v, s) for v in node]

        return [tuple(build(arg, s) for arg in self.template) for s in range(self.num_sets)]

    def __str__(self) -> str:
        roots = ", ".join(f"r{i}={list(v)}" for i, v in enumerate(self.root_values))
        tensors = "; ".join(f"t{i}({', '.join(map(str, axes))})" for i, axes in enumerate(self.tensors))
        return f"{self.num_sets} sets; {roots}; {tensors}"


def _tensor(shape: list[int]) -> torch.Tensor:
    """``torch.empty``; symshape clones the chosen example set, so a tensor too large
    to allocate cheaply is made on "meta" (same shape, no storage)."""
    return torch.empty(shape) if math.prod(shape) <= 1 << 20 else torch.empty(shape, device="meta")


@dataclass(frozen=True)
class _Leaf:
    index: int


# ---------------------------------------------------------------------------------
# One generator for hypothesis (shrinkable draws) and for random.Random (fixed batch)
# ---------------------------------------------------------------------------------


class _Draws:
    def int(self, lo: int, hi: int) -> int:
        raise NotImplementedError

    def values(self, lo: int, hi: int, n: int, unique: bool) -> list[int]:
        raise NotImplementedError

    def choice(self, seq: list | tuple) -> Any:
        return seq[self.int(0, len(seq) - 1)]

    def shuffled(self, seq: list) -> list:
        out = list(seq)
        for i in range(len(out) - 1, 0, -1):
            j = self.int(0, i)
            out[i], out[j] = out[j], out[i]
        return out


class _HypDraws(_Draws):
    def __init__(self, draw: Any) -> None:
        self.draw = draw

    def int(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def values(self, lo: int, hi: int, n: int, unique: bool) -> list[int]:
        return self.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n, unique=unique))


class _RandDraws(_Draws):
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def values(self, lo: int, hi: int, n: int, unique: bool) -> list[int]:
        if unique:
            return self.rng.sample(range(lo, hi + 1), n)
        return [self.rng.randint(lo, hi) for _ in range(n)]


AFFINE_KINDS = ("equal", "offset", "scale", "scale_offset")
SUM_KINDS = ("sum2", "sum3")


@dataclass(frozen=True)
class Mode:
    kinds: tuple[str, ...]
    min_roots: int = 1
    require_sum: bool = False
    value_ranges: tuple[tuple[int, int], ...] = ((2, 500),)
    recoverable: bool = True  # distinct root values, evidence-sized set count, plain roots, clean layout
    max_varying_per_tensor: int = 3


RECOVER_AFFINE = Mode(AFFINE_KINDS)
RECOVER_SUM = Mode(AFFINE_KINDS + SUM_KINDS + SUM_KINDS, min_roots=2, require_sum=True)
# Soundness: anything goes, small ranges to provoke coincidences.
SOUND = Mode(AFFINE_KINDS + SUM_KINDS, value_ranges=((0, 3), (0, 8), (1, 20), (2, 500)), recoverable=False)
SOUND_TORCH = Mode(AFFINE_KINDS + SUM_KINDS, value_ranges=((0, 3), (0, 8), (1, 12)), recoverable=False)


def _make_expr(d: _Draws, kind: str, num_roots: int) -> Expr:
    if kind in AFFINE_KINDS:
        r = d.int(0, num_roots - 1)
        k = d.int(2, 3) if kind in ("scale", "scale_offset") else 1
        b = d.int(1, 5) if kind in ("offset", "scale_offset") else 0
        return _expr({r: k}, b)
    roots = d.shuffled(list(range(num_roots)))[: 2 if kind == "sum2" else 3]
    if kind == "sum2" and d.int(0, 2) == 0:
        coefs = [d.choice(SUM_COEFFICIENTS) for _ in roots]
    else:
        coefs = [1] * len(roots)
    const = d.int(1, 5) if d.int(0, 2) == 0 else 0
    return _expr(dict(zip(roots, coefs)), const)


def gen_system(d: _Draws, mode: Mode) -> System:
    kinds = list(mode.kinds)
    num_roots = d.int(mode.min_roots, 4)
    if num_roots < 3:
        kinds = [k for k in kinds if k != "sum3"]
    if num_roots < 2:
        kinds = [k for k in kinds if k != "sum2"]
    num_sets = d.int(2, 6)

    def fit(e: Expr) -> Expr:
        """A recoverable system only holds relations its sets can support (k + 2 <= sets)."""
        if not mode.recoverable or e.fitted + 2 <= num_sets:
            return e
        e = e._replace(const=0)
        if e.fitted + 2 <= num_sets:
            return e
        return _expr({r: 1 for r, _ in e.terms})

    exprs: list[Expr] = []
    if mode.recoverable:
        exprs += [_expr({r: 1}) for r in range(num_roots)]  # every root is seen alone at least once
    for _ in range(d.int(0 if mode.recoverable else 1, 7)):
        exprs.append(fit(_make_expr(d, d.choice(kinds), num_roots)))
    if mode.require_sum and not any(len(e.terms) > 1 for e in exprs):
        exprs.append(fit(_make_expr(d, "sum2" if num_roots < 3 or d.int(0, 1) else "sum3", num_roots)))
    statics = [_expr({}, d.int(0 if not mode.recoverable else 1, 16)) for _ in range(d.int(0, 3))]

    lo, hi = d.choice(mode.value_ranges)
    root_values = [tuple(d.values(lo, hi, num_sets, unique=mode.recoverable)) for _ in range(num_roots)]

    # Layout: a clean system never puts two axes with overlapping roots in one tensor.
    clean = mode.recoverable or d.int(0, 1) == 0
    tensors: list[list[Expr]] = []
    for e in d.shuffled(exprs):
        fits = [
            i
            for i, axes in enumerate(tensors)
            if len(axes) < mode.max_varying_per_tensor
            and (not clean or all(e.support.isdisjoint(a.support) for a in axes))
        ]
        pick = d.int(0, len(fits))
        if pick == len(fits):
            tensors.append([e])
        else:
            tensors[fits[pick]].append(e)
    for e in statics:
        pick = d.int(0, len(tensors))
        if pick == len(tensors):
            tensors.append([e])
        else:
            axes = tensors[pick]
            axes.insert(d.int(0, len(axes)), e)

    # Containers: 1-3 positional arguments, each a leaf or nested lists / dicts.
    def nest(ids: list[int], depth: int) -> Any:
        if len(ids) == 1 and (depth >= 3 or d.int(0, 1) == 0):
            return _Leaf(ids[0])
        if depth >= 3:
            return [_Leaf(i) for i in ids]
        groups = _split(d, ids, d.int(1, min(3, len(ids))))
        if d.int(0, 1):
            return {f"k{j}": nest(g, depth + 1) for j, g in enumerate(groups)}
        return [nest(g, depth + 1) for g in groups]

    order = d.shuffled(list(range(len(tensors))))
    args = _split(d, order, d.int(1, min(3, len(order))))
    template = [nest(g, 1) for g in args]
    return System(num_sets, root_values, tensors, template)


def _split(d: _Draws, ids: list[int], parts: int) -> list[list[int]]:
    cuts = sorted(d.shuffled(list(range(1, len(ids))))[: parts - 1])
    bounds = [0, *cuts, len(ids)]
    return [ids[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def systems(draw: Any, mode: Mode) -> System:
    return gen_system(_HypDraws(draw), mode)


# ---------------------------------------------------------------------------------
# Degeneracy: numeric coincidences the solver may legitimately prefer to the truth
# ---------------------------------------------------------------------------------


def _direction(v: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    diffs = [x - v[0] for x in v]
    g = 0
    for x in diffs:
        g = math.gcd(g, x)
    return tuple(x // g for x in diffs), g


def _distinct(*vectors: tuple[int, ...]) -> int:
    return len(set(zip(*vectors)))


def _combine(parts: list[tuple[Expr, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for e, c in parts:
        for r, k in e.terms:
            out[r] = out.get(r, 0) + c * k
    return out


def degeneracy(system: System) -> str | None:
    """Why the values admit a simpler (or as simple) explanation than the truth, or None.

    Over every pair of distinct truth expressions (not only roots: ``r2 == 2*r1 + 3``
    in every set would merge a root with a derived axis): identical vectors, an
    admissible integer affine map, or an admissible pair / triple sum (the solver's
    search space) that holds in the numbers but not in the symbols.
    """
    n = system.num_sets
    exprs = sorted({e for axes in system.tensors for e in axes if e.terms})
    vecs = {e: system.vector(e) for e in exprs}
    for r, v in enumerate(system.root_values):
        if len(set(v)) < n:
            return f"r{r} repeats a value"
    for e in exprs:
        if len(set(vecs[e])) < 2:
            return f"{e} is constant"
    by_vec: dict[tuple[int, ...], Expr] = {}
    for e in exprs:
        if vecs[e] in by_vec:
            return f"{e} == {by_vec[vecs[e]]} in every set"
        by_vec[vecs[e]] = e
    dirs = {e: _direction(vecs[e]) for e in exprs}
    for x, y in itertools.permutations(exprs, 2):
        (dx, gx), (dy, gy) = dirs[x], dirs[y]
        if dx != dy or gy % gx:
            continue
        a = gy // gx
        b = vecs[y][0] - a * vecs[x][0]
        fitted = (a != 1) + (b != 0)
        if _distinct(vecs[x]) >= fitted + 2 and _combine([(x, a)]) != dict(y.terms):
            return f"{y} == {a}*({x}) + {b} in every set"
    diffs = {e: tuple(v - vecs[e][0] for v in vecs[e]) for e in exprs}
    for z in exprs:
        others = [e for e in exprs if e != z]
        combos = [
            ((i, ci), (j, cj))
            for i, j in itertools.combinations(others, 2)
            for ci in SUM_COEFFICIENTS
            for cj in SUM_COEFFICIENTS
        ]
        combos += [tuple((e, 1) for e in t) for t in itertools.combinations(others, 3)]
        for combo in combos:
            if any(sum(c * diffs[e][s] for e, c in combo) != diffs[z][s] for s in range(n)):
                continue
            const = vecs[z][0] - sum(c * vecs[e][0] for e, c in combo)
            fitted = sum(c != 1 for _, c in combo) + (const != 0)
            if _distinct(vecs[z], *(vecs[e] for e, _ in combo)) < fitted + 2:
                continue
            if _combine(list(combo)) != dict(z.terms):
                text = " + ".join(f"{c}*({e})" for e, c in combo)
                return f"{z} == {text} + {const} in every set"
    return None


# ---------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------


def check_solution_sound(columns: list[tuple[int, ...]], solution: Any, leaf_of: list[int]) -> None:
    """Every expression reproduces every value, with the evidence and lockstep rules."""
    root_vectors = [solution.class_values[c] for c in solution.roots]
    exprs = [solution.column_expr(i, values) for i, values in enumerate(columns)]
    for i, (expr, values) in enumerate(zip(exprs, columns)):
        assert all(c > 0 for _, c in expr.terms), f"column {i}: non-positive coefficient in {expr}"
        for s, observed in enumerate(values):
            got = sum(c * root_vectors[r][s] for r, c in expr.terms) + expr.const
            assert got == observed, f"column {i} {values}: {expr} gives {got} != {observed} in set {s}"
        _check_evidence(f"column {i} = {expr}", [(root_vectors[r], c) for r, c in expr.terms], expr.const)
    _check_lockstep([(leaf_of[i], i, e.terms) for i, e in enumerate(exprs)])
    for relation in solution.relations:
        if relation.kept:
            assert relation.distinct >= relation.fitted + 2 and relation.support == solution.num_sets, relation


def _check_evidence(what: str, terms: list[tuple[tuple[int, ...], int]], const: int) -> None:
    """A single-root map ``k*root + b`` needs k + 2 distinct root values; a root or a sum
    varies (two or more points). Sums may compose an affine map with a sum (``2*z + 1``
    with ``z = x + y``), each step supported, so their final constants are not counted."""
    if len(terms) == 1:
        ((values, coef),) = terms
        fitted = (coef != 1) + (const != 0)
        assert len(set(values)) >= fitted + 2, (
            f"{what}: {fitted} constant(s) fitted on {len(set(values))} distinct values {values}"
        )
    for values, _ in terms:
        assert len(set(values)) >= 2, f"{what}: a root that does not vary {values}"


def _check_lockstep(rows: list[tuple[int, Any, tuple]]) -> None:
    """Per tensor: no two single-root axes on one root, and no sum over a root that
    another axis of the tensor stands on alone (``(n, n + 1)`` or ``(a, a + b)``)."""
    by_leaf: dict[int, list[tuple[Any, tuple]]] = {}
    for leaf, label, terms in rows:
        by_leaf.setdefault(leaf, []).append((label, terms))
    for axes in by_leaf.values():
        single = {}
        for label, terms in axes:
            if len(terms) == 1:
                root = terms[0][0]
                assert root not in single, f"axes {single[root]} and {label} of one tensor are related through {root}"
                single[root] = label
        for label, terms in axes:
            if len(terms) > 1:
                shared = [r for r, _ in terms if r in single]
                assert not shared, (
                    f"sum axis {label} uses {shared}, which axis {[single[r] for r in shared]} of its tensor stands on"
                )


def check_spec_sound(spec: symshape.DimSpec, system: System) -> None:
    _, values, _ = system.columns()
    assert [a.values for a in spec.axes] == system.in_flatten_order(values), (
        "axis rows do not match the observed shapes"
    )
    dims = {d.name: d.values for d in spec.dim_rows}
    assert len(dims) == len(spec.dim_rows)
    for row in spec.axes:
        assert row.role == _role(row.terms, row.const), row
        for s, observed in enumerate(row.values):
            got = sum(c * dims[name][s] for name, c in row.terms) + row.const
            assert got == observed, f"{row.label} = {row.expr} gives {got} != {observed} in set {s}"
        _check_evidence(f"{row.label} = {row.expr}", [(dims[n], c) for n, c in row.terms], row.const)
    _check_lockstep([(row.leaf, row.label, row.terms) for row in spec.axes])
    for relation in spec.relations:
        assert relation.distinct >= relation.fitted + 2 and relation.support == spec.num_sets, relation


def _role(terms: tuple, const: int) -> str:
    if not terms:
        return "static"
    if len(terms) == 1:
        return "root" if terms[0][1] == 1 and const == 0 else "derived"
    return "sum"


def recovery_failure_solve(system: System) -> str | None:
    truth, columns, leaf_of = system.columns()
    solution = solve(columns, leaf_of)
    check_solution_sound(columns, solution, leaf_of)
    found = [solution.class_values[c] for c in solution.roots]
    return _compare(
        system, found, [solution.column_expr(i, v) for i, v in enumerate(columns)], truth, lambda e: (e.terms, e.const)
    )


def recovery_failure_infer(system: System) -> str | None:
    spec = symshape.infer_dims(None, system.input_sets())
    check_spec_sound(spec, system)
    truth = system.in_flatten_order(system.columns()[0])
    names = [d.name for d in spec.dim_rows]
    index = {name: i for i, name in enumerate(names)}
    found = [d.values for d in spec.dim_rows]
    return _compare(
        system, found, spec.axes, truth, lambda row: (tuple((index[n], c) for n, c in row.terms), row.const)
    )


def _compare(
    system: System, found: list[tuple[int, ...]], got: list[Any], truth: list[Expr], unpack: Any
) -> str | None:
    if len(found) != system.num_roots:
        return f"{len(found)} roots found, {system.num_roots} in truth: {[list(v) for v in found]}"
    rename: dict[int, int] = {}
    for i, v in enumerate(found):
        if v not in system.root_values:
            return f"found root {list(v)} is not a truth root"
        rename[i] = system.root_values.index(v)
    for i, (item, want) in enumerate(zip(got, truth)):
        terms, const = unpack(item)
        have = _expr({rename[r]: c for r, c in terms}, const)
        if have != want:
            return f"column {i}: got {have}, truth {want}"
    return None


# ---------------------------------------------------------------------------------
# (a) Soundness
# ---------------------------------------------------------------------------------


def fast(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


@fast(2000)
@given(systems(SOUND))
def test_solve_is_sound(system: System) -> None:
    note(str(system))
    _, columns, leaf_of = system.columns()
    check_solution_sound(columns, solve(columns, leaf_of), leaf_of)


@fast(500)
@given(
    st.integers(2, 6).flatmap(lambda n: st.lists(st.tuples(*[st.integers(0, 6)] * n), min_size=1, max_size=12)),
    st.data(),
)
def test_solve_is_sound_on_arbitrary_columns(columns: list[tuple[int, ...]], data: Any) -> None:
    leaf_of = data.draw(st.lists(st.integers(0, 3), min_size=len(columns), max_size=len(columns)))
    check_solution_sound(columns, solve(columns, leaf_of), leaf_of)


@fast(200)
@given(systems(SOUND_TORCH))
def test_infer_dims_is_sound(system: System) -> None:
    note(str(system))
    spec = symshape.infer_dims(None, system.input_sets())
    check_spec_sound(spec, system)


# ---------------------------------------------------------------------------------
# (b) Recovery
# ---------------------------------------------------------------------------------


@fast(300)
@given(systems(RECOVER_AFFINE))
def test_equalities_and_affine_maps_are_recovered(system: System) -> None:
    note(str(system))
    assume(degeneracy(system) is None)
    failure = recovery_failure_solve(system)
    assert failure is None, f"{failure}\n{system}"


def _batch(mode: Mode, count: int, seed: int) -> tuple[list[System], int]:
    draws = _RandDraws(random.Random(seed))
    batch, rejected = [], 0
    while len(batch) < count:
        system = gen_system(draws, mode)
        if degeneracy(system) is None:
            batch.append(system)
        else:
            rejected += 1
    return batch, rejected


@pytest.mark.parametrize(
    ("label", "mode", "goal"),
    [("equalities + affine maps", RECOVER_AFFINE, 1.0), ("sums", RECOVER_SUM, 0.99)],
)
def test_recovery_rate(label: str, mode: Mode, goal: float) -> None:
    batch, rejected = _batch(mode, 300, seed=0)
    failures = []
    for system in batch:
        failure = recovery_failure_infer(system)
        # solve() and infer_dims must agree on what is recovered.
        assert (failure is None) == (recovery_failure_solve(system) is None), str(system)
        if failure is not None:
            failures.append(f"{system}\n    -> {failure}")
    rate = 1 - len(failures) / len(batch)
    axes = sum(len(a) for s in batch for a in s.tensors)
    message = (
        f"recovery rate for {label}: {rate:.2%} of {len(batch)} systems ({axes} axes; "
        f"{rejected} degenerate systems redrawn); goal {goal:.0%}"
    )
    print("\n" + message + "".join("\n  " + f for f in failures[:5]))
    assert rate >= goal, message + "".join("\n  " + f for f in failures[:5])


# ---------------------------------------------------------------------------------
# (c) Lockstep
# ---------------------------------------------------------------------------------


@fast(200)
@given(
    st.integers(2, 6).flatmap(lambda n: st.lists(st.integers(2, 60), min_size=n, max_size=n, unique=True)),
    st.lists(st.integers(0, 20), min_size=1, max_size=5, unique=True),
    st.lists(st.integers(1, 9), max_size=2),
    st.data(),
)
def test_lockstep_axes_of_one_tensor_are_not_related(
    ns: list[int], offsets: list[int], statics: list[int], data: Any
) -> None:
    axes = [("var", b) for b in offsets] + [("static", c) for c in statics]
    axes = data.draw(st.permutations(axes))
    sets = [(_tensor([n + v if kind == "var" else v for kind, v in axes]),) for n in ns]
    spec = symshape.infer_dims(None, sets)
    assert len(spec.dim_rows) == len(offsets)
    assert {a.role for a in spec.axes} <= {"root", "static"}
    assert len({a.expr for a in spec.axes if a.role == "root"}) == len(offsets)
    assert not [r for r in spec.relations if r.kind in ("affine", "sum")]


@fast(500)
@given(st.integers(2, 6).flatmap(lambda n: st.lists(st.tuples(*[st.integers(0, 9)] * n), min_size=1, max_size=6)))
def test_any_single_tensor_has_no_relations(columns: list[tuple[int, ...]]) -> None:
    solution = solve(columns, [0] * len(columns))
    varying = [c for c in columns if len(set(c)) > 1]
    assert len(solution.roots) == len(varying)
    for i, values in enumerate(columns):
        expr = solution.column_expr(i, values)
        assert expr.is_static or expr.is_root, f"column {i}: {expr}"


# ---------------------------------------------------------------------------------
# Regression: a defect hypothesis found (a sum used as a term before it was explained)
# ---------------------------------------------------------------------------------


def test_sum_used_as_a_term_before_it_is_explained() -> None:
    # Minimal counterexample printed by hypothesis for exact recovery of sums.
    r0, r1, r2, r3 = (_expr({r: 1}) for r in range(4))
    system = System(
        num_sets=3,
        root_values=[(2, 3, 4), (2, 3, 5), (2, 6, 3), (3, 2, 4)],
        tensors=[[r1, r2, r3], [_expr({1: 1, 2: 1}, 4), r0], [_expr({2: 1, 3: 1})], [_expr({1: 1, 2: 1, 3: 1})]],
        template=[[_Leaf(0), _Leaf(1), _Leaf(2), _Leaf(3)]],
    )
    assert degeneracy(system) is None  # every truth relation is admissible, no coincidence
    assert recovery_failure_solve(system) is None
