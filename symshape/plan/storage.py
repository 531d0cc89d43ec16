"""Saving and loading a plan: one ``.pt2`` per program and ``manifest.json``.

The manifest is plain JSON (no pickle of user objects): the forward signature (with
defaults that are JSON constants), the name table, per program its file and SHA-256,
its final spec (``DimSpec`` JSON), its region and readers, why it exists, and the
coverage report; ``routing.encoder`` lists the programs that serve ``model.get_encoder()``
(see :mod:`.sides`). It carries a digest of its own content: a manifest edited after
``save`` (a region widened by hand, a file swapped) is refused with a
:class:`PlanFileError`, as is a program file whose hash differs. Loading imports the
transformers modules the programs' input and output containers live in (caches, model
outputs) so that ``torch.export.load`` can rebuild them, and lets its safe unpickler read
the example inputs' containers; only transformers model-output and cache classes are.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import re
from pathlib import Path
from typing import Any

import torch

from ..core.records import Refinement
from ..errors import InputsError
from ..exporting import ExportResult
from ..integrations.transformers import ensure_registered
from ..spec import DimSpec
from .contract import Contract
from .errors import PlanFileError
from .info import Coverage, ProgramInfo
from .routing import Parameter
from .sides import encoder_names

FORMAT = "symshape-plan"
VERSION = 1
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _digest(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _classes(spec: Any, found: set[str]) -> None:
    """``module:qualname`` of the transformers container types in a treespec."""
    node = getattr(spec, "type", None)
    if isinstance(node, type) and node.__module__.startswith("transformers."):
        found.add(f"{node.__module__}:{node.__qualname__}")
    for child in spec.children() if hasattr(spec, "children") else []:
        _classes(child, found)


def _allowed_class(path: Path, entry: Any) -> type:
    """A container class a program's example inputs hold (a model output, a cache), for the
    safe unpickler; anything but a transformers ``ModelOutput`` or cache class is refused."""
    if not isinstance(entry, str) or not re.fullmatch(r"transformers(\.\w+)+:\w+", entry):
        raise _bad(path, f"containers lists {entry!r}: only transformers classes are loaded")
    module, name = entry.split(":")
    cls = getattr(importlib.import_module(module), name, None)
    outputs = importlib.import_module("transformers.utils").ModelOutput
    caches = importlib.import_module("transformers.cache_utils")
    if not isinstance(cls, type) or not (
        issubclass(cls, outputs) or issubclass(cls, (caches.Cache, caches.CacheLayerMixin))
    ):
        raise _bad(path, f"containers lists {entry!r}: not a transformers model output or cache class")
    return cls


def save_plan(plan: Any, directory: Path) -> Path:
    """Write ``plan`` to ``directory`` (created); returns the manifest's path."""
    directory.mkdir(parents=True, exist_ok=True)
    programs, containers = [], set()
    for name, result in plan.programs.items():
        file = directory / f"{name}.pt2"
        _classes(result.program.call_spec.in_spec, containers)
        _classes(result.program.call_spec.out_spec, containers)
        _save_program(result.program, file)
        info = plan.info[name]
        programs.append(
            {
                "name": name,
                "file": file.name,
                "sha256": _sha256(file),
                "spec": result.spec.to_dict(),
                "contract": plan.contracts[name].to_json(),
                "refinements": [[r.dim, r.change, r.reason, r.source] for r in result.refinements],
                "traces": result.traces,
                "verified": "verified, ok" if result.ok else "check failed" if result.verified else "not verified",
                "info": {
                    "kind": info.kind,
                    "why": info.why,
                    "calls": info.calls,
                    "seconds": round(info.seconds, 3),
                    "parent": info.parent,
                    "fixed": info.fixed,
                    "moved": info.moved,
                },
            }
        )
    cov = plan.coverage
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "torch": torch.__version__,
        "names": plan.names,
        "signature": [p.to_json() for p in plan.params],
        "containers": sorted(containers),
        "programs": programs,
        "routing": {
            "order": [p["name"] for p in programs],
            "rule": "first program whose structure and region hold",
            # programs of model.get_encoder() (routed over those only); the others serve forward
            "encoder": encoder_names(plan.programs),
        },
        "coverage": {
            "routed": {str(k): v for k, v in cov.routed.items()},
            "uncovered": [list(u) for u in cov.uncovered],
            "overlaps": [[a, b, point] for a, b, point in cov.overlaps],
            "failures": [list(f) for f in cov.failures],
        },
        "notes": plan.notes,
        "seconds": round(plan.seconds, 3),
    }
    data["digest"] = _digest(data)
    path = directory / MANIFEST
    path.write_text(json.dumps(data, indent=1))
    return path


def _loads_safely(value: Any) -> bool:
    """Whether torch's safe unpickler (``weights_only=True``) reads ``value`` back."""
    buffer = io.BytesIO()
    try:
        torch.save(value, buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)
    except Exception:  # an unpicklable container (a ModelOutput: the unpickler cannot SETITEM it)
        return False
    return True


