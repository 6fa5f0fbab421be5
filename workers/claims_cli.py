"""`mutualaid claims ...`: report a claim, take its human steps, list and show claims.

Every input is checked before anything is written or started: a bad one stops with one line
naming the field and the value, exit 2. An action the claim refuses (wrong state, wrong role,
an unregistered staff login, a conflict of interest, outside the publicity window, a
finished claim) is one line with the claim's own reason, exit 3, nothing changed. A worker
that does not answer is one line too (exit 4); `claims show` then prints the claim's SQL
record instead. `claims standin ...` (workers/claims_standin.py) drives by hand what other
parts of the program do.

The commands parse, call and print; the work is done in `claims_intake` (checking a report),
`claims_client` (Temporal and SQL), `claims_search` (visibility), `claims_actors` (who acts),
`claims_votes` (jurors' votes) and `claims_views` (what is printed).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from infra.config import load_settings
from infra.plans import get_plan
from messages import claims as msg
from mutualaid.claim_materials import DocumentKind
from mutualaid.claim_report import check_claim_id
from mutualaid.claim_review import Findings, ReviewOutcome
from mutualaid.claim_roles import Role
from workers import claims_actors as actors
from workers.claims_client import (
    ClaimArg,
    claim_now,
    recorded_claim,
    run_step,
    run_update,
    start_claim,
    with_client,
)
from workers.claims_intake import checked_report, documents
from workers.claims_search import claims_query, find_claims, period_key
from workers.claims_standin import standin
from workers.claims_views import listed_row, reported_row, show_claim, show_record
from workers.claims_votes import read_votes, send_votes
from workers.exits import exits_explicitly
from workers.output import JsonFlag, emit
from workers.stack import plan_sources

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
    claim = checked_report(
        settings,
        plan_id=plan_id,
        member=member,
        condition=condition,
        diagnosed=diagnosed,
        hospital=hospital,
        document_specs=document or [],
        amount=amount,
        accident=accident,
        claim_id=claim_id,
    )
    with_client(settings, lambda client: start_claim(client, claim, task_queue=settings.task_queue))
    emit(
        reported_row(claim, task_queue=settings.task_queue),
        as_json=as_json,
        title="Claim reported",
    )


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
        period=period_key(period, plan or "chronic") if period else None,
        overdue=overdue,
    )
    found = with_client(settings, lambda client: find_claims(client, query, limit=limit))
    emit([listed_row(execution) for execution in found], as_json=as_json, title="Claims")


@claims_app.command("show")
@exits_explicitly
def show(claim_id: ClaimArg, as_json: JsonFlag = False) -> None:
    """A claim's state, deadlines and timeline; from its SQL record when no worker answers."""
    settings = load_settings()
    check_claim_id(claim_id)
    answer = asyncio.run(claim_now(settings, claim_id))
    if isinstance(answer, str):
        record = recorded_claim(settings, claim_id, why=answer)
        show_record(claim_id, record, why=answer, as_json=as_json)
        return
    status, timeline = answer
    show_claim(claim_id, status, timeline, as_json=as_json)


# ---- human steps ----------------------------------------------------------------------


@claims_app.command("materials")
@exits_explicitly
def materials(
    claim_id: ClaimArg,
    document: Annotated[list[str], typer.Option("--document", help="KIND:REFERENCE.")],
    as_json: JsonFlag = False,
) -> None:
    """Send documents for a claim, as its applicant."""
    docs = tuple(documents(document))
    run_update(
        claim_id,
        "submit materials",
        msg.SUBMIT_MATERIALS,
        lambda status: msg.SubmitMaterials(actor=actors.applicant(status), documents=docs),
        as_json=as_json,
    )


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
    staff = actors.registered(reviewer, Role.REVIEWER)
    run_update(
        claim_id,
        "review",
        msg.REVIEW,
        lambda status: msg.Review(
            actor=actors.with_family(staff, reviewer_member, status.plan_id),
            outcome=outcome,
            resubmit=tuple(resubmit or ()),
            reason=reason,
        ),
        as_json=as_json,
    )


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
    staff = actors.registered(investigator, Role.INVESTIGATOR)
    findings = Findings(
        diagnosis_confirmed=diagnosis_confirmed,
        declaration_consistent=declaration_consistent,
        summary=summary,
    )
    run_update(
        claim_id,
        "record findings",
        msg.RECORD_FINDINGS,
        lambda status: msg.RecordFindings(actor=staff, findings=findings),
        as_json=as_json,
    )


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
    staff = actors.registered(reviewer, Role.REVIEWER)
    run_update(
        claim_id,
        "decide",
        msg.DECIDE,
        lambda status: msg.Decide(
            actor=actors.with_family(staff, reviewer_member, status.plan_id),
            approve=approve,
            reason=reason,
        ),
        as_json=as_json,
    )


@claims_app.command("appeal")
@exits_explicitly
def appeal(claim_id: ClaimArg, reason: ReasonOpt = "", as_json: JsonFlag = False) -> None:
    """Ask the members' jury to hear a denied claim, as its applicant."""
    run_update(
        claim_id,
        "appeal",
        msg.APPEAL,
        lambda status: msg.Appeal(actor=actors.applicant(status), reason=reason),
        as_json=as_json,
    )


@claims_app.command("withdraw")
@exits_explicitly
def withdraw(claim_id: ClaimArg, reason: ReasonOpt = "", as_json: JsonFlag = False) -> None:
    """Withdraw a claim, as its applicant."""
    run_update(
        claim_id,
        "withdraw",
        msg.WITHDRAW,
        lambda status: msg.Withdraw(actor=actors.applicant(status), reason=reason),
        as_json=as_json,
    )


@claims_app.command("object")
@exits_explicitly
def object_(
    claim_id: ClaimArg,
    member: Annotated[int, typer.Option("--member", help="The objecting member's id.")],
    reason: Annotated[str, typer.Option("--reason", help="What is wrong with the case.")],
    as_json: JsonFlag = False,
) -> None:
    """Object to a publicised claim, as a member, during the publicity window."""
    objector = actors.member(member)
    run_update(
        claim_id,
        "object",
        msg.OBJECT,
        lambda status: msg.Objection(actor=objector, reason=reason),
        as_json=as_json,
    )


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
    votes = read_votes(juror, approve, votes_file)
    run_step(claim_id, "vote", send_votes(votes), as_json=as_json)
