"""A console over a real claims world for the tests: the app (served in-process over ASGI,
or by uvicorn for the browser), a database with registered console users of every role, a
worker of real claim workflows on the time-skipping server, and planted claims."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from console.app import ConsoleContext, create_app
from infra.config import Settings
from infra.db import unit_of_work
from infra.repositories import ConsoleUserRepository, PublicityRepository
from infra.repositories.periods import PublicityEntry
from mutualaid.access import ConsoleRole
from mutualaid.calendar import age_on
from mutualaid.clock import ProgramClock
from mutualaid.masking import mask_hospital, mask_id_number
from tests.workflows.claim_support import PLANS, World

ROLES = tuple(ConsoleRole)


@dataclass(kw_only=True)
class Site:
    world: World
    ctx: ConsoleContext
    tokens: dict[ConsoleRole, str]
    member_id: int
    other_member_token: str
    other_member_id: int
    base_url: str = "http://console.test"
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def app(self) -> Any:
        return create_app(self.ctx)

    def http(
        self, role: ConsoleRole | None = None, *, token: str | None = None
    ) -> httpx.AsyncClient:
        """A client of the app, signed in as a role with a bearer token (None: the public)."""
        headers = {}
        chosen = token or (self.tokens.get(role) if role is not None else None)
        if chosen:
            headers["Authorization"] = f"Bearer {chosen}"
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=self.base_url, headers=headers
        )
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()

    def list_publicly(
        self,
        period_id: int,
        claim_id: str,
        *,
        member_id: int,
        hospital: str,
        birth: Any,
        diagnosed: Any,
        benefit_fen: int,
        share_fen: int,
    ) -> None:
        """Publish a case on the period's list as the period's activity does (masked)."""
        with unit_of_work(self.world.engine) as session:
            PublicityRepository(session).publish(
                period_id,
                [
                    PublicityEntry(
                        claim_id=claim_id,
                        masked_member=mask_id_number(f"{member_id:08d}"),
                        age=age_on(birth, diagnosed),
                        condition="malignant tumour",
                        hospital=mask_hospital(hospital),
                        benefit_fen=benefit_fen,
                    )
                ],
                share_fen=share_fen,
                at=datetime.now(UTC),
            )


def add_users(
    world: World, member_id: int, other_member_id: int
) -> tuple[dict[ConsoleRole, str], str]:
    suffix = uuid.uuid4().hex[:6]
    tokens: dict[ConsoleRole, str] = {}
    with unit_of_work(world.engine) as session:
        users = ConsoleUserRepository(session)
        now = datetime.now(UTC)
        for role in (ConsoleRole.REVIEWER, ConsoleRole.INVESTIGATOR, ConsoleRole.OPERATOR):
            tokens[role] = users.add(f"{role.value}-{suffix}", role, at=now)
        tokens[ConsoleRole.MEMBER] = users.add(
            f"member-{suffix}", ConsoleRole.MEMBER, at=now, plan_id="chronic", member_id=member_id
        )
        other = users.add(
            f"other-{suffix}",
            ConsoleRole.MEMBER,
            at=now,
            plan_id="chronic",
            member_id=other_member_id,
        )
    return tokens, other


@asynccontextmanager
async def console_site(
    world: World, tmp_path: Path, *, client: Client | None = None
) -> AsyncIterator[Site]:
    member_id = await world.member(age=40)
    other_member_id = await world.member(age=50)
    tokens, other = add_users(world, member_id, other_member_id)
    program_now = await world.now()
    the_client = client or world.client

    async def connect() -> Client:
        return the_client

    ctx = ConsoleContext(
        settings=Settings(state_dir=tmp_path / "state", store_root=world.store_root),
        engine=world.engine,
        plans=dict(PLANS),
        clock=ProgramClock(
            seconds_per_day=Fraction(86400),
            origin_real=datetime.now(UTC),
            origin_program=program_now,
        ),
        connect=connect,
    )
    site = Site(
        world=world,
        ctx=ctx,
        tokens=tokens,
        member_id=member_id,
        other_member_token=other,
        other_member_id=other_member_id,
    )
    try:
        yield site
    finally:
        await site.close()


def closed_periods(world: World, days: list[Any], *, members: int = 1_000_000) -> None:
    """Periods closed with their money, as the period workflow leaves them (for the chart):
    shares of 3.00, 3.50, ... yuan, each collected but for a little unpaid."""
    from infra.repositories import PeriodRepository
    from mutualaid.share import Share

    with unit_of_work(world.engine) as session:
        periods = PeriodRepository(session)
        for n, day in enumerate(days):
            period, _ = periods.open("chronic", day, rules_version="v1", at=datetime.now(UTC))
            share_fen = 300 + 50 * n
            aid = share_fen * members * 100 // 108
            periods.record_share(
                period,
                Share(
                    members=members,
                    aid_fen=aid,
                    fee_fen=aid * 8 // 100,
                    surplus_in_fen=0,
                    need_fen=aid + aid * 8 // 100,
                    share_fen=share_fen,
                ),
            )
            periods.close(
                period,
                collected_fen=share_fen * (members - 1000),
                unpaid_fen=share_fen * 1000,
                subsidy_fen=0,
                surplus_out_fen=share_fen * (members - 1000) - aid - aid * 8 // 100,
                report={"cases": 20 + n, "balanced": True},
                at=datetime.now(UTC),
            )
