"""The ``symshape`` command: infer / export / demo, errors, formats, the report's facts.

Most tests call ``symshape.cli.main`` in-process on a tiny factory module written to
a temporary directory; one runs ``python -m symshape`` as a subprocess to check the
entry point and the exit status seen by a shell.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

import symshape
from symshape import cli, report
from symshape.report.rich import render_rich

FACTORIES = textwrap.dedent(
    """
    import torch

    class Add(torch.nn.Module):
        def forward(self, x, y):
            return x + y

    def make():
        return Add(), [(torch.randn(5, 6), torch.randn(1, 6)), (torch.randn(7, 8), torch.randn(1, 8))]

    class Positions(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("table", torch.randn(16, 4))

        def forward(self, x):
            return x + self.table[: x.shape[1]]

    def bounded():
        return Positions(), [(torch.randn(2, 5, 4),), (torch.randn(3, 7, 4),), (torch.randn(2, 9, 4),)]

    def too_long():
        model, sets = bounded()
        return model, sets + [(torch.randn(2, 20, 4),)]

    def boom():
        raise RuntimeError("no weights here")

    def not_a_pair():
        return 3

    def bad_sets():
        return Add(), [(torch.randn(2, 3), torch.randn(1, 3)), (torch.randn(2, 3),)]

    class Noisy(torch.nn.Module):
        def forward(self, x):
            import logging, warnings
            warnings.warn("a foreign warning from the model")
            logging.getLogger("torch.fake_library").warning("a foreign log line from torch")
            return x * 2

    def noisy():
        return Noisy(), [(torch.randn(2, 3),), (torch.randn(4, 5),)]

    class Double(torch.nn.Module):
        def forward(self, x):
            return x * 2

    def batch_one():
        return Double(), [(torch.randn(1, 3),), (torch.randn(1, 5),)]

    class Masked(torch.nn.Module):
        def forward(self, x, mask=None):
            y = x * 2
            if mask is not None:
                y = y * mask[..., None]
            return y.sum(-1)

    def masked():  # an optional argument given in some calls only: two programs in a plan
        sets = [
            {"x": torch.randn(2, 3, 4)},
            {"x": torch.randn(3, 5, 4), "mask": torch.rand(3, 5)},
            {"x": torch.randn(4, 6, 4), "mask": torch.rand(4, 6)},
            {"x": torch.randn(2, 7, 4)},
        ]
        return Masked(), sets

    def llama_workload():  # one greedy generate() of a tiny Llama, recorded: prefill, two decode steps
        import symshape
        from symshape.integrations.transformers.tiny_models import tiny_llama

        model = tiny_llama(num_layers=1, hidden_size=32, seed=3)
        model.generation_config.pad_token_id = 0
        prompt = torch.randint(1, 128, (1, 5), generator=torch.Generator().manual_seed(0))
        with symshape.observe(model) as obs:
            model.generate(input_ids=prompt, max_new_tokens=3, do_sample=False)
        return model, obs.inputs

    NOT_CALLABLE = 5
    """
)


@pytest.fixture()
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A factory module ``cli_models`` importable from the (temporary) current directory."""
    (tmp_path / "cli_models.py").write_text(FACTORIES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cli_models", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- infer ---------------------------------------------------------------------------------


def test_infer_prints_the_report_and_writes_the_spec(models: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(capsys, "infer", "cli_models:make", "--json", "spec.json")
    assert code == 0, err
    assert "x_dim0" in out and "x.shape[1] = y.shape[1] = x_dim1" in out
    assert "building model and inputs" in err and "inferring dims" in err  # progress on stderr
    text = (models / "spec.json").read_text()
    spec = symshape.DimSpec.from_json(text)  # the extra "report" key does not get in the way
    assert list(spec.dims) == ["x_dim0", "x_dim1"]
    facts = json.loads(text)["report"]
    assert [d["name"] for d in facts["dims"]] == ["x_dim0", "x_dim1"]
    assert facts["dims"][1]["axes"] == ["x.shape[1]", "y.shape[1]"] and facts["dims"][1]["range"] == "0..inf"


def test_infer_accepts_a_file_path_and_formats(models: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "infer", f"{models}/cli_models.py:make", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [d["name"] for d in data["dims"]] == ["x_dim0", "x_dim1"] and data["relations"][0]["kind"] == "equal"
    code, out, _ = run(capsys, "infer", "cli_models:make", "--format", "rich", "-q")
    assert code == 0 and "┃ name" in out and "x_dim1" in out
    code, out, _ = run(capsys, "infer", "cli_models:make", "--name", "x:0=rows", "-q")
    assert code == 0 and "rows" in out and "x_dim0" not in out


@pytest.mark.parametrize(
    ("target", "code", "message"),
    [
        ("cli_models", 2, "expected MODULE:FACTORY"),
        ("no_such_module:make", 2, "cannot import module 'no_such_module'"),
        ("missing.py:make", 2, "no such file: missing.py"),
        (
            "cli_models:nope",
            2,
            "has no attribute 'nope'; callables defined there: Add, Double, Masked, Noisy, Positions, bad_sets, "
            "batch_one, boom, bounded, llama_workload, make, masked, noisy, not_a_pair, too_long",
        ),
        ("cli_models:NOT_CALLABLE", 2, "cli_models:NOT_CALLABLE is not callable (an int)"),
        ("cli_models:boom", 1, "the factory cli_models:boom raised RuntimeError: no weights here"),
        ("cli_models:not_a_pair", 1, "must return (model, inputs), got int"),
        ("cli_models:bad_sets", 1, "bad input sets:"),
    ],
)
def test_errors_are_one_message_and_an_exit_status(
    models: Path, capsys: pytest.CaptureFixture, target: str, code: int, message: str
) -> None:
    got, out, err = run(capsys, "infer", target, "-q")
    assert got == code
    assert message in err, err
    assert "Traceback" not in err and out == ""


def test_debug_shows_the_traceback(models: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(capsys, "infer", "cli_models:boom", "--debug", "-q")
    assert code == 1 and "Traceback" in err and "no weights here" in err


# -- export --------------------------------------------------------------------------------


def test_export_verifies_and_saves(models: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(capsys, "export", "cli_models:bounded", "-o", "bounded.pt2", "--json", "final.json")
    assert code == 0, err
    for step in ("tracing with torch.export", "verifying the program", "saving with torch.export.save"):
        assert step in err
    # The bound the model requires shows in the dims table, and the refinement below.
    assert "observed; model: x_dim1 <= 16" in out and "0..16" in out
    assert "refined x_dim1 <= 16" in out and "set #2: max |program - eager| = 0.00e+00" in out
    program = torch.export.load(models / "bounded.pt2")
    x = torch.randn(4, 11, 4)
    assert torch.equal(program.module()(x), x + program.module().table[:11])
    facts = json.loads((models / "final.json").read_text())["report"]
    assert facts["dims"][1]["required"] == ["x_dim1 <= 16"] and facts["export"]["ok"] is True


def test_export_error_is_explained_without_traceback(models: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(capsys, "export", "cli_models:too_long", "-o", "never.pt2", "-q")
    assert code == 1 and out == ""
    assert "torch.export failed, explained" in err and "x_dim1 must be <= 16" in err and "broken by:   set #3" in err
    assert "Traceback" not in err and not (models / "never.pt2").exists()


# -- export --plan ---------------------------------------------------------------------------


def test_export_plan_writes_a_plan_that_load_plan_routes(models: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["export", "cli_models:masked", "--plan", "plan_dir", "--name", "x:0=batch", "--name", "x:1=seq_len"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    for step in ("building model and inputs", "exporting a plan from 4 input set(s)", "saving the plan to plan_dir"):
        assert step in err
    assert out.startswith("plan: 2 program(s) for 4 observed call(s); dims batch, seq_len")
    assert "forward_without_mask: any size" in out and "mask not given in these calls" in out
    assert "saved the plan to plan_dir: forward_without_mask.pt2, forward_with_mask.pt2, manifest.json" in out
    assert sorted(p.name for p in (models / "plan_dir").iterdir()) == [
        "forward_with_mask.pt2",
        "forward_without_mask.pt2",
        "manifest.json",
    ]
    plan = symshape.load_plan(models / "plan_dir")
    x, mask = torch.randn(5, 9, 4), torch.rand(5, 9)  # sizes never recorded
    assert plan.route(x) == "forward_without_mask" and plan.route(x, mask=mask) == "forward_with_mask"
    torch.testing.assert_close(plan(x, mask=mask), (x * 2 * mask[..., None]).sum(-1))
    torch.testing.assert_close(plan(x), (x * 2).sum(-1))


def test_export_plan_json_summary(models: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(capsys, "export", "cli_models:masked", "--plan", "plan_dir", "--format", "json", "--no-verify")
    assert code == 0, err
    data = json.loads(out)  # stdout is the JSON alone
    assert data["plan"] == "plan_dir" and data["uncovered"] == []
    programs = {p["name"]: p for p in data["programs"]}
    assert programs["forward_without_mask"]["calls"] == [0, 3] and programs["forward_with_mask"]["calls"] == [1, 2]
    assert programs["forward_with_mask"]["file"] == "forward_with_mask.pt2"
    assert (models / "plan_dir" / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "one.pt2"], "argument -o/--output: not allowed with argument --plan"),
        (["--json", "spec.json"], "--plan and --json do not combine: --json writes the spec of one program"),
        (["--onnx", "m.onnx"], "symshape.load_plan(DIR).to_onnx(ONNX_DIR)"),
        (["--executorch", "m.pte"], 'symshape.export_plan(model, inputs, bounds="config").to_executorch(FILE.pte)'),
    ],
)
def test_export_plan_refuses_options_of_one_program(
    models: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    code, out, err = run(capsys, "export", "cli_models:masked", "--plan", "plan_dir", "-q", *extra)
    assert code == 2 and message in err and out == ""
    assert not (models / "plan_dir").exists()


def test_export_plan_errors_are_one_message(models: Path, capsys: pytest.CaptureFixture) -> None:
    (models / "taken").write_text("a file")
    code, _, err = run(capsys, "export", "cli_models:masked", "--plan", "taken", "-q")
    assert code == 2 and "--plan taken: exists and is not a directory" in err
    # a call no program holds (the model cannot take x.shape[1] = 20): nothing written
    code, out, err = run(capsys, "export", "cli_models:too_long", "--plan", "never", "-q")
    assert code == 1 and "not covered: call #3" in out
    assert "the plan does not hold the workload (call #3: no program of the plan holds this call (x=(2, 20, 4)))" in err
    assert "Traceback" not in err and "failed while attempting to run meta" not in err  # torch's log stays out
    assert not (models / "never").exists()
    code, _, err = run(capsys, "export", "cli_models:masked", "--plan", "never", "--name", "nothing:3=foo", "-q")
    assert code == 1 and "bad input sets: export_plan: names['nothing:3'] matches no axis" in err


@pytest.mark.slow
def test_export_plan_of_a_recorded_generate_generates_like_eager(models: Path, capsys: pytest.CaptureFixture) -> None:
    from symshape.integrations.transformers.tiny_models import tiny_llama

    code, out, err = run(capsys, "export", "cli_models:llama_workload", "--plan", "llama", "--dynamic", "batch")
    assert code == 0, err
    assert "prefill: past_len == 0" in out and "decode: seq_len == 1" in out
    plan = symshape.load_plan(models / "llama")
    model = tiny_llama(num_layers=1, hidden_size=32, seed=3)  # the factory's weights
    model.generation_config.pad_token_id = 0
    ids = torch.randint(1, 128, (3, 6), generator=torch.Generator().manual_seed(4))
    expected = model.generate(input_ids=ids, max_new_tokens=4, do_sample=False)
    with plan.bind(model) as bound:
        got = model.generate(input_ids=ids, max_new_tokens=4, do_sample=False)
    assert torch.equal(got, expected) and bound.calls == 4


def test_python_dash_m_entry_point(models: Path) -> None:
    """The module entry point, as a shell sees it (exit status, stdout vs stderr)."""
    bad = subprocess.run(
        [sys.executable, "-m", "symshape", "infer", "cli_models:boom"],
        check=False,
        cwd=models,
        capture_output=True,
        text=True,
    )
    assert (
        bad.returncode == 1 and "raised RuntimeError: no weights here" in bad.stderr and "Traceback" not in bad.stderr
    )
    good = subprocess.run(
        [sys.executable, "-m", "symshape", "infer", "cli_models:make", "-q"],
        check=False,
        cwd=models,
        capture_output=True,
        text=True,
    )
    assert (
        good.returncode == 0 and good.stdout.startswith("symshape: 2 dim(s) from 2 input set(s)") and good.stderr == ""
    )


def test_demo_runs_end_to_end(capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(capsys, "demo", "-q")
    assert code == 0, err
    assert "batch" in out and "attention_mask.shape[1] = past_len + seq_len" in out
    assert "enforced" in out and "held-out decode step" in out
    assert out.rstrip().endswith("OK: dims batch, seq_len, past_len; 4 free symbols in the program")


# -- the report's facts ------------------------------------------------------------------------


def _decode_like(batch: int, seq: int, past: int) -> dict:
    return {
        "input_ids": torch.zeros(batch, seq, dtype=torch.long),
        "attention_mask": torch.ones(batch, past + seq, dtype=torch.long),
        "cache": [torch.zeros(batch, 2, past, 4)],
    }


def test_report_warns_about_minimum_evidence_with_a_breaking_set() -> None:
    spec = symshape.infer_dims(None, [_decode_like(2, 3, 5), _decode_like(3, 4, 7)])
    facts = report.build(spec)
    (warning,) = [w for w in facts.warnings if w.kind == "minimum-evidence"]
    probe = warning.probe
    assert set(probe) == {"batch", "seq_len", "past_len"}
    assert len(set(probe.values())) == 3 and min(probe.values()) >= 2  # no duck-sizing, no 0/1
    assert all(probe[d.name] not in d.values for d in spec.dim_rows)
    assert f"attention_mask.shape[1] = {probe['past_len'] + probe['seq_len']}" in warning.text
    # The set it proposes settles the question: the warning goes away.
    spec = symshape.infer_dims(
        None,
        [
            _decode_like(2, 3, 5),
            _decode_like(3, 4, 7),
            _decode_like(probe["batch"], probe["seq_len"], probe["past_len"]),
        ],
    )
    assert not [w for w in report.build(spec).warnings if w.kind == "minimum-evidence"]


def test_report_warns_about_conventional_axes_that_never_varied_and_sizes_0_1() -> None:
    spec = symshape.infer_dims(None, [_decode_like(1, 3, 5), _decode_like(1, 1, 7), _decode_like(1, 4, 6)])
    facts = report.build(spec)
    kinds = [w.kind for w in facts.warnings]
    assert "never-varied" in kinds and "size-0-1" in kinds
    (never,) = [w.text for w in facts.warnings if w.kind == "never-varied"]
    assert never.startswith(
        "input_ids.shape[0], attention_mask.shape[0], cache[0].shape[0]: batch by convention, but 1 in every input set"
    )
    (small,) = [w.text for w in facts.warnings if w.kind == "size-0-1"]
    assert small.startswith("seq_len = 1 in set #1")
    text = spec.explain()
    assert "warnings" in text and "batch by convention" in text


def test_report_relations_say_support_origin_and_whether_torch_can_state_them() -> None:
    spec = symshape.infer_dims(None, [_decode_like(2, 3, 5), _decode_like(3, 4, 7), _decode_like(2, 5, 4)])
    by_kind = {r.kind: r for r in report.build(spec).relations}
    assert by_kind["sum"].stated_as.startswith("no: left Dim.AUTO") and not by_kind["sum"].expressible
    assert by_kind["equal"].stated_as == "yes: one shared Dim" and by_kind["equal"].origin == "observed"
    assert by_kind["sum"].support == 3 and by_kind["sum"].distinct == 3
    text = spec.explain()
    assert "sum, observed; 3 sets, 3 distinct; torch can state it: no: left Dim.AUTO" in text


def test_rich_rendering_has_the_same_facts() -> None:
    from rich.console import Console

    spec = symshape.infer_dims(None, [_decode_like(2, 3, 5), _decode_like(3, 4, 7)])
    console = Console(file=io.StringIO(), width=200)
    render_rich(report.build(spec), console)
    out = console.file.getvalue()
    for fact in (
        "batch",
        "past_len",
        "attention_mask.shape[1] = past_len + seq_len",
        "no: left Dim.AUTO",
        "minimum evidence",
        "warnings",
    ):
        assert fact in out, fact


@pytest.mark.parametrize("debug", [False, True])
def test_foreign_warnings_stay_out_of_the_output_unless_debug(
    models: Path, capsys: pytest.CaptureFixture, debug: bool
) -> None:
    argv = ["export", "cli_models:noisy", "-o", str(models / "noisy.pt2"), "--format", "text"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = run(capsys, *argv, *(["--debug"] if debug else []))
    assert code == 0, err
    assert any("a foreign warning from the model" in str(w.message) for w in caught) is debug
    assert "a foreign warning" not in out and "export: 1 trace(s)" in out  # the report is there either way
    if not debug:
        assert "a foreign log line" not in err


def test_common_options_work_before_the_command_and_usage_errors_return_2(
    models: Path, capsys: pytest.CaptureFixture
) -> None:
    code, out, _ = run(capsys, "--format", "json", "infer", "cli_models:make")
    assert code == 0 and json.loads(out)["num_sets"] == 2  # --format before the subcommand is kept
    code, _, err = run(capsys, "export", "cli_models:make")  # -o or --plan is required
    assert code == 2 and "one of the arguments -o/--output --plan is required" in err
    assert run(capsys, "--help")[0] == 0


def test_dynamic_flag_declares_an_axis_dynamic(models: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "infer", "cli_models:batch_one", "--format", "json")
    assert code == 0 and [d["name"] for d in json.loads(out)["dims"]] == ["x_dim1"]  # x.shape[0] is 1 in both sets
    code, out, _ = run(capsys, "infer", "cli_models:batch_one", "--format", "json", "--dynamic", "x:0")
    assert code == 0 and sorted(d["name"] for d in json.loads(out)["dims"]) == ["x_dim0", "x_dim1"]
    code, _, err = run(capsys, "infer", "cli_models:make", "--dynamic", "nothing:9")
    assert code == 1 and "dynamic='nothing:9' names no input axis" in err
