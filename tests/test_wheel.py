"""The built wheel works outside the repository: its own code, SQL, schemas, templates and
declared dependencies, nothing of the checkout.

The wheel is built from a copy of what pyproject.toml packages (so a file the build misses
cannot be picked up from the checkout), the way pip builds it for a user (isolated, with the
pinned setuptools from PyPI or pip's cache), and installed, without the editable heitu, into a
fresh venv. That venv sees only the distributions the wheel's metadata asks for, and theirs in
turn (linked from this environment, which has them at the pinned versions): a dependency
missing from pyproject.toml fails here as it would on a user's machine. Then, from a folder
outside the repository, the wheel's `heitu` writes a sample season, loads it, traces a packed
lot back (the same answer as the checkout's code on that store), exports and validates its
EPCIS events, and serves its consumer page.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import zipfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
#: What the build reads: pyproject's packages, the sql/ it maps into the wheel, the readme.
SOURCES = ("pyproject.toml", "README.md", "traceability", "geo", "landing", "sql")


def _run(cmd: list[str], *, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return r


def _requires(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as whl:
        meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        message = email.message_from_bytes(whl.read(meta))
    return [Requirement(r) for r in message.get_all("Requires-Dist") or []]


def _closure(requires: list[Requirement]) -> set[str]:
    """Every distribution the requirements pull in (extras and markers evaluated), checked
    against what is installed here."""
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r, frozenset({""})) for r in requires]
    while todo:
        req, wanted_by = todo.pop()
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": extra}) for extra in wanted_by
        ):
            continue
        key = (req.name.lower(), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            pytest.fail(f"{req} (a dependency of the wheel) is not installed: make install")
        assert req.specifier.contains(dist.version, prereleases=True), (req, dist.version)
        found.add(dist.metadata["Name"])
        extras = frozenset({"", *req.extras})
        todo += [(Requirement(r), extras) for r in dist.requires or []]
    return found


def _link_dependencies(names: set[str], into: Path) -> None:
    """Links the top-level files of each distribution (its packages, modules, .libs folders
    and dist-info, as its RECORD lists them) into one folder."""
    into.mkdir()
    for name in names:
        dist = distribution(name)
        assert dist.files, f"{name}: no RECORD, cannot tell its files"
        for top in {f.parts[0] for f in dist.files}:
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            target = Path(str(dist.locate_file(top)))
            link = into / top
            if target.exists() and not link.exists():
                link.symlink_to(target, target_is_directory=target.is_dir())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, deadline: float, server: subprocess.Popen, log: Path) -> tuple[str, str]:
    while True:
        assert server.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # follows the resolver's 307
                return r.read().decode(), r.geturl()
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(log.read_text()) from None
            time.sleep(0.3)


def test_wheel_installed_in_a_fresh_venv_traces_and_serves(tmp_path: Path) -> None:
    # --- build, from a copy of what the wheel is made of -------------------------------------
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    dist_dir = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist_dir), str(src)],
        timeout=300,
    )
    (wheel,) = dist_dir.glob("heitu-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        shipped = set(whl.namelist())
    # every file of the packages (a new subpackage missing from pyproject's list, a data file
    # no package-data pattern takes) and every query
    expected = {
        f.relative_to(src).as_posix()
        for package in ("traceability", "geo", "landing")
        for f in (src / package).rglob("*")
        if f.is_file() and "__pycache__" not in f.parts
    } | {f"traceability/sql/{f.name}" for f in (src / "sql").glob("*.sql")}
    assert not expected - shipped, f"not in the wheel: {sorted(expected - shipped)}"
    assert not any(n.startswith(("tests/", "dags/", "bench/", "sql/")) for n in shipped)

    # --- a fresh venv: the wheel, and only the dependencies it declares ----------------------
    # nothing of the checkout on the path: no PYTHONPATH, no settings of the test session
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEITU_", "PYTHON"))}
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import site; print(site.getsitepackages()[0])"], env=env
        ).stdout.strip()
    )
    deps = tmp_path / "deps"
    _link_dependencies(_closure(_requires(wheel)), deps)
    (site / "heitu-deps.pth").write_text(f"{deps}\n", encoding="utf-8")
    # no --no-deps: pip checks the wheel's requirements against what the venv sees, offline
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-index",
            str(wheel),
        ],
        timeout=180,
        env=env,
    )

    # --- the installed `heitu`, run from outside the repository ------------------------------
    work = tmp_path / "work"
    work.mkdir()
    env |= {"HEITU_HOME": str(work / "home"), "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}"}
    heitu = str(venv / "bin" / "heitu")

    where = json.loads(
        _run(
            [
                str(python),
                "-c",
                "import json, importlib.util as u, traceability, traceability.config as c, geo; "
                "print(json.dumps([traceability.__file__, geo.__file__, str(c.SQL_DIR), "
                "[m for m in ('airflow', 'pytest', 'geopandas') if u.find_spec(m)]]))",
            ],
            cwd=work,
            env=env,
        ).stdout
    )
    *paths, undeclared = where
    for path in paths:
        assert Path(path).is_relative_to(site), where  # the wheel's copy, not the checkout's
    assert Path(paths[2]) == site / "traceability" / "sql"
    assert undeclared == [], "the venv sees more than the wheel's dependencies"

    _run([heitu, "sample", str(work / "inbox"), "--plots", "20", "--json"], cwd=work, env=env)
    loaded = json.loads(
        _run([heitu, "ingest", str(work / "inbox"), "--json"], cwd=work, env=env).stdout
    )
    assert loaded["sources"]["plots"]["files"] and loaded["sources"]["processing"]["files"]

    with sqlite3.connect(work / "home" / "heitu.db") as db:
        lot, gtin = db.execute(
            "SELECT lot_id, gtin FROM lot WHERE gtin IS NOT NULL ORDER BY lot_id LIMIT 1"
        ).fetchone()
        plots = {p for (p,) in db.execute("SELECT plot_id FROM plot")}
    back = json.loads(_run([heitu, "trace", "back", lot, "--json"], cwd=work, env=env).stdout)
    assert back["lot"] == lot
    assert back["plots"] and back["plots"] == sorted(back["plots"]) and set(back["plots"]) <= plots
    assert set(back["shares"]) == set(back["plots"])
    assert sum(back["shares"].values()) == pytest.approx(1.0)
    # the checkout's code on the same store gives the same answer
    checkout = {**env, "PYTHONPATH": str(ROOT)}
    same = _run(
        [sys.executable, "-m", "traceability.cli", "trace", "back", lot, "--json"],
        cwd=work,
        env=checkout,
    )
    assert json.loads(same.stdout) == back

    # EPCIS export of the lot's lineage, valid against the schema the wheel carries
    out = work / "lot.jsonld"
    _run([heitu, "export", "epcis", "--lot", lot, "--out", str(out)], cwd=work, env=env)
    schema = _run(
        [
            str(python),
            "-c",
            "import json, sys; from traceability.epcis import schema_path, validate; "
            "print(schema_path()); sys.exit(validate(json.load(open(sys.argv[1]))) is not None)",
            str(out),
        ],
        cwd=work,
        env=env,
    )
    assert Path(schema.stdout.strip()).is_relative_to(site)

    # the consumer page: templates and stylesheet from the wheel
    port = _free_port()
    log = work / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [heitu, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        body, final = _get(
            f"http://127.0.0.1:{port}/01/{gtin}/10/{lot}?lang=en", deadline, server, log
        )
        assert final.startswith(f"http://127.0.0.1:{port}/page/01/") and lot in body
        css, _ = _get(f"http://127.0.0.1:{port}/static/heitu.css", deadline, server, log)
        assert css.strip()
    finally:
        server.terminate()
        server.wait(timeout=20)
