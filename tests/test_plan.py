"""Export plans (symshape.export_plan): regimes, regions, routing, bind + generate, save/load.

Tiny random-weight models only (no hub). The generate tests compare greedy ``generate()``
through the plan with eager ``generate()`` token for token, for prompt lengths and batch
sizes that were never recorded. Tests over ~10 s are marked slow.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import symshape
from symshape.integrations.transformers.tiny_models import tiny_llama
from symshape.plan import NotCoveredError, PlanFileError
from symshape.plan.region import Constraint, Region, parse_guard

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- toy models (fast)


class Masked(torch.nn.Module):
    def forward(self, x, mask=None):
        y = x * 2
        if mask is not None:
            y = y * mask[..., None]
        return y.sum(-1)


class Loop(torch.nn.Module):
    """A Python loop over the sequence: torch specialises its length."""

    def forward(self, x):
        out = x[:, 0]
        for i in range(1, x.shape[1]):
            out = out + x[:, i] * i
        return out


class Window(torch.nn.Module):
    """A branch on the length, as a sliding window crops once full."""

    def forward(self, x):
        if x.shape[1] > 4:
            return x[:, -4:].sum(1)
        return x.sum(1)


def test_optional_argument_gives_two_programs_with_one_name_table() -> None:
    sets = [
        {"x": torch.randn(2, 3, 4)},
        {"x": torch.randn(3, 5, 4), "mask": torch.ones(3, 5)},
        {"x": torch.randn(4, 6, 4), "mask": torch.ones(4, 6)},
        {"x": torch.randn(2, 7, 4)},
    ]
    plan = symshape.export_plan(Masked(), sets, names={"x:0": "batch", "x:1": "seq"}, verify=False)
    assert list(plan.programs) == ["forward_without_mask", "forward_with_mask"]
    assert all(list(r.spec.dims) == ["batch", "seq"] for r in plan.programs.values())
    assert plan.names == ["batch", "seq"]
    x, mask = torch.randn(5, 9, 4), torch.rand(5, 9)
    assert plan.route(x) == "forward_without_mask" and plan.route(x, mask) == "forward_with_mask"
    assert torch.allclose(plan(x, mask=mask), Masked()(x, mask)) and torch.allclose(plan(x), Masked()(x))
    assert plan.coverage.routed == {
        0: "forward_without_mask",
        1: "forward_with_mask",
        2: "forward_with_mask",
        3: "forward_without_mask",
    }
    assert "mask not given in these calls" in plan.explain()


def test_specialised_size_gives_one_static_program_per_value() -> None:
    sets = [(torch.randn(2, 3, 4),), (torch.randn(3, 5, 4),), (torch.randn(2, 5, 4),)]
    plan = symshape.export_plan(Loop(), sets, names={"x:0": "batch", "x:1": "seq_len"}, verify=False)
    assert {n: str(r) for n, r in plan.regions.items()} == {
        "forward_seq_len_3": "seq_len == 3",
        "forward_seq_len_5": "seq_len == 5",
    }
    assert plan.route(torch.randn(7, 5, 4)) == "forward_seq_len_5"
    x = torch.randn(6, 3, 4)
    assert torch.allclose(plan(x), Loop()(x))
    with pytest.raises(NotCoveredError) as caught:
        plan(torch.randn(6, 4, 4))
    text = str(caught.value)
    assert "no program of the plan holds this call (x=(6, 4, 4))" in text
    assert "nearest: forward_seq_len_3 (seq_len == 3 is broken" in text
    assert "forward_seq_len_5: seq_len == 5  <- at seq_len=4" in text
    assert isinstance(caught.value, symshape.SymshapeError)
    report = plan.explain()
    assert "forward buckets: seq_len in {3, 5}" in report and "Loop" not in report
    assert "the model specialises seq_len" in report and "in forward: for i in range(1, x.shape[1]):" in report


def test_guard_that_splits_the_calls_gives_two_regions() -> None:
    sets = [(torch.randn(b, n, 4),) for b, n in ((2, 3), (3, 2), (2, 6), (4, 9))]
    plan = symshape.export_plan(Window(), sets, names={"x:0": "batch", "x:1": "seq_len"}, verify=False)
    assert {n: str(r) for n, r in plan.regions.items()} == {"forward_1": "seq_len <= 4", "forward_2": "seq_len >= 5"}
    assert [plan.route(torch.randn(3, n, 4)) for n in (1, 4, 5, 12)] == [
        "forward_1",
        "forward_1",
        "forward_2",
        "forward_2",
    ]
    for n in (1, 4, 5, 12):
        x = torch.randn(3, n, 4)
        assert torch.allclose(plan(x), Window()(x))
    assert plan.coverage.overlaps == [] and plan.coverage.uncovered == []
    assert "split on seq_len must be <= 4" in plan.explain()


def test_regions_parse_hold_overlap_and_round_trip() -> None:
    c = parse_guard("past_len + seq_len <= 15", ["past_len", "seq_len"])
    assert c is not None and (c.terms, c.op, c.bound) == ((("past_len", 1), ("seq_len", 1)), "<=", 15)
    assert parse_guard("attention_mask.shape[1] >= past_len", ["past_len"]) is None
    assert parse_guard("2*seq_len > 3", ["seq_len"]).text == "2*seq_len >= 4"
    assert parse_guard("-seq_len >= -12", ["seq_len"]).text == "seq_len <= 12"
    window = Region([c])
    assert window.holds({"past_len": 10, "seq_len": 5}) and not window.holds({"past_len": 11, "seq_len": 5})
    decode = Region([Constraint((("seq_len", 1),), "==", 1)])
    assert decode.overlap(window) is not None
    assert decode.overlap(Region([Constraint((("seq_len", 1),), ">=", 2)])) is None
    assert window.implies(Constraint((("seq_len", 1),), "<=", 15))
    assert Region.from_json(json.loads(json.dumps(window.to_json()))).text == "past_len + seq_len <= 15"


# ---------------------------------------------------------------- tiny Llama: prefill + decode


def _greedy(model, ids, n=5):
    return model.generate(input_ids=ids, max_new_tokens=n, do_sample=False)


@pytest.fixture(scope="module")
def llama_plan():
    model = tiny_llama(num_layers=2, hidden_size=32, seed=3)
    model.generation_config.pad_token_id = 0
    with symshape.observe(model) as obs:
        _greedy(model, torch.randint(1, 128, (1, 5), generator=torch.Generator().manual_seed(0)), n=3)
    plan = symshape.export_plan(model, obs, dynamic={"batch"}, verify=False)
    return model, obs, plan


def test_llama_plan_has_prefill_and_decode_with_shared_names(llama_plan) -> None:
    plan = llama_plan[2]
    assert list(plan.programs) == ["prefill", "decode"]
    assert {n: str(r) for n, r in plan.regions.items()} == {"prefill": "past_len == 0", "decode": "seq_len == 1"}
    assert set(plan.programs["prefill"].spec.dims) == {"batch", "seq_len"}
    assert set(plan.programs["decode"].spec.dims) == {"batch", "past_len"}
    assert plan.coverage.routed == {0: "prefill", 1: "decode", 2: "decode"} and not plan.coverage.uncovered
    assert all(r.ok for r in plan.programs.values())
    report = plan.explain()
    assert "prefill: past_len == 0" in report and "decode: seq_len == 1" in report and "calls:    #1, #2" in report


@pytest.mark.parametrize(("batch", "prompt"), [(1, 9), (3, 4), (2, 12)])
def test_llama_generate_through_plan_equals_eager(llama_plan, batch: int, prompt: int) -> None:
    """Prompt lengths and batch sizes never recorded (recorded: batch 1, prompt 5)."""
    model, _, plan = llama_plan
    ids = torch.randint(1, 128, (batch, prompt), generator=torch.Generator().manual_seed(batch * 100 + prompt))
    before = dict(model.__dict__)
    expected = _greedy(model, ids, n=6)
    with plan.bind(model) as bound:
        got = _greedy(model, ids, n=6)
    assert torch.equal(got, expected), (got, expected)
    assert bound.calls == 6  # every forward call went through the plan
    assert model.__dict__ == before and "forward" not in model.__dict__


def test_llama_call_updates_the_callers_cache_in_place(llama_plan) -> None:
    model, obs, plan = llama_plan
    call = obs.inputs[1]
    from symshape.core.copying import copy_set

    mine, theirs = copy_set(call), copy_set(call)
    expected = model(**theirs)
    got = plan(**mine)
    assert plan.route(**copy_set(call)) == "decode"
    assert torch.allclose(got.logits, expected.logits, atol=1e-5)
    assert got.cache is mine["cache"] and mine["cache"].get_seq_length() == theirs["cache"].get_seq_length() == 6
    assert torch.allclose(mine["cache"].layers[0].keys, theirs["cache"].layers[0].keys, atol=1e-5)


def test_llama_call_no_program_holds_names_sizes_regions_and_nearest(llama_plan) -> None:
    _, obs, plan = llama_plan
    from symshape.core.copying import copy_set

    call = copy_set(obs.inputs[2])
    call["input_ids"] = torch.ones(1, 2, dtype=torch.long)  # 2 new tokens after a full cache: no regime
    call["position_ids"] = torch.arange(6, 8)[None]
    with pytest.raises(NotCoveredError) as caught:
        plan(**call)
    text = str(caught.value)
    assert text.startswith("no program of the plan holds this call (input_ids=(1, 2)")
    assert "nearest: decode (seq_len == 1 is broken" in text
    assert "prefill: past_len == 0  <- at past_len=6" in text and "decode: seq_len == 1  <- at seq_len=2" in text


def test_bind_restores_the_model_when_generate_fails(llama_plan) -> None:
    model, _, plan = llama_plan
    before = dict(model.__dict__)
    with pytest.raises(NotCoveredError), plan.bind(model):
        model(input_ids=torch.ones(1, 3, dtype=torch.long), attention_mask=torch.ones(1, 3, dtype=torch.long))
    assert model.__dict__ == before


@pytest.fixture(scope="module")
def saved(llama_plan, tmp_path_factory):
    _, _, plan = llama_plan
    directory = tmp_path_factory.mktemp("plan")
    plan.save(directory)
    return directory


def test_save_writes_one_pt2_per_program_and_a_json_manifest(saved) -> None:
    assert sorted(p.name for p in saved.iterdir()) == ["decode.pt2", "manifest.json", "prefill.pt2"]
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["format"] == "symshape-plan" and manifest["names"] == ["batch", "past_len", "seq_len"]
    assert [p["name"] for p in manifest["programs"]] == manifest["routing"]["order"] == ["prefill", "decode"]
    assert manifest["containers"] == [
        "transformers.cache_utils:DynamicCache",
        "transformers.modeling_outputs:CausalLMOutputWithPast",
    ]


@pytest.mark.slow
def test_loaded_plan_generates_like_eager_in_a_fresh_process(saved) -> None:
    ids = torch.randint(1, 128, (2, 7), generator=torch.Generator().manual_seed(11))
    model = tiny_llama(num_layers=2, hidden_size=32, seed=3)
    model.generation_config.pad_token_id = 0
    expected = _greedy(model, ids, n=6).tolist()
    script = textwrap.dedent(
        f"""
        import json, torch, symshape
        torch.set_num_threads(1)
        from symshape.integrations.transformers.tiny_models import tiny_llama
        plan = symshape.load_plan({str(saved)!r})
        model = tiny_llama(num_layers=2, hidden_size=32, seed=3)
        model.generation_config.pad_token_id = 0
        with plan.bind(model) as bound:
            out = model.generate(input_ids=torch.tensor({ids.tolist()}), max_new_tokens=6, do_sample=False)
        print(json.dumps({{"tokens": out.tolist(), "calls": bound.calls, "programs": list(plan.programs)}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"tokens": expected, "calls": 6, "programs": ["prefill", "decode"]}


def test_tampered_or_broken_manifest_is_a_clear_error(saved, tmp_path) -> None:
    def copy() -> Path:
        target = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(saved, target)
        return target

    widened = copy()
    manifest = json.loads((widened / "manifest.json").read_text())
    manifest["programs"][1]["contract"]["region"]["constraints"][0]["bound"] = 2  # seq_len == 2
    (widened / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PlanFileError, match=r"modified after plan\.save"):
        symshape.load_plan(widened)

    swapped = copy()
    (swapped / "decode.pt2").write_bytes((swapped / "prefill.pt2").read_bytes())
    with pytest.raises(PlanFileError, match=r"decode.pt2 was modified after plan.save \(SHA-256 differs\)"):
        symshape.load_plan(swapped)

    broken = copy()
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(symshape.SymshapeError, match=r"manifest\.json: not JSON"):
        symshape.load_plan(broken)
    with pytest.raises(PlanFileError, match="no plan manifest here"):
        symshape.load_plan(tmp_path / "nowhere")


@pytest.mark.slow
def test_to_onnx_writes_one_model_per_program_with_the_same_dim_names(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    sets = [(torch.randn(b, n, 4),) for b, n in ((2, 3), (3, 2), (2, 6), (4, 9))]
    plan = symshape.export_plan(Window(), sets, names={"x:0": "batch", "x:1": "seq_len"}, verify=False)
    made = plan.to_onnx(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forward_1.onnx", "forward_2.onnx", "plan.json"]
    assert {n: m.dim_params["x"] for n, m in made.items()} == {
        "forward_1": ("batch", "seq_len", 4),
        "forward_2": ("batch", "seq_len", 4),
    }
    assert all(m.ok for m in made.values())
    index = json.loads((tmp_path / "plan.json").read_text())
    assert [(p["file"], p["region"]) for p in index["programs"]] == [
        ("forward_1.onnx", "seq_len <= 4"),
        ("forward_2.onnx", "seq_len >= 5"),
    ]


# ---------------------------------------------------------------- the model requires splits: sliding window, Mamba


@pytest.mark.slow
def test_sliding_window_generate_crosses_the_window_like_eager() -> None:
    """Mistral with a window of 8: the cache crops once full, and torch guards on it.

    Two recorded prompts (2 and 3 tokens), so that the decode calls before the window
    fills have several past lengths: one program holds them (past_len <= 5), static
    programs the two lengths where the crop starts (the model specialises them), and one
    the full window. Replayed with prompt lengths and batch sizes never recorded."""
    import transformers

    config = transformers.MistralConfig(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, sliding_window=8, max_position_embeddings=256,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.MistralForCausalLM(config).eval()
    model.generation_config.pad_token_id = 0
    gen = torch.Generator().manual_seed(2)
    with symshape.observe(model) as obs:
        for prompt in (2, 3):
            _greedy(model, torch.randint(2, 128, (1, prompt), generator=gen), n=10)
    plan = symshape.export_plan(model, obs, dynamic={"batch"}, verify=False)
    assert not plan.coverage.uncovered and all(plan.coverage.routed.values())
    full = [n for n, r in plan.regions.items() if ">= 8" in str(r)]  # the window is full: one program holds it
    assert len(full) == 1 and plan.info[full[0]].kind in ("guard", "bucket")
    filling = [n for n, r in plan.regions.items() if "past_len <= 5" in str(r)]  # one program before it fills
    assert len(filling) == 1 and "past_len" in plan.programs[filling[0]].spec.dims
    for batch, prompt in ((2, 4), (3, 1)):  # never recorded; 12 new tokens go well past the window
        ids = torch.randint(2, 128, (batch, prompt), generator=gen)
        expected = _greedy(model, ids, n=12)
        with plan.bind(model) as bound:
            got = _greedy(model, ids, n=12)
        assert torch.equal(got, expected) and bound.calls == 12


@pytest.mark.slow
def test_mamba_prefill_buckets_for_the_recorded_lengths() -> None:
    """Mamba's reference scan loops over seq_len in Python: one static prefill per recorded length."""
    import transformers

    config = transformers.MambaConfig(
        vocab_size=128, hidden_size=16, state_size=4, num_hidden_layers=1, conv_kernel=4, expand=2,
        pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.MambaForCausalLM(config).eval()
    gen = torch.Generator().manual_seed(3)
    with symshape.observe(model) as obs:
        for length in (5, 7):
            _greedy(model, torch.randint(3, 128, (1, length), generator=gen), n=2)
    plan = symshape.export_plan(model, obs, dynamic={"batch"}, verify=False)
    assert {n: str(r) for n, r in plan.regions.items()} == {
        "prefill_seq_len_5": "seq_len == 5",
        "decode": "seq_len == 1",
        "prefill_seq_len_7": "seq_len == 7",
    }
    assert "prefill buckets: seq_len in {5, 7}" in plan.explain()
    for batch, length in ((2, 5), (3, 7)):
        ids = torch.randint(3, 128, (batch, length), generator=gen)
        expected = _greedy(model, ids, n=4)
        with plan.bind(model):
            assert torch.equal(_greedy(model, ids, n=4), expected)
    with pytest.raises(NotCoveredError) as caught, plan.bind(model):  # a prompt length never recorded
        _greedy(model, torch.randint(3, 128, (1, 6), generator=gen), n=2)
    assert "nearest: prefill_seq_len_5 (seq_len == 5 is broken)" in str(caught.value)
    assert "prefill_seq_len_7: seq_len == 7  <- at seq_len=6" in str(caught.value)


def test_bad_options_and_inputs_are_clear_errors() -> None:
    sets = [(torch.randn(2, 3),), (torch.randn(3, 4),)]
    with pytest.raises(symshape.OptionError, match="unknown option"):
        symshape.export_plan(Window(), sets, verfy=False)
    with pytest.raises(symshape.OptionError, match="max_depth must be an int >= 0"):
        symshape.export_plan(Window(), sets, max_depth=-1)
    with pytest.raises(symshape.InputsError, match="needs a model"):
        symshape.export_plan(None, sets)
    with pytest.raises(symshape.InputsError, match=r"names\['x:7'\] matches no axis"):
        symshape.export_plan(Window(), sets, names={"x:7": "seq_len"})
    with pytest.raises(symshape.InputsError, match="list of input sets"):
        symshape.export_plan(Window(), torch.randn(2, 3))
