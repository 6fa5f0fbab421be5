"""The claim workflow: one per claim (`claim-<claim id>`), alive from report to payout.

Human steps are Updates with validators: a refused action is rejected with the core's reason
(`mutualaid.claim`) before anything is written, and its handler checks again under the lock,
since another step may have moved the claim between validation and execution. A staff
step (review, findings, decision) also needs its login registered in that role: the
validator checks the role against the step, and the handler asks the actors registry (a
local activity) before anything moves, since a validator cannot read SQL. The period
workflow (a later issue) talks to the claim by signals: `publicised`, `cleared`, `funded`.
Every wait is a durable timer on the program clock; every side effect is an idempotent
activity called by its registered name; every event is appended to the claim's SQL history
under a key derived from the workflow's own step counter, so a retried write lands once.

The main loop owns the automatic steps (deadlines, publicity, payout, commissioning the
investigation firm); handlers own the human ones. Both hold `_lock` while they move the
claim, so a transition is never interleaved with another.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.claim_record import ACTIVITY_TIMEOUT, ClaimRecord, cause_of, reject

with workflow.unsafe.imports_passed_through():
    from mutualaid.calendar import program_date
    from mutualaid.claim import (
        SLA_KINDS,
        TERMINAL,
        Action,
        ActionRefusal,
        Actor,
        ClaimState,
        DeadlineKind,
        EventKind,
        Publicity,
        Refused,
        ReviewOutcome,
        Role,
        decision_refusal,
        document_refusal,
        missing_documents,
        objection_refusal,
        review_refusal,
        text_refusal,
    )
    from mutualaid.errors import InvariantError
    from mutualaid.jury import jury_outcome, repeated_juror
    from mutualaid.membership import ExitReason
    from workflows import claim_messages as msg


# The investigation firm: retried with backoff a bounded number of times; then the claim
# waits for findings recorded by hand, its SLA timer still running.
FIRM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=6,
)
# The payment rail: money must go out, so it is retried without limit; the payout deadline
# marks the claim overdue meanwhile.
PAYMENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
# A bank may take minutes to confirm; the rail heartbeats meanwhile, so a dead worker is
# noticed within seconds and the payout retried elsewhere under the same key.
PAYMENT_TIMEOUT = timedelta(minutes=10)
PAYMENT_HEARTBEAT = timedelta(seconds=5)

SYSTEM = "system"
CLOCK = "clock"
JURY = "jury"


@workflow.defn(name=msg.WORKFLOW_NAME)
class ClaimWorkflow(ClaimRecord):
    @workflow.init
    def __init__(self, claim: msg.ClaimInput) -> None:
        super().__init__(claim)

    # ---- the main loop ------------------------------------------------------------------

    @workflow.run
    async def run(self, claim: msg.ClaimInput) -> msg.ClaimOutcome:
        async with self._lock:
            await self._take_in(claim)
        while self._state not in TERMINAL:
            await self._work()
            if self._state in TERMINAL:
                break
            await self._wait()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return msg.ClaimOutcome(
            claim_id=claim.claim_id,
            state=self._state,
            benefit_fen=self._benefit(),
            paid_fen=self._payout.amount_fen if self._payout else 0,
            payout_reference=self._payout.reference if self._payout else None,
            reasons=tuple(self._reasons),
        )

    async def _take_in(self, claim: msg.ClaimInput) -> None:
        now = self._program_now()
        intake = await self._activity(
            msg.INTAKE,
            msg.IntakeRequest(
                claim_id=claim.claim_id,
                plan_id=claim.plan_id,
                member_id=claim.member_id,
                condition=claim.condition,
                diagnosis_date=claim.diagnosis_date,
                hospital=claim.hospital,
                accident=claim.accident,
                as_of=program_date(now),
                at=now,
            ),
            msg.IntakeOutcome,
        )
        self._intake = intake
        self._reasons = [f"{r.code.value}: {r.detail}" for r in intake.reasons]
        await self._note(
            EventKind.REPORTED,
            SYSTEM,
            detail={
                "eligible": intake.eligible,
                "reasons": self._reasons,
                "age_at_diagnosis": intake.age_at_diagnosis,
                "benefit_fen": self._benefit(),
                "claimed_fen": claim.claimed_fen,
                "rules_version": intake.terms.rules_version,
                "documents": [d.kind.value for d in self._documents],
            },
            note="eligible" if intake.eligible else "; ".join(self._reasons),
        )
        if not intake.eligible:
            if intake.refund_and_exit:
                # Diagnosed in the waiting period: refunded and out of the plan (policy).
                await self._queue_exit(ExitReason.WAITING_PERIOD_DIAGNOSIS, "waiting-exit")
                await self._note(
                    EventKind.MEMBER_EXIT_QUEUED, SYSTEM, note="refund and exit (waiting period)"
                )
            await self._move(EventKind.INTAKE_REFUSED, SYSTEM, detail={"reasons": self._reasons})
        elif not missing_documents(d.kind for d in self._documents):
            await self._move(EventKind.MATERIALS_COMPLETE, SYSTEM)
        self._taken_in = True

    async def _work(self) -> None:
        """Take every automatic step the claim allows now."""
        async with self._lock:
            while self._state not in TERMINAL and await self._step():
                pass
        if (
            self._state in (ClaimState.INVESTIGATING, ClaimState.REINVESTIGATING)
            and self._commissioned_round < self._investigation_round
        ):
            await self._commission()

    async def _wait(self) -> None:
        """Sleep until something happens or the current deadline falls due."""
        seen = self._version
        timeout: timedelta | None = None
        deadline = self._deadline()
        if deadline is not None:
            due = self._due_real(deadline)
            if due > workflow.now():
                timeout = due - workflow.now()
        try:
            await workflow.wait_condition(lambda: self._version != seen, timeout=timeout)
        except TimeoutError:
            self._timer_fired_epoch = self._epoch

    async def _step(self) -> bool:
        """One automatic step, if one is due. Returns whether the claim changed."""
        deadline = self._deadline()
        if deadline is not None and self._reached(deadline):
            if deadline.kind in SLA_KINDS:
                if not self._overdue:
                    self._overdue = True
                    await self._note(
                        EventKind.OVERDUE, CLOCK, detail={"deadline": deadline.kind.value}
                    )
                    return True
            elif deadline.kind is DeadlineKind.MATERIALS:
                await self._move(EventKind.MATERIALS_EXPIRED, CLOCK, note="materials missing")
                return True
            elif deadline.kind is DeadlineKind.APPEAL:
                await self._move(EventKind.APPEAL_EXPIRED, CLOCK, note="no appeal in time")
                return True
            elif deadline.kind is DeadlineKind.JURY_VOTE:
                await self._close_vote()
                return True
            elif (
                deadline.kind is DeadlineKind.OBJECTION_WINDOW
                and self._publicity is not None
                and self._publicity.period_id in self._cleared_periods
            ):
                # The period may say "cleared" early; the members' window is honoured anyway.
                await self._move(EventKind.CLEARED, self._period_actor())
                return True
        if self._state is ClaimState.AWAITING_PUBLICITY and self._pending_publicity is not None:
            self._publicity, self._pending_publicity = self._pending_publicity, None
            await self._move(
                EventKind.PUBLICISED,
                self._period_actor(),
                detail={
                    "period_id": self._publicity.period_id,
                    "publicity_date": self._publicity.publicity_date.isoformat(),
                    "objection_window_end": self._publicity.objection_window_end.isoformat(),
                },
                set_period=True,
                period_id=self._publicity.period_id,
            )
            return True
        if (
            self._state is ClaimState.AWAITING_FUNDS
            and self._publicity is not None
            and self._publicity.period_id in self._funded_periods
        ):
            await self._pay_out(self._publicity.period_id)
            return True
        return False

    async def _close_vote(self) -> None:
        intake = self._require_intake()
        tally = await self._activity(
            msg.TALLY_JURY,
            msg.TallyRequest(claim_id=self._claim.claim_id, round=self._jury_round),
            msg.JuryTally,
        )
        outcome = jury_outcome(
            min_valid_votes=intake.terms.jury_min_valid_votes,
            approve_above=intake.terms.approve_above,
            valid_votes=tally.valid_votes,
            approvals=tally.approvals,
        )
        detail = {
            "round": self._jury_round,
            "result": outcome.result.value,
            "valid_votes": outcome.valid_votes,
            "approvals": outcome.approvals,
        }
        note = f"{outcome.result.value}: {outcome.approvals} of {outcome.valid_votes} approve"
        if outcome.approved:
            await self._move(EventKind.JURY_APPROVED, JURY, detail=detail, note=note)
        else:
            self._reasons.append(f"jury: {note}")
            await self._move(EventKind.JURY_REJECTED, JURY, detail=detail, note=note)

    async def _commission(self) -> None:
        """Hand the case to the investigation firm. Runs outside the lock: the firm may be
        slow or down for a while, and the claim still takes findings recorded by hand."""
        round_ = self._investigation_round
        self._commissioned_round = round_
        claim = self._claim
        try:
            commission = await workflow.execute_activity(
                msg.COMMISSION_INVESTIGATION,
                msg.CommissionRequest(
                    claim_id=claim.claim_id,
                    round=round_,
                    plan_id=claim.plan_id,
                    condition=claim.condition,
                    diagnosis_date=claim.diagnosis_date,
                    hospital=claim.hospital,
                ),
                result_type=msg.Commission,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=FIRM_RETRY,
            )
        except ActivityError as err:
            async with self._lock:
                await self._note(
                    EventKind.INVESTIGATION_UNASSIGNED,
                    SYSTEM,
                    detail={"round": round_, "error": cause_of(err)},
                    note=f"the firm did not take the case: {cause_of(err)}",
                )
            return
        async with self._lock:
            self._investigation_reference = commission.reference
            await self._note(
                EventKind.INVESTIGATION_COMMISSIONED,
                SYSTEM,
                detail={"round": round_, "reference": commission.reference},
                note=commission.reference,
            )

    async def _pay_out(self, period_id: int) -> None:
        benefit = self._benefit()
        if benefit is None:
            raise InvariantError(f"claim {self._claim.claim_id} is funded without a benefit")
        # The per-case cap can fund less than the benefit; never more.
        benefit = min(benefit, self._funded_amounts.get(period_id, benefit))
        receipt = await workflow.execute_activity(
            msg.PAY_OUT,
            msg.PayoutRequest(
                claim_id=self._claim.claim_id,
                period_id=period_id,
                amount_fen=benefit,
                at=self._program_now(),
            ),
            result_type=msg.PayoutReceipt,
            start_to_close_timeout=PAYMENT_TIMEOUT,
            heartbeat_timeout=PAYMENT_HEARTBEAT,
            retry_policy=PAYMENT_RETRY,
        )
        self._payout = receipt
        # A member who receives a payout leaves the plan.
        await self._queue_exit(ExitReason.PAID_OUT, "payout-exit")
        await self._move(
            EventKind.PAID,
            "payment-rail",
            detail={"reference": receipt.reference, "amount_fen": receipt.amount_fen},
            note=receipt.reference,
        )

    # ---- human steps ------------------------------------------------------------------

    @workflow.update(name=msg.SUBMIT_MATERIALS)
    async def submit_materials(self, request: msg.SubmitMaterials) -> msg.StepResult:
        async with self._lock:
            reject(self._materials_refusal(request))
            self._documents.extend(request.documents)
            detail = {"documents": [d.kind.value for d in request.documents]}
            missing = missing_documents(d.kind for d in self._documents)
            if missing:
                await self._note(
                    EventKind.MATERIALS_RECEIVED,
                    request.actor.name,
                    detail=detail,
                    note="still missing: " + ", ".join(k.value for k in missing),
                )
            else:
                await self._move(EventKind.MATERIALS_COMPLETE, request.actor.name, detail=detail)
            return self._result()

    @submit_materials.validator
    def _validate_materials(self, request: msg.SubmitMaterials) -> None:
        reject(self._materials_refusal(request))

    def _materials_refusal(self, request: msg.SubmitMaterials) -> Refused | None:
        return self._may(Action.SUBMIT_MATERIALS, request.actor) or document_refusal(
            request.documents, already=len(self._documents)
        )

    @workflow.update(name=msg.REVIEW)
    async def review(self, request: msg.Review) -> msg.StepResult:
        async with self._lock:
            reject(self._review_refusal(request))
            await self._vouch_for(request.actor)
            actor = request.actor.name
            if request.outcome is ReviewOutcome.PASS:
                self._investigation_round += 1
                await self._move(EventKind.REVIEW_PASSED, actor, note=request.reason)
            elif request.outcome is ReviewOutcome.INCOMPLETE:
                resubmit = set(request.resubmit)
                self._documents = [d for d in self._documents if d.kind not in resubmit]
                await self._move(
                    EventKind.REVIEW_INCOMPLETE,
                    actor,
                    detail={"resubmit": sorted(k.value for k in resubmit)},
                    note=request.reason,
                )
            else:
                self._reasons.append(f"review: {request.reason}")
                await self._move(
                    EventKind.REVIEW_DENIED,
                    actor,
                    detail={"reason": request.reason},
                    note=request.reason,
                )
            return self._result()

    @review.validator
    def _validate_review(self, request: msg.Review) -> None:
        reject(self._review_refusal(request))

    def _review_refusal(self, request: msg.Review) -> Refused | None:
        return self._may(Action.REVIEW, request.actor) or review_refusal(
            request.outcome, resubmit=request.resubmit, reason=request.reason
        )

    @workflow.update(name=msg.RECORD_FINDINGS)
    async def record_findings(self, request: msg.RecordFindings) -> msg.StepResult:
        async with self._lock:
            reject(self._findings_refusal(request))
            await self._vouch_for(request.actor)
            self._findings = request.findings
            findings = request.findings
            await self._move(
                EventKind.FINDINGS_RECORDED,
                request.actor.name,
                detail={
                    "round": self._investigation_round,
                    "diagnosis_confirmed": findings.diagnosis_confirmed,
                    "declaration_consistent": findings.declaration_consistent,
                    "summary": findings.summary,
                },
                note=findings.summary,
            )
            return self._result()

    @record_findings.validator
    def _validate_findings(self, request: msg.RecordFindings) -> None:
        reject(self._findings_refusal(request))

    def _findings_refusal(self, request: msg.RecordFindings) -> Refused | None:
        return self._may(Action.RECORD_FINDINGS, request.actor) or text_refusal(
            request.findings.summary, field="summary", required=True
        )

    @workflow.update(name=msg.DECIDE)
    async def decide(self, request: msg.Decide) -> msg.StepResult:
        async with self._lock:
            reject(self._decision_refusal(request))
            await self._vouch_for(request.actor)
            actor = request.actor.name
            if request.approve:
                await self._move(
                    EventKind.APPROVED,
                    actor,
                    detail={"benefit_fen": self._benefit()},
                    note=request.reason,
                    benefit_fen=self._benefit(),
                )
            else:
                self._reasons.append(f"decision: {request.reason}")
                await self._move(
                    EventKind.DENIED, actor, detail={"reason": request.reason}, note=request.reason
                )
            return self._result()

    @decide.validator
    def _validate_decision(self, request: msg.Decide) -> None:
        reject(self._decision_refusal(request))

    def _decision_refusal(self, request: msg.Decide) -> Refused | None:
        return self._may(Action.DECIDE, request.actor) or decision_refusal(
            approve=request.approve, reason=request.reason, findings=self._findings
        )

    @workflow.update(name=msg.APPEAL)
    async def appeal(self, request: msg.Appeal) -> msg.StepResult:
        async with self._lock:
            reject(self._appeal_refusal(request))
            self._jury_round += 1
            self._votes_counted = 0
            await self._move(
                EventKind.APPEALED,
                request.actor.name,
                detail={"round": self._jury_round, "reason": request.reason},
                note=request.reason,
            )
            return self._result()

    @appeal.validator
    def _validate_appeal(self, request: msg.Appeal) -> None:
        reject(self._appeal_refusal(request))

    def _appeal_refusal(self, request: msg.Appeal) -> Refused | None:
        return self._may(Action.APPEAL, request.actor) or text_refusal(
            request.reason, field="reason", required=False
        )

    @workflow.update(name=msg.VOTE)
    async def vote(self, request: msg.JuryVotes) -> msg.VoteReceipt:
        """A batch of jurors' votes, recorded in SQL by one activity: the history grows by
        one update per batch, never by one event per vote."""
        async with self._lock:
            reject(self._vote_refusal(request))
            intake = self._require_intake()
            now = self._program_now()
            receipt = await self._activity(
                msg.RECORD_VOTES,
                msg.VoteBatch(
                    claim_id=self._claim.claim_id,
                    round=self._jury_round,
                    terms=intake.terms,
                    claimant=intake.claimant,
                    on=program_date(now),
                    at=now,
                    votes=request.votes,
                ),
                msg.VoteReceipt,
            )
            # Counted, not moved: the main loop has nothing to do (no timer re-armed).
            self._votes_counted += receipt.counted
            return receipt

    @vote.validator
    def _validate_vote(self, request: msg.JuryVotes) -> None:
        reject(self._vote_refusal(request))

    def _vote_refusal(self, request: msg.JuryVotes) -> Refused | None:
        refusal = self._may(Action.VOTE, Actor(role=Role.JUROR, name=JURY))
        if refusal is not None:
            return refusal
        deadline = self._deadline()
        if deadline is not None and self._reached(deadline):
            return Refused(code=ActionRefusal.VOTING_CLOSED, detail="the jury vote has closed")
        if not 0 < len(request.votes) <= msg.MAX_VOTES_PER_BATCH:
            return Refused(
                code=ActionRefusal.BAD_PAYLOAD,
                detail=f"a batch holds 1 to {msg.MAX_VOTES_PER_BATCH} votes, "
                f"not {len(request.votes)}",
            )
        if any(vote.juror_id <= 0 for vote in request.votes):
            return Refused(code=ActionRefusal.BAD_PAYLOAD, detail="juror ids must be positive")
        repeat = repeated_juror(vote.juror_id for vote in request.votes)
        if repeat is not None:
            return Refused(
                code=ActionRefusal.BAD_PAYLOAD,
                detail=f"juror {repeat.juror_id} votes twice in one batch (votes "
                f"{repeat.first + 1} and {repeat.second + 1}); one vote per juror",
            )
        return None

    @workflow.update(name=msg.WITHDRAW)
    async def withdraw(self, request: msg.Withdraw) -> msg.StepResult:
        async with self._lock:
            reject(self._withdraw_refusal(request))
            await self._move(
                EventKind.WITHDRAWN,
                request.actor.name,
                detail={"reason": request.reason},
                note=request.reason,
            )
            return self._result()

    @withdraw.validator
    def _validate_withdraw(self, request: msg.Withdraw) -> None:
        reject(self._withdraw_refusal(request))

    def _withdraw_refusal(self, request: msg.Withdraw) -> Refused | None:
        return self._may(Action.WITHDRAW, request.actor) or text_refusal(
            request.reason, field="reason", required=False
        )

    @workflow.update(name=msg.OBJECT)
    async def lodge_objection(self, request: msg.Objection) -> msg.StepResult:
        async with self._lock:
            reject(self._objection_refusal(request))
            publicity = self._publicity
            if publicity is None or request.actor.member_id is None:
                raise InvariantError("an objection passed its checks without a publicity")
            try:
                await self._activity(
                    msg.RECORD_OBJECTION,
                    msg.ObjectionRecord(
                        claim_id=self._claim.claim_id,
                        plan_id=self._claim.plan_id,
                        period_id=publicity.period_id,
                        objector_id=request.actor.member_id,
                        reason=request.reason,
                        at=self._program_now(),
                    ),
                    type(None),
                )
            except ActivityError as err:
                # The objector is not a member, say: the claim does not move.
                raise ApplicationError(cause_of(err), type="ObjectionRefused") from err
            self._objected_periods.append(publicity.period_id)
            self._publicity = None
            self._findings = None
            self._investigation_round += 1
            await self._move(
                EventKind.OBJECTED,
                request.actor.name,
                detail={"period_id": publicity.period_id, "reason": request.reason},
                note=request.reason,
                set_period=True,
                period_id=None,
            )
            return self._result()

    @lodge_objection.validator
    def _validate_objection(self, request: msg.Objection) -> None:
        reject(self._objection_refusal(request))

    def _objection_refusal(self, request: msg.Objection) -> Refused | None:
        return (
            self._may(Action.OBJECT, request.actor)
            or objection_refusal(self._publicity, now=self._program_now())
            or text_refusal(request.reason, field="reason", required=True)
        )

    # ---- the period's signals ---------------------------------------------------------

    @workflow.signal(name=msg.PUBLICISED)
    def publicised(self, signal: msg.Publicised) -> None:
        if self._state is not ClaimState.AWAITING_PUBLICITY:
            workflow.logger.warning("publicised in %s ignored: claim is %s", signal, self._state)
            return
        if signal.period_id in self._objected_periods:
            # An objected case goes to a later period, never back to the one it left.
            workflow.logger.warning("publicised again in objected period %s", signal.period_id)
            return
        self._pending_publicity = Publicity(
            period_id=signal.period_id,
            publicity_date=signal.publicity_date,
            objection_window_end=signal.objection_window_end,
        )
        self._version += 1

    @workflow.signal(name=msg.CLEARED)
    def cleared(self, signal: msg.Cleared) -> None:
        self._cleared_periods.append(signal.period_id)
        self._version += 1

    @workflow.signal(name=msg.FUNDED)
    def funded(self, signal: msg.Funded) -> None:
        self._funded_periods.append(signal.period_id)
        if signal.amount_fen is not None:
            self._funded_amounts[signal.period_id] = signal.amount_fen
        self._version += 1

    # ---- queries ----------------------------------------------------------------------

    @workflow.query(name=msg.STATUS)
    def status(self) -> msg.ClaimStatus:
        return self._status_view()

    @workflow.query(name=msg.TIMELINE)
    def timeline(self) -> list[msg.TimelineEntry]:
        return list(self._timeline)

    @workflow.query(name=msg.DEADLINES)
    def deadlines(self) -> list[msg.DeadlineView]:
        view = self._deadline_view()
        return [view] if view is not None else []
