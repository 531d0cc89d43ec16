"""Input sets through the public API: forms, signatures, errors, names, copies, ints.

Everything goes through ``symshape.infer_dims`` and the returned ``DimSpec``. Where a
real export makes sense, the spec is handed to ``torch.export.export`` and the
program is run on another input set with other sizes and compared with eager.
"""

from __future__ import annotations

import pytest
import torch
from torch.export import Dim

import symshape

torch.manual_seed(0)


def t(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


# --------------------------------------------------------------------------------------
# models and helpers
# --------------------------------------------------------------------------------------


class MatMul(torch.nn.Module):
    def forward(self, x, y):
        return x @ y


class WithOptional(torch.nn.Module):
    def forward(self, x, y=None, flag=False):
        out = x * 2
        if y is not None:
            out = out + y.sum()
        return out + 1 if flag else out


class KeywordOnly(torch.nn.Module):
    def forward(self, x, *, scale, shift=None):
        out = x * scale.unsqueeze(-1)
        return out if shift is None else out + shift


class VarArgs(torch.nn.Module):
    def forward(self, x, *rest):
        out = x.sum(dim=1, keepdim=True)
        for r in rest:
            out = out + r.sum(dim=1, keepdim=True)
        return out


class VarKwargs(torch.nn.Module):
    def forward(self, x, **extra):
        out = x.sum(dim=1)
        for name in sorted(extra):
            out = out + extra[name].sum(dim=1)
        return out


class Scale(torch.nn.Module):
    def forward(self, x, n):
        return x[:, :n] * n


def matmul_fn(a, b):
    return a @ b


class Wrap(torch.nn.Module):
    """torch.export only takes modules: run a plain function under the same signature."""

    def forward(self, a, b):
        return matmul_fn(a, b)


# (batch, inner, out) per set: no equalities or affine maps between the three roots.
MATMUL_SIZES = [(3, 4, 5), (6, 9, 2), (2, 5, 7)]


def matmul_sets() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(t(b, k), t(k, n)) for b, k, n in MATMUL_SIZES]


MATMUL_EXPRS = {
    ("x", 0): "x_dim0",
    ("x", 1): "x_dim1",
    ("y", 0): "x_dim1",
    ("y", 1): "y_dim1",
}


def exprs(spec: symshape.DimSpec) -> dict[tuple[str, int | None], str]:
    return {(row.path, row.axis): row.expr for row in spec.axes}


def row(spec: symshape.DimSpec, path: str, axis: int | None):
    (found,) = [r for r in spec.axes if r.path == path and r.axis == axis]
    return found


def dim_name(obj) -> str:
    """The symshape name of a root Dim (or of the root of a derived dim)."""
    root = getattr(obj, "root", obj)
    return root.__name__


def export_and_compare(model, spec, args=(), kwargs=None, eager=None):
    """Export with the spec, run the program on (args, kwargs) and compare with eager."""
    kwargs = kwargs or {}
    program = torch.export.export(model, spec.args, spec.kwargs, dynamic_shapes=spec.dynamic_shapes, strict=False)
    got = program.module()(*args, **kwargs)
    want = (eager or model)(*args, **kwargs)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want)
    return program


def assert_inputs_error(excinfo, *fragments: str) -> str:
    err = excinfo.value
    assert isinstance(err, symshape.InputsError)
    assert isinstance(err, ValueError)
    assert isinstance(err, symshape.SymshapeError)
    message = str(err)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------------------
# the three forms of an input set
# --------------------------------------------------------------------------------------


def test_tuple_sets_stay_positional_and_export():
    model = MatMul()
    spec = symshape.infer_dims(model, matmul_sets())

    assert isinstance(spec.args, tuple) and len(spec.args) == 2
    assert spec.kwargs == {}
    assert exprs(spec) == MATMUL_EXPRS
    assert set(spec.dims) == {"x_dim0", "x_dim1", "y_dim1"}
    assert row(spec, "x", 0).values == (3, 6, 2)
    assert row(spec, "y", 1).values == (5, 2, 7)
    assert all(r.role == "root" for r in spec.axes)

    ds = spec.dynamic_shapes
    assert isinstance(ds, tuple) and len(ds) == 2
    assert set(ds[0]) == {0, 1} and set(ds[1]) == {0, 1}
    assert dim_name(ds[0][0]) == "x_dim0"
    # the shared inner dimension is one symbol on both tensors
    assert dim_name(ds[0][1]) == dim_name(ds[1][0]) == "x_dim1"
    assert dim_name(ds[1][1]) == "y_dim1"

    export_and_compare(model, spec, (t(5, 3), t(3, 8)))


