"""A claim's materials: the kinds of document, which ones a claim needs before review, and
which lists of documents can be accepted.

Documents are references to files kept elsewhere, never their content: the list travels in
workflow history, so it stays small.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mutualaid.claim_refusals import ActionRefusal, Refused


class DocumentKind(StrEnum):
    DIAGNOSIS = "diagnosis"  # the hospital's diagnosis certificate
    PATHOLOGY = "pathology"
    MEDICAL_RECORD = "medical_record"
    IDENTITY = "identity"
    OTHER = "other"


# (policy) What a claim needs before review; the plan file has no materials list yet.
REQUIRED_DOCUMENTS = (DocumentKind.DIAGNOSIS, DocumentKind.MEDICAL_RECORD, DocumentKind.IDENTITY)
MAX_DOCUMENTS = 50
MAX_REFERENCE_LENGTH = 200
_REFERENCE = re.compile(r"[^\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    kind: DocumentKind
    reference: str


def document_refusal(documents: Iterable[Document], *, already: int = 0) -> Refused | None:
    """Whether a list of documents can be accepted: not empty, not oversized, each named."""
    docs = list(documents)
    if not docs:
        return Refused(code=ActionRefusal.BAD_PAYLOAD, detail="no documents given")
    if already + len(docs) > MAX_DOCUMENTS:
        return Refused(
            code=ActionRefusal.BAD_PAYLOAD,
            detail=f"{already + len(docs)} documents; at most {MAX_DOCUMENTS} per claim",
        )
    for doc in docs:
        if not _REFERENCE.fullmatch(doc.reference) or len(doc.reference) > MAX_REFERENCE_LENGTH:
            return Refused(
                code=ActionRefusal.BAD_PAYLOAD,
                detail=f"document reference {doc.reference[:40]!r} must be 1 to "
                f"{MAX_REFERENCE_LENGTH} printable characters",
            )
    return None


def missing_documents(received: Iterable[DocumentKind]) -> tuple[DocumentKind, ...]:
    """The required kinds not received yet, in a fixed order.

    >>> missing_documents([DocumentKind.DIAGNOSIS])
    (<DocumentKind.MEDICAL_RECORD: 'medical_record'>, <DocumentKind.IDENTITY: 'identity'>)
    """
    have = set(received)
    return tuple(kind for kind in REQUIRED_DOCUMENTS if kind not in have)
