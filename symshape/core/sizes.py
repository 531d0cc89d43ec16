"""Choosing sizes that are safe to trace and tell dims apart.

torch specialises a dynamic size of 0 or 1 while tracing and merges two dims whose
example sizes are equal, so a size chosen for an example or a probe is at least 2
and differs from every size it must not be confused with.
"""

from __future__ import annotations

from collections.abc import Collection

#: The smallest size torch traces as dynamic.
SAFE_MIN = 2


def fresh_size(start: int, taken: Collection[int], *, low: int = SAFE_MIN, high: int | None = None) -> int | None:
    """The first size from ``max(start, low)`` up that is not ``taken``; with a bound
    ``high``, sizes above it are never chosen and the search goes down from ``high``
    instead. None when every size in ``[low, high]`` is taken."""
    size = max(start, low)
    while high is None or size <= high:
        if size not in taken:
            return size
        size += 1
    return next((s for s in range(high, low - 1, -1) if s not in taken), None)
