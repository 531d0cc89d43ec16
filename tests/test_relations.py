"""The relation suite: known ground truth in, exact expressions out.

Also the evidence policy (k + 2 distinct points for k fitted constants), the
lockstep rule, and that a relation broken by one set is never emitted.
"""

from __future__ import annotations

import torch

import symshape
from symshape.infer.solver import solve

from .conftest import export_with, max_diff_vs_eager


def _exprs(spec: symshape.DimSpec) -> dict[str, str]:
    return {a.label: a.expr for a in spec.axes}


def _t(*shape: int) -> torch.Tensor:
    return torch.zeros(*shape)


def test_symbol_shared_by_many_leaves_in_nested_containers() -> None:
    def sets(b: int, s: int) -> dict:
        return {
            "batch": {
                "ids": _t(b, s),
                "more": [_t(b, 3), (_t(b, s, 2), _t(2, b))],
                "deep": {"a": {"b": [_t(b)]}},
            }
        }

    spec = symshape.infer_dims(None, [sets(2, 5), sets(3, 7), sets(4, 6)])
    exprs = _exprs(spec)
    batch_axes = [label for label, e in exprs.items() if e == exprs["batch['ids'].shape[0]"]]
    assert len(batch_axes) == 5
    assert "batch['deep']['a']['b'][0].shape[0]" in batch_axes
    assert "batch['more'][1][1].shape[1]" in batch_axes
    assert len(spec.dims) == 2
    assert exprs["batch['more'][0].shape[1]"] == "3"


def test_offset_needs_three_sets() -> None:
    def f(x, y):
        return x.sum() + y.sum()

    sets = [(_t(n), _t(n + 1)) for n in (3, 5, 8)]
    spec = symshape.infer_dims(f, sets)
    assert _exprs(spec) == {"x.shape[0]": "x_dim0", "y.shape[0]": "x_dim0 + 1"}
    (rel,) = [r for r in spec.relations if r.kind == "affine"]
    assert (rel.support, rel.distinct, rel.fitted, rel.expressible) == (3, 3, 1, True)
    # With two sets the offset is not trusted.
    spec2 = symshape.infer_dims(f, sets[:2])
    assert _exprs(spec2) == {"x.shape[0]": "x_dim0", "y.shape[0]": "y_dim0"}
    assert "needs 3 distinct values" in spec2.rejected[0].reason


def test_scale_and_affine() -> None:
    class M(torch.nn.Module):
        def forward(self, x, y, z):
            return x.repeat(2) + y[: 2 * x.shape[0]] + z[3:].reshape(-1, 2).sum(1)[: x.shape[0]].repeat(2)

    sets = [(_t(n), _t(2 * n), _t(2 * n + 3)) for n in (2, 3, 5, 6)]
    spec = symshape.infer_dims(M(), sets)
    assert _exprs(spec) == {"x.shape[0]": "x_dim0", "y.shape[0]": "2*x_dim0", "z.shape[0]": "2*x_dim0 + 3"}
    program = export_with(M(), spec)
    assert max_diff_vs_eager(program, M(), (_t(9), _t(18), _t(21)), {}) == 0.0
    # 2*x needs 3 sets, 2*x + 3 needs 4: with three sets only the scale is kept.
    spec3 = symshape.infer_dims(M(), sets[:3])
    assert _exprs(spec3)["y.shape[0]"] == "2*x_dim0"
    assert _exprs(spec3)["z.shape[0]"] == "z_dim0"


def test_sum_of_two_roots_is_auto_and_reported() -> None:
    class M(torch.nn.Module):
        def forward(self, x, y, z):
            return torch.cat([x, y]) + z

    sets = [(_t(2), _t(5), _t(7)), (_t(4), _t(3), _t(7)), (_t(6), _t(6), _t(12))]
    spec = symshape.infer_dims(M(), sets)
    assert _exprs(spec)["z.shape[0]"] == "x_dim0 + y_dim0"
    (rel,) = [r for r in spec.relations if r.kind == "sum"]
    assert rel.expr == "z.shape[0] = x_dim0 + y_dim0" and not rel.expressible
    assert spec.dynamic_shapes[2] == {0: torch.export.Dim.AUTO}
    program = export_with(M(), spec)
    assert max_diff_vs_eager(program, M(), (_t(3), _t(8), _t(11)), {}) == 0.0


