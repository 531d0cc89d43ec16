"""``Plan.to_executorch``: every program of a plan as one method of ONE ``.pte``, routed by
the plan's regions and run in the real ExecuTorch runtime against eager.

Needs the ``executorch`` extra. Each lowering takes tens of seconds on a 2-core CPU (the
first one in a process more: executorch warms up), so one module-scoped fixture per plan.
"""

from __future__ import annotations

import pytest
import torch

import symshape
from symshape.core.copying import copy_set
from symshape.integrations.executorch.lowering import has_sym_functions
from symshape.integrations.executorch.runtime import input_order
from symshape.integrations.transformers.tiny_models import tiny_llama
from symshape.plan import NotCoveredError, PlanError, PlanFileError
from symshape.plan.executorch import ExecuTorchPlan

pytest.importorskip("executorch", reason="the symshape[executorch] extra is not installed")


pytestmark = pytest.mark.usefixtures("one_thread")


class Masked(torch.nn.Module):
    """An optional argument: two structures, so two programs (two methods)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x, mask=None):
        y = self.lin(x)
        if mask is not None:
            y = y * mask
        return torch.relu(y)


SETS = [
    {"x": torch.randn(2, 3, 4)},
    {"x": torch.randn(3, 5, 4), "mask": torch.ones(3, 5, 1)},
    {"x": torch.randn(4, 6, 4), "mask": torch.ones(4, 6, 1)},
    {"x": torch.randn(2, 7, 4)},
]
NAMES = {"x:0": "batch", "x:1": "seq"}
BOUNDS = {"batch": (1, 8), "seq": (1, 32)}


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory):
    model = Masked()
    plan = symshape.export_plan(model, SETS, names=NAMES, bounds=BOUNDS, verify=False)
    path = tmp_path_factory.mktemp("plan_pte") / "masked.pte"
    made = plan.to_executorch(path)
    print(f"\n{made.explain()}")
    return model, plan, made


@pytest.mark.slow
def test_one_pte_with_one_method_per_program_checked_against_eager(masked) -> None:
    _, plan, made = masked
    assert made.path.is_file() and made.size > 0 and made.lowering_seconds > 0
    assert set(made.method_names) == set(plan.programs) == {"forward_without_mask", "forward_with_mask"}
    assert made.inputs == {"forward_without_mask": ["x"], "forward_with_mask": ["x", "mask"]}
    # each program's recorded calls ran in the runtime, against eager
    assert {n: len(c) for n, c in made.checks.items()} == {"forward_without_mask": 2, "forward_with_mask": 2}
    assert made.ok and not made.failed and "verified" in str(made)
    text = made.explain()
    assert text.startswith(f"ExecuTorch plan: {made.path} (2 method(s)")
    assert "forward_with_mask: batch >= 1 and batch <= 8 and seq >= 1 and seq <= 32" in text
    assert "  inputs: x, mask" in text and "bounds: seq: min 1, max 32" in text


@pytest.mark.slow
def test_calls_are_routed_to_the_method_whose_region_holds_them(masked) -> None:
    model, plan, made = masked
    before = dict(made.runs)
    x, mask = torch.randn(5, 9, 4), torch.rand(5, 9, 1)  # sizes never recorded
    assert made.route(x) == plan.route(x) == "forward_without_mask"
    assert made.route(x, mask=mask) == plan.route(x, mask=mask) == "forward_with_mask"
    torch.testing.assert_close(made(x, mask=mask), model(x, mask))
    torch.testing.assert_close(made(x), model(x))
    torch.testing.assert_close(made(x, mask), model(x, mask))  # positional: the same binding as the plan
    assert made.runs["forward_with_mask"] == before["forward_with_mask"] + 2
    assert made.runs["forward_without_mask"] == before["forward_without_mask"] + 1


@pytest.mark.slow
def test_a_call_beyond_the_bounds_is_not_covered(masked) -> None:
    _, _, made = masked
    with pytest.raises(NotCoveredError) as caught:
        made(torch.randn(9, 3, 4))  # batch 9 > 8: no method's memory is planned for it
    text = str(caught.value)
    assert "no program of the plan holds this call (x=(9, 3, 4))" in text and "batch <= 8 is broken" in text


@pytest.mark.slow
def test_a_loaded_plan_opens_the_pte_and_routes_the_same(masked, tmp_path) -> None:
    model, plan, made = masked
    plan.save(tmp_path / "plan")
    loaded = symshape.load_plan(tmp_path / "plan")
    opened = ExecuTorchPlan(loaded, made.path)
    x, mask = torch.randn(3, 11, 4), torch.rand(3, 11, 1)
    assert opened.route(x, mask) == "forward_with_mask" and not opened.verified  # no model: nothing checked
    torch.testing.assert_close(opened(x, mask), model(x, mask))
    assert opened.runs == {"forward_without_mask": 0, "forward_with_mask": 1}


@pytest.mark.slow
def test_a_pte_without_the_plans_programs_is_refused(masked) -> None:
    _, _, made = masked
    other = symshape.export_plan(torch.nn.ReLU(), [(torch.randn(2, 3),), (torch.randn(4, 5),)], verify=False)
    with pytest.raises(PlanFileError) as caught:
        ExecuTorchPlan(other, made.path)
    assert f"{made.path} has no method for the program(s) forward of the plan" in str(caught.value)


def test_a_plan_with_an_unbounded_dim_is_refused_before_lowering(tmp_path) -> None:
    plan = symshape.export_plan(Masked(), SETS, names=NAMES, verify=False)
    with pytest.raises(PlanError) as caught:
        plan.to_executorch(tmp_path / "never.pte")
    text = str(caught.value)
    assert "these have no max: forward_without_mask: batch (observed" in text
    assert 'bounds="config"' in text and "bounds={'batch': (min, max), 'seq': (min, max)}" in text
    assert isinstance(caught.value, symshape.SymshapeError) and not (tmp_path / "never.pte").exists()


def test_input_order_is_read_from_the_treespec_without_example_inputs() -> None:
    """A loaded plan's program may have no example inputs: the runtime's order still follows."""
    made = symshape.export(Masked(), [s for s in SETS if "mask" in s], verify=False)
    order = input_order(made.program, made.spec)
    assert order == ["x", "mask"]
    made.program.example_inputs = None
    assert input_order(made.program, made.spec) == order


# ---------------------------------------------------------------- tiny Llama: prefill + decode


def _greedy(model, ids, n):
    return model.generate(input_ids=ids, max_new_tokens=n, do_sample=False)


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory):
    model = tiny_llama(num_layers=1, hidden_size=32, seed=3)
    model.generation_config.pad_token_id = 0
    with symshape.observe(model) as obs:
        _greedy(model, torch.randint(1, 128, (1, 5), generator=torch.Generator().manual_seed(0)), 3)
    plan = symshape.export_plan(model, obs, dynamic={"batch"}, bounds="config", verify=False)
    made = plan.to_executorch(tmp_path_factory.mktemp("llama_pte") / "llama.pte")
    print(f"\n{made.explain()}")
    return model, obs, plan, made


@pytest.mark.slow
def test_llama_prefill_and_decode_are_two_methods_of_one_pte(llama) -> None:
    _, _, plan, made = llama
    assert list(plan.programs) == ["prefill", "decode"] and set(made.method_names) == {"prefill", "decode"}
    assert made.ok, made.explain()
    assert made.inputs["decode"][:3] == ["input_ids", "position_ids", "cache['key_cache'][0]"]
    # decode (seq_len static) carries torch.sym_min runtime asserts: lowered with the IR check off
    assert has_sym_functions(plan.programs["decode"].program)


@pytest.mark.slow
def test_llama_decode_call_updates_the_callers_cache_like_eager(llama) -> None:
    model, obs, _, made = llama
    mine, theirs = copy_set(obs.inputs[1]), copy_set(obs.inputs[1])
    expected = model(**theirs)
    assert made.route(**copy_set(obs.inputs[1])) == "decode"
    got = made(**mine)
    torch.testing.assert_close(got.logits, expected.logits)
    assert got.cache is mine["cache"] and mine["cache"].get_seq_length() == theirs["cache"].get_seq_length()
    torch.testing.assert_close(mine["cache"].layers[0].keys, theirs["cache"].layers[0].keys)


@pytest.mark.slow
@pytest.mark.parametrize(("batch", "prompt"), [(2, 7), (3, 4)])
def test_llama_greedy_generate_through_the_pte_equals_eager(llama, batch: int, prompt: int) -> None:
    """Batch sizes and prompt lengths never recorded (recorded: batch 1, prompt 5)."""
    model, _, _, made = llama
    ids = torch.randint(1, 128, (batch, prompt), generator=torch.Generator().manual_seed(batch * 10 + prompt))
    expected = _greedy(model, ids, 6)
    before = dict(made.runs)
    with made.bind(model) as bound:
        got = _greedy(model, ids, 6)
    assert torch.equal(got, expected), (got, expected)
    assert bound.calls == 6 and "forward" not in model.__dict__
    assert made.runs["prefill"] - before["prefill"] == 1 and made.runs["decode"] - before["decode"] == 5