def test_dict_sets_are_keyword_and_export():
    model = MatMul()
    sets = [{"x": x, "y": y} for x, y in matmul_sets()]
    spec = symshape.infer_dims(model, sets)

    assert spec.args == ()
    assert list(spec.kwargs) == ["x", "y"]
    assert exprs(spec) == MATMUL_EXPRS
    ds = spec.dynamic_shapes
    assert isinstance(ds, dict) and set(ds) == {"x", "y"}
    assert dim_name(ds["x"][1]) == dim_name(ds["y"][0]) == "x_dim1"

    export_and_compare(model, spec, kwargs={"x": t(5, 3), "y": t(3, 8)})


def test_dict_sets_in_another_key_order_are_bound_to_the_signature():
    sets = matmul_sets()
    reference = symshape.infer_dims(MatMul(), [{"x": x, "y": y} for x, y in sets])
    shuffled = [{"x": x, "y": y} if i % 2 == 0 else {"y": y, "x": x} for i, (x, y) in enumerate(sets)]
    spec = symshape.infer_dims(MatMul(), shuffled)
    assert spec == reference
    assert list(spec.kwargs) == ["x", "y"]


def test_pair_sets_move_everything_to_kwargs_and_export():
    model = MatMul()
    sets = [((x,), {"y": y}) for x, y in matmul_sets()]
    spec = symshape.infer_dims(model, sets)

    assert spec.args == ()
    assert set(spec.kwargs) == {"x", "y"}
    assert exprs(spec) == MATMUL_EXPRS
    ds = spec.dynamic_shapes
    assert isinstance(ds, dict) and set(ds) == {"x", "y"}
    assert dim_name(ds["x"][0]) == "x_dim0"
    assert dim_name(ds["y"][1]) == "y_dim1"

    # the program was exported in keyword form, so it is called in keyword form
    export_and_compare(model, spec, kwargs={"x": t(5, 3), "y": t(3, 8)})


def test_pair_sets_keep_positional_only_parameters_positional():
    class PositionalOnly(torch.nn.Module):
        def forward(self, x, /, y):
            return x * y.sum()

    model = PositionalOnly()
    spec = symshape.infer_dims(model, [((t(b, 3),), {"y": t(b)}) for b in (2, 5, 4)])
    assert len(spec.args) == 1 and spec.args[0].shape == (2, 3)  # x cannot be a keyword
    assert set(spec.kwargs) == {"y"}
    assert set(spec.dynamic_shapes) == {"x", "y"}
    assert dim_name(spec.dynamic_shapes["x"][0]) == dim_name(spec.dynamic_shapes["y"][0]) == "x_dim0"
    export_and_compare(model, spec, (t(6, 3),), {"y": t(6)})


def test_mixed_forms_across_sets_use_keywords():
    sets = matmul_sets()
    mixed = [sets[0], {"x": sets[1][0], "y": sets[1][1]}, ((sets[2][0],), {"y": sets[2][1]})]
    spec = symshape.infer_dims(MatMul(), mixed)
    assert spec.args == ()
    assert set(spec.kwargs) == {"x", "y"}
    assert exprs(spec) == MATMUL_EXPRS
    assert spec == symshape.infer_dims(MatMul(), [{"x": x, "y": y} for x, y in sets])


def test_generator_of_sets_is_consumed_once_and_exports():
    model = MatMul()
    sets = matmul_sets()
    consumed = []

    def generate():
        for s in sets:
            consumed.append(s)
            yield s

    spec = symshape.infer_dims(model, generate())
    assert len(consumed) == 3
    assert spec.num_sets == 3
    assert spec == symshape.infer_dims(model, sets)
    export_and_compare(model, spec, (t(4, 6), t(6, 3)))


