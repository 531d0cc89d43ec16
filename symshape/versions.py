"""Supported torch / transformers versions, checked once when symshape is imported.

The ranges mirror ``pyproject.toml``'s dependencies. symshape reads torch's private
tracing internals (``ShapeEnv.create_symbol``, the constraint-violation messages,
``draft_export``'s report), which change between torch minor releases, so an
unsupported torch fails loudly at import instead of deep inside an export.

transformers is optional at import: its version is read from the installed
distribution's metadata (``importlib.metadata``), never by importing it. Set
``SYMSHAPE_SKIP_VERSION_CHECK=1`` to bypass the check (at your own risk).
"""

from __future__ import annotations

import os
import re
import sys

from .errors import SymshapeError

#: ``(package, lowest supported, first unsupported)``, as in pyproject.toml.
SUPPORTED: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "torch": ((2, 13), (2, 14)),
    "transformers": ((5, 24), (6, 0)),  # 5.0-5.17 measured failing (cache API changes)
}


def supported_range(package: str) -> str:
    """``>=2.13,<2.14``: the range of ``package`` symshape supports (as in pyproject.toml)."""
    low, high = SUPPORTED[package]
    upper = f"{high[0]}" if high[1] == 0 else f"{high[0]}.{high[1]}"
    return f">={low[0]}.{low[1]},<{upper}"


def parse_version(text: str) -> tuple[int, int] | None:
    """``"2.13.0+cpu"`` -> ``(2, 13)``; None when the string has no ``major.minor``."""
    match = re.match(r"\s*(\d+)\.(\d+)", str(text))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _check(package: str, version: str | None) -> None:
    if version is None:
        return
    low, high = SUPPORTED[package]
    parsed = parse_version(version)
    if parsed is None or not (low <= parsed < high):
        raise SymshapeError(
            f"symshape supports {package}{supported_range(package)}, but {package} {version} is installed. "
            f"Install a supported version (pip install '{package}{supported_range(package)}'), "
            f"or set SYMSHAPE_SKIP_VERSION_CHECK=1 to try anyway."
        )


def installed_transformers() -> str | None:
    """transformers' version without importing it: the imported module's if it is
    already imported, else the installed distribution's metadata; None if absent."""
    module = sys.modules.get("transformers")
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return module.__version__
    from importlib import metadata

    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError:
        return None


def check_versions(torch_version: str | None = None, transformers_version: str | None = None) -> None:
    """Raise :class:`SymshapeError` if torch or transformers is outside the supported range.

    Defaults: ``torch.__version__`` and :func:`installed_transformers` (absent is fine).
    """
    if os.environ.get("SYMSHAPE_SKIP_VERSION_CHECK") == "1":
        return
    if torch_version is None:
        import torch

        torch_version = str(torch.__version__)
    _check("torch", torch_version)
    _check("transformers", transformers_version if transformers_version is not None else installed_transformers())
