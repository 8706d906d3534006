"""What the package says about itself stays true: pyproject.toml's dependencies are the
distributions the code imports (and installs through requirements.txt), and
docs/architecture.md names every module. The built wheel itself is run by tests/test_wheel.py.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions, version
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("traceability", "geo", "landing")  # what the wheel ships (pyproject's packages)

#: Declared without being imported: what the code needs through another package.
NEEDED_UNIMPORTED = {
    "itsdangerous": "starlette's SessionMiddleware signs the portal's session cookie",
}


def _name(dist: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def _declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    return {_name(r.name): r for r in reqs}


def _imported_modules() -> dict[str, set[str]]:
    """Top-level module -> the files importing it, over every module of the shipped packages
    (imports inside functions and under TYPE_CHECKING included; relative imports are ours)."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.partition(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def _third_party() -> dict[str, set[str]]:
    """Distribution -> the files whose imports need it."""
    own = set(PACKAGES)
    owners = packages_distributions()
    needed: dict[str, set[str]] = {}
    unknown = []
    for module, files in _imported_modules().items():
        if module in own or module in sys.stdlib_module_names:
            continue
        dists = owners.get(module)
        if not dists:
            unknown.append(f"{module} (imported by {', '.join(sorted(files))})")
            continue
        for dist in dists:
            needed.setdefault(_name(dist), set()).update(files)
    assert not unknown, f"imported but installed by no distribution: {unknown}"
    return needed


def test_every_imported_distribution_is_a_dependency() -> None:
    needed = _third_party()
    declared = _declared()
    missing = {d: sorted(f) for d, f in needed.items() if d not in declared}
    assert not missing, f"imported but not in pyproject.toml's dependencies: {missing}"
    assert "apache-airflow" not in needed, "the library imports Airflow: only dags/ may"


def test_every_dependency_is_imported_or_says_why_not() -> None:
    unused = set(_declared()) - set(_third_party())
    assert unused == set(NEEDED_UNIMPORTED), (
        f"declared but imported nowhere: {sorted(unused - set(NEEDED_UNIMPORTED))}; "
        f"no longer declared: {sorted(set(NEEDED_UNIMPORTED) - unused)}"
    )


def test_dependencies_are_pinned_in_requirements_and_installed() -> None:
    """The Makefile installs requirements.txt (with the lock), never pyproject's list: each
    dependency must be pinned there, and the pinned version must satisfy pyproject's bound."""
    pinned: dict[str, Requirement] = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            pinned[_name(req.name)] = req
    for name, req in _declared().items():
        assert name in pinned, f"{req} is not pinned in requirements.txt"
        assert req.extras <= pinned[name].extras, f"{req}: requirements.txt has {pinned[name]}"
        installed = version(req.name)
        assert req.specifier.contains(installed, prereleases=True), f"{req}: installed {installed}"
        assert pinned[name].specifier.contains(installed, prereleases=True), (
            f"{pinned[name]}: installed {installed} (make install)"
        )


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n### ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def test_architecture_names_every_module() -> None:
    """docs/architecture.md's tables name each module (`name.py`, or `web/` in the row of the
    web app), each migration revision, and each subpackage, in the section of its package."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    unnamed = []
    for package in PACKAGES:
        section = _section(doc, f"### `{package}/`")
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT / package)
            if path.name == "__init__.py":
                sub = rel.parent  # a subpackage: `web/`, `migrations/`, `versions/...`
                names = [f"`{sub.as_posix()}/", f"`{sub.name}/"] if sub != Path(".") else []
            elif rel.parts[0] == "migrations" and path.name == "env.py":
                names = ["`migrations/`"]  # Alembic's environment: "Alembic environment"
            else:
                names = [f"`{path.name}`", f"`{rel.as_posix()}`"]
                if rel.parts[0] == "migrations":
                    names.append(f"`versions/{path.name}`")
            if names and not any(n in section for n in names):
                unnamed.append(f"{package}/{rel.as_posix()}")
    assert not unnamed, f"modules docs/architecture.md does not name: {unnamed}"