@pytest.mark.parametrize(
    "container",
    [
        pytest.param(list, id="list-of-tuples"),
        pytest.param(tuple, id="tuple-of-tuples"),
        pytest.param(lambda sets: [list(s) for s in sets], id="list-of-lists"),
    ],
)
def test_sequences_of_sets(container):
    model = MatMul()
    spec = symshape.infer_dims(model, container(matmul_sets()))
    assert isinstance(spec.args, tuple) and len(spec.args) == 2
    assert spec.kwargs == {}
    assert isinstance(spec.dynamic_shapes, tuple)
    assert exprs(spec) == MATMUL_EXPRS
    export_and_compare(model, spec, (t(7, 2), t(2, 4)))


def test_model_none_names_come_from_positions():
    spec = symshape.infer_dims(None, matmul_sets())
    assert exprs(spec) == {
        ("arg0", 0): "arg0_dim0",
        ("arg0", 1): "arg0_dim1",
        ("arg1", 0): "arg0_dim1",
        ("arg1", 1): "arg1_dim1",
    }
    assert isinstance(spec.args, tuple) and len(spec.args) == 2
    ds = spec.dynamic_shapes
    assert isinstance(ds, tuple) and len(ds) == 2
    assert dim_name(ds[1][0]) == "arg0_dim1"


def test_model_none_with_dict_sets_uses_the_keys():
    sets = [{"q": q, "k": k} for q, k in matmul_sets()]
    spec = symshape.infer_dims(None, sets)
    assert {r.path for r in spec.axes} == {"q", "k"}
    assert spec.args == ()
    assert set(spec.kwargs) == {"q", "k"}
    assert set(spec.dynamic_shapes) == {"q", "k"}


def test_model_none_with_dict_sets_in_another_key_order():
    # Keyword arguments have no order: f(q=a, k=b) is f(k=b, q=a). With a model the
    # sets are bound to its signature (see the test above); without one, the key
    # order of each dict must not matter either.
    sets = matmul_sets()
    shuffled = [{"q": q, "k": k} if i % 2 == 0 else {"k": k, "q": q} for i, (q, k) in enumerate(sets)]
    spec = symshape.infer_dims(None, shuffled)
    assert {r.path for r in spec.axes} == {"q", "k"}
    assert row(spec, "q", 1).expr == row(spec, "k", 0).expr


def test_plain_function_as_model_names_from_its_parameters():
    spec = symshape.infer_dims(matmul_fn, matmul_sets())
    assert exprs(spec) == {
        ("a", 0): "a_dim0",
        ("a", 1): "a_dim1",
        ("b", 0): "a_dim1",
        ("b", 1): "b_dim1",
    }
    assert isinstance(spec.dynamic_shapes, tuple)
    export_and_compare(Wrap(), spec, (t(5, 3), t(3, 8)))


def test_keyword_only_parameters_and_export():
    model = KeywordOnly()
    sets = [((t(b, 3),), {"scale": t(b)}) for b in (2, 5, 4)]
    spec = symshape.infer_dims(model, sets)

    assert spec.args == ()
    assert set(spec.kwargs) == {"x", "scale"}  # the unset default `shift` is not added
    assert exprs(spec) == {("x", 0): "x_dim0", ("x", 1): "3", ("scale", 0): "x_dim0"}
    ds = spec.dynamic_shapes
    assert set(ds) == {"x", "scale"}
    assert dim_name(ds["x"][0]) == dim_name(ds["scale"][0]) == "x_dim0"
    assert set(ds["x"]) == {0}  # the static axis is not in the spec

    export_and_compare(model, spec, kwargs={"x": t(7, 3), "scale": t(7)})


def test_keyword_only_parameter_given_in_dict_sets():
    sets = [{"x": t(b, 3), "scale": t(b)} for b in (2, 5)]
    spec = symshape.infer_dims(KeywordOnly(), sets)
    assert spec.args == ()
    assert set(spec.kwargs) == {"x", "scale"}
    assert row(spec, "scale", 0).expr == "x_dim0"


