"""The Airflow UI screenshots of docs/dags.md, taken with Playwright and Debian's Chromium.

``python -m tests.airflow_screens`` does what an operator does with ``make demo`` and ``make
airflow``, in a scratch ``HEITU_HOME`` (a temporary folder, removed afterwards):

1. prepares it as ``make demo`` does (``traceability.demo.prepare`` and ``run_dags``: the
   sample season, then ``airflow dags test`` of every DAG: one green run each);
2. lets the transport folder go stale: ``airflow dags test heitu_transport`` once more with a
   freshness limit of 3.6 ms (``HEITU_FRESHNESS_HOURS_TRANSPORT=0.000001``), so that
   ``alert_operator`` runs, logs "inbox/transport is STALE since ... Call: ..." and updates
   ``x-heitu://freshness/transport``;
3. starts ``airflow standalone`` on a free port with the demo's environment and login
   (``traceability.demo.demo_env``, ``airflow_login``), waits until the UI answers, signs in
   through the login form, and writes into ``docs/screenshots/``:

   - ``airflow-dags.png``: the DAG list filtered to tag ``heitu``, every last run green;
   - ``airflow-rejects.png``: the asset event of ``heitu_production``'s
     ``archive_loaded_files`` (``x-heitu://store/production``), its extra unfolded to
     ``rejected_files`` and ``rejects``;
   - ``airflow-stale.png``: ``alert_operator`` of the stale ``heitu_transport`` run, beside
     the grid, with its ``x-heitu://freshness/transport`` event unfolded (the alert's text);

4. stops Airflow (SIGINT to standalone, which stops its components; SIGTERM, then SIGKILL
   to its process group if anything is left) and removes the scratch home.

Asset events rather than task logs: ``airflow dags test`` runs the tasks in its own process
and leaves no task log file, so the *Logs* tab of these runs is empty (their logs are in
``HEITU_HOME/airflow/demo-logs/``); the events carry the same rejects and alert. The DAGs stay
paused (``airflow dags test`` registers them so; ``make airflow`` unpauses them), so that no
scheduled run mixes in. 4 to 5 minutes, most of it Airflow starting up a dozen times.
Progress goes to stderr. Written against Airflow 3.3's UI (table view of the DAG list, the
Monaco editor that shows an event's extra).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.airflow_services import free_port, tail
from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from traceability import demo

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 900}
#: Left in a home this script prepared: ``--home`` with it skips steps 1 and 2.
PREPARED = ".heitu-screens-prepared"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- 1 and 2: a demo home with one stale folder ------------------------------------------------


def prepare_home(home: Path, plots: int, seed: int) -> dict[str, str]:
    """The demo's home (every DAG run once), then heitu_transport again with the folder stale.
    Returns the environment of Airflow children."""
    from rich.console import Console

    console = Console(stderr=True, soft_wrap=True)
    if (home / PREPARED).exists():
        say(f"reusing the prepared home {home}")
        return demo.demo_env(home)
    env = demo.prepare(home, plots=plots, seed=seed, clean=True, console=console)
    demo.run_dags(home, env, console)
    log = home / "airflow" / "demo-logs" / "heitu_transport-stale.log"
    # The files the first run archived are a few seconds old: older than 3.6 ms.
    stale = {**env, "HEITU_DAG_RETRIES": "0", "HEITU_FRESHNESS_HOURS_TRANSPORT": "0.000001"}
    say("airflow dags test heitu_transport, with the transport folder stale")
    code, seconds = demo.run_logged(["airflow", "dags", "test", "heitu_transport"], stale, log)
    if code:
        raise SystemExit(f"heitu_transport failed ({seconds:.0f} s):\n{demo.failure_excerpt(log)}")
    if "STALE" not in log.read_text(encoding="utf-8", errors="replace"):
        raise SystemExit(f"heitu_transport did not alert (no STALE in {log})")
    (home / PREPARED).write_text("made by python -m tests.airflow_screens\n", encoding="utf-8")
    return env


# --- 3 and 4: airflow standalone --------------------------------------------------------------


@contextlib.contextmanager
def standalone(home: Path, env: dict[str, str], port: int) -> Iterator[tuple[str, str, str]]:
    """``airflow standalone`` in its own process group on ``port``, with the demo's login;
    yields (url, user, password) once the UI answers, and stops the whole group after."""
    user, password, passwords = demo.airflow_login(home / "airflow")
    url = f"http://127.0.0.1:{port}"
    env = {
        **env,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        # [api] port is the API server's (UI, REST and execution API) port; base_url makes
        # the task workers of the LocalExecutor call the execution API there too.
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        # The scheduler's and the triggerer's log servers: free ports too, so that a
        # `make airflow` already running (8793, 8794) is no obstacle.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = home / "airflow" / "standalone.log"
    say(f"airflow standalone on {url} (log {log_path})")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(demo.venv_bin() / "airflow"), "standalone"], env=env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(f"the Airflow UI on {url}", lambda: ui_ready(url), proc, log_path, 180)
        yield url, user, password
    finally:
        t = time.perf_counter()
        how = stop_group(proc)
        say(f"airflow standalone stopped ({how}) in {time.perf_counter() - t:.0f} s")


def ui_ready(url: str) -> bool:
    """The UI answers and the API server reports the metadata DB, the scheduler and the DAG
    processor healthy."""
    import httpx

    try:
        health = httpx.get(f"{url}/api/v2/monitor/health", timeout=5)
        page = httpx.get(f"{url}/", timeout=5)
    except httpx.HTTPError:
        return False
    if health.status_code != 200 or page.status_code != 200:
        return False
    return all(
        (health.json().get(c) or {}).get("status") == "healthy"
        for c in ("metadatabase", "scheduler", "dag_processor")
    )


def wait_for(what: str, probe: Callable[[], Any], proc: subprocess.Popen[bytes], log: Path,
             timeout: float) -> Any:  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"airflow standalone exited ({proc.returncode}):\n{tail(log)}")
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}:\n{tail(log)}")
        time.sleep(1)


def stop_group(proc: subprocess.Popen[bytes], grace: float = 30) -> str:
    """Stop ``airflow standalone`` and everything it started; returns the signal that did.

    First SIGINT to standalone alone: it terminates its scheduler, API server, DAG processor
    and triggerer itself (about 15 s). Not to the whole group, as a terminal's Ctrl-C does:
    the scheduler then waits for its LocalExecutor workers, which got the SIGINT too, and
    hangs ("Signal again if you don't want to wait"). Then SIGTERM, then SIGKILL, to the
    group (``start_new_session``: its id is standalone's pid)."""
    steps = ((os.kill, signal.SIGINT, grace), (os.killpg, signal.SIGTERM, 10),
             (os.killpg, signal.SIGKILL, 5))  # fmt: skip
    for send, sig, wait in steps:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            send(proc.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap standalone itself, or it stays in the group as a zombie
            if proc.returncode is not None and not group_alive(proc.pid):
                return sig.name
            time.sleep(0.2)
    return "SIGKILL"


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies, which an init that does not
    reap leaves behind, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after it
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


# --- 3: the screenshots -----------------------------------------------------------------------


def save(png: bytes, path: Path) -> None:
    """256 colours without dithering: the same to the eye, a third of the bytes."""
    from PIL import Image

    shot = Image.open(io.BytesIO(png)).convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    shot.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True
    )
    say(f"wrote {path} ({path.stat().st_size // 1024} KB, {shot.width}x{shot.height})")


def take_screenshots(url: str, user: str, password: str, out: Path) -> None:
    """Log in through the form, then the three pictures; each after what it shows is on screen."""
    from playwright.sync_api import sync_playwright

    api = Api(url, user, password)
    dag_ids = [d["dag_id"] for d in api.get("/dags", tags="heitu", limit=100)["dags"]]
    last = {d: api.last_run(d) for d in dag_ids}
    not_green = {d: r["state"] if r else "no run" for d, r in last.items()
                 if not r or r["state"] != "success"}  # fmt: skip
    if not_green:
        raise SystemExit(
            f"not every heitu DAG's last run is green: {not_green} (a DAG with no run: is it "
            "in traceability.demo.DAG_IDS?)"
        )
    production = last["heitu_production"]["dag_run_id"]
    transport = last["heitu_transport"]["dag_run_id"]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport=VIEWPORT, device_scale_factor=1, color_scheme="light", locale="en-US"
            )
            page = context.new_page()
            page.set_default_timeout(60_000)
            login(page, url, user, password)

            say("DAG list, tag heitu")
            page.goto(f"{url}/dags?tags=heitu")
            page.get_by_role("button", name="Show table view").click()
            rows = page.locator("tbody tr")
            rows.nth(len(dag_ids) - 1).wait_for()
            if rows.count() != len(dag_ids):
                raise SystemExit(f"the DAG list shows {rows.count()} rows, not {len(dag_ids)}")
            shoot(page, out / "airflow-dags.png", fit=page.locator("table"))

            say("heitu_production: the asset event of archive_loaded_files, with its rejects")
            page.goto(f"{url}{task_path('heitu_production', production, 'archive_loaded_files')}"
                      "/asset_events")  # fmt: skip
            editor = open_json(page, "heitu_store_production",
                               unfold=("rejected_files", "rejects"))  # fmt: skip
            editor.get_by_text('"rejects_shown"').wait_for()
            shoot(page, out / "airflow-rejects.png", fit=editor)

            say("heitu_transport: alert_operator of the stale run and its freshness asset event")
            page.goto(f"{url}{task_path('heitu_transport', transport, 'alert_operator')}"
                      "/asset_events")  # fmt: skip
            editor = open_json(page, "heitu_freshness_transport", unfold=("contacts",))
            editor.locator(".view-line", has_text=re.compile(r"is\sSTALE\ssince")).wait_for()
            shoot(page, out / "airflow-stale.png", fit=editor)
        finally:
            browser.close()


