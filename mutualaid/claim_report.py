"""Reporting a claim: its id, and the check that a report can be read at all.

Whether a readable claim is covered (waiting period, age band, duplicates) is the
eligibility decision's business (`mutualaid.eligibility`), made when the claim is taken in;
this module refuses, with the field and the value, what could never get that far.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date

from mutualaid.claim_materials import (
    MAX_DOCUMENTS,
    MAX_REFERENCE_LENGTH,
    Document,
    document_refusal,
)
from mutualaid.errors import InputError
from mutualaid.money import Fen, format_fen
from mutualaid.plan import Plan

MAX_CLAIM_ID_LENGTH = 64
MAX_HOSPITAL_LENGTH = 400
MAX_CONDITION_LENGTH = 200
MAX_MEMBER_ID = 2**63 - 1
_CLAIM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def claim_id_for(plan_id: str, member_id: int, condition: str, diagnosis_date: date) -> str:
    """The claim's id, derived from what makes a claim unique (plan, member, condition,
    diagnosis date), so reporting the same illness twice finds the first claim.

    >>> claim_id_for("chronic", 7, "Malignant tumour ", date(2026, 10, 1))
    'chronic-7-20261001-36c881ba'
    """
    digest = hashlib.sha256(condition.strip().lower().encode()).hexdigest()[:8]
    return f"{plan_id}-{member_id}-{diagnosis_date:%Y%m%d}-{digest}"


def check_claim_id(claim_id: str) -> str:
    if len(claim_id) > MAX_CLAIM_ID_LENGTH or not _CLAIM_ID.fullmatch(claim_id):
        raise InputError(
            "claim", claim_id, f"must be 1 to {MAX_CLAIM_ID_LENGTH} letters, digits, '-' or '_'"
        )
    return claim_id


def check_report(
    *,
    plan: Plan,
    member_id: int,
    condition: str,
    diagnosis_date: date,
    hospital: str,
    documents: Iterable[Document],
    claimed_fen: Fen | None,
    today: date,
) -> None:
    """Refuse a report that cannot be read, naming the field and the value. Whether a
    readable claim is covered is the eligibility decision's business, not this check's."""
    if not 0 < member_id <= MAX_MEMBER_ID:
        raise InputError("member", member_id, "must be a positive member id")
    if not condition.strip() or len(condition) > MAX_CONDITION_LENGTH:
        raise InputError("condition", condition, f"must be 1 to {MAX_CONDITION_LENGTH} characters")
    if not hospital.strip() or len(hospital) > MAX_HOSPITAL_LENGTH:
        raise InputError("hospital", hospital, f"must be 1 to {MAX_HOSPITAL_LENGTH} characters")
    if diagnosis_date > today:
        raise InputError(
            "diagnosed", diagnosis_date.isoformat(), f"is in the future (today is {today})"
        )
    docs = list(documents)
    if len(docs) > MAX_DOCUMENTS:
        raise InputError("documents", f"{len(docs)} documents", f"at most {MAX_DOCUMENTS}")
    for doc in docs:
        if document_refusal([doc]) is not None:
            raise InputError(
                "document",
                doc.reference,
                f"must be 1 to {MAX_REFERENCE_LENGTH} printable characters",
            )
    if claimed_fen is not None:
        largest = max(band.amount_fen for band in plan.benefits)
        if claimed_fen <= 0:
            raise InputError("amount", format_fen(claimed_fen), "must be positive")
        if claimed_fen > largest:
            raise InputError(
                "amount",
                format_fen(claimed_fen),
                f"exceeds the largest benefit of plan {plan.id} ({format_fen(largest)})",
            )
