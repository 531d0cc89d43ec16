"""DimSpec as data: JSON round trip, reports, a single input set."""

from __future__ import annotations

import json
import re

import pytest
import torch

import symshape
from symshape.core.rows import AxisTable

from .conftest import export_with


def _spec() -> symshape.DimSpec:
    def sets(b: int, s: int) -> dict:
        return {"input_ids": torch.zeros(b, s), "pair": (torch.zeros(b, s + 1), [torch.zeros(2 * b)]), "n": s}

    return symshape.infer_dims(None, [sets(2, 3), sets(3, 5), sets(5, 4)])


def test_json_round_trip_is_lossless() -> None:
    spec = _spec()
    text = spec.to_json()
    back = symshape.DimSpec.from_json(text)
    assert back == spec and back.to_json() == text
    assert back.axes == spec.axes and back.relations == spec.relations and back.rejected == spec.rejected
    assert repr(back.dynamic_shapes) == repr(spec.dynamic_shapes)
    assert isinstance(back.dynamic_shapes["pair"], tuple)  # tuples stay tuples
    assert json.loads(text)["format"] == "symshape.DimSpec"
    # Example tensors are data, not contract.
    assert back.args == () and back.kwargs == {}


def test_rows_are_built_on_first_read_from_the_columns() -> None:
    spec = _spec()
    assert spec._axes is None  # infer_dims keeps columns; dynamic_shapes needs no rows
    shapes = repr(spec.dynamic_shapes)
    assert spec._axes is None
    rows = spec.axes
    assert rows is spec.axes and all(isinstance(r, symshape.AxisRow) for r in rows)
    assert AxisTable.from_rows(rows).rows() == rows
    back = symshape.DimSpec.from_json(spec.to_json())  # rows from JSON: columns made from them
    assert back.axes == rows and repr(back.dynamic_shapes) == shapes
    assert json.loads(spec.to_json())["template"] == spec.to_dict()["template"]  # lists, as JSON reads them


def test_a_row_changed_in_place_is_what_the_torch_objects_use() -> None:
    spec = _spec()
    index = next(i for i, r in enumerate(spec.axes) if r.label == "pair[1][0].shape[0]")
    spec.axes[index] = spec.axes[index]._replace(expr="7", role="static", terms=(), const=7)
    assert spec.dynamic_shapes["pair"][1][0] is None


def test_from_json_rejects_other_documents() -> None:
    with pytest.raises(symshape.InputsError, match="not a symshape DimSpec"):
        symshape.DimSpec.from_json('{"format": "other"}')
    with pytest.raises(symshape.InputsError, match="not a symshape DimSpec"):
        symshape.DimSpec.from_json("not json")
    doc = json.loads(_spec().to_json())
    doc["version"] = 99
    with pytest.raises(symshape.InputsError, match="version 99"):
        symshape.DimSpec.from_json(json.dumps(doc))


def test_report_names_dims_paths_and_evidence() -> None:
    spec = _spec()
    text = spec.explain()
    assert re.search(r"batch +0\.\.inf +2, 3, 5 +observed +2 axes: input_ids.shape\[0\], pair\[0\].shape\[0\]", text)
    assert "pair[0].shape[1] = seq_len + 1" in text
    assert "pair[1][0].shape[0] = 2*batch" in text
    assert "int inputs" in text and "n = seq_len" in text
    assert str(spec).startswith("DimSpec(3 sets; dims batch=2/3/5, seq_len=3/5/4")


def test_int_input_joins_its_class_and_is_dynamic() -> None:
    spec = _spec()
    (row,) = [a for a in spec.axes if a.path == "n"]
    assert row.axis is None and row.is_int and row.expr == "seq_len"
    assert spec.dynamic_shapes["n"] == torch.export.Dim.DYNAMIC


def test_single_input_set_is_all_static() -> None:
    class M(torch.nn.Module):
        def forward(self, x):
            return x * 2

    spec = symshape.infer_dims(M(), [(torch.randn(3, 4),)])
    assert spec.dims == {} and all(a.role == "static" for a in spec.axes)
    assert spec.dynamic_shapes == (None,)
    assert "only one input set" in spec.explain()
    program = export_with(M(), spec)
    assert not program.range_constraints


def test_example_avoids_sizes_zero_and_one() -> None:
    sets = [(torch.zeros(1, 4),), (torch.zeros(3, 5),), (torch.zeros(4, 4),)]
    spec = symshape.infer_dims(None, sets)
    assert spec.example_index == 1  # set 0 has a size-1 dynamic axis, set 2 duck-sizes both dims
    assert spec.args[0].shape == (3, 5)
    one = symshape.infer_dims(None, [(torch.zeros(1, 4),), (torch.zeros(1, 5),), (torch.zeros(0, 4),)])
    assert any("no input set is fully safe" in n for n in one.notes)