class Api:
    """The public REST API (``/api/v2``) with a token from the SimpleAuthManager."""

    def __init__(self, url: str, user: str, password: str) -> None:
        import httpx

        self.url = url
        r = httpx.post(f"{url}/auth/token", json={"username": user, "password": password})
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def get(self, path: str, **params: Any) -> Any:
        import httpx

        r = httpx.get(f"{self.url}/api/v2{path}", params=params, headers=self.headers, timeout=30)
        r.raise_for_status()
        return r.json()

    def last_run(self, dag_id: str) -> dict[str, Any] | None:
        runs = self.get(f"/dags/{dag_id}/dagRuns", order_by="-run_after", limit=1)["dag_runs"]
        return runs[0] if runs else None


def task_path(dag_id: str, run_id: str, task_id: str) -> str:
    return f"/dags/{dag_id}/runs/{quote(run_id, safe=':+')}/tasks/{task_id}"


def login(page: Any, url: str, user: str, password: str) -> None:
    """The SimpleAuthManager's login form (``/auth/login``), as an operator fills it."""
    page.goto(f"{url}/")
    page.wait_for_url("**/auth/login**")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda u: "/auth/login" not in u)
    say(f"logged in as {user}")


def open_json(page: Any, asset: str, unfold: tuple[str, ...]) -> Any:
    """The extra of the asset event of ``asset`` on a task's *Asset Events* tab: the UI shows
    it folded in a small Monaco editor. Unfold the whole object and the ``unfold`` keys (with
    everything in them), and make the editor as tall as its text. Returns the editor."""
    page.get_by_role("link", name=asset, exact=True).first.wait_for()
    editor = page.locator(".monaco-editor").first
    editor.locator(".codicon-folding-collapsed").first.click(force=True)
    # The UI sizes the editor to its text up to 300 px and scrolls inside it, drawing only the
    # lines in view. A stylesheet rule (the UI re-sets the inline height after each unfold)
    # lays it out tall, Monaco follows its container; unfold, then fit it to its lines.
    page.add_style_tag(content=".heitu-shot { height: var(--heitu-shot-height) !important; }")
    box = editor.locator("xpath=../..")
    box.evaluate("e => { e.classList.add('heitu-shot');"
                 " e.style.setProperty('--heitu-shot-height', '4000px'); }")  # fmt: skip
    page.wait_for_timeout(300)
    for key in unfold:
        editor.locator(".view-line", has_text=f'"{key}"').first.click()
        page.keyboard.press("Control+K")
        page.keyboard.press("Control+BracketRight")  # Monaco: unfold recursively
        page.wait_for_timeout(300)
    page.keyboard.press("Escape")
    height = editor.evaluate(
        "e => Math.max(...[...e.querySelectorAll('.view-line')]"
        ".map(l => l.offsetTop + l.offsetHeight))"
    )
    box.evaluate(f"e => e.style.setProperty('--heitu-shot-height', '{height + 6}px')")
    page.wait_for_timeout(300)
    return editor


