"""The core's layout is its data flow (docs/architecture.md): no import cycle among the modules of
landing/, traceability/ and geo/, geo/ never imports traceability, traceability never imports
Airflow, and the leaves below everything import only the standard library.

Imports inside functions count (they still tie two modules together); imports under
``if TYPE_CHECKING:`` do not. Read from the source with ``ast``: nothing is imported."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("landing", "traceability", "geo")
#: Leaves that everything may import: the standard library only.
STDLIB_LEAVES = ("landing", "traceability.contract")


def _modules() -> dict[str, Path]:
    mods = {}
    for package in PACKAGES:
        for f in sorted((ROOT / package).rglob("*.py")):
            rel = f.relative_to(ROOT)
            if "migrations" in rel.parts:
                continue  # Alembic's revisions are run by Alembic, not imported by the core
            mods[".".join(rel.with_suffix("").parts).removesuffix(".__init__")] = f
    return mods


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every module name ``path`` imports: ``from a.b import c`` names ``a.b.c`` when that is a
    module of ours, else ``a.b``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(x) for stmt in node.body for x in ast.walk(stmt))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names}
            out.update(s for s in subs if s in MODULES)
            if not subs <= set(MODULES):
                out.add(node.module)
    return out


IMPORTS = {name: _imports(path) for name, path in MODULES.items()}
GRAPH = {name: {t for t in IMPORTS[name] if t in MODULES and t != name} for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in GRAPH:
        if start in index:
            continue
        work = [(start, iter(sorted(GRAPH[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(GRAPH[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_modules_are_found() -> None:
    # Guards the walk: an empty or partial module list would pass every test below.
    assert {"landing", "traceability.contract", "traceability.epcis.capture", "geo.export"} <= set(
        MODULES
    )
    assert "traceability.epcis" in GRAPH["traceability.sources"]


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    GRAPH["landing"].add("traceability.contract")
    GRAPH["traceability.contract"].add("landing")
    try:
        assert _cycles() == [["landing", "traceability.contract"]]
    finally:
        GRAPH["landing"].discard("traceability.contract")
        GRAPH["traceability.contract"].discard("landing")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("geo")))
def test_geo_does_not_import_traceability(module: str) -> None:
    assert not {i for i in IMPORTS[module] if i.split(".")[0] == "traceability"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("traceability")))
def test_traceability_does_not_import_airflow(module: str) -> None:
    assert not {i for i in IMPORTS[module] if i.split(".")[0] == "airflow"}


@pytest.mark.parametrize("module", STDLIB_LEAVES)
def test_leaves_import_only_the_standard_library(module: str) -> None:
    ours = {i for i in IMPORTS[module] if i in MODULES}
    assert ours <= {module, *STDLIB_LEAVES}
    others = {i.split(".")[0] for i in IMPORTS[module] if i not in MODULES} - {"__future__"}
    assert others <= sys.stdlib_module_names
