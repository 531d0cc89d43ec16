"""Architecture tests for the ``symshape`` package, from the source alone.

Every ``.py`` under ``symshape/`` is parsed with :mod:`ast` (nothing is imported, so
this runs in well under a second and needs no torch). *Every* import statement
counts: module level, function-local, under ``if TYPE_CHECKING:``, inside
``try``/``except``. The rules, one test each:

a. no import cycle among symshape modules;
b. layering: a module never imports a module of a higher layer (:data:`LAYERS`);
   every symshape import must also resolve to a module that exists;
c. no module imports another module's ``_private`` name (``from x import _n``,
   ``x_alias._n``), nor a private submodule ``pkg._m`` from outside ``pkg``;
   ``symshape._torch`` and dunders are exempt;
d. no module is longer than :data:`MAX_LINES` physical lines;
e. private torch APIs are used only in ``symshape/_torch.py``.

The checker functions take a package directory, so the self-tests at the bottom
run them on small synthetic packages: each rule is shown to catch what it claims
to catch, and none of them can pass just because nothing was scanned.
"""

from __future__ import annotations

import ast
import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# ---------------------------------------------------------------------------
# The layer table: THE place where the architecture is written down.
#
# Layers from low to high. Each entry is a top-level name under ``symshape/``:
# a subpackage (``symshape/core/``) or a module (``symshape/errors.py``);
# ``"__init__"`` is the package ``symshape`` itself. A module may import modules
# of a lower layer and modules of its own top-level package; it may never import
# a higher layer. Two different entries of the same layer may not import each
# other, except in layer 0 (leaf helpers; the cycle rule still applies to them).
# Importing ``symshape`` itself (``import symshape``, ``from symshape import X``,
# ``from .. import X`` that lands on ``symshape/__init__.py``) is an import of
# layer 10, so only the layer-10 entry points may do it.
#
# A new subpackage or top-level module must be added here, deliberately, in the
# layer it belongs to; until then the layering test fails and names it.
# ---------------------------------------------------------------------------
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_torch", "errors", "versions"),  # 0: torch-internals shim, exceptions, version gate
    ("core",),  # 1
    ("report",),  # 2
    ("spec",),  # 3
    ("infer",),  # 4
    ("exporting",),  # 5
    ("integrations",),  # 6
    ("recording",),  # 7
    ("plan",),  # 8
    ("cli",),  # 9
    ("__init__", "__main__", "demo"),  # 10: public API and entry points
)

#: Layers whose different entries may import one another (rule b).
SAME_LAYER_IMPORTS_ALLOWED: frozenset[int] = frozenset({0})

#: Rule d: the longest a module may be, in physical lines.
MAX_LINES = 400

#: Rule e: the one module allowed to touch private torch APIs (relative to the package).
TORCH_SHIM = "_torch.py"

#: Rule e: attribute names that are torch internals whatever object they hang off.
TORCH_PRIVATE_ATTRS: frozenset[str] = frozenset(
    {"_guards_code", "_report", "_get_node_type", "SUPPORTED_NODES", "INTERN_TABLE", "create_symbol"}
)

#: Rule c: the module whose names may be imported freely (a shim; its API is its own).
PRIVATE_IMPORT_EXEMPT = "_torch"

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "symshape"


# ---------------------------------------------------------------------------
# Scanning
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """One import of a symshape module (``dst``) by another (``src``)."""

    src: str
    dst: str
    line: int


@dataclass
class Module:
    name: str  # dotted: "symshape.core.paths"; the package itself is "symshape"
    path: Path
    rel: str  # path shown in messages: "symshape/core/paths.py"
    is_package: bool
    tree: ast.Module
    n_lines: int
    edges: list[Edge] = field(default_factory=list)


@dataclass
class Package:
    name: str
    root: Path
    modules: dict[str, Module]
    unresolved: list[str]  # "file:line: message" for symshape imports of missing modules

    def top(self, module: str) -> str:
        """Layer-table key of a module: "symshape.core.paths" -> "core"; "symshape" -> "__init__"."""
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else "__init__"


