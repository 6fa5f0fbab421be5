"""The period tells its claims from activities, a batch at a time: its history holds a few
activities per batch and no signal per claim, a claim that is gone is reported and left out,
and the others are paid as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from messages import periods as msg
from mutualaid.claim import ClaimState
from tests.workflows.claim_support import World, wait_until
from tests.workflows.test_period import (
    approved_claims,
    empty_population,
    period_worker,
    start_period,
    world,  # noqa: F401 - the fixture
)

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(240)]


async def test_claims_are_told_in_batches_and_a_gone_claim_is_left_out(
    world: World,  # noqa: F811 - the fixture
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(msg, "TELL_BATCH", 2)
    empty_population(world.store_root, shards=2)
    for _ in range(40):
        await world.member(age=30)
    async with period_worker(world, tmp_path):
        claims = await approved_claims(world, 5)
        gone = claims[2]
        await gone.terminate(reason="the test: a claim the period cannot reach")
        period, _ = await start_period(world)
        report = await period.result()
        for handle in claims:
            if handle is not gone:
                await wait_until(handle, lambda s: s.state is ClaimState.PAID)
        history = await period.fetch_history()
        status = await period.query(msg.STATUS, result_type=msg.PeriodStatus)
    assert report.cases == 4 and report.payouts_made == 4 and report.balanced
    told = [
        e.activity_task_scheduled_event_attributes.input
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == msg.TELL_CLAIMS
    ]
    # Five publicised in three batches; four cleared and four funded in two each.
    assert len(told) == 3 + 2 + 2
    assert not any(
        e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
        for e in history.events
    )
    assert gone.id.removeprefix("claim-") not in status.cleared
    assert len(status.cases) == 5 and len(status.cleared) == 4
