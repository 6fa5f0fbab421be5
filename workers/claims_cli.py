"""`mutualaid claims ...`: report a claim, take its human steps, list and show claims.

Every input is checked before anything is written or started: a bad one stops with one line
naming the field and the value, exit 2. An action the claim refuses (wrong state, wrong role,
an unregistered staff login, a conflict of interest, outside the publicity window, a
finished claim) is one line with the claim's own reason, exit 3, nothing changed. A worker
that does not answer is one line too (exit 4); `claims show` then prints the claim's SQL
record instead. `claims standin ...` (workers/claims_standin.py) drives by hand what other
parts of the program do.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from temporalio.client import (
    Client,
    WorkflowHandle,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from infra.config import Settings, load_settings
from infra.db import reading, unit_of_work
from infra.plans import get_plan
from infra.repositories import ActorRepository
from infra.temporal import connect
from mutualaid.calendar import parse_date, program_date
from mutualaid.claim import (
    MAX_DOCUMENTS,
    Actor,
    ClaimState,
    Document,
    DocumentKind,
    Findings,
    ReviewOutcome,
    Role,
    check_claim_id,
    check_report,
    claim_id_for,
    family_of,
)
from mutualaid.errors import InputError, NotYetError
from mutualaid.jury import repeated_juror
from mutualaid.money import Fen, format_fen, parse_yuan
from settlement.members import current_member
from workers.claims_client import (
    ClaimArg,
    JsonFlag,
    NoAnswerError,
    claim_handle,
    claim_query,
    claim_record,
    claim_status,
    database,
    member_id_of,
    plain,
    run_step,
    staff_name,
    with_client,
)
from workers.claims_standin import standin
from workers.output import emit, errors
from workers.stack import plan_sources
from workers.worker import exits_explicitly
from workflows import claim_messages as msg
from workflows.search_attributes import (
    BENEFIT_FEN,
    CLAIM_STATE,
    MEMBER_ID,
    NEXT_DEADLINE,
    OVERDUE,
    PERIOD_ID,
    PLAN_ID,
)

T = TypeVar("T")

claims_app = typer.Typer(
    help="Claims: report, review, investigate, decide, appeal, vote, object; list and show.",
    no_args_is_help=True,
)
claims_app.add_typer(standin, name="standin")

ReviewerOpt = Annotated[str, typer.Option("--reviewer", help="The reviewer's staff login.")]
ReviewerMemberOpt = Annotated[
    int | None,
    typer.Option("--reviewer-member", help="The reviewer's own member id, if a member."),
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why, in words.")]


# ---- reporting ------------------------------------------------------------------------


@claims_app.command("submit")
@exits_explicitly
def submit(
    member: Annotated[int, typer.Option("--member", help="The applicant's member id.")],
    diagnosed: Annotated[str, typer.Option("--diagnosed", help="Diagnosis date, YYYY-MM-DD.")],
    hospital: Annotated[str, typer.Option("--hospital", help="The diagnosing hospital.")],
    plan_id: Annotated[str, typer.Option("--plan", help="Plan id.")] = "chronic",
    condition: Annotated[str, typer.Option("--condition")] = "malignant tumour",
    document: Annotated[
        list[str] | None,
        typer.Option(
            "--document",
            help="KIND:REFERENCE, repeatable; kinds: " + ", ".join(k.value for k in DocumentKind),
        ),
    ] = None,
    amount: Annotated[
        str | None, typer.Option("--amount", help="The sum claimed, yuan as text (optional).")
    ] = None,
    accident: Annotated[bool, typer.Option("--accident", help="Caused by an accident.")] = False,
    claim_id: Annotated[
        str | None, typer.Option("--claim-id", help="Default: derived from the facts.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Report a claim and start its workflow (after every input is checked)."""
    settings = load_settings()
    plan = get_plan(plan_sources(settings), plan_id)
    diagnosis_date = parse_date(diagnosed, field="diagnosed")
    docs = _documents(document or [])
    claimed: Fen | None = parse_yuan(amount, field="amount") if amount is not None else None
    today = program_date(datetime.now(UTC))
    check_report(
        plan=plan,
        member_id=member,
        condition=condition,
        diagnosis_date=diagnosis_date,
        hospital=hospital,
        documents=docs,
        claimed_fen=claimed,
        today=today,
    )
    cid = check_claim_id(claim_id or claim_id_for(plan.id, member, condition, diagnosis_date))
    with database(settings) as engine, unit_of_work(engine) as session:
        if current_member(settings.store_root, session, plan.id, member) is None:
            raise InputError("member", member, f"is not a member of plan {plan.id}")
    claim = msg.ClaimInput(
        claim_id=cid,
        plan_id=plan.id,
        member_id=member,
        condition=condition.strip(),
        diagnosis_date=diagnosis_date,
        hospital=hospital.strip(),
        documents=tuple(docs),
        accident=accident,
        claimed_fen=claimed,
        seconds_per_day=str(settings.seconds_per_day),
    )

    async def start(client: Client) -> None:
        try:
            await client.start_workflow(
                msg.WORKFLOW_NAME,
                claim,
                id=msg.workflow_id(cid),
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(CLAIM_STATE, ClaimState.REPORTED.value),
                        SearchAttributePair(PLAN_ID, plan.id),
                        SearchAttributePair(MEMBER_ID, str(member)),
                    ]
                ),
            )
        except WorkflowAlreadyStartedError:
            raise InputError("claim", cid, "is already reported (see `claims show`)") from None

    with_client(settings, start)
    emit(
        {
            "claim": cid,
            "workflow": msg.workflow_id(cid),
            "plan": plan.id,
            "member": member,
            "task_queue": settings.task_queue,
        },
        as_json=as_json,
        title="Claim reported",
    )


