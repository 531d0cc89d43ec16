"""The two sides of an encoder-decoder plan: ``model.forward`` and ``model.get_encoder()``.

``generate()`` of an encoder-decoder calls the encoder once, as
``model.get_encoder()(**kwargs)`` (not through ``model.forward``), then ``forward`` once
per decoder step. A plan made with ``export_plan(model, obs, encoder=encoder_obs)`` holds
programs for both: those named ``encoder`` or ``encoder_*`` serve the encoder module, the
others ``forward``. Each side routes over its own programs only, with its own signature,
so a call of one side never lands on (nor is reported against) a program of the other.
The name is the marker, so a saved plan keeps it (decoder regimes are named ``prefill``,
``decode`` or ``forward``, with suffixes: never ``encoder``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import NotCoveredError
from .messages import miss_message
from .routing import Parameter, Route, Router

#: The name of the encoder's program (its splits and buckets are ``encoder_*``).
ENCODER = "encoder"


def is_encoder_program(name: str) -> bool:
    """Whether the program ``name`` serves ``model.get_encoder()``."""
    return name == ENCODER or name.startswith(f"{ENCODER}_")


def encoder_names(names: Iterable[str]) -> list[str]:
    return [n for n in names if is_encoder_program(n)]


def encoder_module(model: Any) -> Any | None:
    """The module ``model.get_encoder()`` returns for an encoder-decoder model
    (``config.is_encoder_decoder``), or None (a decoder, a plain module, or a
    ``get_encoder()`` that returns the model itself)."""
    config = getattr(model, "config", None)
    get = getattr(model, "get_encoder", None)
    if not getattr(config, "is_encoder_decoder", False) or not callable(get):
        return None
    try:
        found = get()
    except Exception:  # a model whose get_encoder() does not apply: no encoder side
        return None
    return None if found is None or found is model or not callable(getattr(found, "forward", None)) else found


def model_of(model: Any, name: str) -> Any:
    """The module the program ``name`` was exported from: ``model.get_encoder()`` for an
    encoder program, else ``model`` (None stays None: a loaded plan has no model)."""
    if model is None or not is_encoder_program(name):
        return model
    return encoder_module(model)


def split_routes(routes: Sequence[Route]) -> tuple[list[Route], list[Route]]:
    """``(forward routes, encoder routes)``, each in plan order."""
    forward = [r for r in routes if not is_encoder_program(r.name)]
    return forward, [r for r in routes if is_encoder_program(r.name)]


def takes_encoder_outputs(routes: Sequence[Route]) -> bool:
    """Whether the forward programs take ``encoder_outputs`` (the model is an
    encoder-decoder whose encoder runs outside ``forward``); read from the programs, so a
    loaded plan answers too."""
    return any("encoder_outputs" in r.layout.names for r in split_routes(routes)[0])


def side_routers(routes: Sequence[Route], params: Sequence[Parameter], encoder_params: Sequence[Parameter]) -> Any:
    """``(forward router, encoder router or None)`` over one plan's routes."""
    forward, encoder = split_routes(routes)
    return Router(forward, params), (Router(encoder, encoder_params) if encoder else None)


def first_route(router: Router, args: tuple, kwargs: Mapping[str, Any], side: str = "") -> str:
    """The name of the program of ``router`` that would run this call (nothing runs)."""
    for candidate in router.candidates(args, kwargs):
        return candidate.route.name
    raise NotCoveredError(labelled(side, miss_message(router, args, kwargs, [])))


def labelled(side: str, message: str) -> str:
    return f"{side}: {message}" if side else message