def test_defaults_are_not_added_positional():
    model = WithOptional()
    spec = symshape.infer_dims(model, [(t(b, 3),) for b in (2, 5, 4)])
    assert len(spec.args) == 1
    assert spec.kwargs == {}
    assert {r.path for r in spec.axes} == {"x"}
    ds = spec.dynamic_shapes
    assert isinstance(ds, tuple) and len(ds) == 1
    assert dim_name(ds[0][0]) == "x_dim0"
    export_and_compare(model, spec, (t(6, 3),))


def test_defaults_are_not_added_keyword():
    model = WithOptional()
    spec = symshape.infer_dims(model, [{"x": t(b, 3), "flag": True} for b in (2, 5, 4)])
    assert spec.args == ()
    assert set(spec.kwargs) == {"x", "flag"}
    assert set(spec.dynamic_shapes) == {"x", "flag"}
    assert spec.dynamic_shapes["flag"] is None  # a bool is a constant
    assert {r.path for r in spec.axes} == {"x"}
    export_and_compare(model, spec, kwargs={"x": t(6, 3), "flag": True})


def test_var_positional_stays_positional_and_exports():
    model = VarArgs()
    sizes = [(2, 3, 4), (5, 6, 7), (4, 2, 9)]  # (batch, width of rest[0], width of rest[1])
    sets = [(t(b, 3), t(b, w0), t(b, w1)) for b, w0, w1 in sizes]
    spec = symshape.infer_dims(model, sets)

    assert isinstance(spec.args, tuple) and len(spec.args) == 3
    assert spec.kwargs == {}
    assert exprs(spec) == {
        ("x", 0): "x_dim0",
        ("x", 1): "3",
        ("rest[0]", 0): "x_dim0",
        ("rest[0]", 1): "rest_0_dim1",
        ("rest[1]", 0): "x_dim0",
        ("rest[1]", 1): "rest_1_dim1",
    }
    ds = spec.dynamic_shapes
    assert isinstance(ds, dict) and set(ds) == {"x", "rest"}
    assert isinstance(ds["rest"], tuple) and len(ds["rest"]) == 2
    assert dim_name(ds["rest"][0][0]) == dim_name(ds["rest"][1][0]) == dim_name(ds["x"][0]) == "x_dim0"
    assert dim_name(ds["rest"][1][1]) == "rest_1_dim1"

    export_and_compare(model, spec, (t(6, 3), t(6, 5), t(6, 8)))


def test_var_positional_with_keywords_keeps_leading_parameters_positional():
    class VarArgsScale(torch.nn.Module):
        def forward(self, x, *rest, scale=None):
            out = x.sum(dim=1) + sum(r.sum(dim=1) for r in rest)
            return out if scale is None else out * scale

    model = VarArgsScale()
    sets = [((t(b, 3), t(b, 4)), {"scale": t(b)}) for b in (2, 5, 4)]
    spec = symshape.infer_dims(model, sets)
    # x precedes *rest, so it cannot be passed by keyword
    assert len(spec.args) == 2
    assert set(spec.kwargs) == {"scale"}
    ds = spec.dynamic_shapes
    assert set(ds) == {"x", "rest", "scale"}
    assert isinstance(ds["rest"], tuple) and len(ds["rest"]) == 1
    export_and_compare(model, spec, (t(6, 3), t(6, 4)), {"scale": t(6)})


def kwargs_sets():
    sizes = [(2, 3, 4), (5, 6, 7), (4, 2, 9)]
    return [{"x": t(b, 3), "z": t(b, wz), "w": t(b, ww)} for b, wz, ww in sizes]


def test_var_keyword_nests_under_its_parameter_name():
    spec = symshape.infer_dims(VarKwargs(), kwargs_sets())

    assert spec.args == ()
    assert set(spec.kwargs) == {"x", "z", "w"}
    # paths are the keyword names, not extra['z']
    assert {r.path for r in spec.axes} == {"x", "z", "w"}
    assert exprs(spec) == {
        ("x", 0): "x_dim0",
        ("x", 1): "3",
        ("z", 0): "x_dim0",
        ("z", 1): "z_dim1",
        ("w", 0): "x_dim0",
        ("w", 1): "w_dim1",
    }
    ds = spec.dynamic_shapes
    assert set(ds) == {"x", "extra"}
    assert set(ds["extra"]) == {"z", "w"}
    assert dim_name(ds["extra"]["z"][0]) == dim_name(ds["x"][0]) == "x_dim0"
    assert dim_name(ds["extra"]["w"][1]) == "w_dim1"


