"""How the `claims` commands print a claim: rows for a table (or one JSON document) from a
claim's status and timeline, from its SQL record, and from Temporal visibility."""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowExecution

from messages import claims as msg
from mutualaid.money import format_fen
from workers.claims_client import ClaimRecordView, plain
from workers.output import emit, errors
from workflows.search_attributes import (
    BENEFIT_FEN,
    CLAIM_STATE,
    MEMBER_ID,
    NEXT_DEADLINE,
    OVERDUE,
    PERIOD_ID,
    PLAN_ID,
)


def reported_row(claim: msg.ClaimInput, *, task_queue: str) -> dict[str, Any]:
    """What `claims submit` says it started."""
    return {
        "claim": claim.claim_id,
        "workflow": msg.workflow_id(claim.claim_id),
        "plan": claim.plan_id,
        "member": claim.member_id,
        "task_queue": task_queue,
    }


def listed_row(execution: WorkflowExecution) -> dict[str, Any]:
    """One claim as `claims list` shows it, from its search attributes."""
    attributes = execution.typed_search_attributes
    benefit = attributes.get(BENEFIT_FEN)
    deadline = attributes.get(NEXT_DEADLINE)
    return {
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


def show_claim(
    claim_id: str,
    status: msg.ClaimStatus,
    timeline: list[msg.TimelineEntry],
    *,
    as_json: bool,
) -> None:
    """A claim as its workflow tells it: status, deadlines and timeline."""
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


def show_record(claim_id: str, record: ClaimRecordView, *, why: str, as_json: bool) -> None:
    """What an operator wants when the workflow cannot answer: the claim as SQL recorded it,
    said to be so (on stderr, so --json stays one document), rather than a wait or a
    traceback."""
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
