"""The console in a real browser: headless Chromium (Debian's `chromium`, which `make test`
installs) driven by Playwright's Python package, against the console served by uvicorn over
a world of real claim workflows. A reviewer signs in, opens the pipeline and a claim, and
records a review with the form; an operator sees the periods' chart; a member objects on
the publicity page. Every page is kept as a screenshot in `.artifacts/screenshots/` (or
MUTUALAID_TEST_ARTIFACTS) to be looked at."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from mutualaid.access import ConsoleRole
from mutualaid.claim import ClaimState
from mutualaid.clock import ProgramClock
from tests.console.site import Site, closed_periods
from tests.helpers import free_port
from tests.workflows.claim_support import status_of, wait_until
from workers.console_serve import console_server

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(240)]

CHROMIUM = "/usr/bin/chromium"
# As the machine's notes say: no sandbox as root, no GPU, and no background connections
# (the network is closed, and Chromium would retry them at every start).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = (
    Path(
        os.environ.get(
            "MUTUALAID_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / ".artifacts"
        )
    )
    / "screenshots"
)


@asynccontextmanager
async def served(site: Site) -> AsyncIterator[str]:
    port = free_port()
    server = console_server(site.ctx, host="127.0.0.1", port=port, quiet=True)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
        assert not task.done(), "the console did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), (
        "Debian's chromium is not installed: `make test` installs it (apt-get install chromium)"
    )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(browser: Browser, url: str, token: str, start: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await page.goto(f"{url}{start}")
    if "/login" not in page.url:  # a public page: sign in from its link
        await page.click("header a:has-text('Sign in')")
    await page.fill("input[name=token]", token)
    await page.click("main button:has-text('Sign in')")
    await page.wait_for_url(f"{url}{start}")
    return page


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_a_reviewer_an_operator_and_a_member_use_the_console_in_chromium(
    site: Site,
) -> None:
    world = site.world
    closed_periods(world, [date(2026, 8, 7), date(2026, 8, 21), date(2026, 9, 7)])
    async with world.worker(), served(site) as url, chromium() as browser:
        handles = [await world.report(await world.member()) for _ in range(3)]
        for handle in handles:
            await wait_until(handle, lambda s: s.state is ClaimState.IN_REVIEW)
        claim_id = handles[0].id.removeprefix("claim-")

        reviewer = await sign_in(browser, url, site.tokens[ConsoleRole.REVIEWER], "/claims")
        assert await reviewer.locator("h1").inner_text() == "Claims pipeline"
        assert await reviewer.locator(f"a:has-text('{claim_id}')").count() == 1
        await shot(reviewer, "1-pipeline")
        await reviewer.click(f"a:has-text('{claim_id}')")
        await reviewer.wait_for_url(f"{url}/claims/{claim_id}")
        await shot(reviewer, "2-claim")
        await reviewer.select_option("#review select[name=outcome]", "pass")
        await reviewer.fill("#review textarea[name=reason]", "documents complete")
        await reviewer.click("#review button")
        await reviewer.wait_for_url(f"{url}/claims/{claim_id}?done=review")
        assert "Done: review recorded" in await reviewer.locator(".notice").inner_text()
        await wait_until(handles[0], lambda s: s.state is ClaimState.INVESTIGATING)
        await reviewer.reload()
        assert "review_passed" in await reviewer.locator(".timeline").inner_text()
        await shot(reviewer, "3-claim-after-review")

        operator = await sign_in(browser, url, site.tokens[ConsoleRole.OPERATOR], "/periods")
        chart = operator.locator("svg.chart rect.bar")
        assert await chart.count() == 3
        assert "4.00" in await operator.locator("svg.chart").inner_html()
        await shot(operator, "4-periods-chart")
        await operator.click("a:has-text('period-chronic-2026-09-07')")
        await operator.wait_for_url(f"{url}/periods/chronic/2026-09-07")
        await shot(operator, "5-period")

        # Publicity: a claim approved and listed, the window open; a member objects.
        await publicised(site, handles[1])
        listed = handles[1].id.removeprefix("claim-")
        public = await (await browser.new_context()).new_page()
        await public.goto(f"{url}/publicity")
        assert await public.locator("text=Sign in as a member to object").count() == 1
        await shot(public, "6-publicity-public")
        member = await sign_in(browser, url, site.tokens[ConsoleRole.MEMBER], "/publicity")
        await member.fill("form.objection input[name=reason]", "treated before joining")
        await member.click("form.objection button")
        await member.wait_for_url(f"{url}/publicity?done=objection")
        await shot(member, "7-publicity-objected")
        await wait_until(handles[1], lambda s: s.state is ClaimState.REINVESTIGATING)
        own = await member.goto(f"{url}/me")
        assert own is not None and own.status == 200
        await shot(member, "8-member")
    assert listed
    assert sorted(p.name for p in SHOTS.glob("*.png"))[:8] == [
        "1-pipeline.png",
        "2-claim.png",
        "3-claim-after-review.png",
        "4-periods-chart.png",
        "5-period.png",
        "6-publicity-public.png",
        "7-publicity-objected.png",
        "8-member.png",
    ]


async def publicised(site: Site, handle: object) -> None:
    """Take a claim to its publicity, list it as the period does, and move the console's
    clock to the program moment (the time-skipping server has run ahead)."""
    from tests.workflows.claim_support import to_approved

    world = site.world
    await to_approved(handle)  # type: ignore[arg-type]
    period_id = await world.publicise(handle)  # type: ignore[arg-type]
    status = await status_of(handle)  # type: ignore[arg-type]
    site.ctx.clock = ProgramClock(
        seconds_per_day=Fraction(86400),
        origin_real=datetime.now(UTC),
        origin_program=status.program_now,
    )
    site.list_publicly(
        period_id,
        status.claim_id,
        member_id=status.member_id,
        hospital="Ruijin Hospital, oncology ward 3",
        birth=status.program_now.date() - timedelta(days=40 * 366),
        diagnosed=status.program_now.date(),
        benefit_fen=status.benefit_fen or 0,
        share_fen=415,
    )