def test_torch_still_cannot_export_a_var_keyword_forward_with_dynamic_shapes():
    """Documents a torch 2.13 limitation. When this test fails, torch has fixed it:
    add an export-and-compare check to the ``**kwargs`` test above."""
    model = VarKwargs()
    spec = symshape.infer_dims(model, kwargs_sets())
    with pytest.raises(AssertionError, match="Must provide a tree_name"):
        torch.export.export(model, spec.args, spec.kwargs, dynamic_shapes=spec.dynamic_shapes, strict=False)


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("inputs", [[], (), iter([])], ids=["list", "tuple", "iterator"])
def test_no_sets(inputs):
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(MatMul(), inputs)
    assert_inputs_error(excinfo, "no input sets")


def test_bare_tensor_as_inputs():
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(MatMul(), t(2, 3))
    assert_inputs_error(excinfo, "Tensor", "[inputs]")


def test_dict_as_inputs():
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(MatMul(), {"x": t(2, 3), "y": t(3, 4)})
    assert_inputs_error(excinfo, "dict", "[inputs]")


def test_tuple_of_tensors_as_inputs():
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(MatMul(), (t(2, 3), t(3, 4)))
    assert_inputs_error(excinfo, "tuple of tensors", "[inputs]")


def test_tensor_as_a_set():
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), [(t(2, 3),), t(4, 3)])
    assert_inputs_error(excinfo, "input set #1", "Tensor", "(tensor,)")


def test_sets_passing_different_arguments():
    sets = [{"x": t(2, 3), "y": t(2)}, {"x": t(4, 3), "y": t(4)}, {"x": t(5, 3)}]
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), sets)
    assert_inputs_error(excinfo, "input set #2", "missing", "'y'")


def test_set_passing_an_extra_argument_the_first_set_does_not():
    sets = [(t(2, 3),), (t(4, 3), t(4))]
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), sets)
    assert_inputs_error(excinfo, "input set #1", "extra", "'y'")


def test_rank_change_names_both_shapes():
    sets = [(t(2, 3), t(3, 4)), (t(5, 3), t(3, 4, 2))]
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(MatMul(), sets)
    assert_inputs_error(excinfo, "y", "rank 2", "rank 3", "[3, 4]", "[3, 4, 2]", "set #1")


def test_rank_change_inside_a_container_names_the_nested_path():
    sets = [(t(2, 3), {"a": [t(2), t(3)]}), (t(4, 3), {"a": [t(4), t(3, 1)]})]
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), sets)
    assert_inputs_error(excinfo, "y['a'][1]", "[3]", "[3, 1]")


@pytest.mark.parametrize(
    ("first", "second", "fragments"),
    [
        pytest.param(t(2), 4, ("Tensor", "int"), id="tensor-int"),
        pytest.param(3, None, ("int", "NoneType"), id="int-none"),
        pytest.param(t(2), None, ("Tensor", "None"), id="tensor-none"),
        pytest.param(None, t(4), ("None", "Tensor"), id="none-tensor"),
        pytest.param(3, True, ("int", "bool"), id="int-bool"),
    ],
)
def test_different_kinds_at_one_argument(first, second, fragments):
    sets = [(t(2, 3), first), (t(4, 3), second)]
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), sets)
    message = assert_inputs_error(excinfo, *fragments)
    assert message.startswith("y is ")  # the argument, by name
    assert "input set #0" in message and "set #1" in message


def test_list_vs_tuple_container():
    sets = [(t(2, 3), [t(2), t(3)]), (t(4, 3), (t(4), t(3)))]
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), sets)
    assert_inputs_error(excinfo, "y", "list", "tuple", "#1")


def test_dict_keys_differ_inside_an_argument():
    sets = [(t(2, 3), {"a": t(2)}), (t(4, 3), {"b": t(4)})]
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), sets)
    assert_inputs_error(excinfo, "y['b']", "#1")


