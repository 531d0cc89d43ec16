"""Loading ``MODULE:FACTORY``: a callable that returns ``(model, inputs)``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import USAGE, CliError


def load_factory(target: str) -> Callable[[], Any]:
    """``"pkg.models:make"`` or ``"path/to/file.py:make"`` -> the callable."""
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise CliError(
            f"expected MODULE:FACTORY (for example mypkg.models:make_llama or models.py:make_llama), got {target!r}",
            USAGE,
        )
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise CliError(f"no such file: {module_name} (in MODULE:FACTORY {target!r})", USAGE)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules.setdefault(path.stem, module)
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception as exc:
            raise CliError(f"importing {module_name} failed: {type(exc).__name__}: {exc}") from exc
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # as `python -m` does: modules of the current directory
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                raise CliError(
                    f"cannot import module {module_name!r}: {exc} (run from the directory that contains it, "
                    "or give a .py path)",
                    USAGE,
                ) from exc
            raise CliError(f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            raise CliError(f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            callables = sorted(
                n
                for n, v in vars(module).items()
                if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
            )
            hint = f"; callables defined there: {', '.join(callables)}" if callables else ""
            raise CliError(f"module {module_name!r} has no attribute {attr!r}{hint}", USAGE)
        obj = getattr(obj, part)
    if not callable(obj):
        kind = type(obj).__name__
        raise CliError(
            f"{target} is not callable (a{'n' if kind[0] in 'aeiou' else ''} {kind}): FACTORY must be a "
            "function returning (model, inputs)",
            USAGE,
        )
    return obj


def call_factory(target: str) -> tuple[Any, list[Any]]:
    factory = load_factory(target)
    try:
        made = factory()
    except Exception as exc:
        raise CliError(f"the factory {target} raised {type(exc).__name__}: {exc}") from exc
    if not (isinstance(made, (tuple, list)) and len(made) == 2):
        raise CliError(
            f"the factory {target} must return (model, inputs), got {type(made).__name__}"
            + (f" of length {len(made)}" if isinstance(made, (tuple, list)) else "")
        )
    model, inputs = made
    if isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__iter__"):
        raise CliError(
            f"the factory {target} returned inputs of type {type(inputs).__name__}: expected a list of input "
            "sets (tuples, dicts or (tuple, dict) pairs)"
        )
    return model, list(inputs)
