"""A claim worked from the console, through the claims' own Temporal Updates and
validators: review, findings and decision by signed-in staff, an objection by a member on the
publicity page; refusals come back as the claim's own reason, and a form without its
session's CSRF token or from another site changes nothing."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import httpx
import pytest

from infra.db import unit_of_work
from infra.repositories import ConsoleUserRepository
from mutualaid.access import ConsoleRole
from mutualaid.claim import ClaimState
from mutualaid.clock import ProgramClock
from tests.console.site import Site
from tests.workflows.claim_support import status_of, wait_until

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(120)]


async def signed_in(site: Site, role: ConsoleRole) -> httpx.AsyncClient:
    """A browser-like session: signed in through the form, the token kept in the cookie."""
    web = site.http()
    form = {"token": site.tokens[role], "next": "/claims"}
    # A sign-in must come from the site's own form (its Origin), not from anywhere.
    assert (await web.post("/login", data=form)).status_code == 403
    evil = {"Origin": "http://evil.example"}
    assert (await web.post("/login", data=form, headers=evil)).status_code == 403
    answer = await web.post("/login", data=form, headers={"Origin": site.base_url})
    assert answer.status_code == 303 and answer.headers["location"] == "/claims"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    return web


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found is not None, "the page carries no CSRF token"
    return found[1]


async def test_staff_take_a_claim_from_review_to_approval_and_a_member_objects(
    site: Site,
) -> None:
    world = site.world
    async with world.worker():
        applicant = await world.member(age=45)
        handle = await world.report(applicant)
        claim_id = handle.id.removeprefix("claim-")
        await wait_until(handle, lambda s: s.state is ClaimState.IN_REVIEW)

        reviewer = await signed_in(site, ConsoleRole.REVIEWER)
        page = (await reviewer.get(f"/claims/{claim_id}")).text
        assert 'id="review"' in page and 'id="decision"' not in page
        token = csrf_of(page)
        # No token, a wrong one, another site: refused, and the claim has not moved.
        for form, headers in (
            ({"outcome": "pass"}, {}),
            ({"outcome": "pass", "csrf": "0" * 64}, {}),
            ({"outcome": "pass", "csrf": token}, {"Origin": "http://evil.example"}),
            ({"outcome": "pass", "csrf": "é" * 64}, {}),
        ):
            answer = await reviewer.post(f"/claims/{claim_id}/review", data=form, headers=headers)
            assert answer.status_code == 403, answer.text
        assert (await status_of(handle)).state is ClaimState.IN_REVIEW
        # A step the claim refuses comes back with the claim's own reason, one line.
        refused = await reviewer.post(
            f"/claims/{claim_id}/decision", data={"approve": "yes", "csrf": token}
        )
        assert refused.status_code == 409
        assert "decide refused" in refused.text
        # Bad input is named: field and value.
        bad = await reviewer.post(
            f"/claims/{claim_id}/review", data={"outcome": "maybe", "csrf": token}
        )
        assert bad.status_code == 400 and "outcome=&#39;maybe&#39;" in bad.text

        done = await reviewer.post(
            f"/claims/{claim_id}/review", data={"outcome": "pass", "csrf": token}
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/claims/{claim_id}?done=review"
        await wait_until(handle, lambda s: s.state is ClaimState.INVESTIGATING)

        investigator = site.http(ConsoleRole.INVESTIGATOR)
        found = await investigator.post(
            f"/api/claims/{claim_id}/investigation",
            data={
                "summary": "hospital records match",
                "diagnosis_confirmed": "yes",
                "declaration_consistent": "yes",
            },
        )
        assert found.status_code == 200, found.text
        assert found.json()["state"] == "AwaitingDecision"

        decided = await site.http(ConsoleRole.REVIEWER).post(
            f"/api/claims/{claim_id}/decision", data={"approve": "yes"}
        )
        assert decided.json()["state"] == "AwaitingPublicity"
        detail = (await site.http(ConsoleRole.OPERATOR).get(f"/api/claims/{claim_id}")).json()
        by_event = {e["event"]: e["actor"] for e in detail["timeline"]}
        assert by_event["review_passed"].startswith("reviewer-")
        assert by_event["findings_recorded"].startswith("investigator-")
        assert by_event["approved"].startswith("reviewer-")
        assert detail["workflow_url"].endswith(f"/workflows/claim-{claim_id}")

        # Publicity: the period lists the case; the public sees it masked with the window open.
        period_id = await world.publicise(handle)
        status = await status_of(handle)
        site.ctx.clock = ProgramClock(
            seconds_per_day=Fraction(86400),
            origin_real=datetime.now(UTC),
            origin_program=status.program_now,
        )
        site.list_publicly(
            period_id,
            claim_id,
            member_id=applicant,
            hospital="Peking Union Medical College Hospital",
            birth=status.program_now.date() - timedelta(days=45 * 366),
            diagnosed=status.program_now.date(),
            benefit_fen=status.benefit_fen or 0,
            share_fen=123,
        )
        public = site.http()
        listed = (await public.get("/api/publicity")).json()["lists"][0]
        assert listed["objections_open"] and listed["provisional_share"] == "1.23"
        assert len(listed["cases"]) == 1
        # The public list names the case by its number, never by the claim's id.
        assert claim_id not in str(listed) and str(applicant) not in str(listed)
        case = listed["cases"][0]["case"]
        refused_public = await public.post(
            f"/publicity/{case}/objection", data={"reason": "seen him running"}
        )
        assert refused_public.status_code == 401
        # A member of another plan may not object to this plan's cases (nor pose as the
        # member with the same id in this plan).
        with unit_of_work(world.engine) as session:
            other_plan = ConsoleUserRepository(session).add(
                f"major-{site.member_id}",
                ConsoleRole.MEMBER,
                at=datetime.now(UTC),
                plan_id="major",
                member_id=site.member_id,
            )
        crossed = await site.http(token=other_plan).post(
            f"/api/publicity/{case}/objection", data={"reason": "not my plan"}
        )
        assert crossed.status_code == 403
        objection = await site.http(ConsoleRole.MEMBER).post(
            f"/api/publicity/{case}/objection", data={"reason": "treated before joining"}
        )
        assert objection.status_code == 200, objection.text
        assert objection.json()["state"] == "Reinvestigating"
        detail = (await site.http(ConsoleRole.REVIEWER).get(f"/api/claims/{claim_id}")).json()
        assert detail["state"] == "Reinvestigating"
        assert detail["timeline"][-1]["note"] == "treated before joining"


async def test_two_reviews_sent_at_once_move_the_claim_once(dev_site: Site) -> None:
    """Two staff (or one double click) send the same step at the same moment: the claim's own
    lock takes one, the other is refused with the claim's reason, and the history holds one
    review. On the real dev server (see `dev_site`)."""
    site = dev_site
    world = site.world
    async with world.worker():
        handle = await world.report(await world.member(age=38))
        claim_id = handle.id.removeprefix("claim-")
        await wait_until(handle, lambda s: s.state is ClaimState.IN_REVIEW)
        reviewer = site.http(ConsoleRole.REVIEWER)
        answers = await asyncio.gather(
            *(
                reviewer.post(
                    f"/api/claims/{claim_id}/review", data={"outcome": "pass", "reason": said}
                )
                for said in ("first click", "second click")
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        detail = (await site.http(ConsoleRole.OPERATOR).get(f"/api/claims/{claim_id}")).json()
        reviews = [e for e in detail["timeline"] if e["event"].startswith("review_")]
        assert len(reviews) == 1
        moved = next(a for a in answers if a.status_code == 200).json()["state"]
        assert detail["state"] == moved == (await status_of(handle)).state.value