@pytest.mark.parametrize(
    ("sets", "fragments"),
    [
        pytest.param([(t(2, 3), t(3, 4), t(4))] * 2, ("input set #0", "positional: 3"), id="extra-positional"),
        pytest.param([{"x": t(2, 3), "y": t(3, 4), "z": t(4)}] * 2, ("input set #0", "'z'"), id="extra-keyword"),
        pytest.param([(t(2, 3),)] * 2, ("input set #0", "'y'"), id="missing-required"),
    ],
)
def test_set_does_not_fit_the_signature(sets, fragments):
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(MatMul(), sets)
    assert_inputs_error(excinfo, *fragments)


class Holder:
    """A custom object holding a tensor, not registered with pytree."""

    def __init__(self, n: int) -> None:
        self.weights = torch.randn(n, 3)


def test_unregistered_object_holding_tensors():
    sets = [(t(2, 3), Holder(2)), (t(4, 3), Holder(4))]
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), sets)
    assert_inputs_error(excinfo, "y", "Holder", "register", "pytree")


def test_unregistered_object_nested_in_a_dict_names_the_path():
    sets = [(t(2, 3), {"h": Holder(2)}), (t(4, 3), {"h": Holder(4)})]
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), sets)
    assert_inputs_error(excinfo, "y['h']", "Holder", "register")


# names= errors ----------------------------------------------------------------------


def derived_sets():
    """x.shape[0] varies (2, 5, 7); y.shape[0] = x.shape[0] + 1; x.shape[1] static 3."""
    return [(t(b, 3), t(b + 1)) for b in (2, 5, 7)]


def test_derived_sets_are_what_the_name_tests_assume():
    spec = symshape.infer_dims(WithOptional(), derived_sets())
    assert exprs(spec) == {("x", 0): "x_dim0", ("x", 1): "3", ("y", 0): "x_dim0 + 1"}
    assert row(spec, "y", 0).role == "derived"
    assert row(spec, "x", 1).role == "static"


@pytest.mark.parametrize("bad", ["1rows", "two words", "rows-1", "", 3], ids=repr)
def test_names_invalid_identifier(bad):
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), derived_sets(), names={"x:0": bad})
    assert_inputs_error(excinfo, "x:0", repr(bad), "identifier")


@pytest.mark.parametrize("kw", ["class", "None", "lambda"])
def test_names_python_keyword(kw):
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), derived_sets(), names={"x:0": kw})
    assert_inputs_error(excinfo, "x:0", repr(kw))


def test_names_same_name_for_two_different_dims():
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(MatMul(), matmul_sets(), names={"x:0": "n", "y:1": "n"})
    assert_inputs_error(excinfo, "'n'", "x:0", "y:1", "two different dims")


def test_names_two_names_for_one_dim():
    # x.shape[1] and y.shape[0] are one dim
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(MatMul(), matmul_sets(), names={"x:1": "inner", "y:0": "hidden"})
    assert_inputs_error(excinfo, "'inner'", "'hidden'")


def test_names_same_name_twice_for_one_dim_is_fine():
    spec = symshape.infer_dims(MatMul(), matmul_sets(), names={"x:1": "inner", "y:0": "inner"})
    assert row(spec, "x", 1).expr == row(spec, "y", 0).expr == "inner"


@pytest.mark.parametrize("key", ["z:0", "x:5", "x", "no_such_dim"])
def test_names_path_that_does_not_exist(key):
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), derived_sets(), names={key: "rows"})
    message = assert_inputs_error(excinfo, repr(key), "x:0")  # lists valid keys
    assert "x_dim0" in message  # and the inferred dim names


def test_names_static_axis():
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), derived_sets(), names={"x:1": "cols"})
    assert_inputs_error(excinfo, "x:1", "x.shape[1]", "static", "3")


def test_names_derived_axis():
    with pytest.raises(symshape.InputsError) as excinfo:
        symshape.infer_dims(WithOptional(), derived_sets(), names={"y:0": "rows"})
    assert_inputs_error(excinfo, "y:0", "y.shape[0]", "x_dim0 + 1", "root")


# --------------------------------------------------------------------------------------
# names= overrides that work
# --------------------------------------------------------------------------------------