def _module_name(pkg: str, root: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join([pkg, *parts]), is_package


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not _is_dunder(name)


def _resolve_relative(module: Module, level: int, target: str | None) -> str | None:
    """The absolute module a ``from <level dots><target> import`` names, or None if it escapes."""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    if level - 1 > len(base) - 1:
        return None
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def _from_base(module: Module, node: ast.ImportFrom) -> str | None:
    if node.level:
        return _resolve_relative(module, node.level, node.module)
    return node.module


@functools.cache
def load_package(root: Path) -> Package:
    """Parse every module under ``root`` (a package directory) and its symshape imports."""
    root = root.resolve()
    pkg = root.name
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        if any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(root).parts):
            continue
        name, is_package = _module_name(pkg, root, path)
        text = path.read_text(encoding="utf-8")
        rel = f"{pkg}/{path.relative_to(root).as_posix()}"
        modules[name] = Module(name, path, rel, is_package, ast.parse(text, filename=rel), len(text.splitlines()))

    # Directories without __init__.py are namespace packages: importable, but no code of their own.
    namespaces = {
        ".".join([pkg, *d.relative_to(root).parts])
        for m in modules.values()
        for d in m.path.parents
        if root in d.parents
    }
    unresolved: list[str] = []

    def inside(dotted: str | None) -> bool:
        return dotted is not None and (dotted == pkg or dotted.startswith(pkg + "."))

    for module in modules.values():
        for node in _imports(module.tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if inside(alias.name)]
            else:
                base = _from_base(module, node)
                if not inside(base):
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    # a submodule, or a name defined in `base`
                    targets.append(sub if sub in modules or sub in namespaces else base)
            for target in targets:
                if target in namespaces and target not in modules:
                    continue
                if target not in modules:
                    unresolved.append(
                        f"{module.rel}:{node.lineno}: imports {target!r}, which is not a module of the package"
                        " (moved? update the import)"
                    )
                elif target != module.name and Edge(module.name, target, node.lineno) not in module.edges:
                    module.edges.append(Edge(module.name, target, node.lineno))
    return Package(pkg, root, modules, list(dict.fromkeys(unresolved)))


# ---------------------------------------------------------------------------
# Rules. Each returns a list of "file:line: what is wrong -- what to do" strings.
# ---------------------------------------------------------------------------


