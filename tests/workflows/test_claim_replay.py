"""Saved histories of representative claims replay against the current workflow code, and a
deliberately reordered version of the workflow fails on them (non-determinism).

The histories come from `python -m tests.workflows.histories.make_histories`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from activities.payment import PaymentRail
from infra.temporal import DATA_CONVERTER
from messages import claims as msg
from mutualaid.claim import EventKind
from mutualaid.membership import ExitReason
from tests.helpers import saved_history
from workflows.claim import ClaimWorkflow
from workflows.claim_loop import ClaimLoop
from workflows.claim_side_roads import PAYMENT_RETRY, SideRoads

HISTORIES = Path(__file__).parent / "histories"
SAVED = sorted(HISTORIES.glob("*.json"))

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(60)]


def test_the_representative_claims_are_saved() -> None:
    assert {path.stem for path in SAVED} == {
        "paid_after_objection",
        "jury_without_quorum",
        "waiting_period_refund",
        "overdue_then_withdrawn",
    }


@pytest.mark.parametrize("path", SAVED, ids=[path.stem for path in SAVED])
async def test_a_saved_claim_replays_on_the_current_code(path: Path) -> None:
    replayer = Replayer(workflows=[ClaimWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(saved_history(path, workflow_kind="claim"))
    assert result.replay_failure is None


class ReorderedSideRoads(SideRoads):
    """The claim's payout with two steps swapped: the member's exit queued before paying."""

    async def pay_out(self, period_id: int) -> None:
        record = self._record
        await record.queue_exit(ExitReason.PAID_OUT, "payout-exit")
        benefit = record.benefit()
        assert benefit is not None
        record.payout = await workflow.execute_activity_method(
            PaymentRail.pay_out,
            msg.PayoutRequest(
                claim_id=record.claim.claim_id,
                period_id=period_id,
                amount_fen=benefit,
                at=record.program_now(),
            ),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=PAYMENT_RETRY,
        )
        await record.move(EventKind.PAID, "payment-rail")


@workflow.defn(name=msg.WORKFLOW_NAME, sandboxed=False)
class ReorderedClaimWorkflow(ClaimWorkflow):
    """The claim with two steps swapped: the member's exit queued before the payout."""

    @workflow.init
    def __init__(self, claim: msg.ClaimInput) -> None:
        super().__init__(claim)
        self._loop = ClaimLoop(self._record, ReorderedSideRoads(self._record))

    @workflow.run
    async def run(self, claim: msg.ClaimInput) -> msg.ClaimOutcome:
        return await super().run(claim)


async def test_a_reordered_workflow_fails_to_replay_a_paid_claim() -> None:
    replayer = Replayer(workflows=[ReorderedClaimWorkflow], data_converter=DATA_CONVERTER)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(
            saved_history(HISTORIES / "paid_after_objection.json", workflow_kind="claim")
        )


async def test_the_reordered_workflow_still_replays_a_claim_that_never_paid() -> None:
    # The swap only touches payout: proof that the failure above is the reordering itself.
    replayer = Replayer(workflows=[ReorderedClaimWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(
        saved_history(HISTORIES / "waiting_period_refund.json", workflow_kind="claim")
    )
    assert result.replay_failure is None
