"""``make demo``: a sample season through real Airflow, then what the store knows.

``python -m traceability.demo`` starts from a clean ``HEITU_HOME`` (default ``./data``): it
writes a sample season into the inbox, migrates a SQLite Airflow metadata DB in
``HEITU_HOME/airflow``, runs every DAG with ``airflow dags test`` in dependency order (the
same DAG files the scheduler runs), and prints records per source, rejects, findings, and one
bag traced back to its plots with the path of its QR code.

``python -m traceability.demo --airflow`` (``make airflow``) prepares the same home when it is
missing (it keeps an existing one), prints the URL and the login, and replaces itself with
``airflow standalone`` (scheduler, API server and UI on http://localhost:8080).

The demo always uses its own SQLite store, ``HEITU_HOME/heitu.db``. Progress goes to stderr,
the summary to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from traceability import config

#: In dependency order: master data and plots before the lots that name them.
#: Every DAG: the epcis one finds no document in the sample (partners send EPCIS when they have
#: it) and is green all the same, as `make airflow` will show it every 15 minutes.
DAG_IDS: tuple[str, ...] = (
    "heitu_parties_products", "heitu_plots", "heitu_production", "heitu_processing",
    "heitu_transport", "heitu_sales", "heitu_certificates", "heitu_epcis", "heitu_checks",
    "heitu_codes", "heitu_open_data",
)  # fmt: skip
DAGS_FOLDER = config.REPO_ROOT / "dags"
URL = "http://localhost:8080"
#: Where ``make serve`` answers (heitu serve on the demo's store).
SERVE_URL = "http://127.0.0.1:8000"
ADMIN = "admin"
#: Where Airflow's SimpleAuthManager (the one ``airflow standalone`` forces) keeps passwords.
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
#: Left in a home the demo made: it may wipe that home again.
MARKER = ".heitu-demo"


def venv_bin() -> Path:
    """The bin/ of the Python running us: ``airflow`` lives beside it."""
    return Path(sys.executable).parent


def demo_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of every Airflow child: our home, our DAGs, the venv's bin/ first."""
    airflow_home = home / "airflow"
    env = {k: v for k, v in os.environ.items()
           if k not in ("HEITU_INBOX", "HEITU_ARCHIVE", "HEITU_CODES_DIR")}  # fmt: skip
    env.update({
        "HEITU_HOME": str(home),
        "HEITU_SETTLE_SECONDS": "0",  # the demo's files are written a second before the run
        "HEITU_DB_URL": f"sqlite:///{home / 'heitu.db'}",
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "PATH": f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}",
        **extra,
    })  # fmt: skip
    return env