def shoot(page: Any, path: Path, fit: Any = None) -> None:
    """The viewport, as tall as needed to show ``fit`` whole (the UI scrolls inside its
    panels, so a full-page screenshot would not)."""
    if fit is not None:
        bottom = fit.evaluate("e => e.getBoundingClientRect().bottom")
        height = max(VIEWPORT["height"], int(bottom) + 40)
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.mouse.move(VIEWPORT["width"] - 5, 5)  # no hover effect, no tooltip
    page.evaluate("document.activeElement && document.activeElement.blur()")  # no cursor
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(800)  # the UI's transitions
    save(page.screenshot(), path)
    page.set_viewport_size(VIEWPORT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.airflow_screens", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--home", type=Path, help="HEITU_HOME to use and keep (default: a "
                        "temporary folder, removed afterwards); one this script prepared "
                        "before is used as it is, to iterate on the pictures")  # fmt: skip
    parser.add_argument("--port", type=int, default=0, help="UI port (default: a free one)")
    parser.add_argument("--out", type=Path, default=SHOTS, help="where the PNGs go")
    parser.add_argument("--plots", type=int, default=60, help="plots in the sample season")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the sample season")
    parser.add_argument("--prepare-only", action="store_true",
                        help="steps 1 and 2 only (with --home)")  # fmt: skip
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is not installed (apt-get install chromium)")

    def stop_on_sigterm(*_: Any) -> None:
        raise KeyboardInterrupt  # so that Airflow is stopped and the scratch home removed

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    t = time.perf_counter()
    scratch = args.home is None
    home = (args.home or Path(tempfile.mkdtemp(prefix="heitu-screens-"))).resolve()
    try:
        env = prepare_home(home, args.plots, args.seed)
        say(f"prepared in {time.perf_counter() - t:.0f} s")
        if args.prepare_only:
            return 0
        with standalone(home, env, args.port or free_port()) as (url, user, password):
            take_screenshots(url, user, password, args.out)
    finally:
        if scratch:
            shutil.rmtree(home, ignore_errors=True)
    say(f"done in {time.perf_counter() - t:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