def _save_program(program: torch.export.ExportedProgram, file: Path) -> None:
    """``torch.export.save``, without the example inputs when the safe unpickler could not
    read them back (a decoder step's ``encoder_outputs``, a ``BaseModelOutput``; an
    encoder program's inputs are tensors and flags, kept): loading would fall back to a
    full pickle. Routing reads what it needs from the program's treespec and graph instead."""
    example = program.example_inputs
    if example is None or _loads_safely(example):
        torch.export.save(program, str(file))
        return
    program.example_inputs = None
    try:
        torch.export.save(program, str(file))
    finally:
        program.example_inputs = example


def _bad(path: Path, what: str) -> PlanFileError:
    return PlanFileError(f"{path}: {what}")


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise _bad(path, "no plan manifest here (plan.save(directory) writes one)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(path, f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise _bad(path, f"not a symshape plan manifest (format {found!r}, expected {FORMAT!r})")
    if data.get("version") != VERSION:
        found = data.get("version")
        raise _bad(path, f"plan manifest version {found!r} is not supported (this symshape reads {VERSION})")
    if data.get("digest") != _digest(data):
        raise _bad(
            path,
            "the manifest was modified after plan.save (its digest does not match its content): "
            "regions and routing cannot be trusted; save the plan again",
        )
    return data


def read_plan(directory: Path) -> dict[str, Any]:
    """The parts of a plan written by :func:`save_plan`, checked (see the module docstring)."""
    data = _read_manifest(directory)
    path = directory / MANIFEST
    try:
        classes = [_allowed_class(path, entry) for entry in data["containers"]]
        ensure_registered()
        params = [Parameter.from_json(p) for p in data["signature"]]
        programs, contracts, info = {}, {}, {}
        for entry in data["programs"]:
            name, file = entry["name"], entry["file"]
            if not isinstance(name, str) or not _NAME.match(name) or file != f"{name}.pt2":
                raise _bad(path, f"program {name!r} with file {file!r}: expected an identifier and '<name>.pt2'")
            pt2 = directory / file
            if not pt2.is_file():
                raise _bad(path, f"program {name!r}: {file} is missing")
            if _sha256(pt2) != entry["sha256"]:
                raise _bad(path, f"program {name!r}: {file} was modified after plan.save (SHA-256 differs)")
            spec = DimSpec.from_json(json.dumps(entry["spec"]))
            with torch.serialization.safe_globals(classes):  # the example inputs' containers, nothing else
                program = torch.export.load(str(pt2))
            refinements = [Refinement(*r) for r in entry["refinements"]]
            programs[name] = ExportResult(program, spec, spec, refinements, traces=int(entry["traces"]))
            contracts[name] = Contract.from_json(entry["contract"])
            raw = entry["info"]
            info[name] = ProgramInfo(
                name,
                str(raw["kind"]),
                str(raw["why"]),
                [int(i) for i in raw["calls"]],
                float(raw["seconds"]),
                raw["parent"],
                {str(k): str(v) for k, v in raw["fixed"].items()},
                [str(m) for m in raw["moved"]],
                saved_state=str(entry["verified"]),
            )
        cov = data["coverage"]
        coverage = Coverage(
            {int(k): v for k, v in cov["routed"].items()},
            [(int(i), str(w)) for i, w in cov["uncovered"]],
            [(str(a), str(b), dict(p)) for a, b, p in cov["overlaps"]],
            [(str(n), list(c), str(e)) for n, c, e in cov["failures"]],
        )
        names = [str(n) for n in data["names"]]
        order = data["routing"]["order"]
        if sorted(order) != sorted(programs):
            raise _bad(path, f"routing order {order!r} does not list the programs {sorted(programs)}")
        encoders = data["routing"].get("encoder", [])
        if encoders != encoder_names(order):
            raise _bad(path, f"routing lists encoder programs {encoders!r}, the programs are {order!r}")
        programs = {n: programs[n] for n in order}
    except PlanFileError:
        raise
    except InputsError as exc:
        raise _bad(path, f"a program's spec is not valid: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _bad(path, f"malformed manifest: {type(exc).__name__}: {exc}") from None
    except ImportError as exc:
        raise _bad(path, f"cannot import what the programs need: {exc}") from None
    for name, contract in contracts.items():
        unknown = [d for d in contract.region.dims if d not in names]
        if unknown:
            raise _bad(path, f"program {name!r}: its region names {unknown}, not dims of the plan ({names})")
    notes = [str(n) for n in data.get("notes", [])]
    return {
        "programs": programs,
        "contracts": contracts,
        "info": info,
        "params": params,
        "names": names,
        "coverage": coverage,
        "notes": notes,
        "seconds": float(data.get("seconds", 0.0)),
    }