def test_sum_with_offset_needs_three_sets() -> None:
    cols = [(2, 4, 3), (5, 3, 9), (8, 8, 13)]  # z = x + y + 1
    solution = solve(cols, [0, 1, 2])
    assert solution.class_expr[2].terms == ((0, 1), (1, 1)) and solution.class_expr[2].const == 1
    two = solve([(c[0], c[2]) for c in cols], [0, 1, 2])  # sets 0 and 2: z still varies
    assert two.class_expr[2].is_root  # k = 1 needs 3 points
    assert len(two.roots) == 3


def test_static_axes() -> None:
    spec = symshape.infer_dims(None, [(_t(2, 16, 3),), (_t(5, 16, 3),)])
    assert _exprs(spec) == {"arg0.shape[0]": "arg0_dim0", "arg0.shape[1]": "16", "arg0.shape[2]": "3"}
    assert spec.dynamic_shapes == ({0: spec.dims["arg0_dim0"]},)


def test_relation_broken_by_one_set_is_not_emitted() -> None:
    good = [(_t(n), _t(n + 1)) for n in (3, 5, 8)]
    spec = symshape.infer_dims(None, [*good, (_t(10), _t(12))])
    assert _exprs(spec)["arg1.shape[0]"] == "arg1_dim0"
    assert len(spec.dims) == 2
    shared = [(_t(n), _t(n)) for n in (3, 5)] + [(_t(4), _t(6))]
    assert len(symshape.infer_dims(None, shared).dims) == 2


def test_lockstep_axes_of_one_tensor_are_not_related() -> None:
    # Each set grows every axis by one, as people write examples: no offsets inside a tensor,
    # even with enough sets to fit them.
    sets = [(_t(n, n + 1, n + 5),) for n in (2, 3, 4, 5)]
    spec = symshape.infer_dims(None, sets)
    assert len(spec.dims) == 3
    assert all(r.kind == "equal" for r in spec.relations)
    # Equal axes of one tensor (a square image) stay two dims too.
    square = symshape.infer_dims(None, [(_t(1, 3, 8, 8),), (_t(1, 3, 12, 12),)])
    assert len(square.dims) == 2
    assert any("share a tensor" in n for n in square.notes)


def test_lockstep_across_tensors_does_not_fake_a_sum() -> None:
    # batch 2->3, seq 3->4, past 5->7: past = batch + seq fits, but batch and past share the cache.
    def sets(b: int, s: int, p: int) -> dict:
        return {"input_ids": _t(b, s), "attention_mask": _t(b, p + s), "cache": [_t(b, 2, p, 8)]}

    spec = symshape.infer_dims(None, [sets(2, 3, 5), sets(3, 4, 7)])
    assert list(spec.dims) == ["batch", "seq_len", "past_len"]
    assert _exprs(spec)["attention_mask.shape[1]"] == "past_len + seq_len"


def test_simplest_explanation_wins() -> None:
    # y = 2*x and y = x + x' (x' == x) both fit; equality classes come first so y = 2*x.
    cols = [(2, 3, 5), (4, 6, 10), (7, 1, 4)]
    solution = solve(cols, [0, 1, 2])
    assert len(solution.roots) == 2
    assert solution.class_expr[solution.column_class[1]].terms == ((0, 2),)


def test_every_expression_reproduces_every_value() -> None:
    sets = [(_t(b, s), _t(b, s + 1), _t(2 * b), _t(b + s)) for b, s in ((2, 3), (3, 5), (5, 4), (7, 9))]
    spec = symshape.infer_dims(None, sets)
    values = {d.name: d.values for d in spec.dim_rows}
    for row in spec.axes:
        for i, observed in enumerate(row.values):
            assert sum(c * values[n][i] for n, c in row.terms) + row.const == observed, row


def test_none_inputs_do_not_shift_later_leaves() -> None:
    # None is a pytree leaf: the dims of the argument after it must stay on that argument.
    def f(a, b, c):
        return a

    spec = symshape.infer_dims(f, [(_t(2, 3), None, _t(4, 5)), (_t(3, 3), None, _t(5, 6))])
    assert spec.dynamic_shapes == ({0: spec.dims["a_dim0"]}, None, {0: spec.dims["c_dim0"], 1: spec.dims["c_dim1"]})