def _documents(specs: Sequence[str]) -> list[Document]:
    if len(specs) > MAX_DOCUMENTS:
        raise InputError("document", f"{len(specs)} documents", f"at most {MAX_DOCUMENTS}")
    docs = []
    for spec in specs:
        kind, sep, reference = spec.partition(":")
        if not sep or kind.strip() not in set(DocumentKind):
            raise InputError(
                "document",
                spec,
                "must be KIND:REFERENCE with KIND one of "
                + ", ".join(k.value for k in DocumentKind),
            )
        docs.append(Document(kind=DocumentKind(kind.strip()), reference=reference.strip()))
    return docs


# ---- looking at claims -----------------------------------------------------------------


@claims_app.command("list")
@exits_explicitly
def list_claims(
    state: Annotated[str | None, typer.Option("--state", help="e.g. InReview.")] = None,
    plan_id: Annotated[str | None, typer.Option("--plan")] = None,
    period: Annotated[
        str | None,
        typer.Option("--period", help="Publicity date (with --plan) or period-<plan>-<date>."),
    ] = None,
    overdue: Annotated[
        bool | None, typer.Option("--overdue/--not-overdue", help="Only (not) overdue.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Claims from Temporal visibility, filtered by state, plan, period and overdue."""
    settings = load_settings()
    plan = get_plan(plan_sources(settings), plan_id).id if plan_id else None
    query = claims_query(
        state=state,
        plan_id=plan,
        period=_period_key(period, plan or "chronic") if period else None,
        overdue=overdue,
    )

    async def fetch(client: Client) -> list[dict[str, Any]]:
        rows = []
        async for execution in client.list_workflows(query, limit=limit):
            attributes = execution.typed_search_attributes
            benefit = attributes.get(BENEFIT_FEN)
            deadline = attributes.get(NEXT_DEADLINE)
            rows.append(
                {
                    "claim": execution.id.removeprefix("claim-"),
                    "state": attributes.get(CLAIM_STATE),
                    "plan": attributes.get(PLAN_ID),
                    "member": attributes.get(MEMBER_ID),
                    "benefit": format_fen(benefit) if benefit is not None else None,
                    "period": attributes.get(PERIOD_ID),
                    "overdue": bool(attributes.get(OVERDUE)),
                    "next_deadline": deadline.isoformat() if deadline else None,
                    "reported": execution.start_time.isoformat(),
                }
            )
        return rows

    emit(with_client(settings, fetch), as_json=as_json, title="Claims")


def _period_key(period: str, plan_id: str) -> str:
    if _PERIOD_KEY.fullmatch(period):
        return period
    return msg.period_key(plan_id, parse_date(period, field="period"))


_PERIOD_KEY = re.compile(r"period-[A-Za-z0-9_-]+-[0-9]{4}-[0-9]{2}-[0-9]{2}")


def claims_query(
    *,
    state: str | None = None,
    plan_id: str | None = None,
    period: str | None = None,
    overdue: bool | None = None,
) -> str:
    """A visibility query over claim workflows. Values are checked, never pasted raw.

    >>> claims_query(state="InReview", overdue=True)
    "WorkflowType = 'Claim' AND ClaimState = 'InReview' AND Overdue = true"
    """
    clauses = [f"WorkflowType = '{msg.WORKFLOW_NAME}'"]
    if state is not None:
        if state not in {s.value for s in ClaimState}:
            raise InputError("state", state, "is not a claim state (" + ", ".join(ClaimState) + ")")
        clauses.append(f"{CLAIM_STATE.name} = '{state}'")
    if plan_id is not None:
        clauses.append(f"{PLAN_ID.name} = '{plan_id}'")
    if period is not None:
        if not _PERIOD_KEY.fullmatch(period):
            raise InputError("period", period, "must be period-<plan>-<YYYY-MM-DD>")
        clauses.append(f"{PERIOD_ID.name} = '{period}'")
    if overdue is not None:
        clauses.append(f"{OVERDUE.name} = {'true' if overdue else 'false'}")
    return " AND ".join(clauses)


@claims_app.command("show")
@exits_explicitly
def show(claim_id: ClaimArg, as_json: JsonFlag = False) -> None:
    """A claim's state, deadlines and timeline; from its SQL record when no worker answers."""
    settings = load_settings()
    check_claim_id(claim_id)

    async def fetch() -> tuple[msg.ClaimStatus, list[msg.TimelineEntry]] | str:
        # Connection and worker trouble come back as a reason, so the SQL record can answer.
        try:
            client = await connect(settings)
        except InputError as exc:
            return str(exc)
        handle = claim_handle(client, claim_id)
        try:
            status = await claim_status(handle, claim_id)
            timeline = await claim_query(
                handle, claim_id, msg.TIMELINE, result_type=list[msg.TimelineEntry]
            )
        except NoAnswerError as exc:
            return str(exc)
        return status, timeline

    answer = asyncio.run(fetch())
    if isinstance(answer, str):
        _show_record(settings, claim_id, answer, as_json=as_json)
        return
    status, timeline = answer
    rows = [
        {
            "seq": e.seq,
            "at": e.at.isoformat(timespec="seconds"),
            "event": e.kind,
            "state": e.state.value,
            "actor": e.actor,
            "note": e.note,
        }
        for e in timeline
    ]
    if as_json:
        emit({"status": plain(status), "timeline": rows, "source": "workflow"}, as_json=True)
        return
    emit(_status_row(status), as_json=False, title=f"Claim {claim_id}")
    emit(rows, as_json=False, title="Timeline")


def _show_record(settings: Settings, claim_id: str, why: str, *, as_json: bool) -> None:
    """What an operator wants when the workflow cannot answer: the claim as SQL recorded it,
    said to be so (on stderr, so --json stays one document), rather than a wait or a
    traceback. A claim SQL does not hold either is the workflow's error, one line."""
    record = claim_record(settings, claim_id)
    if record is None:
        raise NotYetError("claim", claim_id, why.removeprefix(f"claim={claim_id!r}: "))
    errors.print(
        f"note: {why}; shown from the SQL record (deadlines are the workflow's to say)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if as_json:
        emit(
            {"status": record.status, "timeline": record.timeline, "source": "sql"},
            as_json=True,
        )
        return
    emit(record.status, as_json=False, title=f"Claim {claim_id} (SQL record)")
    emit(record.timeline, as_json=False, title="Timeline (SQL record)")


def _status_row(status: msg.ClaimStatus) -> dict[str, Any]:
    deadline = status.next_deadline
    return {
        "state": status.state.value,
        "plan": f"{status.plan_id} ({status.rules_version or '-'})",
        "member": status.member_id,
        "eligible": status.eligible,
        "reasons": list(status.reasons),
        "age at diagnosis": status.age_at_diagnosis,
        "benefit": format_fen(status.benefit_fen) if status.benefit_fen is not None else None,
        "missing documents": [k.value for k in status.missing_documents],
        "next deadline": (
            f"{deadline.kind.value} {deadline.due.isoformat(timespec='minutes')}"
            if deadline
            else None
        ),
        "overdue": status.overdue,
        "period": status.period_id,
        "jury": f"round {status.jury_round}, {status.jury_votes_counted} votes counted"
        if status.jury_round
        else None,
        "investigation": status.investigation_reference,
        "payout": status.payout_reference,
    }


# ---- human steps ----------------------------------------------------------------------


@claims_app.command("materials")
@exits_explicitly
def materials(
    claim_id: ClaimArg,
    document: Annotated[list[str], typer.Option("--document", help="KIND:REFERENCE.")],
    as_json: JsonFlag = False,
) -> None:
    """Send documents for a claim, as its applicant."""
    docs = _documents(document)

    async def send(handle: WorkflowHandle[Any, Any], status: msg.ClaimStatus) -> object:
        request = msg.SubmitMaterials(actor=_applicant(status), documents=tuple(docs))
        return await handle.execute_update(
            msg.SUBMIT_MATERIALS, request, result_type=msg.StepResult
        )

    run_step(claim_id, "submit materials", send, as_json=as_json)


@claims_app.command("review")
@exits_explicitly
def review(
    claim_id: ClaimArg,
    reviewer: ReviewerOpt,
    outcome: Annotated[ReviewOutcome, typer.Option("--outcome", help="pass, incomplete, deny.")],
    resubmit: Annotated[
        list[DocumentKind] | None, typer.Option("--resubmit", help="Kinds to send again.")
    ] = None,
    reason: ReasonOpt = "",
    reviewer_member: ReviewerMemberOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """The platform's preliminary review of the materials, by a registered reviewer."""
    staff = _registered(reviewer, Role.REVIEWER)

    async def send(handle: WorkflowHandle[Any, Any], status: msg.ClaimStatus) -> object:
        request = msg.Review(
            actor=_with_family(staff, reviewer_member, status.plan_id),
            outcome=outcome,
            resubmit=tuple(resubmit or ()),
            reason=reason,
        )
        return await handle.execute_update(msg.REVIEW, request, result_type=msg.StepResult)

    run_step(claim_id, "review", send, as_json=as_json)


@claims_app.command("investigate")
@exits_explicitly
def investigate(
    claim_id: ClaimArg,
    investigator: Annotated[str, typer.Option("--investigator", help="The firm's agent.")],
    summary: Annotated[str, typer.Option("--summary", help="What the investigation found.")],
    diagnosis_confirmed: Annotated[
        bool, typer.Option("--diagnosis-confirmed/--diagnosis-not-confirmed")
    ] = True,
    declaration_consistent: Annotated[
        bool, typer.Option("--declaration-consistent/--declaration-inconsistent")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Record the investigation firm's findings, as a registered investigator."""
    staff = _registered(investigator, Role.INVESTIGATOR)

    async def send(handle: WorkflowHandle[Any, Any], status: msg.ClaimStatus) -> object:
        request = msg.RecordFindings(
            actor=staff,
            findings=Findings(
                diagnosis_confirmed=diagnosis_confirmed,
                declaration_consistent=declaration_consistent,
                summary=summary,
            ),
        )
        return await handle.execute_update(msg.RECORD_FINDINGS, request, result_type=msg.StepResult)

    run_step(claim_id, "record findings", send, as_json=as_json)


@claims_app.command("decide")
@exits_explicitly
def decide(
    claim_id: ClaimArg,
    reviewer: ReviewerOpt,
    approve: Annotated[bool, typer.Option("--approve/--deny", help="The decision.")],
    reason: ReasonOpt = "",
    reviewer_member: ReviewerMemberOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve (the age band fixes the benefit) or deny with a reason, as a registered
    reviewer."""
    staff = _registered(reviewer, Role.REVIEWER)

    async def send(handle: WorkflowHandle[Any, Any], status: msg.ClaimStatus) -> object:
        request = msg.Decide(
            actor=_with_family(staff, reviewer_member, status.plan_id),
            approve=approve,
            reason=reason,
        )
        return await handle.execute_update(msg.DECIDE, request, result_type=msg.StepResult)

    run_step(claim_id, "decide", send, as_json=as_json)


@claims_app.command("appeal")
@exits_explicitly
def appeal(claim_id: ClaimArg, reason: ReasonOpt = "", as_json: JsonFlag = False) -> None:
    """Ask the members' jury to hear a denied claim, as its applicant."""

    async def send(handle: WorkflowHandle[Any, Any], status: msg.ClaimStatus) -> object:
        request = msg.Appeal(actor=_applicant(status), reason=reason)
        return await handle.execute_update(msg.APPEAL, request, result_type=msg.StepResult)

    run_step(claim_id, "appeal", send, as_json=as_json)


@claims_app.command("withdraw")
@exits_explicitly
def withdraw(claim_id: ClaimArg, reason: ReasonOpt = "", as_json: JsonFlag = False) -> None:
    """Withdraw a claim, as its applicant."""

    async def send(handle: WorkflowHandle[Any, Any], status: msg.ClaimStatus) -> object:
        request = msg.Withdraw(actor=_applicant(status), reason=reason)
        return await handle.execute_update(msg.WITHDRAW, request, result_type=msg.StepResult)

    run_step(claim_id, "withdraw", send, as_json=as_json)


@claims_app.command("object")
@exits_explicitly
def object_(
    claim_id: ClaimArg,
    member: Annotated[int, typer.Option("--member", help="The objecting member's id.")],
    reason: Annotated[str, typer.Option("--reason", help="What is wrong with the case.")],
    as_json: JsonFlag = False,
) -> None:
    """Object to a publicised claim, as a member, during the publicity window."""
    member_id_of(member, "member")

    async def send(handle: WorkflowHandle[Any, Any], status: msg.ClaimStatus) -> object:
        request = msg.Objection(
            actor=Actor(role=Role.MEMBER, name=f"member:{member}", member_id=member),
            reason=reason,
        )
        return await handle.execute_update(msg.OBJECT, request, result_type=msg.StepResult)

    run_step(claim_id, "object", send, as_json=as_json)


@claims_app.command("vote")
@exits_explicitly
def vote(
    claim_id: ClaimArg,
    juror: Annotated[int | None, typer.Option("--juror", help="One juror's member id.")] = None,
    approve: Annotated[
        bool | None, typer.Option("--approve/--reject", help="That juror's vote.")
    ] = None,
    votes_file: Annotated[
        Path | None,
        typer.Option("--votes", help="CSV of juror_id,approve|reject; sent in batches."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Cast jurors' votes: one with --juror and --approve/--reject, or a file of them."""
    votes = _votes(juror, approve, votes_file)

    async def send(handle: WorkflowHandle[Any, Any], status: msg.ClaimStatus) -> object:
        counted = repeated = 0
        refused: list[msg.RefusedVote] = []
        round_ = status.jury_round
        for start in range(0, len(votes), msg.MAX_VOTES_PER_BATCH):
            batch = msg.JuryVotes(votes=tuple(votes[start : start + msg.MAX_VOTES_PER_BATCH]))
            receipt = await handle.execute_update(msg.VOTE, batch, result_type=msg.VoteReceipt)
            counted += receipt.counted
            repeated += receipt.repeated
            refused.extend(receipt.refused)
            round_ = receipt.round
        return {
            "round": round_,
            "counted": counted,
            "repeated": repeated,
            "refused": [f"{r.juror_id}: {r.detail}" for r in refused],
        }

    run_step(claim_id, "vote", send, as_json=as_json)


def _votes(juror: int | None, approve: bool | None, path: Path | None) -> list[msg.JuryVote]:
    if path is None:
        if juror is None or approve is None:
            raise InputError("juror", juror, "give --juror with --approve or --reject, or --votes")
        return [msg.JuryVote(juror_id=member_id_of(juror, "juror"), approve=approve)]
    if juror is not None:
        raise InputError("juror", juror, "give either --juror or --votes, not both")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError("votes", str(path), f"cannot be read: {exc.strerror}") from None
    votes: list[msg.JuryVote] = []
    numbers: list[int] = []
    for number, row in enumerate(csv.reader(lines), start=1):
        if not row or row[0].strip().lower() in {"", "juror_id"}:
            continue
        if len(row) != 2 or not row[0].strip().isdigit():
            raise InputError(f"votes line {number}", ",".join(row), "must be juror_id,approve")
        choice = row[1].strip().lower()
        if choice not in {"approve", "reject"}:
            raise InputError(f"votes line {number}", ",".join(row), "vote approve or reject")
        juror_id = member_id_of(int(row[0]), f"votes line {number}")
        votes.append(msg.JuryVote(juror_id=juror_id, approve=choice == "approve"))
        numbers.append(number)
    if not votes:
        raise InputError("votes", str(path), "holds no votes")
    # The whole file is checked before the first batch is sent, so a refused file records
    # nothing (a repeat in a later batch would otherwise land after earlier batches).
    repeat = repeated_juror(vote.juror_id for vote in votes)
    if repeat is not None:
        first, second = votes[repeat.first], votes[repeat.second]
        how = "the same vote" if first.approve == second.approve else "contradicting votes"
        raise InputError(
            "votes",
            str(path),
            f"juror {repeat.juror_id} votes twice (lines {numbers[repeat.first]} and "
            f"{numbers[repeat.second]}, {how}); one vote per juror, nothing was sent",
        )
    return votes


def _applicant(status: msg.ClaimStatus) -> Actor:
    return Actor(
        role=Role.APPLICANT,
        name=f"member:{status.member_id}",
        member_id=status.member_id,
        family_id=None,
    )


def _registered(name: str, role: Role) -> Actor:
    """The staff login as the actors registry holds it, before anything is sent: an unknown
    login is refused here, one line. The role sent is the registry's, not the option's, so
    a login registered in another role is refused by the claim's own validator ("an
    investigator cannot decide"), and the workflow checks the registry again before the step
    moves the claim (a client other than this command can send any name)."""
    login = staff_name(name, role.value)
    settings = load_settings()
    with database(settings) as engine, reading(engine) as session:
        registered = ActorRepository(session).resolve(login, field=role.value, wanted=role)
    return Actor(role=registered.role, name=registered.name)


def _with_family(staff: Actor, member: int | None, plan_id: str) -> Actor:
    """Staff, with their own family when they are members too (conflict checks)."""
    if member is None:
        return staff
    settings = load_settings()
    with database(settings) as engine, unit_of_work(engine) as session:
        found = current_member(
            settings.store_root, session, plan_id, member_id_of(member, "member")
        )
    if found is None:
        raise InputError(f"{staff.role.value}-member", member, f"is not a member of plan {plan_id}")
    return dataclasses.replace(staff, member_id=member, family_id=family_of(found))
