"""Who is asking: the console user holding the request's token (a session cookie set at
sign-in, or `Authorization: Bearer` for scripts and Prometheus), else the public.

Forms are CSRF-safe three ways: the cookie is SameSite=Strict and HttpOnly; every form
that changes something carries a token derived from the session's own secret (an HMAC of
"csrf" under the session token, which a page of another site can neither read nor compute);
and a POST whose Origin names another site is refused before anything else."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy import Engine

from infra.db import reading
from infra.repositories import ConsoleUserRepository
from mutualaid.access import ConsoleRole, Page, may

SESSION_COOKIE = "mutualaid_session"


class NotSignedInError(Exception):
    """A page for signed-in users, asked by the public: sign in first (401)."""


class ForbiddenError(Exception):
    """A signed-in user whose role may not use this page or action (403)."""


class CsrfError(Exception):
    """A form without its session's CSRF token, or posted from another site (403)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Viewer:
    role: ConsoleRole
    name: str | None = None
    plan_id: str | None = None
    member_id: int | None = None
    token: str | None = None
    by_cookie: bool = False

    @property
    def csrf(self) -> str:
        return csrf_token(self.token) if self.token else ""


PUBLIC = Viewer(role=ConsoleRole.PUBLIC)


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"csrf", hashlib.sha256).hexdigest()


def request_token(request: Request) -> tuple[str | None, bool]:
    """The request's token and whether it came in the cookie (forms need CSRF then)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def viewer_for(engine: Engine, token: str | None, *, by_cookie: bool) -> Viewer:
    if not token or len(token) > 200:
        return PUBLIC
    with reading(engine) as session:
        user = ConsoleUserRepository(session).by_token(token)
    if user is None:
        return PUBLIC
    return Viewer(
        role=user.role,
        name=user.name,
        plan_id=user.plan_id,
        member_id=user.member_id,
        token=token,
        by_cookie=by_cookie,
    )


def require(viewer: Viewer, page: Page) -> Viewer:
    """The viewer, when its role may use the page; else why not (never a silent empty)."""
    if may(viewer.role, page):
        return viewer
    if viewer.role is ConsoleRole.PUBLIC:
        raise NotSignedInError(page.value)
    raise ForbiddenError(f"a {viewer.role.value} may not use {page.value}")


def check_form(
    request: Request, viewer: Viewer, submitted: str | None, *, signing_in: bool = False
) -> None:
    """A state-changing form: same-site, and with the session's CSRF token when the session
    came in a cookie (a bearer token is not sent by a browser on its own). Signing in has no
    session yet, so it must prove it comes from this site by its Origin (or Referer)."""
    source = request.headers.get("origin") or (
        request.headers.get("referer") if signing_in else None
    )
    if source is not None and not _same_site(source, request):
        raise CsrfError("the form was posted from another site")
    if signing_in and source is None:
        raise CsrfError("a sign-in must come from this site's own form")
    if viewer.by_cookie and not (
        submitted
        and viewer.token
        and hmac.compare_digest(submitted.encode(), csrf_token(viewer.token).encode())
    ):
        raise CsrfError("the form's CSRF token is missing or wrong; reload the page")


def _same_site(source: str, request: Request) -> bool:
    """Whether an Origin or Referer names this site: scheme and host, case aside."""
    if source == "null":
        return False
    parts = urlsplit(source)
    host = (request.headers.get("host") or "").lower()
    return parts.scheme == request.url.scheme and parts.netloc.lower() == host


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
