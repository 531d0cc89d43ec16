"""The encoder programs of an encoder-decoder plan: ``export_plan(model, obs, encoder=enc)``.

``generate()`` calls ``model.get_encoder()`` once per generation, outside ``forward``, so
``symshape.observe(model)`` does not see it; record it alongside::

    with symshape.observe(model) as obs, symshape.observe(model.get_encoder()) as enc:
        model.generate(...)
    plan = symshape.export_plan(model, obs, encoder=enc)

The encoder's calls are bound to the encoder's own signature, numbered after the forward
calls (``#6`` is the first encoder call after six forward calls) and exported by the
same engine as the decoder's (:class:`~.build.Builder`: companions, splits, buckets), in
regimes named ``encoder`` (``encoder_*`` for splits; see :mod:`.sides`). One name table
(:class:`EncoderNames`): the encoder's ``batch`` is the decoder's ``batch``, and its
sequence length is the decoder's ``encoder_seq_len`` (the name the decoder's
``attention_mask`` and ``encoder_outputs`` give it), not a second ``seq_len``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InputsError, OptionError
from ..spec import DimSpec
from .build import Builder, Built
from .calls import Call, collect
from .names import NameTable, root_axes
from .regimes import initial_regimes
from .sides import ENCODER, encoder_module

#: What generate() does with the encoder, for the encoder regime's ``why``.
_WHY = "model.get_encoder(): generate() runs it once, before the first decoder step"


def encoder_calls(model: Any, inputs: Any, first: int) -> tuple[Any, list[Call]]:
    """The encoder module and its recorded calls, numbered from ``first``."""
    module = encoder_module(model)
    if module is None:
        raise OptionError(
            f"export_plan(encoder=...): {type(model).__name__} is not an encoder-decoder with an encoder module "
            "(config.is_encoder_decoder and model.get_encoder() returning a module other than the model)"
        )
    observed = getattr(inputs, "model", None) if hasattr(inputs, "records") else None
    if observed is not None and observed is not module:
        which = "the model itself" if observed is model else f"a {type(observed).__name__}"
        raise InputsError(
            f"export_plan(encoder=...): the recording observed {which}, not model.get_encoder() "
            f"(a {type(module).__name__}): record it with symshape.observe(model.get_encoder())"
        )
    sets = getattr(inputs, "inputs", inputs)
    if isinstance(sets, list) and not sets:
        raise InputsError(
            "export_plan(encoder=...): the encoder recording holds no call; run generate() inside "
            "symshape.observe(model.get_encoder())"
        )
    calls = [dataclasses.replace(c, index=c.index + first) for c in collect(module, inputs)]
    return module, calls


class EncoderNames(NameTable):
    """The names of the encoder's dims. Its signature is not ``forward``'s, so axes are not
    matched by path: a dim keeps the name inference gives it, which means what it means
    in the decoder's programs (``generate()`` passes one ``batch`` to both), except the
    encoder's ``seq_len``, which is the decoder's ``encoder_seq_len``. The user's names
    apply: a rename of a dim (``names={"batch": "b"}``; a rename of ``encoder_seq_len``
    names the encoder's sequence too, one of ``seq_len`` does not) or of an encoder axis."""

    def __init__(self, user: Mapping[str, str] | None) -> None:
        super().__init__(user)
        self.by_dim.pop("seq_len", None)  # the decoder's seq_len, not the encoder's
        self.sequence = self.by_dim.pop("encoder_seq_len", "encoder_seq_len")

    def names_for(self, spec: DimSpec) -> dict[str, str]:
        for dim in spec.dims:
            axes = root_axes(spec, dim)
            if dim not in self.by_dim and not (axes and axes[0] in self.by_axis):
                self.by_dim[dim] = self.sequence if dim == "seq_len" else dim
        return super().names_for(spec)


def export_encoder(
    module: Any,
    calls: list[Call],
    table: NameTable,
    dynamic: Iterable[str],
    verify: bool,
    options: dict[str, Any],
    max_depth: int,
    taken: Iterable[str],
) -> Built:
    """One program per regime of the encoder's calls, named ``encoder*``."""
    builder = Builder(module, calls, table, dynamic, verify, options, max_depth)
    builder.names |= set(taken)
    regimes = initial_regimes(calls)
    for regime in regimes:
        base = regime.name.split("_", 1)
        regime.name = ENCODER if len(base) == 1 else f"{ENCODER}_{base[1]}"
        regime.why = f"{_WHY}; {regime.why}" if regime.why else _WHY
    names = [r.name for r in regimes]
    for k, regime in enumerate(regimes):
        if names.count(regime.name) > 1:
            regime.name = f"{regime.name}_{k + 1}"
        builder.names.add(regime.name)
    for regime in sorted(regimes, key=lambda r: -len(r.calls)):
        builder.solve(regime)
    return builder.built