def test_names_rename_by_path_everywhere():
    model = WithOptional()
    spec = symshape.infer_dims(model, derived_sets(), names={"x:0": "rows"})

    assert set(spec.dims) == {"rows"}
    assert dim_name(spec.dims["rows"]) == "rows"
    assert exprs(spec) == {("x", 0): "rows", ("x", 1): "3", ("y", 0): "rows + 1"}
    assert row(spec, "y", 0).terms == (("rows", 1),)
    assert row(spec, "y", 0).const == 1
    ds = spec.dynamic_shapes
    assert dim_name(ds[0][0]) == "rows"
    assert dim_name(ds[1][0]) == "rows"
    assert ds[1][0].__name__ == "rows + 1"
    assert "x_dim0" not in spec.explain()
    export_and_compare(model, spec, (t(9, 3), t(10)))


def test_names_rename_by_inferred_name_equals_rename_by_path():
    by_name = symshape.infer_dims(WithOptional(), derived_sets(), names={"x_dim0": "rows"})
    by_path = symshape.infer_dims(WithOptional(), derived_sets(), names={"x:0": "rows"})
    assert by_name == by_path
    assert set(by_name.dims) == {"rows"}
    assert row(by_name, "y", 0).expr == "rows + 1"
    assert dim_name(by_name.dynamic_shapes[1][0]) == "rows"


def test_names_rename_one_dim_keeps_the_others():
    spec = symshape.infer_dims(MatMul(), matmul_sets(), names={"y:0": "inner"})
    assert set(spec.dims) == {"x_dim0", "inner", "y_dim1"}
    assert row(spec, "x", 1).expr == "inner"
    assert dim_name(spec.dynamic_shapes[0][1]) == "inner"
    assert dim_name(spec.dynamic_shapes[1][1]) == "y_dim1"


def test_names_rename_an_int_column():
    spec = symshape.infer_dims(Scale(), [(t(2, 6), 3), (t(5, 6), 4), (t(4, 6), 2)], names={"n": "count"})
    n = row(spec, "n", None)
    assert n.expr == "count"
    assert "count" in spec.dims
    assert spec.dynamic_shapes[1] is Dim.DYNAMIC


# --------------------------------------------------------------------------------------
# inputs are not mutated; the example is a copy
# --------------------------------------------------------------------------------------


def test_user_inputs_are_not_mutated_and_spec_holds_copies_positional():
    sets = matmul_sets()
    outer = list(sets)
    snapshot = [tuple(v.clone() for v in s) for s in sets]

    spec = symshape.infer_dims(MatMul(), sets)

    assert sets == outer and all(a is b for a, b in zip(sets, outer))
    for s, snap in zip(sets, snapshot):
        assert len(s) == 2
        for v, v0 in zip(s, snap):
            assert torch.equal(v, v0)

    example = sets[spec.example_index]
    for copied, original in zip(spec.args, example):
        assert copied is not original
        assert copied.data_ptr() != original.data_ptr()
        assert torch.equal(copied, original)
    before = example[0].clone()
    spec.args[0].add_(1.0)
    assert torch.equal(example[0], before)


def test_user_inputs_are_not_mutated_and_spec_holds_copies_pair():
    sets = [((x,), {"y": y}) for x, y in matmul_sets()]
    dicts = [s[1] for s in sets]
    snapshot = [(x.clone(), kw["y"].clone()) for (x,), kw in sets]

    spec = symshape.infer_dims(MatMul(), sets)

    # moving x to keyword form did not touch the user's dicts
    for (args, kw), d, (x0, y0) in zip(sets, dicts, snapshot):
        assert kw is d
        assert list(kw) == ["y"]
        assert len(args) == 1
        assert torch.equal(args[0], x0) and torch.equal(kw["y"], y0)

    (x,), kw = sets[spec.example_index]
    assert spec.kwargs["x"] is not x and torch.equal(spec.kwargs["x"], x)
    assert spec.kwargs["y"] is not kw["y"] and torch.equal(spec.kwargs["y"], kw["y"])
    assert spec.kwargs is not kw


def test_nested_containers_are_copied():
    sets = [(t(b, 3), {"a": [t(b), t(b, 2)]}) for b in (2, 5)]
    spec = symshape.infer_dims(WithOptional(), sets)
    original = sets[spec.example_index][1]
    copied = spec.args[1]
    assert copied is not original and copied["a"] is not original["a"]
    assert copied["a"][1] is not original["a"][1]
    assert torch.equal(copied["a"][1], original["a"][1])
    copied["a"].append(t(1))
    assert len(original["a"]) == 2


