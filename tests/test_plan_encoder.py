"""Encoder-decoder plans: ``generate()`` runs the encoder (``model.get_encoder()``) and every
decoder step, first step included, through the plan's programs; never eager.

``symshape.observe(model.get_encoder())`` records the encoder alongside the model and
``export_plan(model, obs, encoder=enc)`` exports its programs. Each test compares greedy
``generate()`` through the plan with eager ``generate()`` token for token, for batch sizes
(and, for T5 and BART, prompt lengths) that were never recorded. That nothing runs eager
is checked with forward hooks on the first encoder and decoder layers: the exported
programs never call the model's modules. Tiny random-weight models, no hub.
"""

from __future__ import annotations

import pytest
import torch

import symshape
from symshape.integrations.transformers.tiny_models import tiny_llama
from symshape.plan import NotCoveredError, Plan, PlanError

from .generation_models import seq2seq as seq2seq_model
from .generation_models import whisper as whisper_model
from .zoo import WHISPER_ENC_LEN

pytestmark = pytest.mark.usefixtures("one_thread")


def _first_layer(stack) -> torch.nn.Module:
    layers = getattr(stack, "block", None) or stack.layers
    return layers[0]


class EagerRuns:
    """Counts the calls of the first encoder and decoder layers: the eager model ran."""

    def __init__(self, model) -> None:
        self.encoder = self.decoder = 0
        self.handles = [
            _first_layer(model.get_encoder()).register_forward_hook(lambda *_: self._hit("encoder")),
            _first_layer(model.get_decoder()).register_forward_hook(lambda *_: self._hit("decoder")),
        ]

    def _hit(self, side: str) -> None:
        setattr(self, side, getattr(self, side) + 1)

    def __enter__(self) -> EagerRuns:
        return self

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()


def _state(module: torch.nn.Module) -> dict[str, object]:
    """The instance attributes, by identity: what ``bind`` must leave as it found them."""
    return dict(module.__dict__)


def _assert_restored(model, before: tuple[dict, dict]) -> None:
    for module, state in zip((model, model.get_encoder()), before):
        now = _state(module)
        assert now.keys() == state.keys(), sorted(now.keys() ^ state.keys())
        assert all(now[k] is state[k] for k in state)
        assert "forward" not in module.__dict__
        assert module.forward.__func__ is type(module).forward


def _seq2seq_generate(model, ids: torch.Tensor, steps: int) -> torch.Tensor:
    return model.generate(input_ids=ids, max_new_tokens=steps, min_new_tokens=steps, do_sample=False)


@pytest.fixture(scope="module", params=["t5", "bart"])
def seq2seq(request):
    """A plan of two recorded generations (prompt lengths 5 and 7, batch 1), encoder included."""
    model = seq2seq_model(request.param)
    gen = torch.Generator().manual_seed(1)
    with symshape.observe(model) as obs, symshape.observe(model.get_encoder()) as enc:
        for length in (5, 7):
            _seq2seq_generate(model, torch.randint(3, 128, (1, length), generator=gen), 3)
    plan = symshape.export_plan(model, obs, encoder=enc, dynamic={"batch"}, verify=False)
    return request.param, model, plan


@pytest.mark.slow
def test_seq2seq_plan_has_an_encoder_program_with_the_decoders_names(seq2seq) -> None:
    _, _, plan = seq2seq
    assert list(plan.programs) == ["encoder", "prefill", "decode"]
    # decoder calls #0-#5, then the two encoder calls, numbered after them
    assert plan.coverage.routed == {
        0: "prefill", 1: "decode", 2: "decode", 3: "prefill", 4: "decode", 5: "decode", 6: "encoder", 7: "encoder",
    }  # fmt: skip
    # one name table: the encoder's batch and sequence length are the decoder's batch and encoder_seq_len
    assert set(plan.programs["encoder"].spec.dims) == {"batch", "encoder_seq_len"}
    assert plan.programs["encoder"].spec.dynamic_shapes["input_ids"] == {
        0: plan.programs["encoder"].spec.dims["batch"],
        1: plan.programs["encoder"].spec.dims["encoder_seq_len"],
    }
    assert set(plan.names) == {"batch", "encoder_seq_len", "past_len"}
    text = plan.explain()
    assert "encoder: encoder serves model.get_encoder()" in text
    assert "calls:    #6, #7" in text


@pytest.mark.slow
@pytest.mark.parametrize(("batch", "length"), [(2, 9), (3, 4)])
def test_seq2seq_generate_runs_encoder_and_every_step_through_the_plan(seq2seq, batch: int, length: int) -> None:
    _, model, plan = seq2seq
    ids = torch.randint(3, 128, (batch, length), generator=torch.Generator().manual_seed(batch * 10 + length))
    with EagerRuns(model) as eager:
        expected = _seq2seq_generate(model, ids, 5)
    assert eager.encoder == 1 and eager.decoder == 5  # the hooks see the eager model
    before = (_state(model), _state(model.get_encoder()))
    with EagerRuns(model) as eager, plan.bind(model) as bound:
        got = _seq2seq_generate(model, ids, 5)
    assert torch.equal(got, expected)
    assert (bound.calls, bound.encoder_calls, bound.eager_calls) == (5, 1, 0)  # first decoder step included
    assert not bound.encoder_runs_eager
    assert (eager.encoder, eager.decoder) == (0, 0)  # nothing ran eager
    _assert_restored(model, before)