def find_cycles(package: Package) -> list[str]:
    """Rule a: one message per strongly connected component of the import graph."""
    graph = {name: sorted({e.dst for e in m.edges}) for name, m in package.modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan; the package is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)

    messages = []
    for component in components:
        members = set(component)
        start = component[0]
        # Shortest path start -> ... -> start inside the component (BFS).
        parents: dict[str, str] = {}
        frontier = [start]
        found = None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in graph[v]:
                    if w not in members:
                        continue
                    if w == start:
                        found = v
                        break
                    if w not in parents:
                        parents[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path = [start]
        v = found
        while v is not None and v != start:
            path.append(v)
            v = parents.get(v)
        path = [start, *reversed(path[1:]), start]
        hops = []
        for a, b in itertools.pairwise(path):
            m = package.modules[a]
            line = min(e.line for e in m.edges if e.dst == b)
            hops.append(f"    {m.rel}:{line}: {a} imports {b}")
        messages.append(
            "import cycle: "
            + " -> ".join(path)
            + (f"  (component of {len(component)} modules: {', '.join(component)})" if len(component) > 2 else "")
            + "\n"
            + "\n".join(hops)
            + "\n    fix: move the shared code down a layer, or pass it in; a function-local import does not"
            " break a cycle for this rule"
        )
    return messages


def layer_of(name: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> int | None:
    for rank, entries in enumerate(layers):
        if name in entries:
            return rank
    return None


def layering_violations(package: Package, layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    """Rule b: unknown top-level names, upward imports, same-layer cross imports, missing modules."""
    messages: list[str] = []
    unknown: dict[str, list[str]] = {}
    for m in package.modules.values():
        top = package.top(m.name)
        if layer_of(top, layers) is None:
            unknown.setdefault(top, []).append(m.rel)
    for top, files in sorted(unknown.items()):
        messages.append(
            f"{files[0]}:1: top-level name {top!r} is not in the layer table ({len(files)} file(s))"
            f" -- add {top!r} to LAYERS in tests/test_layering.py, in the layer it belongs to"
        )
    for m in package.modules.values():
        src_top = package.top(m.name)
        src_rank = layer_of(src_top, layers)
        if src_rank is None:
            continue
        for e in m.edges:
            dst_top = package.top(e.dst)
            dst_rank = layer_of(dst_top, layers)
            if dst_rank is None or dst_top == src_top:
                continue
            what = "the package itself (the public API)" if e.dst == package.name else e.dst
            if dst_rank > src_rank:
                messages.append(
                    f"{m.rel}:{e.line}: {src_top!r} (layer {src_rank}) imports {what} ({dst_top!r}, layer {dst_rank})"
                )
            elif dst_rank == src_rank and src_rank not in SAME_LAYER_IMPORTS_ALLOWED:
                if e.dst == package.name:  # layer-10 entry points may use the public API
                    continue
                messages.append(
                    f"{m.rel}:{e.line}: {src_top!r} imports {what} ({dst_top!r}); different entries of layer"
                    f" {src_rank} must not depend on each other"
                )
    return messages + package.unresolved


def private_import_violations(package: Package) -> list[str]:
    """Rule c: ``from x import _name`` and ``alias._name`` where x is another symshape module."""
    messages: list[str] = []
    mods = package.modules
    exempt = f"{package.name}.{PRIVATE_IMPORT_EXEMPT}"

    def allowed_module(importer: str, target: str) -> bool:
        # A private *module* may be imported by its shim name, or from inside its own parent package.
        parent = target.rsplit(".", 1)[0]
        return target == exempt or importer.startswith(parent + ".") or importer == parent

    def check(m: Module, line: int, owner: str, name: str, how: str) -> None:
        if not _is_private(name):
            return
        sub = f"{owner}.{name}"
        if sub in mods:
            if not allowed_module(m.name, sub):
                messages.append(f"{m.rel}:{line}: {how} -- {sub} is a private module of {sub.rsplit('.', 1)[0]}")
            return
        if owner == m.name or owner == exempt:
            return
        messages.append(f"{m.rel}:{line}: {how} -- {name!r} is private to {owner}")

    for m in mods.values():
        aliases: dict[str, str] = {}  # local name -> symshape module it is bound to (file-wide)
        for node in _imports(m.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name not in mods:
                        continue
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
                    parts = alias.name.split(".")
                    for i in range(1, len(parts)):
                        check(m, node.lineno, ".".join(parts[:i]), parts[i], f"import {alias.name}")
            else:
                base = _from_base(m, node)
                if base not in mods:
                    continue
                for alias in node.names:
                    check(m, node.lineno, base, alias.name, f"from {base} import {alias.name}")
                    if f"{base}.{alias.name}" in mods:
                        aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
        if not aliases:
            continue
        for node in ast.walk(m.tree):
            if not isinstance(node, ast.Attribute):
                continue
            chain = _dotted(node.value)
            if chain is None or chain[0] not in aliases:
                continue
            owner = aliases[chain[0]]
            for part in chain[1:]:  # follow submodules: pkg.sub.mod
                if f"{owner}.{part}" not in mods:
                    owner = None
                    break
                owner = f"{owner}.{part}"
            if owner is not None:
                check(m, node.lineno, owner, node.attr, ".".join([*chain, node.attr]))
    return sorted(set(messages), key=_location)


def long_modules(package: Package, limit: int = MAX_LINES) -> list[str]:
    """Rule d."""
    return [
        f"{m.rel}:{limit + 1}: {m.n_lines} lines (limit {limit})" for m in package.modules.values() if m.n_lines > limit
    ]


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` -> ["a", "b", "c"]; None if the chain does not start at a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _torch_private(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "torch" and any(_is_private(p) for p in parts[1:])


def torch_private_violations(package: Package) -> list[str]:
    """Rule e: private torch modules/attributes anywhere but the shim."""
    messages: list[str] = []
    shim = package.root / TORCH_SHIM
    for m in package.modules.values():
        if m.path == shim:
            continue

        def flag(line: int, what: str, m: Module = m) -> None:
            messages.append(f"{m.rel}:{line}: {what}")

        torch_aliases: dict[str, str] = {}  # local name -> torch dotted path
        for node in _imports(m.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] != "torch":
                        continue
                    if _torch_private(alias.name):
                        flag(node.lineno, f"import {alias.name}")
                    if alias.asname:
                        torch_aliases[alias.asname] = alias.name
                    else:
                        torch_aliases["torch"] = "torch"
            elif node.module and not node.level and node.module.split(".")[0] == "torch":
                if _torch_private(node.module):
                    flag(node.lineno, f"from {node.module} import ...")
                for alias in node.names:
                    if _is_private(alias.name) or alias.name in TORCH_PRIVATE_ATTRS:
                        flag(node.lineno, f"from {node.module} import {alias.name}")
                    torch_aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Attribute):
                if node.attr in TORCH_PRIVATE_ATTRS:
                    flag(node.lineno, f"attribute .{node.attr} (a torch internal)")
                elif _is_private(node.attr):
                    chain = _dotted(node.value)
                    if chain and chain[0] in torch_aliases:
                        flag(node.lineno, f"{'.'.join([torch_aliases[chain[0]], *chain[1:], node.attr])}")
            elif isinstance(node, ast.Call) and node.args:
                # getattr(obj, "_guards_code"), getattr(torch, "_dynamo"), importlib.import_module("torch._x")
                func = _dotted(node.func)
                name = func[-1] if func else None
                first = node.args[0]
                second = node.args[1] if len(node.args) > 1 else None
                if name in {"getattr", "hasattr", "setattr", "delattr"} and isinstance(second, ast.Constant):
                    attr = second.value
                    if not isinstance(attr, str):
                        continue
                    chain = _dotted(first)
                    on_torch = chain is not None and chain[0] in torch_aliases
                    if attr in TORCH_PRIVATE_ATTRS or (on_torch and _is_private(attr)):
                        flag(node.lineno, f"{name}(..., {attr!r}) (a torch internal)")
                elif name in {"import_module", "__import__"} and isinstance(first, ast.Constant):
                    if isinstance(first.value, str) and _torch_private(first.value):
                        flag(node.lineno, f"{name}({first.value!r})")
    return sorted(set(messages), key=_location)


# ---------------------------------------------------------------------------
# The rules, applied to the real package
# ---------------------------------------------------------------------------


def _location(message: str) -> tuple[str, int, str]:
    file, line, rest = message.split(":", 2)
    return file, int(line) if line.isdigit() else 0, rest


def _fail(title: str, messages: list[str], advice: str = "") -> None:
    if messages:
        text = f"{title}: {len(messages)} problem(s)\n" + "\n".join(messages)
        pytest.fail(text + (f"\nwhat to do: {advice}" if advice else ""), pytrace=False)


@pytest.fixture(scope="module")
def package() -> Package:
    return load_package(PACKAGE_DIR)


def test_real_package_is_scanned(package: Package) -> None:
    assert len(package.modules) > 20, f"only {len(package.modules)} modules found under {PACKAGE_DIR}"
    assert sum(len(m.edges) for m in package.modules.values()) > 20, "hardly any internal imports found"


def test_no_import_cycles(package: Package) -> None:
    _fail("import cycles among symshape modules", find_cycles(package))


def test_layering(package: Package) -> None:
    _fail(
        "layering (see LAYERS in tests/test_layering.py)",
        layering_violations(package),
        "a module may import only lower layers and its own package: move the code it needs down a layer, or"
        " invert the dependency (the caller passes a callable / value in). A function-local import is still an"
        " import. Place every new top-level package in LAYERS deliberately.",
    )


def test_no_private_imports_across_modules(package: Package) -> None:
    _fail(
        "private names used from another module",
        private_import_violations(package),
        "make the name public (drop the underscore and document it), or move the code that needs it into"
        " the module that owns it",
    )


def test_module_length(package: Package) -> None:
    _fail(
        f"modules over {MAX_LINES} lines",
        long_modules(package),
        "split the module by responsibility into a subpackage or sibling modules (same layer)",
    )


def test_private_torch_only_in_shim(package: Package) -> None:
    _fail(
        f"private torch APIs outside symshape/{TORCH_SHIM}",
        torch_private_violations(package),
        f"wrap each use in a small public function in symshape/{TORCH_SHIM} (the one module allowed to touch"
        " torch internals, so a torch upgrade breaks in one place) and call that instead",
    )


# ---------------------------------------------------------------------------
# Self-tests: the checkers on synthetic packages
# ---------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "symshape"
    for rel, text in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return pkg


CLEAN = {
    "__init__.py": "from .core import thing\nfrom .errors import Oops\n__version__ = '0'\n",
    "__main__.py": "import symshape\nfrom .cli import main\n",
    "demo.py": "from symshape import thing\n",
    "_torch.py": (
        "import torch._dynamo\nfrom torch.utils._pytree import SUPPORTED_NODES\n"
        "def _hidden():\n    return torch._dynamo.config\n"
    ),
    "errors.py": "from . import _torch\nfrom ._torch import _hidden\nclass Oops(Exception):\n    pass\n",
    "versions.py": "from .errors import Oops\n",
    "core/__init__.py": "from .a import thing\n",
    "core/a.py": "from . import b\nfrom .. import errors\nfrom ..errors import __doc__\nthing = b.value\n",
    "core/b.py": "import torch\nvalue = torch.ones(1)\n",
    "report.py": "from .core import a\nfrom .core.a import thing\nimport symshape.core.b as b\nx = b.value\n",
    "cli.py": "def main():\n    from .report import x\n    from . import core\n    return core.a.thing\n",
    # a namespace package (no __init__.py) resolves like any other
    "exporting/loop.py": "from ..core.a import thing\nfrom ..core import b\nfrom symshape.exporting import loop\n",
}


def test_clean_synthetic_package_has_no_findings(tmp_path: Path) -> None:
    pkg = load_package(_write(tmp_path, CLEAN))
    assert len(pkg.modules) == len(CLEAN)
    assert find_cycles(pkg) == []
    assert layering_violations(pkg) == []
    assert private_import_violations(pkg) == []
    assert long_modules(pkg) == []
    assert torch_private_violations(pkg) == []


def test_checkers_detect_each_violation(tmp_path: Path) -> None:
    files = dict(CLEAN)
    files.update(
        {
            # a: a cycle through a function-local import
            "core/b.py": "value = 1\ndef helper():\n    from .a import thing\n    return thing\n",
            # b: upward imports (module level, TYPE_CHECKING, try/except), the package itself, same layer, missing
            "report.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .spec import S\n"
                "try:\n    from symshape.plan import x\nexcept ImportError:\n    pass\n"
            ),
            "spec.py": "from . import thing\nS = 1\n",
            "infer/__init__.py": "",
            "infer/x.py": "from ..core import a as core_a\nsecret = core_a._hidden\nfrom ..gone import y\n",
            "__main__.py": "from . import demo\n",  # layer 10 -> layer 10 (different entries): not allowed
            "infer/y.py": "from .. import thing\n",  # lands on symshape/__init__.py
            "newthing.py": "",
            # c: private names of other modules
            "versions.py": "from .errors import _detail\nfrom .core import _impl\n",
            "core/_impl.py": "",
            # d: too long
            "plan.py": "x = 1\n" * (MAX_LINES + 1),
            # e: private torch
            "recording.py": (
                "import torch\nimport torch.fx._pytree as fxp\nfrom torch._logging.structured import INTERN_TABLE\n"
                "from torch.fx import _pytree\nfrom torch.fx.experimental import symbolic_shapes as ss\n"
                "def f(program, draft):\n"
                "    torch._dynamo.config.patch()\n    torch.fx.experimental._config\n    ss.ShapeEnv.create_symbol\n"
                "    getattr(program, '_guards_code', [])\n    return draft._report\n"
            ),
        }
    )
    pkg = load_package(_write(tmp_path, files))

    cycles = find_cycles(pkg)
    assert len(cycles) == 1, cycles
    assert "symshape.core.a -> symshape.core.b -> symshape.core.a" in cycles[0]
    assert "symshape/core/b.py:3:" in cycles[0]

    layering = "\n".join(layering_violations(pkg))
    assert "symshape/report.py:3: 'report' (layer 2) imports symshape.spec" in layering  # TYPE_CHECKING
    assert "symshape/report.py:5: 'report' (layer 2) imports symshape.plan" in layering  # try/except, absolute
    assert "symshape/spec.py:1: 'spec' (layer 3) imports the package itself" in layering  # `from . import name`
    assert "symshape/__main__.py:1: '__main__' imports symshape.demo" in layering
    assert "symshape/infer/y.py:1: 'infer' (layer 4) imports the package itself" in layering
    assert "'newthing' is not in the layer table" in layering
    assert "symshape/infer/x.py:3: imports 'symshape.gone'" in layering
    assert "symshape/core/a.py" not in layering  # a -> b is within one package: fine

    private = "\n".join(private_import_violations(pkg))
    assert "symshape/versions.py:1: from symshape.errors import _detail" in private
    assert "versions.py:2: from symshape.core import _impl -- symshape.core._impl is a private module" in private
    assert "symshape/infer/x.py:2: core_a._hidden -- '_hidden' is private to symshape.core.a" in private
    assert "_torch" not in private and "__doc__" not in private

    assert [v.split(":")[0] for v in long_modules(pkg)] == ["symshape/plan.py"]

    torch_found = torch_private_violations(pkg)
    torch_text = "\n".join(torch_found)
    for expected in (
        "recording.py:2: import torch.fx._pytree",
        "recording.py:3: from torch._logging.structured import ...",
        "recording.py:3: from torch._logging.structured import INTERN_TABLE",
        "recording.py:4: from torch.fx import _pytree",
        "recording.py:7: torch._dynamo",
        "recording.py:8: torch.fx.experimental._config",
        "recording.py:9: attribute .create_symbol",
        "recording.py:10: getattr(..., '_guards_code')",
        "recording.py:11: attribute ._report",
    ):
        assert expected in torch_text, (expected, torch_found)
    assert all(v.startswith("symshape/recording.py:") for v in torch_found), torch_found
