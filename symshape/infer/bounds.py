"""Bounds of the contract: given by the user, or read from the model's config and
checked in eager.

torch.export and ONNX need none (the default); ExecuTorch plans memory from each
dim's maximum, so every dim needs one there. ``bounds="config"`` takes them from the
config (``max_position_embeddings`` for ``past_len + seq_len``, ``image_size`` for
``height``/``width``), runs eager at the maximum, and lowers a bound where eager
fails. A relation bound (``past_len + seq_len <= 256``) that a torch Dim cannot state
is split into per-dim bounds that keep the growing dim's range: the dim with the
largest observed values (the past) takes what the others leave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core.copying import copy_set
from ..core.rows import BoundRow
from ..core.sizes import SAFE_MIN
from ..errors import InputsError, OptionError
from ..spec import DimSpec
from .resize import resize_to_dims

#: Config fields that bound the positions of a text model, in the order they are read.
POSITION_FIELDS = ("max_position_embeddings", "n_positions", "max_target_positions")
#: Above this size, eager is not run at a config maximum (too costly on a CPU).
MAX_PROBED = 4096
#: Where no config field bounds a dim, ``bounds="config"`` gives it at least this maximum.
DEFAULT_MAX = 8
#: Steps of the search for the largest bound eager accepts.
SEARCH_STEPS = 6

Runner = Callable[[dict[str, Any]], Any] | None


def apply_bounds(spec: DimSpec, bounds: Any, model: Any, run: Runner) -> DimSpec:
    """``spec`` with the bounds asked for (``None``, ``"config"`` or ``{dim: (min, max)}``)."""
    if bounds is None:
        return spec
    if isinstance(bounds, str):
        if bounds != "config":
            raise OptionError(f"bounds={bounds!r}: expected None, 'config' or a mapping {{dim: (min, max)}}")
        return _config_bounds(spec, getattr(model, "config", None), run)
    if isinstance(bounds, Mapping):
        return _user_bounds(spec, bounds)
    raise OptionError(f"bounds={bounds!r}: expected None, 'config' or a mapping {{dim: (min, max)}}")


def _user_bounds(spec: DimSpec, bounds: Mapping[str, Any]) -> DimSpec:
    values = spec.dim_values
    for name, pair in bounds.items():
        if name not in values:
            known = ", ".join(values) or "none"
            raise InputsError(f"bounds[{name!r}]: no dim is called so (the dims are: {known})")
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(_int_or_none(v) for v in pair)):
            raise InputsError(f"bounds[{name!r}] = {pair!r}: expected (min, max), each an int or None")
        low, high = pair
        if low is not None and high is not None and low > high:
            raise InputsError(f"bounds[{name!r}] = {pair!r}: min is above max")
        outside = [
            (i, v)
            for i, v in enumerate(values[name])
            if (low is not None and v < low) or (high is not None and v > high)
        ]
        if outside:
            where = ", ".join(f"{v} in set #{i}" for i, v in outside)
            raise InputsError(f"bounds[{name!r}] = {pair!r} excludes observed values of {name}: {where}")
        spec = spec.with_bound(name, low, high, BoundRow(name, low, high, "user", "bounds= given by the user"))
    return spec


def _int_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _config_bounds(spec: DimSpec, config: Any, run: Runner) -> DimSpec:
    if config is None:
        spec.notes = [*spec.notes, "bounds='config': the model has no config; only default bounds were set"]
    covered: set[str] = set()
    for names, const, high, reason in _config_targets(spec, config):
        spec, done = _bound_relation(spec, names, const, high, reason, run)
        covered |= done
    for d in spec.dim_rows:  # ExecuTorch plans memory from every dim's maximum
        if d.name not in covered and d.max is None:
            cap = max(DEFAULT_MAX, _pow2(2 * max(d.values)))
            why = BoundRow(
                d.name, None, cap, "default", f"no config field bounds {d.name}; twice the largest observed size"
            )
            spec = spec.with_bound(d.name, None, cap, why)
    return spec


def _config_targets(spec: DimSpec, config: Any) -> list[tuple[tuple[str, ...], int, int, str]]:
    """``(dims, const, max, reason)``: ``sum(dims) + const <= max`` per config bound."""
    if config is None:
        return []
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    dims = spec.dim_values
    targets = []
    field = next((f for f in POSITION_FIELDS if isinstance(getattr(text, f, None), int)), None)
    if field is not None:
        limit = getattr(text, field)
        seq = _sequence_axis(spec)
        names, const = [], 0
        if "past_len" in dims:
            names.append("past_len")
        if seq is not None:
            names += [n for n, _ in seq.terms if n not in names]
            const += seq.const
        elif "seq_len" in dims:
            names.append("seq_len")
        if names:
            what = " + ".join([*names, *([str(const)] if const else [])])
            targets.append((tuple(names), const, limit, f"config.{field} = {limit} bounds the positions {what}"))
        if "encoder_seq_len" in dims and field == "max_position_embeddings":
            targets.append((("encoder_seq_len",), 0, limit, f"config.{field} = {limit} bounds the encoder positions"))
    image = getattr(config, "image_size", None) or getattr(getattr(config, "vision_config", None), "image_size", None)
    if isinstance(image, int):
        targets += [((n,), 0, image, f"config.image_size = {image}") for n in ("height", "width") if n in dims]
    return targets


def _sequence_axis(spec: DimSpec) -> Any:
    """The axis of the new tokens (``input_ids.shape[1]``), if the inputs have one."""
    for path in ("input_ids", "inputs_embeds", "decoder_input_ids", "decoder_inputs_embeds"):
        row = next((a for a in spec.axes if a.path == path and a.axis == 1), None)
        if row is not None:
            return row
    return None


def _bound_relation(
    spec: DimSpec, names: Sequence[str], const: int, high: int, reason: str, run: Runner
) -> tuple[DimSpec, set[str]]:
    """Bound ``sum(names) + const <= high`` by per-dim maxima, checked in eager."""
    values = spec.dim_values
    observed = {n: max(values[n]) for n in names}
    caps = _split(names, observed, high - const)
    expr = " + ".join(names) + (f" + {const}" if const else "")
    if caps is None:
        spec.notes = [
            *spec.notes,
            f"{reason}, but the input sets exceed it ({expr} up to {sum(observed.values()) + const}); not bounded",
        ]
        return spec, set()
    caps, lowered = _largest_eager_accepts(spec, observed, caps, run)
    if caps is None:
        spec.notes = [*spec.notes, f"{reason}: {lowered}; not bounded"]
        return spec, set()
    stated = ", ".join(f"{n} <= {c}" for n, c in caps.items())
    split = f"split as {stated} (a torch Dim cannot state a sum)" if len(names) > 1 else ""
    row = BoundRow(expr, None, high, "config", reason + (f"; {lowered}" if lowered else ""), split)
    for i, (name, cap) in enumerate(caps.items()):
        spec = spec.with_bound(name, None, cap, row if i == 0 else None)
    return spec, set(names)


def _split(names: Sequence[str], observed: Mapping[str, int], total: int) -> dict[str, int] | None:
    """Per-dim maxima summing to ``total``: each other dim gets room to double (a power of
    two, at most an equal share), and the dim with the largest observed size the rest."""
    primary = max(names, key=lambda n: (observed[n], n == "past_len"))
    share = total // len(names)
    caps = {n: max(observed[n], min(share, _pow2(2 * observed[n]))) for n in names if n != primary}
    caps[primary] = total - sum(caps.values())
    if caps[primary] < observed[primary]:
        return None
    return {n: caps[n] for n in names}


def _largest_eager_accepts(
    spec: DimSpec, observed: Mapping[str, int], caps: dict[str, int], run: Runner
) -> tuple[dict[str, int] | None, str]:
    """``caps`` if eager runs there; else the largest caps between the observed sizes and
    ``caps`` that it runs (a bisection), with a note on what failed."""
    if run is None or max(caps.values()) > MAX_PROBED:
        return caps, "" if run is None else f"not run in eager above {MAX_PROBED}"
    example = spec.layout.join(spec.args, spec.kwargs)
    base = {d.name: d.values[spec.example_index] for d in spec.dim_rows}

    def at(k: int) -> dict[str, int]:
        return {n: observed[n] + (caps[n] - observed[n]) * k // SEARCH_STEPS**2 for n in caps}

    def fails(sizes: dict[str, int]) -> str | None:
        try:
            run(copy_set(resize_to_dims(example, spec.axes, {**base, **sizes})))
        except Exception as exc:  # eager refuses these sizes: the bound must be lower
            return f"{type(exc).__name__}: {str(exc)[:160]}"
        return None

    error = fails(caps)
    if error is None:
        return caps, ""
    low, high = 0, SEARCH_STEPS**2
    if fails(at(low)) is not None:
        return None, f"eager fails at the observed maxima too ({error})"
    for _ in range(SEARCH_STEPS + 1):
        if high - low <= 1:
            break
        mid = (low + high) // 2
        low, high = (mid, high) if fails(at(mid)) is None else (low, mid)
    found = at(low)
    shown = ", ".join(f"{n}={c}" for n, c in caps.items())
    return found, f"lowered: eager fails at {shown} ({error})"


def _pow2(n: int) -> int:
    """The smallest power of two >= n (and >= SAFE_MIN)."""
    size = SAFE_MIN
    while size < n:
        size *= 2
    return size