@pytest.mark.slow
def test_seq2seq_encoder_call_no_program_holds_is_explained_and_the_model_restored(seq2seq) -> None:
    _, model, plan = seq2seq
    ids = torch.randint(3, 128, (2, 6), generator=torch.Generator().manual_seed(3))
    before = (_state(model), _state(model.get_encoder()))
    # an attention_mask was never passed to the recorded generations: another structure
    with pytest.raises(NotCoveredError, match=r"^model\.get_encoder\(\): no program of the plan holds") as caught:
        with plan.bind(model):
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=2, do_sample=False)
    assert "attention_mask" in str(caught.value) and "encoder: " in str(caught.value)
    assert "prefill" not in str(caught.value)  # the decoder's programs are not the encoder's candidates
    _assert_restored(model, before)


@pytest.mark.slow
def test_seq2seq_plan_without_encoder_programs_says_the_encoder_runs_eager(seq2seq) -> None:
    _, model, plan = seq2seq
    decoder_only = {n: r for n, r in plan.programs.items() if n != "encoder"}
    without = Plan(
        decoder_only,
        {n: plan.contracts[n] for n in decoder_only},
        {n: plan.info[n] for n in decoder_only},
        plan.params,
        names=plan.names,
    )
    assert "model.get_encoder() runs EAGER" in without.explain()
    ids = torch.randint(3, 128, (2, 5), generator=torch.Generator().manual_seed(4))
    expected = _seq2seq_generate(model, ids, 3)
    before = (_state(model), _state(model.get_encoder()))
    with EagerRuns(model) as eager, without.bind(model) as bound:
        got = _seq2seq_generate(model, ids, 3)
    assert torch.equal(got, expected)
    assert (bound.calls, bound.encoder_calls, bound.eager_calls) == (3, 0, 1) and bound.encoder_runs_eager
    assert (eager.encoder, eager.decoder) == (1, 0)  # the encoder ran eager, counted; the decoder did not
    _assert_restored(model, before)


@pytest.mark.slow
def test_seq2seq_saved_plan_keeps_its_encoder_program(seq2seq, tmp_path) -> None:
    family, model, plan = seq2seq
    plan.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decode.pt2", "encoder.pt2", "manifest.json", "prefill.pt2"]
    loaded = symshape.load_plan(tmp_path)
    assert list(loaded.programs) == ["encoder", "prefill", "decode"]
    # the encoder program's example inputs are tensors and flags: saved and read back safely
    assert loaded.programs["encoder"].program.example_inputs is not None
    assert str(loaded.regions["encoder"]) == str(plan.regions["encoder"])
    ids = torch.randint(3, 128, (2, 8), generator=torch.Generator().manual_seed(5))
    expected = _seq2seq_generate(model, ids, 4)
    with EagerRuns(model) as eager, loaded.bind(model) as bound:
        got = _seq2seq_generate(model, ids, 4)
    assert torch.equal(got, expected), family
    assert (bound.calls, bound.encoder_calls, eager.encoder, eager.decoder) == (4, 1, 0, 0)


# ---------------------------------------------------------------- Whisper: audio features in


def _features(model, batch: int, seed: int) -> torch.Tensor:
    # the encoder demands exactly 2 * max_source_positions mel frames: its length is fixed
    shape = (batch, model.config.num_mel_bins, 2 * WHISPER_ENC_LEN)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _whisper_generate(model, features: torch.Tensor, steps: int) -> torch.Tensor:
    return model.generate(input_features=features, max_new_tokens=steps, min_new_tokens=steps)


@pytest.fixture(scope="module")
def whisper():
    model = whisper_model()
    with symshape.observe(model) as obs, symshape.observe(model.get_encoder()) as enc:
        _whisper_generate(model, _features(model, 1, 0), 4)  # batch 1 only
    plan = symshape.export_plan(model, obs, encoder=enc, dynamic={"batch"}, verify=False)
    return model, plan


@pytest.mark.slow
def test_whisper_plan_encoder_length_is_static_and_batch_a_dim(whisper) -> None:
    _, plan = whisper
    assert list(plan.programs) == ["encoder", "prefill", "decode"]
    assert plan.coverage.routed == {0: "prefill", 1: "decode", 2: "decode", 3: "decode", 4: "encoder"}
    encoder = plan.programs["encoder"].spec
    assert set(encoder.dims) == {"batch"}  # the frames are fixed by the config: not a dim
    assert encoder.dynamic_shapes["input_features"] == {0: encoder.dims["batch"]}  # frames and mel bins static
    assert set(plan.programs["decode"].spec.dims) == {"batch", "past_len"}


