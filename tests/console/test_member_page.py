"""A member's own page against the files: after a real lock, debit and retry, the shares it
lists are the member's rows in every ledger (read here independently), its family is the
account's members in the store, and nobody else's page is reachable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import httpx
import pyarrow.parquet as pq
from sqlalchemy import Engine
from temporalio.client import Client

from console.app import ConsoleContext, create_app
from infra.config import Settings
from infra.db import unit_of_work
from infra.plans import builtin_plan_sources
from infra.repositories import ConsoleUserRepository
from mutualaid.access import ConsoleRole
from mutualaid.clock import ProgramClock
from mutualaid.errors import InputError
from mutualaid.money import format_fen_grouped
from settlement.engine import debit, lock_roster, retry
from settlement.store import MemberStore
from tests.settlement.conftest import LATER, fresh_db, small_settlement

OCT_7, OCT_14 = date(2026, 10, 7), date(2026, 10, 14)
__all__ = ["fresh_db"]  # the fixture, used by name


async def no_temporal() -> Client:
    raise InputError("MUTUALAID_TEMPORAL_ADDRESS", "nowhere", "not in this test")


async def test_a_member_sees_every_share_and_the_family_as_the_files_hold_them(
    fresh_db: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=2_000, shards=2)
    lock_roster(ctx, OCT_7, now=LATER)
    debit(ctx, OCT_14, aid_fen=4_000_000, now=LATER)
    retry(ctx, OCT_14, now=LATER)
    store = MemberStore.open(str(root), "chronic")
    shard = store.shard_of(1)
    ledgers = [
        row
        for path in sorted((root / "chronic" / "ledgers").rglob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    # A family payer with attached members, one of whom owed in a retry if any did.
    head = pq.read_table(
        store.base_path(store.manifest(store.head()), store.manifest(store.head()).shards[shard])
    ).to_pylist()
    payers = {r["payer_id"] for r in head if r["payer_id"] != r["member_id"]}
    member = min(payers)
    family = sorted(
        r["member_id"] for r in head if r["payer_id"] == member and r["member_id"] != member
    )
    with unit_of_work(fresh_db) as session:
        users = ConsoleUserRepository(session)
        token = users.add(
            "m-payer", ConsoleRole.MEMBER, at=LATER, plan_id="chronic", member_id=member
        )
    app = create_app(
        ConsoleContext(
            settings=Settings(state_dir=tmp_path / "state", store_root=str(root)),
            engine=fresh_db,
            plans={s.plan.id: s.plan for s in builtin_plan_sources()},
            clock=ProgramClock(
                seconds_per_day=Fraction(86400), origin_real=LATER, origin_program=LATER
            ),
            connect=no_temporal,
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://console.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as web:
        page = (await web.get("/api/me")).json()
        html = (await web.get("/me")).text
    assert page["member"] == member and page["pays_for_self"]
    assert [m["member"] for m in page["family"]] == family
    mine = sorted((r for r in ledgers if r["member_id"] == member), key=lambda r: r["attempt"])
    assert mine, "the member is on the roster"
    assert [(s["attempt"], s["charged"], s["paid"], s["unpaid"]) for s in page["shares"]] == [
        (
            r["attempt"],
            format_fen_grouped(r["charge_fen"]),
            format_fen_grouped(r["paid_fen"]),
            format_fen_grouped(r["unpaid_fen"]),
        )
        for r in mine
    ]
    assert all(s["period"] == "period-chronic-2026-10-07" for s in page["shares"])
    assert page["waiting_period_ends"] and page["benefit_today"]
    assert "My membership" in html and str(member) in html


async def test_a_debit_shows_its_progress_from_the_done_markers(
    fresh_db: Engine, tmp_path: Path
) -> None:
    """A run's progress is its shards' done markers: after the first shard of a killed run
    one of two, after the whole run every shard and every member on the roster."""
    from settlement.progress import debit_progress

    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=2_000, shards=2)
    locked = lock_roster(ctx, OCT_7, now=LATER)
    before = debit_progress(str(root), "chronic", OCT_7, 0, shards=2)
    assert (before.shards_done, before.shards, before.members_done) == (0, 2, 0)
    debit(ctx, OCT_14, aid_fen=4_000_000, now=LATER)
    after = debit_progress(str(root), "chronic", OCT_7, 0, shards=2)
    assert (after.shards_done, after.members_done) == (2, locked.members)
    # One marker gone, as if the run were still at work on that shard.
    marker = next((root / "chronic" / "ledgers" / "2026-10-07" / "attempt-0").glob("*.done"))
    marker.unlink()
    half = debit_progress(str(root), "chronic", OCT_7, 0, shards=2)
    assert half.shards_done == 1 and 0 < half.members_done < locked.members


async def test_a_running_debit_shows_shards_members_and_pace_on_its_period_page(
    fresh_db: Engine, tmp_path: Path
) -> None:
    """The run as it stands between its plan being frozen and its commit (PLANNED in SQL,
    one shard's done marker written): the period page shows 1 of 2 shards, its members and
    a pace."""
    from sqlalchemy import update

    from infra.models import DebitRunRow
    from infra.states import DebitRunState

    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=2_000, shards=2)
    lock_roster(ctx, OCT_7, now=LATER)
    debit(ctx, OCT_14, aid_fen=4_000_000, now=LATER)
    next((root / "chronic" / "ledgers" / "2026-10-07" / "attempt-0").glob("*.done")).unlink()
    with unit_of_work(fresh_db) as session:
        session.execute(update(DebitRunRow).values(state=DebitRunState.PLANNED, committed_at=None))
        token = ConsoleUserRepository(session).add("ops", ConsoleRole.OPERATOR, at=LATER)
    # The deployment's clock: the run was planned (at LATER) a minute ago, real time.
    clock = ProgramClock(
        seconds_per_day=Fraction(86400),
        origin_real=datetime.now(UTC) - timedelta(minutes=1),
        origin_program=LATER,
    )
    app = create_app(
        ConsoleContext(
            settings=Settings(state_dir=tmp_path / "state", store_root=str(root)),
            engine=fresh_db,
            plans={s.plan.id: s.plan for s in builtin_plan_sources()},
            clock=clock,
            connect=no_temporal,
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://console.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as web:
        run = (await web.get("/api/periods/chronic/2026-10-07")).json()["runs"][0]
        page = (await web.get("/periods/chronic/2026-10-07")).text
        metrics = (await web.get("/metrics")).text
    progress = run["progress"]
    assert (progress["shards_done"], progress["shards"]) == (1, 2)
    assert 0 < progress["members_done"] < 2_000
    # About the shard's members over the minute since the plan was frozen.
    assert 0 < progress["members_per_second"] <= progress["members_done"]
    assert "1/2 shards" in page and "a second" in page
    assert 'mutualaid_debit_shards{attempt="0",kind="done",period="period-chronic-2026-10-07"' in (
        metrics
    )
