"""Bounds with reasons (``bounds=``) and probes: verification off the examples."""

from __future__ import annotations

import types

import pytest
import torch

import symshape
from symshape.exporting.probes import in_dim_names, probe_sizes, run_probes
from symshape.exporting.verify import eager_runner
from symshape.integrations.transformers.tiny_models import llama_decode_inputs


class Positions(torch.nn.Module):
    """Adds a learnt position table: eager fails beyond ``table`` positions, whatever the config says."""

    def __init__(self, table: int, claimed: int) -> None:
        super().__init__()
        self.config = types.SimpleNamespace(max_position_embeddings=claimed)
        self.register_buffer("positions", torch.arange(float(table)))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return input_ids.float() + self.positions[: input_ids.shape[1]]


def _ids(batch: int, seq: int) -> dict[str, torch.Tensor]:
    return {"input_ids": torch.randint(0, 9, (batch, seq))}


# -- bounds ---------------------------------------------------------------------------------


def test_user_bounds_are_given_to_torch_with_their_reason() -> None:
    spec = symshape.infer_dims(Positions(64, 64), [_ids(2, 5), _ids(3, 7)], bounds={"batch": (1, 16)})
    assert spec.dims["batch"].min == 1 and spec.dims["batch"].max == 16
    (bound,) = spec.bounds
    assert (bound.expr, bound.low, bound.high, bound.origin) == ("batch", 1, 16, "user")
    assert "batch >= 1 and <= 16 (user)" in spec.explain()
    assert symshape.DimSpec.from_json(spec.to_json()).bounds == spec.bounds


@pytest.mark.parametrize(
    ("bounds", "error", "words"),
    [
        ({"nope": (1, 2)}, symshape.InputsError, "no dim is called so"),
        ({"batch": 4}, symshape.InputsError, "expected (min, max)"),
        ({"batch": (5, 2)}, symshape.InputsError, "min is above max"),
        ({"batch": (1, 2)}, symshape.InputsError, "3 in set #1"),
        ("everything", symshape.OptionError, "bounds='everything'"),
    ],
)
def test_bad_bounds_are_explained(bounds: object, error: type, words: str) -> None:
    with pytest.raises(error) as info:
        symshape.infer_dims(Positions(64, 64), [_ids(2, 5), _ids(3, 7)], bounds=bounds)
    assert words in str(info.value)


def test_config_bounds_are_checked_in_eager_and_lowered_where_it_fails() -> None:
    spec = symshape.infer_dims(Positions(40, 100), [_ids(2, 5), _ids(3, 7)], bounds="config")
    seq = next(d for d in spec.dim_rows if d.name == "seq_len")
    assert 7 <= seq.max <= 40  # the config claims 100 positions; eager has 40
    (positions, batch) = spec.bounds
    assert positions.origin == "config" and "config.max_position_embeddings = 100" in positions.reason
    assert "lowered: eager fails at seq_len=100" in positions.reason
    assert batch.origin == "default" and spec.dims["batch"].max == 8
    ok = Positions(40, 100)(**_ids(2, seq.max))  # eager runs at the chosen maximum
    assert ok.shape == (2, seq.max)


def test_config_bounds_split_a_relation_bound_and_keep_the_past_long(llama: torch.nn.Module) -> None:
    sets = [llama_decode_inputs(llama, 2, 3, 5, seed=0), llama_decode_inputs(llama, 3, 4, 7, seed=1)]
    spec = symshape.infer_dims(llama, sets, bounds="config")
    highs = {d.name: d.max for d in spec.dim_rows}
    assert highs["seq_len"] + highs["past_len"] == llama.config.max_position_embeddings
    assert highs["past_len"] > 200 and highs["seq_len"] >= 4
    positions = spec.bounds[0]
    assert positions.expr == "past_len + seq_len" and positions.high == 256
    assert positions.stated_as.startswith("split as past_len <= ")


# -- probes ---------------------------------------------------------------------------------


class Branchy(torch.nn.Module):
    """Eager runs any size; tracing at sizes >= 5 guards the branch, so the program does not."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.shape[0] >= 5 else x + x


def test_probes_find_a_coverage_gap_without_failing_the_export() -> None:
    result = symshape.export(Branchy(), [(torch.randn(5, 3),), (torch.randn(6, 4),)])
    assert result.spec.dims["x_dim0"].min == 5  # torch asked for x_dim0 >= 5: the contract says so
    gaps = result.coverage_gaps
    assert [g.sizes for g in gaps] == ["x_dim0=4, x_dim1=3", "x_dim0=2, x_dim1=3"], result.explain()
    gap = gaps[0]
    assert gap.origin == "probe" and not gap.accepted
    assert "coverage gap" in gap.error and "x.shape[0] (x_dim0) >= 5" in gap.error  # the guard, in symshape's names
    assert result.ok  # a gap is reported, not a failure
    assert "probe #0 (x_dim0=4, x_dim1=3): coverage gap" in result.explain()


def test_probe_sizes_cover_edges_gaps_beyond_and_bounds() -> None:
    spec = symshape.infer_dims(None, [(torch.ones(3, 2),), (torch.ones(9, 4),)], bounds={"arg0_dim0": (2, 40)})
    sizes = [p["arg0_dim0"] for p in probe_sizes(spec) if p["arg0_dim1"] == 2]
    assert 2 in sizes and 6 in sizes and 21 in sizes and 40 in sizes  # smallest, between, beyond, at the max
    assert all(2 <= s <= 40 for s in sizes)
    assert probe_sizes(spec)[-1] == {"arg0_dim0": 21, "arg0_dim1": 11}  # every dim beyond at once


def test_a_program_that_differs_from_eager_on_a_probe_is_not_ok() -> None:
    model = torch.nn.Identity()
    spec = symshape.infer_dims(model, [(torch.ones(3, 2),), (torch.ones(4, 5),)])
    eager = eager_runner(model, spec)

    def wrong_beyond(values: dict) -> list[torch.Tensor]:
        out = eager(values)
        return [t + 1 if t.shape[0] > 4 else t for t in out]

    checks, refused = run_probes(wrong_beyond, model, spec)
    bad = [c for c in checks if not c.passed]
    assert refused == 0 and bad and all(c.accepted and c.max_abs_diff == 1.0 for c in bad)


def test_in_dim_names() -> None:
    spec = symshape.infer_dims(None, [(torch.ones(3, 2),), (torch.ones(4, 5),)], names={"arg0:0": "rows"})
    assert in_dim_names("Guard failed: arg0.shape[0] <= 4", spec) == "Guard failed: arg0.shape[0] (rows) <= 4"
