"""A real OpenID provider for the tests: tests/oidc/provider.mjs (oidc-provider 8.x) in node.

    provider = start_provider(
        {"alice": {"name": "Alice", "region": "230184", "role": "county"}},
        ["http://127.0.0.1:8000/bureau/auth"],
    )
    try:
        ...  # HEITU_OIDC_ISSUER=provider.issuer, HEITU_OIDC_CLIENT_ID=provider.client_id, ...
    finally:
        provider.stop()

(or ``with start_provider(...) as provider:``). The provider listens on 127.0.0.1 on a free
port. A person signs in on its login page with a login name from ``accounts`` and any
password; ``name`` comes with scope ``profile``, ``region`` and ``role`` with scope ``heitu``,
from the userinfo endpoint only (the ID token carries ``sub`` alone). See tests/oidc/README.md.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = ["Provider", "start_provider"]

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "oidc" / "provider.mjs"
PACKAGE = ROOT / "node_modules" / "oidc-provider"


@dataclass
class Provider:
    """A running provider: its issuer and the one client registered with it."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path = field(repr=False)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def output(self) -> str:
        """What the provider printed so far (stdout and stderr), for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Terminate the provider (killed if it has not exited within 5 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_provider(
    accounts: dict[str, dict[str, Any]],
    redirect_uris: list[str],
    client_id: str = "heitu-portal",
    client_secret: str | None = None,
    *,
    consent: bool = False,
    timeout: float = 30.0,
) -> Provider:
    """Start the provider and wait until its discovery document answers.

    ``accounts`` maps a login name to its claims (``name``, ``region``, ``role``; any may be
    left out). ``consent=True`` shows oidc-provider's consent page after the login page;
    by default the portal, a first-party client, gets its scopes without one.
    """
    if not (PACKAGE / "package.json").exists():
        raise RuntimeError(f"{PACKAGE} is missing: run `npm ci` in {ROOT} (`make test` does)")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH: the OpenID provider of the tests needs Node.js")
    if not redirect_uris:
        raise ValueError("the client needs at least one redirect URI")
    client_secret = client_secret or secrets.token_urlsafe(24)
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": client_secret,
        "OIDC_REDIRECT_URIS": ",".join(redirect_uris),
        "OIDC_ACCOUNTS": json.dumps(accounts),
        "OIDC_CONSENT": "prompt" if consent else "skip",
        "OIDC_WATCH_STDIN": "1",
    }
    # Output to a file, not a pipe: nobody reads a pipe while the tests run, and a full one
    # would block the provider.
    fd, log_name = tempfile.mkstemp(prefix="oidc-provider-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=ROOT,
            env=env,
            # a pipe nobody writes to: the provider exits when it closes (OIDC_WATCH_STDIN),
            # that is when this process ends, even if it ends without calling stop()
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    provider = Provider(
        issuer, client_id, client_secret, list(redirect_uris), process, Path(log_name)
    )
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while True:
        if process.poll() is not None:
            out = provider.output()
            provider.stop()
            raise RuntimeError(f"the OpenID provider exited with code {process.returncode}:\n{out}")
        try:
            response = httpx.get(provider.discovery_url, timeout=2)
            if response.status_code == 200:
                return provider
            last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last_error = repr(exc)
        if time.monotonic() > deadline:
            out = provider.output()
            provider.stop()
            raise RuntimeError(
                f"the OpenID provider at {issuer} did not answer {provider.discovery_url} "
                f"within {timeout:.0f} s ({last_error}); its output:\n{out}"
            )
        time.sleep(0.1)
