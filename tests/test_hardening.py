"""Issue 6 hardening: the bad-input cases tests/test_inputs.py does not already cover,
and the supported-version check.

Covered elsewhere (not repeated here): no input sets, one set, arity / keys /
container types, rank change, tensor vs None vs int, unknown arguments, a bare
tensor, a generator, an unregistered container, ``**kwargs``, names= overrides
(tests/test_inputs.py); a model that specialises a varying axis
(tests/test_export.py::test_specialised_axis_names_input_dim_values_and_code).

Decisions tested here:

* a 0-size dynamic axis is allowed: it is never the export example (torch
  specialises 0 and 1), and the exported program is verified on it;
* dtype differences between sets at one path are a note in ``spec.notes`` (not an
  error): shapes are inferred all the same, torch.export specialises dtype to the
  example's, and the note says so and what to do;
* device differences: ``meta`` tensors are shapes only (as ``symshape.observe``
  records calls), so cpu vs meta is allowed and verified on values tiled from the
  example; differences between real devices are a note like dtypes;
* a model that raises in eager: while tracing -> ``ExportError`` naming the error;
  only in the eager run of verification -> a failed ``Check`` (``ok`` is False)
  whose error names the exception, never a raw traceback.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch

import symshape
from symshape import versions
from symshape.infer.observation import dtype_device_notes


class SumAdd(torch.nn.Module):
    def forward(self, x, y):
        return x.sum(-1) + y


def pair(n: int, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    return (
        torch.randn(n, 4, dtype=dtype, device=device)
        if device != "meta"
        else torch.empty(n, 4, dtype=dtype, device="meta"),
        torch.randn(n) if device != "meta" else torch.empty(n, device="meta"),
    )


# --------------------------------------------------------------------------------------
# zero-size axes
# --------------------------------------------------------------------------------------


def test_zero_size_axis_infers_and_is_not_the_example() -> None:
    sets = [pair(0), pair(3), pair(5)]
    spec = symshape.infer_dims(SumAdd(), sets)
    (dim,) = spec.dim_rows
    assert dim.values == (0, 3, 5)
    assert spec.example_index != 0
    assert spec.args[0].shape[0] != 0
    assert "x_dim0 = 0 in set #0" in spec.explain() and "never the export example" in spec.explain()


def test_zero_size_axis_exports_and_program_accepts_it() -> None:
    result = symshape.export(SumAdd(), [pair(0), pair(3), pair(5)])
    assert result.ok, result.explain()
    zero = result.observed_checks[0]
    assert zero.set_index == 0 and zero.accepted and zero.max_abs_diff == 0.0
    out = result.program.module()(torch.randn(0, 4), torch.randn(0))
    assert out.shape == (0,)


def test_only_zero_and_one_sizes_say_why() -> None:
    spec = symshape.infer_dims(SumAdd(), [pair(0), pair(1)])
    text = " ".join(spec.notes)
    assert "no input set is fully safe to trace" in text and "specialises sizes 0 and 1" in text


# --------------------------------------------------------------------------------------
# very large sizes (no large allocation: 0-element tensors and expand views)
# --------------------------------------------------------------------------------------


class RowSum(torch.nn.Module):
    def forward(self, x):
        return x.sum(0)


def test_very_large_sizes_on_empty_tensors() -> None:
    sets = [(torch.empty(0, 10**6),), (torch.empty(0, 10**6 + 7),), (torch.empty(0, 3 * 10**6),)]
    spec = symshape.infer_dims(RowSum(), sets)
    dyn = [a for a in spec.axes if a.role != "static"]
    assert [a.label for a in dyn] == ["x.shape[1]"]
    assert dyn[0].values == (10**6, 10**6 + 7, 3 * 10**6)
    assert "1000000" in spec.explain()


def test_very_large_sizes_on_expand_views_export() -> None:
    base = torch.ones(1, 1)
    sets = [(base.expand(10**6, 3),), (base.expand(2 * 10**6 + 1, 3),)]
    result = symshape.export(RowSum(), sets)
    assert result.ok, result.explain()
    (dim,) = result.spec.dim_rows
    assert dim.values == (10**6, 2 * 10**6 + 1)
    assert [c.max_abs_diff for c in result.observed_checks] == [0.0, 0.0]


def test_large_and_tiny_sizes_together_stay_separate_dims() -> None:
    sets = [(torch.empty(2, 10**6),), (torch.empty(3, 10**6 + 1),)]
    spec = symshape.infer_dims(RowSum(), sets)
    assert len(spec.dim_rows) == 2  # one tensor's axes moving together is not a relation
    assert not spec.relations


# --------------------------------------------------------------------------------------
# dtype and device differences between sets
# --------------------------------------------------------------------------------------


def test_dtype_difference_is_a_note_naming_path_and_dtypes() -> None:
    spec = symshape.infer_dims(SumAdd(), [pair(2), pair(3, dtype=torch.float64)])
    assert [d.values for d in spec.dim_rows] == [(2, 3)]
    (note,) = [n for n in spec.notes if "dtype" in n]
    assert note.startswith("x has different dtypes")
    assert "float32 in set #0" in note and "float64 in set #1" in note
    assert "Export once per dtype" in note
    assert note in spec.explain()


def test_same_dtype_gives_no_note() -> None:
    spec = symshape.infer_dims(SumAdd(), [pair(2), pair(3)])
    assert not [n for n in spec.notes if "dtype" in n or "device" in n]


def test_dtype_difference_exports_with_the_example_dtype() -> None:
    result = symshape.export(SumAdd(), [pair(2), pair(3, dtype=torch.float64)])
    assert result.spec.args[0].dtype == torch.float32
    assert any("float64 in set #1" in n for n in result.spec.notes)
    # The float32 program runs the float64 set too (these ops take either dtype), equal to eager.
    assert [(c.set_index, c.accepted, c.passed) for c in result.observed_checks] == [(0, True, True), (1, True, True)]
    assert result.ok and result.verified


def test_cpu_vs_meta_is_shapes_only_not_a_device_difference() -> None:
    spec = symshape.infer_dims(SumAdd(), [pair(2), pair(3, device="meta")])
    assert [d.values for d in spec.dim_rows] == [(2, 3)]
    assert not [n for n in spec.notes if "device" in n]
    result = symshape.export(SumAdd(), [pair(2), pair(3, device="meta")])
    assert result.ok, result.explain()
    assert result.observed_checks[1].synthetic  # run on values tiled from the example


def test_real_device_difference_is_a_note() -> None:
    fake = [
        types.SimpleNamespace(dtype=torch.float32, device=torch.device("cpu")),
        types.SimpleNamespace(dtype=torch.float32, device=torch.device("cuda", 0)),
        types.SimpleNamespace(dtype=torch.float32, device=torch.device("meta")),
    ]
    (note,) = dtype_device_notes("cache.key[0]", fake)
    assert note.startswith("cache.key[0] is on different devices")
    assert "cpu in set #0" in note and "cuda:0 in set #1" in note and "meta" not in note.split(";")[0]


# --------------------------------------------------------------------------------------
# a model that raises in eager
# --------------------------------------------------------------------------------------


class RaisesAlways(torch.nn.Module):
    def forward(self, x):
        raise ValueError(f"cannot handle x of shape {tuple(x.shape)}")


class RaisesOnlyInEager(torch.nn.Module):
    def forward(self, x):
        if not torch.compiler.is_exporting() and x.shape[0] == 3:
            raise RuntimeError("eager-only failure at 3 rows")
        return x * 2


class RaisesOnSize(torch.nn.Module):
    def forward(self, x):
        if x.shape[0] == 3:
            raise RuntimeError("no 3-row inputs")
        return x * 2


def test_model_raising_while_tracing_is_an_export_error() -> None:
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(RaisesAlways(), [(torch.randn(2, 4),), (torch.randn(3, 4),)])
    message = str(info.value)
    assert "ValueError" in message and "cannot handle x of shape" in message
    assert "other than a shape constraint" in message
    assert isinstance(info.value, symshape.SymshapeError)


def test_model_raising_on_an_observed_size_names_dim_values_and_code() -> None:
    with pytest.raises(symshape.ExportError) as info:
        symshape.export(RaisesOnSize(), [(torch.randn(2, 4),), (torch.randn(3, 4),), (torch.randn(4, 4),)])
    message = str(info.value)
    assert "x.shape[0]" in message and "set #1: 3" in message
    assert "test_hardening.py" in message  # the model line that branches on the size


def test_model_raising_only_in_eager_verification_is_a_failed_check() -> None:
    result = symshape.export(RaisesOnlyInEager(), [(torch.randn(2, 4),), (torch.randn(3, 4),), (torch.randn(4, 4),)])
    assert not result.ok
    bad = result.observed_checks[1]
    assert bad.accepted and bad.max_abs_diff == float("inf")
    assert "eager forward raised RuntimeError: eager-only failure at 3 rows" in bad.error
    assert "set #1" in result.explain() and "eager-only failure" in result.explain()
    assert "CHECK FAILED" in str(result)
    assert [c.max_abs_diff for i, c in enumerate(result.observed_checks) if i != 1] == [0.0, 0.0]


# --------------------------------------------------------------------------------------
# supported versions
# --------------------------------------------------------------------------------------


def test_supported_ranges_are_the_ones_pyproject_declares() -> None:
    """The import-time check and the package metadata must not drift apart."""
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    for package in versions.SUPPORTED:
        assert f'"{package}{versions.supported_range(package)}"' in text, package


def test_installed_versions_pass_and_an_old_transformers_fails() -> None:
    versions.check_versions(str(torch.__version__), versions.installed_transformers())
    with pytest.raises(symshape.SymshapeError, match=r"transformers 5\.3\.0 is installed"):
        versions.check_versions(str(torch.__version__), "5.3.0")


@pytest.mark.parametrize("version", ["2.12.1", "2.14.0", "3.0.0", "1.13.1+cu117", "nonsense"])
def test_unsupported_torch_is_a_clear_error(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYMSHAPE_SKIP_VERSION_CHECK", raising=False)
    monkeypatch.setattr(torch, "__version__", version)
    with pytest.raises(symshape.SymshapeError) as info:
        versions.check_versions()
    message = str(info.value)
    assert f"torch {version} is installed" in message
    assert "torch>=2.13,<2.14" in message and "pip install" in message


@pytest.mark.parametrize("version", ["2.13.0", "2.13.1+cpu", "2.13.0a0+git123"])
def test_supported_torch_passes(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "__version__", version)
    versions.check_versions()


@pytest.mark.parametrize("version", ["4.57.1", "5.17.0", "6.0.0", "6.1.0.dev0"])
def test_unsupported_transformers_is_a_clear_error(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYMSHAPE_SKIP_VERSION_CHECK", raising=False)
    monkeypatch.setattr(versions, "installed_transformers", lambda: version)
    with pytest.raises(symshape.SymshapeError) as info:
        versions.check_versions()
    assert f"transformers {version} is installed" in str(info.value)
    assert "transformers>=5.24,<6" in str(info.value)


def test_transformers_absent_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "installed_transformers", lambda: None)
    versions.check_versions()


def test_transformers_version_read_without_importing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    monkeypatch.delitem(sys.modules, "transformers", raising=False)
    monkeypatch.setattr(metadata, "version", lambda name: "5.3.0" if name == "transformers" else "0")
    assert versions.installed_transformers() == "5.3.0"
    assert "transformers" not in sys.modules

    def absent(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", absent)
    assert versions.installed_transformers() is None


def test_already_imported_transformers_version_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(__version__="9.9.9"))
    assert versions.installed_transformers() == "9.9.9"
    with pytest.raises(symshape.SymshapeError, match=r"transformers 9\.9\.9 is installed"):
        versions.check_versions()


def test_skip_env_var_bypasses_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "__version__", "1.0.0")
    monkeypatch.setenv("SYMSHAPE_SKIP_VERSION_CHECK", "1")
    versions.check_versions()


def test_ranges_match_pyproject() -> None:
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    for package in ("torch", "transformers"):
        match = re.search(rf'"{package}>=([\d.]+),<([\d.]+)"', text)
        assert match, package
        low, high = versions.SUPPORTED[package]
        assert versions.parse_version(match.group(1)) == low
        assert versions.parse_version(match.group(2) + ".0") == high
