"""The period's activities heartbeat while they make progress, however long one shard takes,
and stop once no shard has finished for the stall limit (so Temporal retries a hung step);
the list steps (gather, publish, ...) heartbeat too. Run in Temporal's activity environment
with the real engine, member store and SQLite."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment

from activities import heartbeats
from activities.periods import PeriodActivities
from infra.db import unit_of_work
from infra.repositories import MemberChangeRepository
from messages import periods as msg
from mutualaid.calendar import next_publicity_day, roster_cutoff
from mutualaid.membership import ChangeKind, MemberChange
from settlement.executor import InlineExecutor
from tests.workflows.claim_support import PLANS, migrated_sqlite
from tests.workflows.test_period import empty_population


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = migrated_sqlite(str(tmp_path / "beats.db"))
    yield engine
    engine.dispose()


@pytest.fixture
def fast_pulse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heartbeats, "PULSE_EVERY_S", 0.05)
    monkeypatch.setattr(heartbeats, "STALL_AFTER_S", 0.6)


def slow_shards(seconds: float, *, hang_after: int | None = None) -> Callable[[], Any]:
    """Shards that take `seconds` each; with `hang_after`, the shard after that many hangs
    for longer than the stall limit before it finishes."""

    class Slow(InlineExecutor):
        def map(
            self, task: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, on_done: Any = None
        ) -> list[dict[str, Any]]:
            results = []
            for index, call in enumerate(args):
                time.sleep(2.0 if hang_after is not None and index == hang_after else seconds)
                results.append(task(*call))
                if on_done is not None:
                    on_done(index + 1, len(args))
            return results

    return Slow


def lock_request(engine: Engine) -> msg.LockRequest:
    """Eight members joined a month before the next publicity day; the lock request for it."""
    day = next_publicity_day(datetime.now(UTC))
    with unit_of_work(engine) as session:
        changes = MemberChangeRepository(session)
        for member in range(1, 9):
            changes.queue(
                MemberChange(
                    plan_id="chronic",
                    member_id=member,
                    kind=ChangeKind.JOIN,
                    effective_on=day - timedelta(days=30),
                    birth_date=day.replace(year=day.year - 30),
                    chronic_groups=(1,),
                    payer_id=None,
                ),
                change_key=f"beats-join-{member}",
                at=datetime.now(UTC),
            )
    return msg.LockRequest(plan_id="chronic", publicity_date=day, now=roster_cutoff(day))


def heartbeats_of(run: Callable[[], Any]) -> list[tuple[float, tuple[Any, ...]]]:
    seen: list[tuple[float, tuple[Any, ...]]] = []
    guard = threading.Lock()
    environment = ActivityEnvironment()

    def record(*details: Any) -> None:
        with guard:
            seen.append((time.monotonic(), details))

    environment.on_heartbeat = record
    environment.run(run)
    return seen


def activities(engine: Engine, tmp_path: Path, executor: Callable[[], Any]) -> PeriodActivities:
    return PeriodActivities(
        engine=engine,
        store_root=str(tmp_path / "store"),
        plans=PLANS,
        executor=executor,
        publicity_dir=tmp_path / "publicity",
    )


@pytest.mark.usefixtures("fast_pulse")
def test_a_long_shard_keeps_the_lock_heartbeating(engine: Engine, tmp_path: Path) -> None:
    empty_population(str(tmp_path / "store"), shards=2)
    request = lock_request(engine)
    steps = activities(engine, tmp_path, slow_shards(0.5))
    started = time.monotonic()
    beats = heartbeats_of(lambda: steps.settlement.lock(request))
    took = time.monotonic() - started
    assert took >= 1.0
    # Not one beat per shard: beats all along, a gap never near a shard's length.
    assert len(beats) >= 10
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(beats)]
    assert max(gaps) < 0.3, gaps
    assert any("lock" in str(details) and "1/2" in str(details) for _, details in beats)


@pytest.mark.usefixtures("fast_pulse")
def test_a_step_with_no_progress_for_the_stall_limit_stops_heartbeating(
    engine: Engine, tmp_path: Path
) -> None:
    empty_population(str(tmp_path / "store"), shards=3)
    request = lock_request(engine)
    steps = activities(engine, tmp_path, slow_shards(0.4, hang_after=1))
    beats = heartbeats_of(lambda: steps.settlement.lock(request))
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(beats)]
    # The second shard hangs 2 s, over the 0.6 s stall limit: the beats stop for over a
    # second (Temporal would time the attempt out), then resume when the shard finishes.
    assert max(gaps) > 1.2, [(round(t - beats[0][0], 2), d) for t, d in beats][::5]
    # After the stall the beats resume with the hung task counted. The slow executor hangs
    # in the store check before the lock as well as in the lock, so the longest silence may
    # be either; on a busy machine the next task may also be counted before the next beat.
    resumed = [d for _, d in beats[gaps.index(max(gaps)) + 1 :]]
    assert resumed, beats
    assert str(resumed[0][0]).endswith((": 2/3", ": 3/3")), resumed[:3]


@pytest.mark.usefixtures("fast_pulse")
def test_the_list_steps_heartbeat(engine: Engine, tmp_path: Path) -> None:
    empty_population(str(tmp_path / "store"), shards=1)
    request = lock_request(engine)
    steps = activities(engine, tmp_path, InlineExecutor)
    locked = ActivityEnvironment().run(steps.settlement.lock, request)
    gathered = heartbeats_of(
        lambda: steps.publicity.gather(
            msg.GatherRequest(
                plan_id="chronic",
                period_id=locked.period_id,
                cutoff=roster_cutoff(request.publicity_date),
            )
        )
    )
    assert gathered and gathered[0][1] == ("started",)
