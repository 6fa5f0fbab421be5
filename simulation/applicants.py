"""The applicants and the jury, drawn from the population: which member reports a claim, of
what, where and when diagnosed, with which documents; and which members passed the juror test.

The population itself is `settlement.population`'s; this module draws from it what the
simulated people need. Every draw takes the caller's `random.Random`, so a claim drawn with
its own seeded generator is the same whatever the order claims are worked in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from infra.db import reading, unit_of_work
from infra.repositories import ClaimRepository, JuryRepository
from mutualaid.claim_materials import Document, DocumentKind
from mutualaid.eligibility import ClaimFacts, decide_claim
from mutualaid.membership import Member
from mutualaid.plan import Plan
from settlement.members import current_members
from settlement.store import MemberStore

HOSPITALS = (
    "Peking Union Medical College Hospital, oncology ward 3, bed 12",
    "Sun Yat-sen University Cancer Center, building 2, room 301",
    "West China Hospital of Sichuan University, thoracic surgery",
    "Fudan University Shanghai Cancer Center, ward 8",
    "Zhejiang Cancer Hospital, internal medicine 2",
)
COVERED_CONDITION = "malignant tumour"
# What a member of a chronic plan reports when the claim is not for a covered illness: the
# chronic condition they joined with.
UNCOVERED_CONDITION = "hypertension"
# A diagnosis is reported this many program days after it was made, at most.
REPORTED_WITHIN_DAYS = 20
# Draws of a member whose claim the rules would refuse before one is given up.
_TRIES = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class Application:
    """What an applicant reports."""

    member_id: int
    condition: str
    diagnosis_date: date
    hospital: str


def documents(claim_id: str) -> tuple[Document, ...]:
    """The three documents every claim needs."""
    return (
        Document(kind=DocumentKind.DIAGNOSIS, reference=f"{claim_id}/diagnosis.pdf"),
        Document(kind=DocumentKind.MEDICAL_RECORD, reference=f"{claim_id}/records.pdf"),
        Document(kind=DocumentKind.IDENTITY, reference=f"{claim_id}/id.jpg"),
    )


def resent(claim_id: str, kind: DocumentKind) -> Document:
    """A document sent again after the review asked for it."""
    return Document(kind=kind, reference=f"{claim_id}/{kind.value}-again.pdf")


class Applicants:
    """Members who report claims.

    With a `pool` (the members as `settlement.members.current_members` gives them), each
    draw is checked with the rules (`mutualaid.eligibility.decide_claim`) on the day of the
    report, and a member reports at most once: a claim meant to be covered is. Without one
    (a population too large to hold), members are drawn from 1..members unchecked, as a real
    stream of reports would be."""

    def __init__(self, *, plan: Plan, members: int, pool: dict[int, Member] | None = None):
        self._plan = plan
        self._members = members
        self._pool = pool
        self._free: list[int] = sorted(pool) if pool is not None else []

    @property
    def left(self) -> int | None:
        """Members who have not reported yet (None: unchecked draws)."""
        return len(self._free) if self._pool is not None else None

    def draw(self, rng: random.Random, *, today: date, covered: bool = True) -> Application:
        """One application reported on `today`; `covered=False` reports an uncovered
        condition (refused at intake)."""
        condition = COVERED_CONDITION if covered else UNCOVERED_CONDITION
        diagnosed = today - timedelta(days=rng.randint(1, REPORTED_WITHIN_DAYS))
        hospital = rng.choice(HOSPITALS)
        member = self._member(rng, condition, diagnosed, today, covered=covered)
        return Application(
            member_id=member, condition=condition, diagnosis_date=diagnosed, hospital=hospital
        )

    def _member(
        self, rng: random.Random, condition: str, diagnosed: date, today: date, *, covered: bool
    ) -> int:
        if self._pool is None:
            return rng.randint(1, self._members)
        if not self._free:
            raise RuntimeError("every member of the pool has reported a claim: use more members")
        for _ in range(_TRIES):
            index = rng.randrange(len(self._free))
            member_id = self._free[index]
            facts = ClaimFacts(
                member_id=member_id,
                plan_id=self._plan.id,
                condition=COVERED_CONDITION,
                diagnosis_date=diagnosed,
                accident=False,
            )
            decision = decide_claim(self._plan, self._pool[member_id], facts, as_of=today)
            if decision.eligible or not covered:
                # Swap-remove: drawing stays O(1) per claim.
                self._free[index] = self._free[-1]
                self._free.pop()
                return member_id
        raise RuntimeError(f"no member of the pool is covered on {today}: use more members")


def load_pool(engine: Engine, store_root: str, plan: Plan) -> dict[int, Member]:
    """Every member of the plan as of now, less those who ever claimed (a member who claimed
    is a duplicate or paid out and gone): the pool a run draws its applicants from."""
    store = MemberStore.open(store_root, plan.id)
    head = store.head()
    if head is None:
        raise RuntimeError(f"plan {plan.id} has no members in the store")
    manifest = store.manifest(head)
    ids: list[int] = []
    for shard in range(store.shards):
        ids += store.read_shard(manifest, shard, columns=["member_id"]).column(0).to_pylist()
    with unit_of_work(engine) as session:
        members = current_members(store_root, session, plan.id, ids)
    with reading(engine) as session:
        claimed = {c.member_id for c in ClaimRepository(session).list(plan_id=plan.id)}
    return {i: m for i, m in members.items() if m is not None and i not in claimed}


def qualify_jurors(
    engine: Engine, store_root: str, plan: Plan, today: date, rng: random.Random
) -> list[int]:
    """Adult members of over a month who passed the juror test: enough for a valid vote, with
    some to spare."""
    store = MemberStore.open(store_root, plan.id)
    head = store.head()
    assert head is not None
    manifest = store.manifest(head)
    adult_before = today.replace(year=today.year - plan.jury.juror_min_age)
    joined_before = today - timedelta(days=plan.jury.juror_min_tenure_days + 1)
    eligible: list[int] = []
    for shard in range(store.shards):
        rows = store.read_shard(
            manifest, shard, columns=["member_id", "birth_date", "join_date", "exit_date"]
        ).to_pylist()
        eligible += [
            r["member_id"]
            for r in rows
            if r["birth_date"] <= adult_before
            and r["join_date"] <= joined_before
            and r["exit_date"] is None
        ]
    count = min(len(eligible), plan.jury.min_valid_votes + 400)
    jurors = rng.sample(sorted(eligible), count)
    with unit_of_work(engine) as session:
        jury = JuryRepository(session)
        for member in jurors:
            jury.qualify(plan.id, member, passed_on=today - timedelta(days=1), at=datetime.now(UTC))
    return jurors
