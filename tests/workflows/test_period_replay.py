"""Saved histories of representative periods replay against the current workflow code, and a
period that issues other commands (it no longer tells its claims) fails on them.

The histories come from `python -m tests.workflows.histories.make_period_histories`: a period
with an objected case paid to its end, one whose lock waited for the previous period, one
stopped for data integrity and resumed, and one started again over a period SQL says ran.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from infra.temporal import DATA_CONVERTER
from messages import periods as msg
from tests.helpers import saved_history
from workflows.period import PeriodWorkflow

HISTORIES = Path(__file__).parent / "histories" / "periods"
SAVED = sorted(HISTORIES.glob("*.json"))

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(60)]


def test_the_representative_periods_are_saved() -> None:
    assert {path.stem for path in SAVED} == {
        "objected_and_paid",
        "waited_for_previous",
        "stopped_then_resumed",
        "ran_before",
    }


@pytest.mark.parametrize("path", SAVED, ids=[path.stem for path in SAVED])
async def test_a_saved_period_replays_on_the_current_code(path: Path) -> None:
    replayer = Replayer(workflows=[PeriodWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(saved_history(path, workflow_kind="period"))
    assert result.replay_failure is None


@workflow.defn(name=msg.WORKFLOW_NAME, sandboxed=False)
class SilentPeriodWorkflow(PeriodWorkflow):
    """The period without its signals to the claims."""

    @workflow.run
    async def run(self, request: msg.PeriodInput) -> msg.PeriodReport:
        return await super().run(request)

    async def _tell(self, fanout: bool, request: msg.TellRequest) -> set[str]:
        return set()


async def test_a_period_that_no_longer_tells_its_claims_fails_to_replay() -> None:
    replayer = Replayer(workflows=[SilentPeriodWorkflow], data_converter=DATA_CONVERTER)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(
            saved_history(HISTORIES / "objected_and_paid.json", workflow_kind="period")
        )


async def test_the_silent_period_still_replays_a_period_that_told_no_claim() -> None:
    # Nothing else differs: proof that the failure above is the missing signals themselves.
    replayer = Replayer(workflows=[SilentPeriodWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(
        saved_history(HISTORIES / "stopped_then_resumed.json", workflow_kind="period")
    )
    assert result.replay_failure is None
