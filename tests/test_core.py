"""The shared vocabulary (symshape.core): sizes, linear text, paths, copies, and the
structured errors and records the stages pass on."""

from __future__ import annotations

import collections
import copy
import inspect
import itertools
import json

import pytest
import torch
import torch.utils._pytree as pytree

import symshape
from symshape.core import binding, copying, trees
from symshape.core.copying import copy_set, is_shape_only, meta_copy
from symshape.core.linear import format_comparison, format_linear
from symshape.core.paths import argument_of, axis_key, axis_label
from symshape.core.sizes import fresh_size


@pytest.mark.parametrize(
    ("start", "taken", "low", "high", "expected"),
    [
        (1, set(), 2, None, 2),  # never below the safe minimum
        (5, {5, 6}, 2, None, 7),
        (9, {9}, 2, 9, 8),  # bounded: searched down from the bound
        (3, {2, 3, 4}, 2, 4, None),  # nothing left in [2, 4]
    ],
)
def test_fresh_size(start: int, taken: set[int], low: int, high: int | None, expected: int | None) -> None:
    assert fresh_size(start, taken, low=low, high=high) == expected


@pytest.mark.parametrize(
    ("terms", "const", "op", "text"),
    [
        (
            {"past_len": 1, "seq_len": 1, "attention_mask.shape[1]": -1},
            0,
            "<=",
            "attention_mask.shape[1] >= past_len + seq_len",
        ),
        ({"seq_len": 1}, -64, "<=", "seq_len <= 64"),
        ({"mask_len": -1}, 4, "<=", "mask_len >= 4"),
        ({"a": 2, "b": -1}, 1, "==", "b = 2*a + 1"),
        ({}, 0, "==", "0 = 0"),
    ],
)
def test_comparisons_read_as_a_person_writes_them(terms: dict[str, int], const: int, op: str, text: str) -> None:
    assert format_comparison(terms, const, op) == text


def test_format_linear_orders_terms_and_signs() -> None:
    assert format_linear([("seq_len", 1), ("past_len", 1)], 0) == "past_len + seq_len"
    assert format_linear([("b", -2), ("a", 1)], -3) == "a - 2*b - 3"
    assert format_linear([], 16) == "16"


def test_paths() -> None:
    assert axis_label("x", 1) == "x.shape[1]" and axis_label("n", None) == "n"
    assert axis_key("cache['key_cache'][0]", 2) == "cache['key_cache'][0]:2"
    assert argument_of("cache['key_cache'][0]") == "cache" and argument_of("out.logits") == "out"


def test_copies_never_share_storage_and_meta_copies_own_none() -> None:
    values = {"x": torch.ones(2, 3), "rest": [torch.zeros(4), 5]}
    copied = copy_set(values)
    copied["x"].add_(1)
    assert torch.equal(values["x"], torch.ones(2, 3)) and copied["rest"][1] == 5
    shapes = meta_copy(values)
    assert shapes["x"].device.type == "meta" and tuple(shapes["x"].shape) == (2, 3)
    assert is_shape_only(shapes) and not is_shape_only(values)


def test_a_copy_keeps_aliasing_and_grad_and_shares_no_storage() -> None:
    shared, grad = torch.ones(3), torch.ones(2, requires_grad=True)
    values = {"a": shared, "b": [shared, (grad, 4, "s", None)], "c": collections.OrderedDict(x=torch.zeros(1))}
    copied = copy_set(values)
    assert copied["a"] is copied["b"][0] and copied["a"] is not shared  # one tensor twice: one copy, twice
    assert copied["a"].untyped_storage().data_ptr() != shared.untyped_storage().data_ptr()
    assert copied["b"][1][0].requires_grad and copied["b"][1][0] is not grad
    assert copied["b"][1][1:] == (4, "s", None) and type(copied["c"]) is collections.OrderedDict
    assert pytree.tree_structure(copied) == pytree.tree_structure(values)


def test_a_cache_is_copied_by_its_own_unflatten_and_shares_nothing() -> None:
    from .test_caches import dynamic_cache, linear_cache, same, snapshot, static_cache

    for cache in (dynamic_cache(2, 3), static_cache(2, 3), linear_cache(2, 3)):
        values = {"cache": cache, "x": torch.ones(2)}
        before = snapshot(values)
        leaves, spec = trees.flatten(values)
        assert copying._rebuilds(spec)  # symshape's registration: rebuilt from leaves and context
        copied = copy_set(values)
        assert same(snapshot(copied), snapshot(copy.deepcopy(values)))
        originals = {t.untyped_storage().data_ptr() for t in leaves if isinstance(t, torch.Tensor) and t.numel()}
        assert not originals & {t.untyped_storage().data_ptr() for t in trees.leaves(copied) if t.numel()}
        copied["cache"].update(torch.ones(2, 2, 1, 8), torch.ones(2, 2, 1, 8), 1)  # forward mutates caches
        assert same(snapshot(values), before)


class _Note:
    """An attribute symshape cannot encode: kept in the cache's context as the object itself."""


def test_a_cache_holding_an_unencodable_object_is_deep_copied() -> None:
    from .test_caches import dynamic_cache

    cache = dynamic_cache(2, 3)
    cache.note = _Note()
    copied = copy_set({"cache": cache})["cache"]
    assert isinstance(copied.note, _Note) and copied.note is not cache.note  # deepcopy: not shared


