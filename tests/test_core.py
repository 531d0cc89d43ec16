"""The shared vocabulary (symshape.core): sizes, linear text, paths, copies, and the
structured errors and records the stages pass on."""

from __future__ import annotations

import json

import pytest
import torch

import symshape
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
