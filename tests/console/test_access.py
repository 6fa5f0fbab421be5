"""Every role against every page and action of the console, on the server: a role the access
rule allows gets past the check (the answer is the page's own: data, 404 for a claim that is
not there, the claim's refusal), the public is asked to sign in (401), any other role is
refused (403). Nothing is decided by what a page shows."""

from __future__ import annotations

import pytest

from mutualaid.access import ALLOWED, ConsoleRole, Page
from tests.console.site import ROLES, Site

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(120)]

GHOST = "no-such-claim"
ENDPOINTS: list[tuple[str, str, Page, dict[str, str] | None]] = [
    ("GET", "/api/publicity", Page.PUBLICITY, None),
    ("POST", "/api/publicity/999999/objection", Page.OBJECT, {"reason": "never treated there"}),
    ("GET", "/api/me", Page.OWN_MEMBER_PAGE, None),
    ("GET", "/api/claims", Page.PIPELINE, None),
    ("GET", f"/api/claims/{GHOST}", Page.CLAIM, None),
    ("POST", f"/api/claims/{GHOST}/review", Page.REVIEW, {"outcome": "pass"}),
    ("POST", f"/api/claims/{GHOST}/investigation", Page.INVESTIGATION, {"summary": "ok"}),
    ("POST", f"/api/claims/{GHOST}/decision", Page.DECISION, {"approve": "yes"}),
    ("GET", "/api/periods", Page.PERIODS, None),
    ("GET", "/api/periods/chronic/2026-12-07", Page.PERIODS, None),
    ("GET", "/metrics", Page.METRICS, None),
]


def test_every_page_and_action_is_in_the_table() -> None:
    assert {page for _, _, page, _ in ENDPOINTS} == set(Page) == set(ALLOWED)


async def test_every_role_against_every_page_and_action(site: Site) -> None:
    answers: dict[tuple[ConsoleRole, str], int] = {}
    for role in ROLES:
        web = site.http(role)
        for method, path, page, form in ENDPOINTS:
            answer = await web.request(method, path, data=form)
            answers[(role, path)] = answer.status_code
            allowed = role in ALLOWED[page]
            if allowed:
                assert answer.status_code not in (401, 403), (role, path, answer.text)
            elif role is ConsoleRole.PUBLIC:
                assert answer.status_code == 401, (role, path, answer.text)
            else:
                assert answer.status_code == 403, (role, path, answer.text)
    # Allowed steps reached the claim itself: Temporal says there is no such claim.
    assert answers[(ConsoleRole.REVIEWER, f"/api/claims/{GHOST}/review")] == 400
    assert answers[(ConsoleRole.MEMBER, "/api/publicity/999999/objection")] == 404
    assert answers[(ConsoleRole.OPERATOR, f"/api/claims/{GHOST}")] == 404


async def test_a_page_for_signed_in_users_sends_the_public_to_sign_in(site: Site) -> None:
    public = site.http()
    for path in ("/claims", "/periods", "/me"):
        answer = await public.get(path, headers={"Accept": "text/html"})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next=%2F{path[1:]}"
    assert (await public.get("/publicity")).status_code == 200
    assert (await public.get("/healthz")).json() == {"ok": True, "database": "ok"}


@pytest.mark.parametrize("token", ["", "ma_not-a-token", "x" * 500])
async def test_an_unknown_token_is_the_public(site: Site, token: str) -> None:
    web = site.http(token=token or None)
    web.headers["Authorization"] = f"Bearer {token}"
    assert (await web.get("/api/claims")).status_code == 401
    assert (await web.get("/api/publicity")).status_code == 200


async def test_a_revoked_token_no_longer_signs_in(site: Site) -> None:
    from datetime import UTC, datetime

    from infra.db import reading, unit_of_work
    from infra.repositories import ConsoleUserRepository

    token = site.tokens[ConsoleRole.OPERATOR]
    web = site.http(ConsoleRole.OPERATOR)
    assert (await web.get("/api/periods")).status_code == 200
    with reading(site.world.engine) as session:
        user = ConsoleUserRepository(session).by_token(token)
    assert user is not None
    with unit_of_work(site.world.engine) as session:
        assert ConsoleUserRepository(session).revoke(user.name, at=datetime.now(UTC))
    assert (await web.get("/api/periods")).status_code == 401


async def test_every_answer_forbids_caching_and_framing(site: Site) -> None:
    for path in ("/publicity", "/api/claims", "/login"):
        answer = await site.http(ConsoleRole.REVIEWER).get(path)
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert (await site.http().head("/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/api/claims/x-1/review", {}),
        ("/api/claims/x-1/decision", {"approve": "perhaps"}),
        ("/api/claims/x-1/investigation", {"summary": "ok", "diagnosis_confirmed": "yes"}),
        ("/api/publicity/abc/objection", {"reason": "r"}),
    ],
)
async def test_a_malformed_step_is_refused_after_the_access_check(
    site: Site, path: str, form: dict[str, str]
) -> None:
    """The public is asked to sign in before any field is looked at; a role that may take
    the step hears which field is wrong, one line, before anything is sent."""
    assert (await site.http().post(path, data=form)).status_code == 401
    role = {
        "review": ConsoleRole.REVIEWER,
        "decision": ConsoleRole.REVIEWER,
        "investigation": ConsoleRole.INVESTIGATOR,
        "objection": ConsoleRole.MEMBER,
    }[path.rsplit("/", 1)[1]]
    answer = await site.http(role).post(path, data=form)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith("error: ") and "\n" not in answer.json()["error"]
