"""Repositories against real SQLite and PostgreSQL: idempotent writes, unique keys, history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.models import ClaimEventRow, PayoutRow, PeriodRow
from infra.plans import PlanSource, builtin_plan_sources
from infra.repositories import (
    ClaimRepository,
    DebitRunRepository,
    DuplicateClaimError,
    JuryRepository,
    MemberChangeRepository,
    NewClaim,
    ObjectionRepository,
    PayoutRepository,
    PeriodRepository,
    PlanRepository,
    PublicityRepository,
    ShardTotals,
)
from infra.repositories.jury import Vote
from mutualaid.errors import InputError, InvariantError, PlanError
from mutualaid.membership import ChangeKind, ExitReason, MemberChange
from mutualaid.plan import parse_plan
from mutualaid.share import compute_share

AT = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
CHRONIC = next(s for s in builtin_plan_sources() if s.plan.id == "chronic")


def new_claim(claim_id: str = "c-1", member_id: int = 42, **overrides: object) -> NewClaim:
    values: dict[str, object] = {
        "claim_id": claim_id,
        "plan_id": "chronic",
        "rules_version": CHRONIC.plan.rules_version,
        "member_id": member_id,
        "condition": "Malignant Tumour",
        "diagnosis_date": date(2026, 10, 3),
        "hospital": "Peking Union Medical College Hospital",
        "state": "reported",
    }
    values.update(overrides)
    return NewClaim(**values)  # type: ignore[arg-type]


@pytest.fixture
def plans(session: Session) -> PlanRepository:
    repository = PlanRepository(session)
    for source in builtin_plan_sources():
        repository.record(source, at=AT)
    return repository


def test_recording_the_same_rules_twice_keeps_one_version(
    session: Session, plans: PlanRepository
) -> None:
    plans.record(CHRONIC, at=AT + timedelta(days=1))
    versions = plans.versions("chronic")
    assert [v.rules_version for v in versions] == ["chronic-2020.1"]
    assert versions[0].content == CHRONIC.text
    assert versions[0].loaded_at == AT


def test_changed_rules_under_an_existing_version_are_refused(plans: PlanRepository) -> None:
    changed = CHRONIC.text.replace('annual_cap = "188"', 'annual_cap = "200"')
    source = PlanSource(plan=parse_plan(changed), text=changed, origin="edited")
    with pytest.raises(PlanError, match=r"chronic\.rules_version='chronic-2020\.1'"):
        plans.record(source, at=AT)


def test_a_new_rules_version_is_added_beside_the_old(plans: PlanRepository) -> None:
    changed = CHRONIC.text.replace("chronic-2020.1", "chronic-2021.1").replace(
        "effective_from = 2020-05-13", "effective_from = 2021-01-01"
    )
    plans.record(PlanSource(plan=parse_plan(changed), text=changed, origin="v2"), at=AT)
    assert [v.rules_version for v in plans.versions("chronic")] == [
        "chronic-2020.1",
        "chronic-2021.1",
    ]
    assert [p.id for p in plans.plans()] == ["chronic", "major"]


def test_claim_reported_twice_with_the_same_id_is_one_claim(
    session: Session, plans: PlanRepository
) -> None:
    claims = ClaimRepository(session)
    first = claims.add(new_claim(), at=AT)
    again = claims.add(new_claim(), at=AT + timedelta(hours=1))
    assert again.id == first.id
    assert again.reported_at == AT
    assert again.condition == "malignant tumour"
    assert len(claims.list(plan_id="chronic")) == 1


def test_a_second_claim_for_the_same_member_and_diagnosis_is_refused(
    session: Session, plans: PlanRepository
) -> None:
    claims = ClaimRepository(session)
    claims.add(new_claim("c-1"), at=AT)
    with pytest.raises(DuplicateClaimError, match="same member and diagnosis as claim c-1"):
        claims.add(new_claim("c-2", condition="malignant tumour "), at=AT)
    # A different diagnosis date is a different claim.
    claims.add(new_claim("c-3", diagnosis_date=date(2026, 10, 4)), at=AT)
    assert {p.claim_id for p in claims.prior_claims(42)} == {"c-1", "c-3"}


def test_the_database_itself_refuses_a_duplicate_diagnosis(
    session: Session, plans: PlanRepository
) -> None:
    claims = ClaimRepository(session)
    row = claims.add(new_claim("c-1"), at=AT)
    clone = type(row)(
        id="c-9",
        plan_id=row.plan_id,
        rules_version=row.rules_version,
        member_id=row.member_id,
        condition=row.condition,
        diagnosis_date=row.diagnosis_date,
        hospital="x",
        state="reported",
        reported_at=AT,
        updated_at=AT,
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(clone)


def test_claim_events_append_in_order_and_a_retried_event_is_written_once(
    session: Session, plans: PlanRepository
) -> None:
    claims = ClaimRepository(session)
    claims.add(new_claim(), at=AT)
    claims.append_event(
        "c-1", event_key="intake", kind="reported", state="reported", actor="member:42", at=AT
    )
    review = claims.append_event(
        "c-1",
        event_key="review-1",
        kind="reviewed",
        state="investigation",
        actor="reviewer:7",
        at=AT + timedelta(days=1),
        detail={"complete": True},
    )
    retried = claims.append_event(
        "c-1",
        event_key="review-1",
        kind="reviewed",
        state="investigation",
        actor="reviewer:7",
        at=AT + timedelta(days=2),
    )
    assert retried.id == review.id
    events = claims.events("c-1")
    assert [(e.seq, e.kind) for e in events] == [(1, "reported"), (2, "reviewed")]
    assert events[1].detail == {"complete": True}
    claim = claims.get("c-1")
    assert claim is not None
    assert claim.state == "investigation"
    assert claim.updated_at == AT + timedelta(days=1)
    count = session.scalars(select(ClaimEventRow).where(ClaimEventRow.claim_id == "c-1")).all()
    assert len(count) == 2


def test_events_for_an_unknown_claim_are_refused(session: Session, plans: PlanRepository) -> None:
    with pytest.raises(InputError, match="claim='nope': does not exist"):
        ClaimRepository(session).append_event(
            "nope", event_key="k", kind="x", state="x", actor="a", at=AT
        )


def test_naive_datetimes_are_refused_on_write(session: Session, plans: PlanRepository) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        ClaimRepository(session).add(new_claim(), at=datetime(2026, 1, 1))
        session.flush()


def test_a_period_opened_twice_is_one_period(session: Session, plans: PlanRepository) -> None:
    periods = PeriodRepository(session)
    first, created = periods.open(
        "chronic", date(2026, 12, 7), rules_version="chronic-2020.1", at=AT
    )
    second, created_again = periods.open(
        "chronic", date(2026, 12, 7), rules_version="chronic-2020.1", at=AT
    )
    assert (created, created_again) == (True, False)
    assert second.id == first.id
    assert first.sharing_date == date(2026, 12, 14)
    assert first.workflow_id == "period-chronic-2026-12-07"
    # Another plan on the same day is its own period.
    other, created_other = periods.open(
        "major", date(2026, 12, 7), rules_version="major-2019.1", at=AT
    )
    assert created_other and other.id != first.id
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            PeriodRow(
                plan_id="chronic",
                publicity_date=date(2026, 12, 7),
                sharing_date=date(2026, 12, 14),
                rules_version="chronic-2020.1",
                state="open",
                opened_at=AT,
            )
        )


def test_a_period_must_open_on_a_publicity_day(session: Session, plans: PlanRepository) -> None:
    with pytest.raises(InputError, match="publicity_date='2026-12-08'"):
        PeriodRepository(session).open(
            "chronic", date(2026, 12, 8), rules_version="chronic-2020.1", at=AT
        )


def test_roster_and_share_are_fixed_once(session: Session, plans: PlanRepository) -> None:
    periods = PeriodRepository(session)
    period, _ = periods.open("chronic", date(2026, 12, 7), rules_version="chronic-2020.1", at=AT)
    periods.record_roster(period, members=1_000_000)
    periods.record_roster(period, members=1_000_000)
    with pytest.raises(InvariantError, match="already locked"):
        periods.record_roster(period, members=999_999)
    share = compute_share(
        aid_fen=30_000_000,
        surplus_in_fen=0,
        members=1_000_000,
        fee_rate=CHRONIC.plan.sharing.fee_rate,
    )
    periods.record_share(period, share)
    periods.record_share(period, share)
    assert (period.share_fen, period.fee_fen, period.state) == (33, 2_400_000, "share_fixed")
    higher = compute_share(
        aid_fen=60_000_000,
        surplus_in_fen=0,
        members=1_000_000,
        fee_rate=CHRONIC.plan.sharing.fee_rate,
    )
    with pytest.raises(InvariantError, match="share already 33"):
        periods.record_share(period, higher)


def test_the_previous_period_carries_its_surplus(session: Session, plans: PlanRepository) -> None:
    periods = PeriodRepository(session)
    assert periods.previous("chronic", date(2026, 12, 7)) is None
    first, _ = periods.open("chronic", date(2026, 12, 7), rules_version="chronic-2020.1", at=AT)
    periods.close(
        first,
        collected_fen=33_000_000,
        unpaid_fen=0,
        subsidy_fen=0,
        surplus_out_fen=600_000,
        report={"share_fen": 33},
        at=AT,
    )
    periods.open("chronic", date(2026, 12, 21), rules_version="chronic-2020.1", at=AT)
    previous = periods.previous("chronic", date(2026, 12, 21))
    assert previous is not None
    assert (previous.publicity_date, previous.surplus_out_fen) == (date(2026, 12, 7), 600_000)
    assert previous.report == {"share_fen": 33}


def test_objections_count_once_per_objector(session: Session, plans: PlanRepository) -> None:
    ClaimRepository(session).add(new_claim(), at=AT)
    period, _ = PeriodRepository(session).open(
        "chronic", date(2026, 12, 7), rules_version="chronic-2020.1", at=AT
    )
    objections = ObjectionRepository(session)
    _, first = objections.add(
        claim_id="c-1", period_id=period.id, objector_id=7, reason="declared healthy", at=AT
    )
    _, again = objections.add(
        claim_id="c-1", period_id=period.id, objector_id=7, reason="again", at=AT
    )
    objections.add(claim_id="c-1", period_id=period.id, objector_id=8, reason="x", at=AT)
    assert (first, again) == (True, False)
    assert objections.count(claim_id="c-1", period_id=period.id) == 2


def test_jury_votes_are_deduplicated_per_juror_and_round(
    session: Session, plans: PlanRepository
) -> None:
    ClaimRepository(session).add(new_claim(), at=AT)
    jury = JuryRepository(session)
    counted = jury.record_many(
        "c-1",
        1,
        [Vote(juror_id=j, approve=j % 3 != 0, at=AT) for j in range(1, 1001)]
        + [Vote(juror_id=5, approve=False, at=AT)],
    )
    assert counted == 1000
    tally = jury.tally("c-1", 1)
    assert (tally.valid, tally.approve, tally.reject) == (1000, 667, 333)
    assert jury.tally("c-1", 2).valid == 0
    # The first vote stands: juror 5 voted to approve.
    assert jury.record("c-1", 1, Vote(juror_id=5, approve=False, at=AT)) is False
    assert jury.tally("c-1", 1).approve == 667


def test_a_debit_run_is_frozen_once_and_committed_once(
    session: Session, plans: PlanRepository
) -> None:
    period, _ = PeriodRepository(session).open(
        "chronic", date(2026, 12, 7), rules_version="chronic-2020.1", at=AT
    )
    runs = DebitRunRepository(session)
    frozen = {"share_fen": 33, "shards": [0, 1], "snapshot": "s-2026-12-07"}
    run, created = runs.freeze(
        period_id=period.id,
        attempt=0,
        share_fen=33,
        members=3,
        input_snapshot="s-2026-12-07",
        frozen_plan=frozen,
        at=AT,
    )
    resumed, created_again = runs.freeze(
        period_id=period.id,
        attempt=0,
        share_fen=33,
        members=3,
        input_snapshot="s-2026-12-07",
        frozen_plan=dict(frozen),
        at=AT,
    )
    assert (created, created_again, resumed.id) == (True, False, run.id)
    with pytest.raises(InvariantError, match="frozen with another plan"):
        runs.freeze(
            period_id=period.id,
            attempt=0,
            share_fen=34,
            members=3,
            input_snapshot="s-2026-12-07",
            frozen_plan=frozen,
            at=AT,
        )
    shard0 = ShardTotals(
        shard=0,
        rows=2,
        paid_fen=66,
        unpaid_fen=0,
        subsidy_fen=0,
        ledger_path="l0",
        ledger_sha256="a",
    )
    shard1 = ShardTotals(
        shard=1,
        rows=1,
        paid_fen=0,
        unpaid_fen=20,
        subsidy_fen=13,
        ledger_path="l1",
        ledger_sha256="b",
    )
    runs.record_shard(run, shard0)
    runs.record_shard(run, shard0)
    runs.record_shard(run, shard1)
    with pytest.raises(InvariantError, match="another ledger"):
        runs.record_shard(
            run,
            ShardTotals(
                shard=1,
                rows=1,
                paid_fen=33,
                unpaid_fen=0,
                subsidy_fen=0,
                ledger_path="l1",
                ledger_sha256="c",
            ),
        )
    assert runs.commit(run, at=AT) is True
    assert runs.commit(run, at=AT + timedelta(days=1)) is False
    assert (run.paid_fen, run.unpaid_fen, run.subsidy_fen) == (66, 20, 13)
    assert run.committed_at == AT
    assert [r.attempt for r in runs.runs(period.id)] == [0]


def test_a_claim_is_paid_out_at_most_once(session: Session, plans: PlanRepository) -> None:
    ClaimRepository(session).add(new_claim(), at=AT)
    period, _ = PeriodRepository(session).open(
        "chronic", date(2026, 12, 7), rules_version="chronic-2020.1", at=AT
    )
    payouts = PayoutRepository(session)
    first, created = payouts.request(
        claim_id="c-1", period_id=period.id, amount_fen=30_000_000, at=AT
    )
    again, created_again = payouts.request(
        claim_id="c-1", period_id=period.id, amount_fen=30_000_000, at=AT
    )
    assert (created, created_again, again.id) == (True, False, first.id)
    with pytest.raises(InvariantError, match="already has a payout"):
        payouts.request(claim_id="c-1", period_id=period.id, amount_fen=10_000_000, at=AT)
    payouts.mark_paid("c-1", reference="pay-c-1", at=AT)
    payouts.mark_paid("c-1", reference="pay-c-1", at=AT + timedelta(days=1))
    assert payouts.get("c-1").paid_at == AT  # type: ignore[union-attr]
    with pytest.raises(InvariantError, match="paid under pay-c-1"):
        payouts.mark_paid("c-1", reference="other", at=AT)
    with pytest.raises(InputError, match="amount_fen=0"):
        payouts.request(claim_id="c-1", period_id=period.id, amount_fen=0, at=AT)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            PayoutRow(
                claim_id="c-1",
                period_id=period.id,
                amount_fen=1,
                state="requested",
                requested_at=AT,
            )
        )
    assert [p.claim_id for p in payouts.for_period(period.id)] == ["c-1"]


def test_member_changes_queue_once_and_fold_in_order(
    session: Session, plans: PlanRepository
) -> None:
    changes = MemberChangeRepository(session)
    join = MemberChange(
        plan_id="chronic",
        member_id=9,
        kind=ChangeKind.JOIN,
        effective_on=date(2026, 12, 6),
        birth_date=date(1990, 2, 28),
        chronic_groups=(1, 4),
        payer_id=None,
    )
    leave = MemberChange(
        plan_id="chronic",
        member_id=9,
        kind=ChangeKind.EXIT,
        effective_on=date(2026, 12, 7),
        exit_reason=ExitReason.LEFT,
    )
    assert changes.queue(join, change_key="join-9", at=AT) is True
    assert changes.queue(join, change_key="join-9", at=AT) is False
    changes.queue(leave, change_key="exit-9", at=AT)
    with pytest.raises(InvariantError, match="other content"):
        changes.queue(leave, change_key="join-9", at=AT)
    pending = changes.pending("chronic", member_id=9)
    assert [c for _, c in pending] == [join, leave]
    # A lock at the 7th folds only what took effect before that day.
    before_lock = changes.pending("chronic", before=date(2026, 12, 7))
    assert [c for _, c in before_lock] == [join]
    changes.mark_applied([i for i, _ in before_lock], snapshot="roster-2026-12-07")
    assert [c for _, c in changes.pending("chronic")] == [leave]


def test_a_case_approved_at_or_after_the_cutoff_instant_waits_for_the_next_period(
    session: Session, plans: PlanRepository
) -> None:
    """Approved strictly before 00:00:00 is on the list; approved at 00:00:00 exactly, racing
    the lock, lands in the next period, every time."""
    claims = ClaimRepository(session)
    cutoff = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)  # 00:00 on 7 December in Shanghai
    for claim_id, approved_at in (
        ("on-time", cutoff - timedelta(hours=3)),
        ("last-microsecond", cutoff - timedelta(microseconds=1)),
        ("at-cutoff", cutoff),
        ("one-second-late", cutoff + timedelta(seconds=1)),
    ):
        claims.add(new_claim(claim_id, member_id=hash(claim_id) % 10_000), at=AT)
        claims.append_event(
            claim_id,
            event_key=f"{claim_id}-approved",
            kind="decided",
            state="AwaitingPublicity",
            actor="reviewer:1",
            at=approved_at,
        )
    found = PublicityRepository(session).approved_before("chronic", cutoff)
    assert [c.id for c in found] == ["on-time", "last-microsecond"]
    later = PublicityRepository(session).approved_before("chronic", cutoff + timedelta(days=14))
    assert [c.id for c in later] == [
        "on-time",
        "last-microsecond",
        "at-cutoff",
        "one-second-late",
    ]
