"""The claim's human steps: what each update does, and when it is refused.

`ClaimWorkflow` registers the updates and their validators (workflows/claim.py); this module
holds their bodies. Each step has a check, run twice: by the validator, so a refused action
is rejected with the core's reason before anything is written, and again by the handler under
the lock, since another step may have moved the claim between validation and execution. A
staff step (review, findings, decision) also needs its login registered in that role: the
validator checks the role against the step, and the handler asks the actors registry (a
local activity) before anything moves, since a validator cannot read SQL.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.claim_record import (
    ACTIVITY_TIMEOUT,
    DATABASE_RETRY,
    JURY,
    ClaimRecord,
    call_database,
    cause_of,
    reject,
)

with workflow.unsafe.imports_passed_through():
    import messages.claims as msg
    from activities.claims import ClaimActivities
    from mutualaid.calendar import program_date
    from mutualaid.claim import EventKind
    from mutualaid.claim_deadlines import objection_refusal
    from mutualaid.claim_materials import document_refusal, missing_documents
    from mutualaid.claim_refusals import ActionRefusal, Refused
    from mutualaid.claim_review import (
        ReviewOutcome,
        decision_refusal,
        review_refusal,
        text_refusal,
    )
    from mutualaid.claim_roles import STAFF_ROLES, Action, Actor, Role
    from mutualaid.errors import InvariantError
    from mutualaid.jury import repeated_juror


class HumanSteps:
    """The updates' bodies (`submit_materials`, ...) and their checks (`check_materials`,
    ...), over the workflow's record."""

    def __init__(self, record: ClaimRecord) -> None:
        self._record = record

    async def _vouch_for(self, actor: Actor) -> None:
        """Refuse a staff step by a login the actors registry does not hold in that role.

        The validator has already checked the role against the step, but it cannot read SQL
        (validators are deterministic and do no I/O), and a client other than the command
        line can send any name. So the handler asks, under the lock and before anything
        moves: a refusal leaves the state, the timeline and the SQL history as they were.
        Claims started before this check replay without it (`workflow.patched`)."""
        if actor.role not in STAFF_ROLES or not workflow.patched(msg.ACTOR_CHECK_PATCH):
            return
        try:
            # A local activity: one short read, recorded as one marker in the history
            # rather than a scheduled, started and completed activity per staff step.
            await workflow.execute_local_activity_method(
                ClaimActivities.check_actor,
                msg.ActorCheck(name=actor.name, role=actor.role),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=DATABASE_RETRY,
            )
        except ActivityError as err:
            reason = cause_of(err)
        except ApplicationError as err:
            # A local activity's final failure can surface unwrapped.
            reason = err.message
        else:
            return
        raise ApplicationError(reason, type=ActionRefusal.UNKNOWN_ACTOR.value, non_retryable=True)

    # ---- the applicant's materials ------------------------------------------------------

    async def submit_materials(self, request: msg.SubmitMaterials) -> msg.StepResult:
        record = self._record
        async with record.lock:
            reject(self.check_materials(request))
            record.documents.extend(request.documents)
            detail = {"documents": [d.kind.value for d in request.documents]}
            missing = missing_documents(d.kind for d in record.documents)
            if missing:
                await record.note(
                    EventKind.MATERIALS_RECEIVED,
                    request.actor.name,
                    detail=detail,
                    note="still missing: " + ", ".join(k.value for k in missing),
                )
            else:
                await record.move(EventKind.MATERIALS_COMPLETE, request.actor.name, detail=detail)
            return record.result()

    def check_materials(self, request: msg.SubmitMaterials) -> Refused | None:
        return self._record.may(Action.SUBMIT_MATERIALS, request.actor) or document_refusal(
            request.documents, already=len(self._record.documents)
        )

    # ---- the staff's steps --------------------------------------------------------------

    async def review(self, request: msg.Review) -> msg.StepResult:
        record = self._record
        async with record.lock:
            reject(self.check_review(request))
            await self._vouch_for(request.actor)
            actor = request.actor.name
            if request.outcome is ReviewOutcome.PASS:
                record.investigation_round += 1
                await record.move(EventKind.REVIEW_PASSED, actor, note=request.reason)
            elif request.outcome is ReviewOutcome.INCOMPLETE:
                resubmit = set(request.resubmit)
                record.documents = [d for d in record.documents if d.kind not in resubmit]
                await record.move(
                    EventKind.REVIEW_INCOMPLETE,
                    actor,
                    detail={"resubmit": sorted(k.value for k in resubmit)},
                    note=request.reason,
                )
            else:
                record.reasons.append(f"review: {request.reason}")
                await record.move(
                    EventKind.REVIEW_DENIED,
                    actor,
                    detail={"reason": request.reason},
                    note=request.reason,
                )
            return record.result()

    def check_review(self, request: msg.Review) -> Refused | None:
        return self._record.may(Action.REVIEW, request.actor) or review_refusal(
            request.outcome, resubmit=request.resubmit, reason=request.reason
        )

    async def record_findings(self, request: msg.RecordFindings) -> msg.StepResult:
        record = self._record
        async with record.lock:
            reject(self.check_findings(request))
            await self._vouch_for(request.actor)
            record.findings = request.findings
            findings = request.findings
            await record.move(
                EventKind.FINDINGS_RECORDED,
                request.actor.name,
                detail={
                    "round": record.investigation_round,
                    "diagnosis_confirmed": findings.diagnosis_confirmed,
                    "declaration_consistent": findings.declaration_consistent,
                    "summary": findings.summary,
                },
                note=findings.summary,
            )
            return record.result()

    def check_findings(self, request: msg.RecordFindings) -> Refused | None:
        return self._record.may(Action.RECORD_FINDINGS, request.actor) or text_refusal(
            request.findings.summary, field="summary", required=True
        )

    async def decide(self, request: msg.Decide) -> msg.StepResult:
        record = self._record
        async with record.lock:
            reject(self.check_decision(request))
            await self._vouch_for(request.actor)
            actor = request.actor.name
            if request.approve:
                await record.move(
                    EventKind.APPROVED,
                    actor,
                    detail={"benefit_fen": record.benefit()},
                    note=request.reason,
                    benefit_fen=record.benefit(),
                )
            else:
                record.reasons.append(f"decision: {request.reason}")
                await record.move(
                    EventKind.DENIED, actor, detail={"reason": request.reason}, note=request.reason
                )
            return record.result()

    def check_decision(self, request: msg.Decide) -> Refused | None:
        return self._record.may(Action.DECIDE, request.actor) or decision_refusal(
            approve=request.approve, reason=request.reason, findings=self._record.findings
        )

    # ---- the appeal and the jury ----------------------------------------------------------

    async def appeal(self, request: msg.Appeal) -> msg.StepResult:
        record = self._record
        async with record.lock:
            reject(self.check_appeal(request))
            record.jury_round += 1
            record.votes_counted = 0
            await record.move(
                EventKind.APPEALED,
                request.actor.name,
                detail={"round": record.jury_round, "reason": request.reason},
                note=request.reason,
            )
            return record.result()

    def check_appeal(self, request: msg.Appeal) -> Refused | None:
        return self._record.may(Action.APPEAL, request.actor) or text_refusal(
            request.reason, field="reason", required=False
        )

    async def vote(self, request: msg.JuryVotes) -> msg.VoteReceipt:
        """A batch of jurors' votes, recorded in SQL by one activity: the history grows by
        one update per batch, never by one event per vote."""
        record = self._record
        async with record.lock:
            reject(self.check_vote(request))
            intake = record.require_intake()
            now = record.program_now()
            receipt = await call_database(
                ClaimActivities.record_votes,
                msg.VoteBatch(
                    claim_id=record.claim.claim_id,
                    round=record.jury_round,
                    terms=intake.terms,
                    claimant=intake.claimant,
                    on=program_date(now),
                    at=now,
                    votes=request.votes,
                ),
            )
            # Counted, not moved: the main loop has nothing to do (no timer re-armed).
            record.votes_counted += receipt.counted
            return receipt

    def check_vote(self, request: msg.JuryVotes) -> Refused | None:
        record = self._record
        refusal = record.may(Action.VOTE, Actor(role=Role.JUROR, name=JURY))
        if refusal is not None:
            return refusal
        deadline = record.deadline()
        if deadline is not None and record.reached(deadline):
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

    # ---- withdrawal and objections --------------------------------------------------------

    async def withdraw(self, request: msg.Withdraw) -> msg.StepResult:
        record = self._record
        async with record.lock:
            reject(self.check_withdrawal(request))
            await record.move(
                EventKind.WITHDRAWN,
                request.actor.name,
                detail={"reason": request.reason},
                note=request.reason,
            )
            return record.result()

    def check_withdrawal(self, request: msg.Withdraw) -> Refused | None:
        return self._record.may(Action.WITHDRAW, request.actor) or text_refusal(
            request.reason, field="reason", required=False
        )

    async def lodge_objection(self, request: msg.Objection) -> msg.StepResult:
        record = self._record
        async with record.lock:
            reject(self.check_objection(request))
            publicity = record.publicity
            if publicity is None or request.actor.member_id is None:
                raise InvariantError("an objection passed its checks without a publicity")
            try:
                await call_database(
                    ClaimActivities.record_objection,
                    msg.ObjectionRecord(
                        claim_id=record.claim.claim_id,
                        plan_id=record.claim.plan_id,
                        period_id=publicity.period_id,
                        objector_id=request.actor.member_id,
                        reason=request.reason,
                        at=record.program_now(),
                    ),
                )
            except ActivityError as err:
                # The objector is not a member, say: the claim does not move.
                raise ApplicationError(cause_of(err), type="ObjectionRefused") from err
            record.objected_periods.append(publicity.period_id)
            record.publicity = None
            record.findings = None
            record.investigation_round += 1
            await record.move(
                EventKind.OBJECTED,
                request.actor.name,
                detail={"period_id": publicity.period_id, "reason": request.reason},
                note=request.reason,
                set_period=True,
                period_id=None,
            )
            return record.result()

    def check_objection(self, request: msg.Objection) -> Refused | None:
        record = self._record
        return (
            record.may(Action.OBJECT, request.actor)
            or objection_refusal(record.publicity, now=record.program_now())
            or text_refusal(request.reason, field="reason", required=True)
        )