class _Lossy:
    """Registered by a user with an unflatten that loses ``tag``: not rebuilt, deep-copied."""

    def __init__(self, x: torch.Tensor, tag: list[str]) -> None:
        self.x, self.tag = x, tag


pytree.register_pytree_node(_Lossy, lambda o: ([o.x], None), lambda xs, _: _Lossy(xs[0], []))


def test_a_container_someone_else_registered_is_deep_copied() -> None:
    lossy = _Lossy(torch.ones(2), ["kept"])
    copied = copy_set({"v": lossy})["v"]
    assert copied.tag == ["kept"] and copied.tag is not lossy.tag and copied.x is not lossy.x


def test_unflatten_rebuilds_what_pytree_rebuilds() -> None:
    point = collections.namedtuple("point", "a b")
    trees_ = [
        {"a": [1, [], (2, None)], "b": point(3, [4]), "c": collections.OrderedDict(x=5)},
        {"d": collections.defaultdict(list, {"k": [6]}), "e": collections.deque([7, 8], maxlen=3)},
        [[[]], [9]],
        10,
    ]
    for tree in trees_:
        leaves, spec = pytree.tree_flatten(tree)
        got, want = trees.unflatten(leaves, spec), pytree.tree_unflatten(leaves, spec)
        assert repr(got) == repr(want) and pytree.tree_structure(got) == spec
    with pytest.raises(ValueError, match="leaves"):
        trees.unflatten([1], pytree.tree_structure([1, 2]))


def test_the_plain_bind_agrees_with_signature_bind() -> None:
    def a(x, y=1): ...
    def b(x, /, y, *, z, w=2): ...
    def c(x, *args, y=1, **kw): ...
    def d(*args, **kwargs): ...
    def e(x, y, /): ...
    def f(*, k): ...

    names = ["x", "y", "z", "w", "k", "q", "args", "kw"]
    taken = 0
    for signature in map(inspect.signature, (a, b, c, d, e, f)):
        for count in range(4):
            for keys in itertools.chain.from_iterable(itertools.combinations(names, r) for r in range(4)):
                args, kwargs = tuple(range(count)), {k: k for k in keys}
                got = binding._plain_bind(signature, args, kwargs)
                if got is None:
                    continue  # Signature.bind decides (or raises)
                taken += 1
                assert list(got.items()) == list(signature.bind(*args, **kwargs).arguments.items())
    assert taken >= 10


def test_a_cached_signature_follows_its_function() -> None:
    def forward(x, y=1): ...

    assert list(binding._cached_signature(forward).parameters) == ["x", "y"]
    forward.__signature__ = inspect.Signature([inspect.Parameter("z", inspect.Parameter.POSITIONAL_OR_KEYWORD)])
    assert list(binding._cached_signature(forward).parameters) == ["z"]
    module = _Fixed()
    assert binding._cached_signature(module.forward) is binding._cached_signature(module.forward)
    assert list(binding._cached_signature(module.forward).parameters) == ["x"]  # bound: no self
    assert list(binding._cached_signature(_Fixed.forward).parameters) == ["self", "x"]  # the function itself


class _Fixed(torch.nn.Module):
    """Specialises x.shape[0] to 4 (a reshape to a fixed size)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(4, -1) + 1


def test_export_error_carries_its_facts_as_fields() -> None:
    sets = [(torch.ones(4, 3),), (torch.ones(6, 5),)]
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(_Fixed(), sets)
    error = info.value
    assert error.kind == "contradiction"
    assert error.dims == ("x_dim0",) and error.axes == ("x.shape[0]",)
    assert error.values == {"x_dim0": (4, 6)}
    assert error.breaking_sets == (1,)  # set #1 has x.shape[0] = 6
    (problem,) = error.problems
    assert problem.requirement == "is specialised to 4" and problem.breaking == ((1, "x_dim0 = 6"),)
    assert "x.shape[0]" in str(error) and "set #1" in str(error)  # the message says what the fields say


def test_verify_false_is_not_ok() -> None:
    sets = [(torch.ones(2, 3),), (torch.ones(3, 5),)]
    result = symshape.export(lambda x: x * 2, sets, verify=False)
    assert not result.verified and not result.ok and "not verified" in str(result)
    assert "not verified" in result.explain()
    result.verify(lambda x: x * 2)
    assert result.verified and result.ok


def test_bad_options_and_documents_are_symshape_errors() -> None:
    model = torch.nn.Linear(2, 2)
    with pytest.raises(symshape.OptionError, match=r"keep='x'"):
        symshape.observe(model, keep="x")
    with pytest.raises(symshape.OptionError, match="keep_first=-1"):
        symshape.observe(model, keep_first=-1)
    with pytest.raises(symshape.OptionError, match="method='nope'"):
        symshape.observe(model, method="nope")
    with pytest.raises(symshape.InputsError, match="'dims' is missing"):
        symshape.DimSpec.from_json('{"format": "symshape.DimSpec", "version": 1, "layout": []}')
    spec = symshape.infer_dims(None, [(torch.ones(2),), (torch.ones(3),)])
    data = spec.to_dict()
    data["axes"][0]["values"] = 7  # not a list
    with pytest.raises(symshape.InputsError, match=r"axes\[0\]"):
        symshape.DimSpec.from_json(json.dumps(data))
    with pytest.raises(symshape.InputsError, match="path=3"):
        symshape.export_onnx(None, [], 3)  # type: ignore[arg-type]
