"""The claim workflow: one per claim (`claim-<claim id>`), alive from report to payout.

This class is the claim's face to Temporal: its registered name, the run method, and the
updates, signals and queries, each under its stable registered name. The work is done by the
objects it holds: the claim's record (workflows/claim_record.py: state, timeline, deadlines,
and how every change is written down), the main loop (workflows/claim_loop.py: intake,
deadlines and the automatic steps), the side roads it takes (workflows/claim_side_roads.py:
the investigation firm, the jury's count, the payout), and the human steps
(workflows/claim_steps.py: each update's body and its check).

Human steps are Updates with validators: a refused action is rejected with the core's reason
before anything is written, and its handler checks again under the lock. The period
workflow talks to the claim by signals: `publicised`, `cleared`, `funded`. Every side effect
is an idempotent activity called by reference; every event is appended to the claim's SQL
history under a key derived from the workflow's own step counter, so a retried write lands
once.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.claim_loop import ClaimLoop
from workflows.claim_record import ClaimRecord, reject
from workflows.claim_side_roads import SideRoads
from workflows.claim_steps import HumanSteps

with workflow.unsafe.imports_passed_through():
    # The pydantic converter reads a message's postponed annotations through sys.modules,
    # and inside the sandbox that lists a module only once it is imported by its full name
    # (`from messages import claims` would not list `messages.claims`): so the claim modules
    # import `messages.claims` by name, and the intake's reasons, `mutualaid.eligibility`
    # `Reason`s that no workflow module otherwise names, are imported here. Without them a
    # claim could not decode its input or its intake.
    import messages.claims as msg
    import mutualaid.eligibility  # noqa: F401
    from mutualaid.claim import ClaimState
    from mutualaid.claim_deadlines import Publicity


@workflow.defn(name=msg.WORKFLOW_NAME)
class ClaimWorkflow:
    @workflow.init
    def __init__(self, claim: msg.ClaimInput) -> None:
        self._record = ClaimRecord(claim)
        self._loop = ClaimLoop(self._record, SideRoads(self._record))
        self._steps = HumanSteps(self._record)

    @workflow.run
    async def run(self, claim: msg.ClaimInput) -> msg.ClaimOutcome:
        await self._loop.run()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._record.outcome()

    # ---- human steps ------------------------------------------------------------------

    @workflow.update(name=msg.SUBMIT_MATERIALS)
    async def submit_materials(self, request: msg.SubmitMaterials) -> msg.StepResult:
        return await self._steps.submit_materials(request)

    @submit_materials.validator
    def _validate_materials(self, request: msg.SubmitMaterials) -> None:
        reject(self._steps.check_materials(request))

    @workflow.update(name=msg.REVIEW)
    async def review(self, request: msg.Review) -> msg.StepResult:
        return await self._steps.review(request)

    @review.validator
    def _validate_review(self, request: msg.Review) -> None:
        reject(self._steps.check_review(request))

    @workflow.update(name=msg.RECORD_FINDINGS)
    async def record_findings(self, request: msg.RecordFindings) -> msg.StepResult:
        return await self._steps.record_findings(request)

    @record_findings.validator
    def _validate_findings(self, request: msg.RecordFindings) -> None:
        reject(self._steps.check_findings(request))

    @workflow.update(name=msg.DECIDE)
    async def decide(self, request: msg.Decide) -> msg.StepResult:
        return await self._steps.decide(request)

    @decide.validator
    def _validate_decision(self, request: msg.Decide) -> None:
        reject(self._steps.check_decision(request))

    @workflow.update(name=msg.APPEAL)
    async def appeal(self, request: msg.Appeal) -> msg.StepResult:
        return await self._steps.appeal(request)

    @appeal.validator
    def _validate_appeal(self, request: msg.Appeal) -> None:
        reject(self._steps.check_appeal(request))

    @workflow.update(name=msg.VOTE)
    async def vote(self, request: msg.JuryVotes) -> msg.VoteReceipt:
        return await self._steps.vote(request)

    @vote.validator
    def _validate_vote(self, request: msg.JuryVotes) -> None:
        reject(self._steps.check_vote(request))

    @workflow.update(name=msg.WITHDRAW)
    async def withdraw(self, request: msg.Withdraw) -> msg.StepResult:
        return await self._steps.withdraw(request)

    @withdraw.validator
    def _validate_withdraw(self, request: msg.Withdraw) -> None:
        reject(self._steps.check_withdrawal(request))

    @workflow.update(name=msg.OBJECT)
    async def lodge_objection(self, request: msg.Objection) -> msg.StepResult:
        return await self._steps.lodge_objection(request)

    @lodge_objection.validator
    def _validate_objection(self, request: msg.Objection) -> None:
        reject(self._steps.check_objection(request))

    # ---- the period's signals ---------------------------------------------------------

    @workflow.signal(name=msg.PUBLICISED)
    def publicised(self, signal: msg.Publicised) -> None:
        record = self._record
        if record.state is not ClaimState.AWAITING_PUBLICITY:
            workflow.logger.warning("publicised in %s ignored: claim is %s", signal, record.state)
            return
        if signal.period_id in record.objected_periods:
            # An objected case goes to a later period, never back to the one it left.
            workflow.logger.warning("publicised again in objected period %s", signal.period_id)
            return
        record.pending_publicity = Publicity(
            period_id=signal.period_id,
            publicity_date=signal.publicity_date,
            objection_window_end=signal.objection_window_end,
        )
        record.changed()

    @workflow.signal(name=msg.CLEARED)
    def cleared(self, signal: msg.Cleared) -> None:
        # Heard once per period: a period's batch of messages may be sent again.
        if signal.period_id in self._record.cleared_periods:
            return
        self._record.cleared_periods.append(signal.period_id)
        self._record.changed()

    @workflow.signal(name=msg.FUNDED)
    def funded(self, signal: msg.Funded) -> None:
        record = self._record
        if signal.period_id in record.funded_periods:
            return
        record.funded_periods.append(signal.period_id)
        if signal.amount_fen is not None:
            record.funded_amounts[signal.period_id] = signal.amount_fen
        record.changed()

    # ---- queries ----------------------------------------------------------------------

    @workflow.query(name=msg.STATUS)
    def status(self) -> msg.ClaimStatus:
        return self._record.status_view()

    @workflow.query(name=msg.TIMELINE)
    def timeline(self) -> list[msg.TimelineEntry]:
        return list(self._record.timeline)

    @workflow.query(name=msg.DEADLINES)
    def deadlines(self) -> list[msg.DeadlineView]:
        view = self._record.deadline_view()
        return [view] if view is not None else []
