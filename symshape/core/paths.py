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
    return "".join(format_key(key, i == 0) for i, key in enumerate(keys))


def format_key(key: Any, first: bool = False) -> str:
    """One step of a path: ``['key_cache']``, ``[0]``, ``.layers``; the first step of a path
    (the argument name, a ``MappingKey``) is written bare."""
    if isinstance(key, MappingKey):
        return mapping_step(key.key, first)
    if isinstance(key, SequenceKey):
        return sequence_step(key.idx)
    if isinstance(key, GetAttrKey):
        return f".{key.name}"
    return str(key)


def mapping_step(key: Any, first: bool = False) -> str:
    """The step of a ``MappingKey`` (a dict key): ``['key_cache']``, bare when it starts the path."""
    return str(key) if first else f"[{key!r}]"


def sequence_step(index: int) -> str:
    """The step of a ``SequenceKey`` (a list or tuple index): ``[0]``."""
    return f"[{index}]"


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
