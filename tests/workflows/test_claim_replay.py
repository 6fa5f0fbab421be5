"""Saved histories of representative claims replay against the current workflow code, and a
deliberately reordered version of the workflow fails on them (non-determinism).

The histories come from `python -m tests.workflows.histories.make_histories`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from infra.temporal import DATA_CONVERTER
from mutualaid.claim import EventKind
from mutualaid.membership import ExitReason
from workflows import claim_messages as msg
from workflows.claim import PAYMENT_RETRY, ClaimWorkflow

HISTORIES = Path(__file__).parent / "histories"
SAVED = sorted(HISTORIES.glob("*.json"))

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(60)]


def load(path: Path) -> WorkflowHistory:
    text = path.read_text(encoding="utf-8")
    started = json.loads(text)["events"][0]
    assert started["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    return WorkflowHistory.from_json(f"claim-{path.stem}", text)


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
    result = await replayer.replay_workflow(load(path))
    assert result.replay_failure is None


@workflow.defn(name=msg.WORKFLOW_NAME, sandboxed=False)
class ReorderedClaimWorkflow(ClaimWorkflow):
    """The claim with two steps swapped: the member's exit queued before the payout."""

    @workflow.run
    async def run(self, claim: msg.ClaimInput) -> msg.ClaimOutcome:
        return await super().run(claim)

    async def _pay_out(self, period_id: int) -> None:
        await self._queue_exit(ExitReason.PAID_OUT, "payout-exit")
        benefit = self._benefit()
        assert benefit is not None
        self._payout = await workflow.execute_activity(
            msg.PAY_OUT,
            msg.PayoutRequest(
                claim_id=self._claim.claim_id,
                period_id=period_id,
                amount_fen=benefit,
                at=self._program_now(),
            ),
            result_type=msg.PayoutReceipt,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=PAYMENT_RETRY,
        )
        await self._move(EventKind.PAID, "payment-rail")


async def test_a_reordered_workflow_fails_to_replay_a_paid_claim() -> None:
    replayer = Replayer(workflows=[ReorderedClaimWorkflow], data_converter=DATA_CONVERTER)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(HISTORIES / "paid_after_objection.json"))


async def test_the_reordered_workflow_still_replays_a_claim_that_never_paid() -> None:
    # The swap only touches payout: proof that the failure above is the reordering itself.
    replayer = Replayer(workflows=[ReorderedClaimWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(load(HISTORIES / "waiting_period_refund.json"))
    assert result.replay_failure is None
