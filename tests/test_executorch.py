"""``symshape.export_executorch`` and ``symshape export --executorch``: programs exported with
bounded dims, lowered with XNNPACK, run in the real ExecuTorch runtime against eager on the
observed sets, held-out sets far beyond them, and the probes built from the contract.

Needs the ``executorch`` extra (``pip install 'symshape[executorch]'``; ``make install``
installs it). Each lowering takes tens of seconds: one module-scoped fixture per model.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch
import transformers

import symshape
from symshape import cli
from symshape.core.records import ATOL
from symshape.exporting.verify import eager_runner, run_check
from symshape.integrations.executorch import require_executorch
from symshape.integrations.executorch.runtime import TARGET, PteRunner, input_order
from symshape.integrations.transformers.tiny_models import llama_decode_inputs, tiny_llama

from .test_moe import decode_step, tiny_qwen3_moe

pytest.importorskip("executorch", reason="the symshape[executorch] extra is not installed")


def show(title: str, made: symshape.ExecuTorchResult) -> None:
    print(f"\n== {title} ==\n{made.explain()}")


def assert_verified(made: symshape.ExecuTorchResult, observed: int, held_out: int) -> None:
    """Observed sets then held-out sets, in order, then probes; every one equal to eager."""
    labels = [c.label for c in made.checks if c.origin != "probe"]
    assert labels == [f"set #{i}" for i in range(observed)] + [f"held-out #{i}" for i in range(held_out)]
    assert [c.origin for c in made.checks] == ["observed"] * observed + ["held-out"] * held_out + ["probe"] * (
        len(made.checks) - observed - held_out
    )
    for c in made.checks:
        assert c.covered and c.accepted and c.error is None, c
        assert c.max_abs_diff is not None and c.max_abs_diff <= ATOL, c
    assert made.ok and made.verified and not made.failed and not made.coverage_gaps
    assert made.path.is_file() and made.path.stat().st_size > 0
    assert made.lowering_seconds > 0
    assert str(made).startswith(f"ExecuTorchResult({made.path}") and "verified" in str(made)


# ---------------------------------------------------------------------------------------------
# MoE (Qwen3-MoE): traced with the batched_mm experts (transformers' default custom op fails
# ExecuTorch's verifier), the user's model left as it was


@pytest.fixture(scope="module")
def moe(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, symshape.ExecuTorchResult]:
    model = tiny_qwen3_moe(layers=1)  # one layer: the lowering takes half as long
    sets = [decode_step(model, 2, 3, 5, seed=0), decode_step(model, 3, 4, 7, seed=1)]
    far = [decode_step(model, 2, 1, 100, seed=2)]
    made = symshape.export_executorch(model, sets, tmp_path_factory.mktemp("moe") / "moe.pte", held_out=far)
    show("qwen3-moe", made)
    return model, made


@pytest.mark.slow
def test_moe_runs_in_the_runtime_far_beyond_the_examples(moe) -> None:
    model, made = moe
    assert_verified(made, observed=2, held_out=1)
    assert "(2, 101)" in made.checks[2].shapes  # the held-out step: past 100 + 1 token
    assert model.config._experts_implementation == "grouped_mm"  # the user's setting, back


# ---------------------------------------------------------------------------------------------
# tiny Llama decode step (DynamicCache), bounds from the config (max_position_embeddings = 256)

LLAMA_CASES = [(2, 3, 5), (3, 4, 7)]
FAR = (2, 1, 100)  # batch, seq_len, past_len: a one-token step, the past 14x the longest observed


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, symshape.ExecuTorchResult]:
    model = tiny_llama(num_layers=1)  # one layer: the lowering is ~2x faster than with two
    sets = [llama_decode_inputs(model, *case, seed=i) for i, case in enumerate(LLAMA_CASES)]
    path = tmp_path_factory.mktemp("executorch") / "llama.pte"
    made = symshape.export_executorch(model, sets, path, held_out=[llama_decode_inputs(model, *FAR, seed=7)])
    show("tiny Llama decode step", made)
    return model, made


@pytest.mark.slow
def test_llama_far_decode_step_runs_in_the_runtime_equal_to_eager(llama) -> None:
    _, made = llama
    assert_verified(made, observed=2, held_out=1)
    far = made.checks[2]
    assert far.shapes.startswith("(input_ids=(2, 1), attention_mask=(2, 101), position_ids=(2, 1)")
    print(f"far held-out set {FAR}: max |pte - eager| = {far.max_abs_diff:.2e}")
    # bounds="config": past_len + seq_len <= max_position_embeddings, split per dim; batch gets a default max
    bounds = made.bounds
    assert set(bounds) == {"batch", "seq_len", "past_len"}
    assert all(high is not None for _, high in bounds.values())
    assert bounds["past_len"][1] + bounds["seq_len"][1] <= 256 and bounds["past_len"][1] >= FAR[2]
    text = made.explain()
    assert text.startswith(f"ExecuTorch program: {made.path} (XNNPACK; lowered in ")
    for d, (_, high) in bounds.items():
        assert f"  {d}: min " in text and f"max {high}" in text
    assert "max_position_embeddings" in text
    assert "held-out #0 (input_ids=(2, 1)" in text and "max |pte - eager| = " in text


@pytest.mark.slow
def test_llama_inputs_are_fed_in_the_program_order_whatever_the_key_order(llama) -> None:
    model, made = llama
    program, spec = made.export.program, made.export.spec
    order = input_order(program, spec)
    assert order == ["input_ids", "attention_mask", "position_ids", "cache['key_cache'][0]", "cache['value_cache'][0]"]
    run_pte = PteRunner(require_executorch(), made.path, order)
    values = llama_decode_inputs(model, 3, 2, 40, seed=11)
    shuffled = dict(reversed(list(values.items())))  # cache first, input_ids last
    check = run_check(0, shuffled, run_pte, eager_runner(model, spec), origin="held-out", target=TARGET)
    assert check.passed, check


@pytest.mark.slow
def test_llama_beyond_the_memory_plan_is_a_rejected_check_not_a_crash(llama) -> None:
    model, made = llama
    spec = made.export.spec
    batch_max, past_max = made.bounds["batch"][1], made.bounds["past_len"][1]
    run_pte = PteRunner(require_executorch(), made.path, input_order(made.export.program, spec))
    run_eager = eager_runner(model, spec)
    # The runtime checks each input against its planned memory in bytes, not against the dims'
    # bounds: past_len over its max with a small batch fits, and runs equal to eager.
    fits = run_check(0, llama_decode_inputs(model, 2, 1, past_max + 5, seed=12), run_pte, run_eager, target=TARGET)
    assert fits.passed, fits
    # At the largest batch, the cache no longer fits its planned memory: a rejected set, not a crash.
    over = run_check(
        1, llama_decode_inputs(model, batch_max, 1, past_max + 5, seed=13), run_pte, run_eager, target=TARGET
    )
    print(over)
    assert not over.accepted and not over.passed
    planned = f"for ({batch_max}, 2, {past_max}, 16)"
    assert f"cache['key_cache'][0] ({batch_max}, 2, {past_max + 5}, 16) needs" in over.error and planned in over.error


# ---------------------------------------------------------------------------------------------
# BERT (bounds from the config: seq_len <= max_position_embeddings = 64), ViT (fixed image size)


def bert_inputs(batch: int, seq_len: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, seq_len, dtype=torch.int64)
    mask[0, seq_len - 1 :] = 0  # one padded position
    token_type_ids = torch.zeros(batch, seq_len, dtype=torch.int64)
    token_type_ids[:, seq_len // 2 :] = 1  # a sentence pair
    input_ids = torch.randint(0, 128, (batch, seq_len), generator=gen, dtype=torch.int64)
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": token_type_ids}


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> symshape.ExecuTorchResult:
    config = transformers.BertConfig(
        vocab_size=128,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    sets = [bert_inputs(b, s, seed) for seed, (b, s) in enumerate([(2, 5), (3, 6), (2, 8)])]
    held_out = [bert_inputs(5, 64, 20), bert_inputs(4, 1, 21)]  # at the config's max; one token
    made = symshape.export_executorch(
        model, sets, tmp_path_factory.mktemp("executorch") / "bert.pte", held_out=held_out
    )
    show("BERT encoder", made)
    return made


@pytest.mark.slow
def test_bert_runs_at_the_config_maximum(bert: symshape.ExecuTorchResult) -> None:
    assert_verified(bert, observed=3, held_out=2)
    assert bert.bounds["seq_len"][1] == 64
    assert bert.checks[3].shapes.startswith("(input_ids=(5, 64)")


@pytest.fixture(scope="module")
def vit(tmp_path_factory: pytest.TempPathFactory) -> symshape.ExecuTorchResult:
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
    )
    torch.manual_seed(0)
    model = transformers.ViTModel(config).eval()
    gen = torch.Generator().manual_seed(0)
    sets = [{"pixel_values": torch.randn(b, 3, 32, 32, generator=gen)} for b in (2, 3)]
    held_out = [{"pixel_values": torch.randn(b, 3, 32, 32, generator=gen)} for b in (8, 1)]
    path = tmp_path_factory.mktemp("executorch") / "vit.pte"
    made = symshape.export_executorch(model, sets, path, held_out=held_out, bounds={"batch": (1, 8)})
    show("ViT encoder, 32x32 images", made)
    return made


@pytest.mark.slow
def test_vit_runs_every_batch_up_to_the_bound(vit: symshape.ExecuTorchResult) -> None:
    assert_verified(vit, observed=2, held_out=2)
    assert vit.bounds == {"batch": (1, 8)}
    assert "  batch: min 1, max 8  [user: " in vit.explain()


# ---------------------------------------------------------------------------------------------
# the command line, and bad arguments

FACTORY = textwrap.dedent(
    """
    import torch

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(4, 4)

        def forward(self, x, past):
            return self.proj(torch.cat([past, x], dim=1)).sum(-1)

    def make():
        torch.manual_seed(0)
        return Step(), [(torch.randn(2, 3, 4), torch.randn(2, 5, 4)), (torch.randn(3, 2, 4), torch.randn(3, 6, 4))]
    """
)


@pytest.mark.slow
def test_cli_export_executorch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "et_models.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "et_models", raising=False)
    code = cli.main(["export", "et_models:make", "-o", "step.pt2", "--executorch", "step.pte", "--format", "text"])
    out, err = capsys.readouterr()
    print(out)
    assert code == 0, err
    assert "lowering to ExecuTorch" in err
    assert (tmp_path / "step.pt2").is_file() and (tmp_path / "step.pte").stat().st_size > 0
    assert "ExecuTorch program: step.pte (XNNPACK; lowered in " in out
    assert "ExecuTorch runtime vs eager" in out and "set #1" in out and "max |pte - eager|" in out


@pytest.mark.slow
def test_without_bounds_the_example_is_the_capacity(tmp_path: Path) -> None:
    namespace: dict = {}
    exec(FACTORY, namespace)
    model, sets = namespace["make"]()
    bigger = (torch.randn(3, 9, 4), torch.randn(3, 6, 4))  # x_dim1 = 9: beyond the example's 3
    made = symshape.export_executorch(model, sets, tmp_path / "step.pte", bounds=None, held_out=[bigger])
    print(made.explain())
    assert made.bounds == {"x_dim0": (None, None), "x_dim1": (None, None), "past_dim1": (None, None)}
    assert "  x_dim1: min default, max none (no max: the memory plan takes the example's size, 3, as" in made.explain()
    # Set #1 (batch 3, past 6) is larger than the example (set #0: batch 2, past 5): rejected too.
    assert [c.passed for c in made.checks if c.origin != "probe"] == [True, False, False]
    assert made.failed == made.checks[1:3] and not made.ok and "CHECK FAILED" in str(made)
    assert "past (3, 6, 4) needs 288 bytes, the program planned 160 for (2, 5, 4)" in made.checks[1].error
    assert "x (3, 9, 4) needs 432 bytes, the program planned 96 for (2, 3, 4)" in made.checks[2].error
    assert made.coverage_gaps  # probes beyond the example: reported, not counted


def test_bad_arguments_name_the_argument_and_the_value() -> None:
    with pytest.raises(symshape.InputsError, match=r"export_executorch\(path=42\)"):
        symshape.export_executorch(None, [], 42)
    with pytest.raises(symshape.InputsError, match=r"export_executorch\(result='nope'\).*got str"):
        symshape.export_executorch(None, [], "never.pte", result="nope")
    assert not Path("never.pte").exists()
