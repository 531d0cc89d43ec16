"""Optional extras: without them, the functions that need them say how to install.

Kept apart from the extra's own test modules, which are skipped when the extra is
absent: this one always runs (it hides the packages when they are installed).
"""

from __future__ import annotations

import builtins
import subprocess
import sys
from pathlib import Path

import pytest

import symshape


def test_without_the_extra_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in ("onnxscript", "onnxruntime"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(symshape.SymshapeError) as info:
        symshape.export_onnx(None, [], "never.onnx")
    message = str(info.value)
    assert "pip install 'symshape[onnx]'" in message
    assert "onnxscript, onnxruntime not installed" in message
    assert not Path("never.onnx").exists()


def test_without_executorch_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] == "executorch":
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(symshape.SymshapeError) as info:
        symshape.export_executorch(None, [], "never.pte")
    message = str(info.value)
    assert "pip install 'symshape[executorch]'" in message
    assert "export_executorch needs the optional dependency executorch" in message
    assert not Path("never.pte").exists()


def test_importing_symshape_imports_no_extra() -> None:
    code = (
        "import sys, symshape; "
        "print(sorted(m for m in ('executorch', 'torchao', 'onnx', 'onnxscript', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
