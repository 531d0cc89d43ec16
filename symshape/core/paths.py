"""How symshape names a place in the inputs.

A leaf is named by its pytree key path written as Python (``cache['key_cache'][0]``,
starting with the argument name); an axis by ``path.shape[i]`` in reports and by
``"path:i"`` where the user types it (``names=``, ``dynamic=``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .._torch import GetAttrKey, MappingKey, SequenceKey


def format_path(keys: Sequence[Any]) -> str:
    """``(MappingKey('cache'), MappingKey('key_cache'), SequenceKey(0))`` -> ``cache['key_cache'][0]``."""
    parts = []
    for i, key in enumerate(keys):
        if isinstance(key, MappingKey):
            parts.append(str(key.key) if i == 0 else f"[{key.key!r}]")
        elif isinstance(key, SequenceKey):
            parts.append(f"[{key.idx}]")
        elif isinstance(key, GetAttrKey):
            parts.append(f".{key.name}")
        else:
            parts.append(str(key))
    return "".join(parts)


def axis_label(path: str, axis: int | None) -> str:
    """``x``, 1 -> ``x.shape[1]`` (reports); an int leaf (``axis`` None) is its path."""
    return path if axis is None else f"{path}.shape[{axis}]"


def axis_key(path: str, axis: int | None) -> str:
    """``x``, 1 -> ``"x:1"``: the key users type in ``names=`` and ``dynamic=``."""
    return path if axis is None else f"{path}:{axis}"


_ARGUMENT = re.compile(r"[^\[.]*")


def argument_of(path: str) -> str:
    """The top-level argument a path starts with: ``cache['key_cache'][0]`` -> ``cache``."""
    return _ARGUMENT.match(path).group(0)  # type: ignore[union-attr]  # matches every string