@pytest.mark.slow
@pytest.mark.parametrize("batch", [2, 3])
def test_whisper_generate_through_the_plan_equals_eager_for_new_batch_sizes(whisper, batch: int) -> None:
    model, plan = whisper
    features = _features(model, batch, batch)
    with EagerRuns(model) as eager:
        expected = _whisper_generate(model, features, 5)
    assert eager.encoder == 1 and eager.decoder == 5
    assert expected.shape[0] == batch
    before = (_state(model), _state(model.get_encoder()))
    with EagerRuns(model) as eager, plan.bind(model) as bound:
        got = _whisper_generate(model, features, 5)
    assert torch.equal(got, expected)
    assert (bound.calls, bound.encoder_calls, bound.eager_calls) == (5, 1, 0)  # the first step included
    assert (eager.encoder, eager.decoder) == (0, 0)
    _assert_restored(model, before)


@pytest.mark.slow
def test_whisper_saved_plan_generates_like_eager(whisper, tmp_path) -> None:
    model, plan = whisper
    plan.save(tmp_path)
    loaded = symshape.load_plan(tmp_path)
    features = _features(model, 2, 9)
    expected = _whisper_generate(model, features, 4)
    with EagerRuns(model) as eager, loaded.bind(model) as bound:
        got = _whisper_generate(model, features, 4)
    assert torch.equal(got, expected)
    assert (bound.calls, bound.encoder_calls, eager.encoder, eager.decoder) == (4, 1, 0, 0)


# ---------------------------------------------------------------- errors (fast: nothing is exported)


def test_encoder_recording_of_the_wrong_module_or_model_is_a_clear_error() -> None:
    model = seq2seq_model("t5")
    ids = torch.randint(3, 128, (1, 4), generator=torch.Generator().manual_seed(0))
    with symshape.observe(model) as obs:
        _seq2seq_generate(model, ids, 1)
    with pytest.raises(symshape.InputsError, match=r"observed the model itself, not model\.get_encoder\(\)"):
        symshape.export_plan(model, obs, encoder=obs)
    with symshape.observe(model.get_decoder()) as wrong:
        _seq2seq_generate(model, ids, 1)
    with pytest.raises(symshape.InputsError, match=r"observed a T5Stack, not model\.get_encoder\(\)"):
        symshape.export_plan(model, obs, encoder=wrong)
    with symshape.observe(model.get_encoder()) as empty:
        pass
    with pytest.raises(symshape.InputsError, match="the encoder recording holds no call"):
        symshape.export_plan(model, obs, encoder=empty)
    llama = tiny_llama(num_layers=1, hidden_size=32, seed=3)
    with pytest.raises(symshape.OptionError, match="LlamaForCausalLM is not an encoder-decoder"):
        symshape.export_plan(llama, [{"input_ids": ids}], encoder=[{"input_ids": ids}])


def test_bind_refuses_encoder_programs_for_a_model_without_an_encoder() -> None:
    class Toy(torch.nn.Module):
        def forward(self, x):
            return x * 2

    sets = [(torch.randn(2, 3),), (torch.randn(4, 3),)]
    plan = symshape.export_plan(Toy(), sets, names={"x:0": "batch"}, verify=False)
    renamed = Plan(
        {"encoder": plan.programs["forward"]},
        {"encoder": plan.contracts["forward"]},
        {"encoder": plan.info["forward"]},
        plan.params,
        names=plan.names,
    )
    with pytest.raises(PlanError, match=r"encoder programs \(encoder\) but Toy\.get_encoder\(\) gives no encoder"):
        renamed.bind(Toy())
    # a plain plan binds a plain module as before: no encoder side
    model = Toy()
    with plan.bind(model) as bound:
        assert torch.equal(model(torch.ones(3, 3)), torch.full((3, 3), 2.0))
    assert (bound.calls, bound.encoder_calls, bound.eager_calls) == (1, 0, 0) and not bound.encoder_runs_eager
    assert "forward" not in model.__dict__


def test_encoder_dims_take_the_decoders_names_and_the_users_renames() -> None:
    from symshape.plan.encoder import EncoderNames

    encoder = seq2seq_model("t5").get_encoder()
    sets = [{"input_ids": torch.randint(3, 128, (b, n))} for b, n in ((1, 5), (2, 7), (3, 4))]
    spec = symshape.infer_dims(encoder, sets)
    assert set(spec.dims) == {"batch", "seq_len"}  # inference alone: the encoder's own view
    assert EncoderNames(None).names_for(spec) == {"input_ids:0": "batch", "input_ids:1": "encoder_seq_len"}
    renamed = EncoderNames({"batch": "b", "seq_len": "tgt_len", "encoder_seq_len": "src_len"})
    assert renamed.names_for(spec) == {"input_ids:0": "b", "input_ids:1": "src_len"}  # seq_len is the decoder's
    assert EncoderNames({"input_ids:1": "src"}).names_for(spec) == {"input_ids:0": "batch", "input_ids:1": "src"}