def clean_home(home: Path) -> None:
    """Remove the store, inbox, archive, codes and Airflow runs of earlier demos (the Airflow
    login is kept, so a browser session of ``make airflow`` stays valid).

    Only a home the demo may wipe: missing or empty, made by a demo (``MARKER``), or the
    repository's ``data/`` scratch folder (``make clean`` removes it too). Any other
    ``HEITU_HOME`` could be real data: the demo refuses."""
    wipeable = (
        not home.exists()
        or not any(home.iterdir())
        or (home / MARKER).exists()
        or home.resolve() == (config.REPO_ROOT / "data").resolve()
    )
    if not wipeable:
        raise SystemExit(
            f"HEITU_HOME={home} holds files the demo did not make; it starts from a clean "
            "store, so it will not wipe them. Point HEITU_HOME at another folder (or at an "
            "empty one)."
        )
    for name in ("inbox", "archive", "codes"):
        shutil.rmtree(home / name, ignore_errors=True)
    for name in ("heitu.db", "heitu.db-wal", "heitu.db-shm"):
        (home / name).unlink(missing_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by python -m traceability.demo\n", encoding="utf-8")
    airflow_home = home / "airflow"
    for name in ("airflow.db", "airflow.db-wal", "airflow.db-shm"):
        (airflow_home / name).unlink(missing_ok=True)
    for name in ("logs", "demo-logs"):
        shutil.rmtree(airflow_home / name, ignore_errors=True)


def run_logged(cmd: list[str], env: dict[str, str], log: Path) -> tuple[int, float]:
    """Run a child with its output in ``log``; returns (exit code, seconds)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    return code, time.perf_counter() - t


def failure_excerpt(log: Path, lines: int = 30) -> str:
    """What an operator needs from a failed child's log: its error lines and the message of
    each exception (not the traceback); the tail when there are none."""
    import re

    stamp = re.compile(r"^\d{4}-\d\d-\d\dT")
    exc = re.compile(r"^[\w.]*(Exception|Error|Exit)\w*: ")
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    keep: list[str] = []
    in_message = False
    for line in text:
        if exc.match(line):
            in_message = True
        elif stamp.match(line):
            in_message = False
        if in_message or "[error" in line:
            keep.append(line)
    return "\n".join((keep or text)[-lines:])


def _progress(console: Any) -> Any:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(finished_text="[green]✓[/]"), TextColumn("{task.description}"),
        TimeElapsedColumn(), console=console,
    )  # fmt: skip


def _step(progress: Any, what: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
    """One Airflow child as a progress line; on failure, the lines that say why, and exit 1."""
    task = progress.add_task(what, total=1)
    code, _ = run_logged(cmd, env, log)
    if code:
        progress.remove_task(task)
        progress.stop()
        progress.console.print(f"[red]✗ {what}: failed[/]")
        progress.console.print(failure_excerpt(log), markup=False, highlight=False)
        progress.console.print(f"[red]Full log: {log}[/]")
        raise SystemExit(1)
    progress.update(task, completed=1)


def prepare(home: Path, *, plots: int, seed: int, clean: bool, console: Any) -> dict[str, str]:
    """Sample season in the inbox (unless the home already has one) and a migrated Airflow DB.
    Returns the environment for Airflow children."""
    from traceability.sample import write_sample

    if clean:
        clean_home(home)
    home.mkdir(parents=True, exist_ok=True)
    env = demo_env(home)
    if clean or not ((home / "inbox").exists() or (home / "heitu.db").exists()):
        files = write_sample(home / "inbox", plots=plots, seed=seed, progress=True)
        console.print(f"[green]✓[/] sample season ({plots} plots): {len(files)} files in "
                      f"{home / 'inbox'}")  # fmt: skip
    with _progress(console) as progress:
        log = home / "airflow" / "demo-logs" / "db-migrate.log"
        _step(progress, f"airflow db migrate: SQLite metadata DB in {home / 'airflow'}",
              ["airflow", "db", "migrate"], env, log)  # fmt: skip
    return env


def run_dags(home: Path, env: dict[str, str], console: Any) -> None:
    """``airflow dags test`` for every DAG, in dependency order; stop at the first failure."""
    logs = home / "airflow" / "demo-logs"
    # A demo run should show a failure at once, not wait out the retry delays.
    env = {**env, "HEITU_DAG_RETRIES": "0"}
    with _progress(console) as progress:
        for i, dag_id in enumerate(DAG_IDS, 1):
            _step(progress, f"[{i}/{len(DAG_IDS)}] airflow dags test {dag_id}",
                  ["airflow", "dags", "test", dag_id], env, logs / f"{dag_id}.log")  # fmt: skip


def print_summary(summary: dict[str, Any], home: Path, out: Any) -> None:
    """Records per source, rejects, findings, one bag back to its plots, its QR PNG."""
    from rich.table import Table

    records = Table(title="Records in the store", title_justify="left")
    records.add_column("source")
    records.add_column("records", justify="right")
    for source, n in summary["records"].items():
        records.add_row(source, f"{n:,}")
    tables = Table(title="Tables", title_justify="left")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for table, n in summary["tables"].items():
        tables.add_row(table, f"{n:,}")
    out.print(records)
    out.print(tables)

    rejects = summary["rejects"]
    out.print(
        f"Rejects: {rejects.get('rejected', 0)} rejected, {rejects.get('waiting', 0)} parked "
        "(waiting for a key): `heitu rejects`"
    )
    findings = ", ".join(f"{k} {v}" for k, v in summary["findings"].items())
    out.print(f"Findings: {findings}: `heitu check`")
    if summary.get("finding_kinds"):
        out.print(f"  kinds: {', '.join(summary['finding_kinds'])}")

    bag = summary.get("bag")
    if not bag:
        out.print("[yellow]No coded lot in the store: nothing to trace.[/]")
        return
    out.print(f"\nOne bag: lot [bold]{bag['lot']}[/], code {bag['uri']}")
    shares = bag.get("shares") or {}
    for plot in bag["plots"]:
        share = f"  {shares[plot]:.1%}" if plot in shares else ""
        out.print(f"  from plot {plot}{share}")
    out.print(f"  through {len(bag['lots'])} lots: `heitu trace back {bag['lot']}`")
    out.print(f"  QR code: {bag['png']}")
    if bag.get("unit"):
        unit = bag["unit"]
        out.print(f"  its first bag's own code: {unit['uri']}")
        out.print(f"  printed under that bag's QR, to type in: {unit['short_code']}")
    # the code names the public resolver; `make serve` answers the same path on this machine
    path = urlsplit(bag["uri"]).path
    out.print(f"  its page, as a phone opens it: `make serve`, then {SERVE_URL}{path}")
    out.print(f"\nStore: {home / 'heitu.db'}   Airflow: `make airflow`, then {URL}")


def airflow_login(airflow_home: Path) -> tuple[str, str, Path]:
    """The admin login of ``airflow standalone``: made now (so it can be printed before
    Airflow starts) unless an earlier run already made one, which Airflow then keeps using."""
    path = airflow_home / PASSWORDS_FILE
    passwords: dict[str, str] = {}
    if path.exists():
        passwords = json.loads(path.read_text(encoding="utf-8").strip() or "{}")
    if ADMIN not in passwords:
        passwords[ADMIN] = secrets.token_urlsafe(12)
        airflow_home.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return ADMIN, passwords[ADMIN], path


def standalone(home: Path, env: dict[str, str], console: Any) -> None:
    user, password, path = airflow_login(home / "airflow")
    env = {
        **env,
        # The DAGs run on their schedules: drop a file in the inbox and watch it picked up.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(path),
    }
    console.print(
        f"\n[bold]Airflow UI:[/] {URL}  (starting; allow ~30 s)\n"
        f"[bold]Login:[/] user [bold]{user}[/], password [bold]{password}[/]  (kept in {path})\n"
        f"DAGs: {DAGS_FOLDER}   inbox: {home / 'inbox'}   Ctrl-C stops Airflow.\n"
    )
    airflow = str(venv_bin() / "airflow")
    # DAGs that `make demo` registered were created paused; let them run on their schedules.
    subprocess.run([airflow, "dags", "unpause", "--treat-dag-id-as-regex", "--yes", "^heitu_"],
                   env=env, capture_output=True)  # fmt: skip
    os.execvpe(airflow, [airflow, "standalone"], env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m traceability.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--airflow", action="store_true",
        help="prepare HEITU_HOME if missing, then run `airflow standalone`",
    )  # fmt: skip
    parser.add_argument("--plots", type=int, default=60, help="plots in the sample season")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the sample season")
    args = parser.parse_args(argv)

    from rich.console import Console

    err = Console(stderr=True, soft_wrap=True)
    home = config.heitu_home()
    if args.airflow:
        env = prepare(home, plots=args.plots, seed=args.seed, clean=False, console=err)
        standalone(home, env, err)
        return 0  # not reached: exec

    t = time.perf_counter()
    env = prepare(home, plots=args.plots, seed=args.seed, clean=True, console=err)
    run_dags(home, env, err)
    err.print(f"[green]✓[/] every DAG ran in {time.perf_counter() - t:.0f} s\n")

    os.environ["HEITU_DB_URL"] = env["HEITU_DB_URL"]
    from traceability import pipeline

    print_summary(pipeline.summary(), home, Console(soft_wrap=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
