"""The payment rail adapter: pays a claim's benefit, keyed by the claim id.

The rail's record of a claim is its one payouts row (unique per claim): asking it to pay a
claim it has paid returns the first receipt and moves no money. So a payout activity retried
after it paid (its acknowledgement lost, its worker killed) never pays twice.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine
from temporalio import activity

from activities.failures import refusals_are_final
from infra.db import unit_of_work
from infra.repositories import PayoutRepository
from infra.states import PayoutState
from messages import claims as msg
from mutualaid.errors import InvariantError


class PaymentRail:
    """A simulated rail backed by the payouts table. `latency_s` stands for the bank's time
    between taking an instruction and confirming it (demos; crash tests)."""

    def __init__(self, *, engine: Engine, latency_s: float = 0.0) -> None:
        self._engine = engine
        self._latency_s = latency_s

    def _await_confirmation(self) -> None:
        """Wait for the bank, heartbeating: a worker that dies here is noticed within the
        heartbeat timeout and the payout retried elsewhere, under the same key."""
        deadline = time.monotonic() + self._latency_s
        while (left := deadline - time.monotonic()) > 0:
            activity.heartbeat()
            time.sleep(min(left, 1.0))

    @activity.defn(name=msg.PAY_OUT)
    def pay_out(self, request: msg.PayoutRequest) -> msg.PayoutReceipt:
        with refusals_are_final():
            with unit_of_work(self._engine) as session:
                payout, _ = PayoutRepository(session).request(
                    claim_id=request.claim_id,
                    period_id=request.period_id,
                    amount_fen=request.amount_fen,
                    at=request.at,
                )
                if payout.state == PayoutState.PAID:
                    if payout.reference is None:
                        raise InvariantError(f"claim {request.claim_id} paid without a reference")
                    return msg.PayoutReceipt(
                        reference=payout.reference,
                        amount_fen=payout.amount_fen,
                        already_paid=True,
                    )
            # The instruction is on file before the transfer: a crash from here on finds it,
            # and the transfer under the same key is the same transfer.
            self._await_confirmation()
            reference = f"rail-{request.claim_id}"
            with unit_of_work(self._engine) as session:
                PayoutRepository(session).mark_paid(
                    request.claim_id, reference=reference, at=request.at
                )
        return msg.PayoutReceipt(
            reference=reference, amount_fen=request.amount_fen, already_paid=False
        )
