"""The bureau's portal (``/bureau``): people sign in through the province's identity provider.

OpenID Connect, authorization code flow with PKCE (S256), through authlib. The office comes
from the provider's claims, read from the **userinfo** endpoint (where providers put custom
claims such as the region code; the ID token usually carries only who signed in):
``HEITU_OIDC_REGION_CLAIM`` (default ``region``: one code, or a list) and
``HEITU_OIDC_ROLE_CLAIM`` (default ``role``). A person whose claims make no valid office is
refused (403), never let in with a guessed one.

Settings: ``HEITU_OIDC_ISSUER`` (its ``/.well-known/openid-configuration`` is read),
``HEITU_OIDC_CLIENT_ID``, ``HEITU_OIDC_CLIENT_SECRET``, ``HEITU_OIDC_SCOPE`` (default
``openid profile heitu``), ``HEITU_SESSION_SECRET`` (signs the session cookie; every worker
must share it, so it is required when sign-in is configured).
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from traceability.access import AccessError, Office, check_office

__all__ = ["oidc_settings", "router"]

router = APIRouter(prefix="/bureau", tags=["portal"], include_in_schema=False)


def oidc_settings() -> dict[str, str] | None:
    """The provider's settings from the environment, or None when sign-in is not set up."""
    issuer = os.environ.get("HEITU_OIDC_ISSUER", "").strip()
    if not issuer:
        return None
    settings = {
        "issuer": issuer.rstrip("/"),
        "client_id": os.environ.get("HEITU_OIDC_CLIENT_ID", "").strip(),
        "client_secret": os.environ.get("HEITU_OIDC_CLIENT_SECRET", "").strip(),
        "scope": os.environ.get("HEITU_OIDC_SCOPE", "openid profile heitu").strip(),
        "region_claim": os.environ.get("HEITU_OIDC_REGION_CLAIM", "region").strip(),
        "role_claim": os.environ.get("HEITU_OIDC_ROLE_CLAIM", "role").strip(),
        "session_secret": os.environ.get("HEITU_SESSION_SECRET", "").strip(),
    }
    missing = [k for k in ("client_id", "client_secret", "session_secret") if not settings[k]]
    if missing:
        names = ", ".join(
            "HEITU_SESSION_SECRET" if m == "session_secret" else f"HEITU_OIDC_{m.upper()}"
            for m in missing
        )
        raise RuntimeError(f"HEITU_OIDC_ISSUER is set but {names} is not")
    return settings


def _oauth(request: Request) -> Any:
    oauth = getattr(request.app.state, "oauth", None)
    if oauth is None:
        raise HTTPException(503, "sign-in is not configured (HEITU_OIDC_ISSUER)")
    return oauth


def office_from_claims(claims: dict[str, Any], settings: dict[str, str]) -> Office:
    """The office a person's claims describe; AccessError when they describe none."""
    raw = claims.get(settings["region_claim"])
    regions = [str(r) for r in raw] if isinstance(raw, list) else [str(raw or "")]
    role = str(claims.get(settings["role_claim"]) or "")
    codes = check_office(role, regions)
    who = str(claims.get("name") or claims.get("preferred_username") or claims.get("sub"))
    return Office(who, role, codes, "oidc")


def csrf_token(request: Request) -> str:
    """The session's token that every state-changing form sends back."""
    session = request.scope.get("session")
    if session is None:
        return ""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


@router.get("/login")
async def login(request: Request) -> Response:
    oauth = _oauth(request)
    redirect_uri = str(request.url_for("auth_callback"))
    return await oauth.heitu.authorize_redirect(request, redirect_uri)  # type: ignore[no-any-return]


@router.get("/auth", name="auth_callback")
async def auth_callback(request: Request) -> Response:
    from authlib.integrations.base_client.errors import OAuthError

    oauth = _oauth(request)
    try:
        token = await oauth.heitu.authorize_access_token(request)
        claims = await oauth.heitu.userinfo(token=token)
    except OAuthError as exc:
        return HTMLResponse(f"<p>sign-in failed: {exc.error}</p>", status_code=400)
    try:
        office = office_from_claims(dict(claims), request.app.state.oidc)
    except AccessError as exc:
        return HTMLResponse(f"<p>no office for this account: {exc}</p>", status_code=403)
    request.session["office"] = {
        "who": office.who,
        "role": office.role,
        "regions": list(office.regions),
        "sub": str(claims.get("sub", "")),
    }
    return RedirectResponse("/bureau", status_code=303)


@router.get("/logout")
async def logout(request: Request) -> Response:
    """Ends the portal's session (not the identity provider's: signing in again may then go
    through without a password, as single sign-on does)."""
    request.session.clear()
    return HTMLResponse(
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>已退出 / Signed out'
        '</title><p>已退出监管门户。 <span lang="en">Signed out.</span></p>'
        '<p><a href="/bureau/login">重新登录 / Sign in again</a></p></html>'
    )


@router.get("")
async def home(request: Request) -> Response:
    office = getattr(request.state, "office", None)
    if office is None:
        return RedirectResponse("/bureau/login", status_code=303)
    render = request.app.state.render_portal
    return HTMLResponse(render("portal_home.html", office=office, csrf=csrf_token(request)))
