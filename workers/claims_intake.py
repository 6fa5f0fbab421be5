"""A claim as reported on the command line, checked before anything is written or started:
the plan, the dates, the documents, the sum, the facts against the plan's rules, the claim
id, and that the applicant is a member of the plan. A bad one is one line naming the field
and the value."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from infra.config import Settings
from infra.db import unit_of_work
from infra.plans import get_plan
from messages import claims as msg
from mutualaid.calendar import parse_date, program_date
from mutualaid.claim_materials import MAX_DOCUMENTS, Document, DocumentKind
from mutualaid.claim_report import check_claim_id, check_report, claim_id_for
from mutualaid.errors import InputError
from mutualaid.money import Fen, parse_yuan
from settlement.members import current_member
from workers.claims_client import database
from workers.stack import deployment_clock, plan_sources


def checked_report(
    settings: Settings,
    *,
    plan_id: str,
    member: int,
    condition: str,
    diagnosed: str,
    hospital: str,
    document_specs: Sequence[str],
    amount: str | None,
    accident: bool,
    claim_id: str | None,
) -> msg.ClaimInput:
    """The claim workflow's input, once every field has passed (in the order written)."""
    plan = get_plan(plan_sources(settings), plan_id)
    diagnosis_date = parse_date(diagnosed, field="diagnosed")
    docs = documents(document_specs)
    claimed: Fen | None = parse_yuan(amount, field="amount") if amount is not None else None
    clock = deployment_clock(settings)
    today = program_date(clock.program_now(datetime.now(UTC)))
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
    return msg.ClaimInput(
        claim_id=cid,
        plan_id=plan.id,
        member_id=member,
        condition=condition.strip(),
        diagnosis_date=diagnosis_date,
        hospital=hospital.strip(),
        documents=tuple(docs),
        accident=accident,
        claimed_fen=claimed,
        seconds_per_day=str(clock.seconds_per_day),
        clock_origin=clock.origin_real,
        program_origin=clock.origin_program,
    )


def documents(specs: Sequence[str]) -> list[Document]:
    """Documents written `KIND:REFERENCE`, at most MAX_DOCUMENTS of them."""
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