def test_dynamic_cache_is_copied_not_shared():
    transformers = pytest.importorskip("transformers")

    def cache(past: int):
        c = transformers.DynamicCache()
        c.update(t(2, 2, past, 4), t(2, 2, past, 4), 0)
        return c

    class WithCache(torch.nn.Module):
        def forward(self, input_ids, past_key_values=None):
            return input_ids

    caches = [cache(p) for p in (3, 5, 8)]
    sets = [{"input_ids": torch.zeros(2, s, dtype=torch.long), "past_key_values": c} for s, c in zip((4, 1, 2), caches)]
    spec = symshape.infer_dims(WithCache(), sets)

    assert row(spec, "past_key_values['key_cache'][0]", 2).expr == "past_len"
    assert row(spec, "past_key_values['value_cache'][0]", 2).expr == "past_len"
    assert row(spec, "input_ids", 1).expr == "seq_len"

    original = caches[spec.example_index]
    copied = spec.kwargs["past_key_values"]
    assert type(copied) is type(original)
    assert copied is not original
    assert copied.layers[0].keys is not original.layers[0].keys
    assert torch.equal(copied.layers[0].keys, original.layers[0].keys)
    # growing the copy (what a forward does) leaves the user's cache alone
    length = original.get_seq_length()
    copied.update(t(2, 2, 1, 4), t(2, 2, 1, 4), 0)
    assert copied.get_seq_length() == length + 1
    assert original.get_seq_length() == length
    assert [c.get_seq_length() for c in caches] == [3, 5, 8]


# --------------------------------------------------------------------------------------
# int leaves
# --------------------------------------------------------------------------------------


def test_varying_int_is_a_dynamic_column_and_exports():
    model = Scale()
    sets = [(t(2, 6), 3), (t(5, 6), 4), (t(4, 6), 2)]
    spec = symshape.infer_dims(model, sets)

    n = row(spec, "n", None)
    assert n.axis is None
    assert n.is_int is True
    assert n.values == (3, 4, 2)
    assert n.role == "root"
    assert n.label == "n"
    assert not row(spec, "x", 0).is_int
    assert spec.dynamic_shapes[1] is Dim.DYNAMIC
    assert dim_name(spec.dynamic_shapes[0][0]) == "x_dim0"

    program = export_and_compare(model, spec, (t(7, 6), 5))
    # the int really is an input of the program, not a baked-in constant
    x = t(3, 6)
    out = program.module()(x, 4)
    assert out.shape == (3, 4)
    torch.testing.assert_close(out, x[:, :4] * 4)


def test_varying_int_in_keyword_form_emits_dynamic():
    sets = [{"x": t(2, 6), "n": 3}, {"x": t(5, 6), "n": 4}]
    spec = symshape.infer_dims(Scale(), sets)
    assert spec.dynamic_shapes["n"] is Dim.DYNAMIC
    assert row(spec, "n", None).is_int


def test_int_equal_to_a_tensor_axis_still_emits_dynamic():
    model = Scale()
    sets = [(t(2, 6), 2), (t(5, 6), 5), (t(4, 6), 4)]
    spec = symshape.infer_dims(model, sets)
    n = row(spec, "n", None)
    assert n.is_int and n.axis is None
    assert n.expr == row(spec, "x", 0).expr  # one symbol for both
    assert spec.dynamic_shapes[1] is Dim.DYNAMIC  # torch takes no named Dim for an int
    assert dim_name(spec.dynamic_shapes[0][0]) == n.expr  # the tensor axis keeps a named Dim
    export_and_compare(model, spec, (t(3, 6), 3))


def test_constant_int_is_static():
    sets = [(t(2, 6), 3), (t(5, 6), 3), (t(4, 6), 3)]
    spec = symshape.infer_dims(Scale(), sets)
    n = row(spec, "n", None)
    assert n.is_int is True
    assert n.role == "static"
    assert n.expr == "3"
    assert n.values == (3, 3, 3)
    assert spec.dynamic_shapes[1] is None
    assert "n" not in spec.dims
