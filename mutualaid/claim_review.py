"""Judging a claim: the preliminary review's outcomes, the firm's findings, the decision, and
what each of these steps must carry to be accepted.

Free text (a reason, a summary) is bounded the same way in every step, the applicant's and
the members' included (`text_refusal`): it travels in workflow history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mutualaid.claim_materials import DocumentKind
from mutualaid.claim_refusals import ActionRefusal, Refused

MAX_TEXT_LENGTH = 2000


class ReviewOutcome(StrEnum):
    PASS = "pass"  # on to the investigation
    INCOMPLETE = "incomplete"  # documents to send again
    DENY = "deny"


@dataclass(frozen=True, slots=True, kw_only=True)
class Findings:
    """What the investigation firm reports back."""

    diagnosis_confirmed: bool
    declaration_consistent: bool
    summary: str


def text_refusal(text: str, *, field: str, required: bool) -> Refused | None:
    """A step's free text: present when required, and never longer than MAX_TEXT_LENGTH.

    >>> text_refusal(" ", field="reason", required=True).detail
    'a reason is required'
    """
    if required and not text.strip():
        return Refused(code=ActionRefusal.BAD_PAYLOAD, detail=f"a {field} is required")
    if len(text) > MAX_TEXT_LENGTH:
        return Refused(
            code=ActionRefusal.BAD_PAYLOAD,
            detail=f"{field} is {len(text)} characters; at most {MAX_TEXT_LENGTH}",
        )
    return None


def review_refusal(
    outcome: ReviewOutcome, *, resubmit: Iterable[DocumentKind], reason: str
) -> Refused | None:
    """A review that sends materials back names what to send; a denial says why."""
    if outcome is ReviewOutcome.INCOMPLETE and not list(resubmit):
        return Refused(code=ActionRefusal.BAD_PAYLOAD, detail="name the documents to send again")
    return text_refusal(reason, field="reason", required=outcome is ReviewOutcome.DENY)


def decision_refusal(*, approve: bool, reason: str, findings: Findings | None) -> Refused | None:
    """A denial gives its reason; an approval needs findings that confirm the diagnosis."""
    if approve and (findings is None or not findings.diagnosis_confirmed):
        return Refused(
            code=ActionRefusal.DIAGNOSIS_NOT_CONFIRMED,
            detail="cannot approve: the investigation did not confirm the diagnosis",
        )
    return text_refusal(reason, field="reason", required=not approve)
