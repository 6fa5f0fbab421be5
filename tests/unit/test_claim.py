"""The claim state machine as pure rules: transitions, who may do what, jurors, the jury's
count, deadlines and report checks."""

from __future__ import annotations

from collections import deque
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mutualaid.calendar import start_of_day
from mutualaid.claim import TERMINAL, TRANSITIONS, WITHDRAWABLE, ClaimState, EventKind, advance
from mutualaid.claim_deadlines import (
    DeadlineKind,
    Publicity,
    days_after,
    deadline_for,
    objection_refusal,
    objection_window_end,
)
from mutualaid.claim_materials import (
    MAX_DOCUMENTS,
    REQUIRED_DOCUMENTS,
    Document,
    DocumentKind,
    document_refusal,
    missing_documents,
)
from mutualaid.claim_refusals import ActionRefusal, Refused
from mutualaid.claim_report import check_claim_id, check_report, claim_id_for
from mutualaid.claim_review import Findings, ReviewOutcome, decision_refusal, review_refusal
from mutualaid.claim_roles import ROLES, STATES, Action, Actor, Claimant, Role, family_of, may
from mutualaid.claim_terms import ClaimTerms
from mutualaid.errors import InputError
from mutualaid.jury import JuryResult, juror_refusal, jury_outcome
from mutualaid.membership import ExitReason, Member, MemberStatus
from mutualaid.money import Fen
from mutualaid.plan import Plan

APPLICANT = Claimant(member_id=7, family_id=7)
REVIEWER = Actor(role=Role.REVIEWER, name="li")
HALF = Fraction(1, 2)
ON = date(2026, 11, 28)


def terms(plan: Plan) -> ClaimTerms:
    return ClaimTerms.from_plan(plan)


def juror(member_id: int = 100, **overrides: object) -> Member:
    values: dict[str, object] = {
        "member_id": member_id,
        "plan_id": "chronic",
        "birth_date": date(1990, 5, 1),
        "join_date": date(2025, 1, 1),
    }
    values.update(overrides)
    return Member(**values)  # type: ignore[arg-type]


# ---- transitions -----------------------------------------------------------------------


def test_the_main_road_runs_from_reported_to_paid() -> None:
    state = ClaimState.REPORTED
    for kind in (
        EventKind.MATERIALS_COMPLETE,
        EventKind.REVIEW_PASSED,
        EventKind.FINDINGS_RECORDED,
        EventKind.APPROVED,
        EventKind.PUBLICISED,
        EventKind.CLEARED,
        EventKind.PAID,
    ):
        moved = advance(state, kind)
        assert isinstance(moved, ClaimState), moved
        state = moved
    assert state is ClaimState.PAID


def test_an_objection_leads_to_reinvestigation_then_a_new_decision() -> None:
    assert advance(ClaimState.PUBLICISED, EventKind.OBJECTED) is ClaimState.REINVESTIGATING
    assert (
        advance(ClaimState.REINVESTIGATING, EventKind.FINDINGS_RECORDED)
        is ClaimState.AWAITING_DECISION
    )
    assert advance(ClaimState.AWAITING_DECISION, EventKind.DENIED) is ClaimState.DENIED
    assert advance(ClaimState.DENIED, EventKind.APPEALED) is ClaimState.JURY_VOTING


@given(st.sampled_from(sorted(TERMINAL)), st.sampled_from(list(EventKind)))
def test_a_terminal_state_never_moves(state: ClaimState, kind: EventKind) -> None:
    moved = advance(state, kind)
    assert isinstance(moved, Refused)
    assert moved.code is ActionRefusal.WRONG_STATE


@given(st.lists(st.sampled_from(list(EventKind)), max_size=40))
def test_any_sequence_of_events_stays_inside_the_table(kinds: list[EventKind]) -> None:
    state = ClaimState.REPORTED
    for kind in kinds:
        moved = advance(state, kind)
        if isinstance(moved, Refused):
            assert (state, kind) not in TRANSITIONS
            continue
        assert TRANSITIONS[(state, kind)] is moved
        state = moved
    assert state in set(ClaimState)


def test_every_state_is_reachable_and_every_live_state_can_end() -> None:
    reachable = {ClaimState.REPORTED}
    queue = deque([ClaimState.REPORTED])
    while queue:
        state = queue.popleft()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in reachable:
                reachable.add(target)
                queue.append(target)
    assert reachable == set(ClaimState)
    for state in set(ClaimState) - TERMINAL:
        assert any(source is state for source, _ in TRANSITIONS), state


def test_withdrawal_is_possible_until_publicity_and_not_after() -> None:
    for state in WITHDRAWABLE:
        assert advance(state, EventKind.WITHDRAWN) is ClaimState.WITHDRAWN
    for state in (ClaimState.PUBLICISED, ClaimState.AWAITING_FUNDS, *TERMINAL):
        assert isinstance(advance(state, EventKind.WITHDRAWN), Refused)


# ---- who may do what -----------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.APPLICANT, Role.MEMBER, Role.JUROR, Role.INVESTIGATOR])
def test_only_a_reviewer_reviews(role: Role) -> None:
    refusal = may(
        Action.REVIEW,
        state=ClaimState.IN_REVIEW,
        actor=Actor(role=role, name="x", member_id=9),
        claimant=APPLICANT,
    )
    assert refusal is not None and refusal.code is ActionRefusal.ROLE_NOT_ALLOWED
    assert refusal.detail == f"a {role.value} cannot review"


def test_a_reviewer_cannot_decide_their_own_claim() -> None:
    actor = Actor(role=Role.REVIEWER, name="li", member_id=7, family_id=7)
    refusal = may(
        Action.DECIDE, state=ClaimState.AWAITING_DECISION, actor=actor, claimant=APPLICANT
    )
    assert refusal is not None and refusal.code is ActionRefusal.OWN_CLAIM


@pytest.mark.parametrize(
    ("reviewer_member", "reviewer_family", "claimant"),
    [
        (8, 7, Claimant(member_id=7, family_id=7)),  # the reviewer is attached to the applicant
        (7, 7, Claimant(member_id=8, family_id=7)),  # the reviewer pays for the applicant
        (9, 7, Claimant(member_id=8, family_id=7)),  # both are paid for by member 7
    ],
)
def test_a_reviewer_cannot_review_or_decide_a_relatives_claim(
    reviewer_member: int, reviewer_family: int, claimant: Claimant
) -> None:
    actor = Actor(
        role=Role.REVIEWER, name="li", member_id=reviewer_member, family_id=reviewer_family
    )
    for action, state in (
        (Action.REVIEW, ClaimState.IN_REVIEW),
        (Action.DECIDE, ClaimState.AWAITING_DECISION),
    ):
        refusal = may(action, state=state, actor=actor, claimant=claimant)
        assert refusal is not None and refusal.code is ActionRefusal.RELATIVE_CLAIM


def test_a_reviewer_from_another_family_may_decide() -> None:
    actor = Actor(role=Role.REVIEWER, name="li", member_id=20, family_id=20)
    assert (
        may(Action.DECIDE, state=ClaimState.AWAITING_DECISION, actor=actor, claimant=APPLICANT)
        is None
    )
    assert (
        may(Action.DECIDE, state=ClaimState.AWAITING_DECISION, actor=REVIEWER, claimant=APPLICANT)
        is None
    )


@pytest.mark.parametrize("action", [Action.APPEAL, Action.WITHDRAW, Action.SUBMIT_MATERIALS])
def test_only_the_applicant_appeals_withdraws_or_sends_materials(action: Action) -> None:
    state = next(iter(STATES[action]))
    other = Actor(role=Role.APPLICANT, name="member:9", member_id=9)
    refusal = may(action, state=state, actor=other, claimant=APPLICANT)
    assert refusal is not None and refusal.code is ActionRefusal.NOT_THE_APPLICANT
    own = Actor(role=Role.APPLICANT, name="member:7", member_id=7)
    assert may(action, state=state, actor=own, claimant=APPLICANT) is None


def test_the_applicant_cannot_object_to_their_own_claim() -> None:
    refusal = may(
        Action.OBJECT,
        state=ClaimState.PUBLICISED,
        actor=Actor(role=Role.MEMBER, name="member:7", member_id=7),
        claimant=APPLICANT,
    )
    assert refusal is not None and refusal.code is ActionRefusal.NOT_THE_APPLICANT


@given(st.sampled_from(list(Action)), st.sampled_from(list(ClaimState)))
def test_an_action_outside_its_states_is_refused_for_the_right_role(
    action: Action, state: ClaimState
) -> None:
    role = min(ROLES[action])
    actor = Actor(role=role, name="x", member_id=7 if role is Role.APPLICANT else 50)
    refusal = may(action, state=state, actor=actor, claimant=APPLICANT)
    if state in STATES[action]:
        assert refusal is None
    else:
        assert refusal is not None and refusal.code is ActionRefusal.WRONG_STATE


# ---- materials, review, decision ----------------------------------------------------------


def test_required_documents_are_listed_until_each_arrives() -> None:
    assert missing_documents([]) == REQUIRED_DOCUMENTS
    assert missing_documents([*REQUIRED_DOCUMENTS, DocumentKind.OTHER]) == ()


def test_document_lists_are_refused_when_empty_oversized_or_unnamed() -> None:
    doc = Document(kind=DocumentKind.OTHER, reference="x.pdf")
    assert document_refusal([]) is not None
    assert document_refusal([doc] * MAX_DOCUMENTS) is None
    oversized = document_refusal([doc], already=MAX_DOCUMENTS)
    assert oversized is not None and "at most 50" in oversized.detail
    assert document_refusal([Document(kind=DocumentKind.OTHER, reference="")]) is not None
    assert document_refusal([Document(kind=DocumentKind.OTHER, reference="a\nb")]) is not None


def test_a_review_sending_materials_back_names_them_and_a_denial_says_why() -> None:
    assert review_refusal(ReviewOutcome.INCOMPLETE, resubmit=(), reason="") is not None
    assert (
        review_refusal(ReviewOutcome.INCOMPLETE, resubmit=(DocumentKind.IDENTITY,), reason="")
        is None
    )
    assert review_refusal(ReviewOutcome.DENY, resubmit=(), reason=" ") is not None
    assert review_refusal(ReviewOutcome.PASS, resubmit=(), reason="") is None


def test_an_approval_needs_findings_confirming_the_diagnosis() -> None:
    unconfirmed = Findings(diagnosis_confirmed=False, declaration_consistent=True, summary="?")
    refusal = decision_refusal(approve=True, reason="", findings=unconfirmed)
    assert refusal is not None and refusal.code is ActionRefusal.DIAGNOSIS_NOT_CONFIRMED
    assert decision_refusal(approve=True, reason="", findings=None) is not None
    confirmed = Findings(diagnosis_confirmed=True, declaration_consistent=False, summary="ok")
    assert decision_refusal(approve=True, reason="", findings=confirmed) is None
    assert decision_refusal(approve=False, reason="", findings=confirmed) is not None
    assert decision_refusal(approve=False, reason="history", findings=confirmed) is None


# ---- jurors and the jury -------------------------------------------------------------


def test_a_qualified_paying_adult_member_of_long_standing_may_vote(chronic: Plan) -> None:
    assert juror_refusal(terms(chronic), juror(), qualified=True, on=ON, claimant=APPLICANT) is None


@pytest.mark.parametrize(
    ("member", "qualified", "code"),
    [
        (None, True, ActionRefusal.JUROR_NOT_A_MEMBER),
        (juror(plan_id="major"), True, ActionRefusal.JUROR_NOT_A_MEMBER),
        (
            juror(status=MemberStatus.EXITED, exit_date=ON, exit_reason=ExitReason.LEFT),
            True,
            ActionRefusal.JUROR_NOT_A_MEMBER,
        ),
        (juror(payer_id=55), True, ActionRefusal.JUROR_NOT_PAYING),
        (juror(birth_date=date(2008, 11, 29)), True, ActionRefusal.JUROR_TOO_YOUNG),
        (juror(join_date=ON - timedelta(days=30)), True, ActionRefusal.JUROR_TOO_NEW),
        (juror(), False, ActionRefusal.JUROR_NOT_QUALIFIED),
        (juror(member_id=7), True, ActionRefusal.JUROR_CONFLICT),
    ],
)
def test_each_jury_rule_refuses_with_its_own_reason(
    chronic: Plan, member: Member | None, qualified: bool, code: ActionRefusal
) -> None:
    refusal = juror_refusal(terms(chronic), member, qualified=qualified, on=ON, claimant=APPLICANT)
    assert refusal is not None and refusal.code is code


def test_the_juror_age_and_tenure_boundaries(chronic: Plan) -> None:
    rules = terms(chronic)
    eighteen_today = juror(birth_date=date(2008, 11, 28))
    assert juror_refusal(rules, eighteen_today, qualified=True, on=ON, claimant=APPLICANT) is None
    thirty_one_days = juror(join_date=ON - timedelta(days=31))
    assert juror_refusal(rules, thirty_one_days, qualified=True, on=ON, claimant=APPLICANT) is None


def test_a_member_of_the_applicants_family_may_not_sit(chronic: Plan) -> None:
    family = Claimant(member_id=8, family_id=7)
    payer = juror(member_id=7)
    sibling = juror(member_id=9, payer_id=7)
    assert juror_refusal(terms(chronic), payer, qualified=True, on=ON, claimant=family) is not None
    refusal = juror_refusal(terms(chronic), sibling, qualified=True, on=ON, claimant=family)
    # An attached member is refused as not paying before the conflict is even looked at.
    assert refusal is not None and refusal.code is ActionRefusal.JUROR_NOT_PAYING


def test_999_votes_are_no_quorum_even_if_unanimous() -> None:
    outcome = jury_outcome(min_valid_votes=1000, approve_above=HALF, valid_votes=999, approvals=999)
    assert outcome.result is JuryResult.NO_QUORUM and not outcome.approved


def test_exactly_half_in_favour_does_not_approve_and_one_more_does() -> None:
    def result(valid: int, approvals: int) -> JuryResult:
        return jury_outcome(
            min_valid_votes=1000, approve_above=HALF, valid_votes=valid, approvals=approvals
        ).result

    assert result(1000, 500) is JuryResult.REJECTED
    assert result(1000, 501) is JuryResult.APPROVED
    assert result(1001, 501) is JuryResult.APPROVED
    assert result(1001, 500) is JuryResult.REJECTED


@given(st.integers(min_value=0, max_value=300_000), st.data())
def test_the_jury_approves_exactly_when_more_than_half_of_a_quorum_agree(
    valid: int, data: st.DataObject
) -> None:
    approvals = data.draw(st.integers(min_value=0, max_value=valid))
    outcome = jury_outcome(
        min_valid_votes=1000, approve_above=HALF, valid_votes=valid, approvals=approvals
    )
    assert outcome.approved == (valid >= 1000 and 2 * approvals > valid)
    assert (outcome.result is JuryResult.NO_QUORUM) == (valid < 1000)


def test_a_tally_with_more_approvals_than_votes_is_refused() -> None:
    with pytest.raises(InputError):
        jury_outcome(min_valid_votes=1, approve_above=HALF, valid_votes=3, approvals=4)


# ---- deadlines -----------------------------------------------------------------------


def test_a_deadline_of_n_days_ends_at_midnight_after_the_nth_day() -> None:
    late_evening = start_of_day(date(2026, 11, 28)) + timedelta(hours=23, minutes=59)
    assert days_after(late_evening, 30) == start_of_day(date(2026, 12, 29))
    # A UTC moment already on the next program day counts from that day.
    utc = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)  # 00:30 on 29 Nov in Shanghai
    assert days_after(utc, 1) == start_of_day(date(2026, 12, 1))


def test_each_waiting_state_has_its_deadline(chronic: Plan) -> None:
    rules = terms(chronic)
    entered = start_of_day(date(2026, 11, 28))
    expected = {
        ClaimState.REPORTED: (DeadlineKind.MATERIALS, 30),
        ClaimState.IN_REVIEW: (DeadlineKind.REVIEW, 7),
        ClaimState.INVESTIGATING: (DeadlineKind.INVESTIGATION, 35),
        ClaimState.REINVESTIGATING: (DeadlineKind.INVESTIGATION, 35),
        ClaimState.AWAITING_DECISION: (DeadlineKind.DECISION, 7),
        ClaimState.DENIED: (DeadlineKind.APPEAL, 15),
        ClaimState.JURY_VOTING: (DeadlineKind.JURY_VOTE, 3),
    }
    for state, (kind, days) in expected.items():
        deadline = deadline_for(state, terms=rules, entered=entered, publicity=None)
        assert deadline is not None
        assert (deadline.kind, deadline.due) == (kind, days_after(entered, days))
    for state in (ClaimState.AWAITING_PUBLICITY, *TERMINAL):
        assert deadline_for(state, terms=rules, entered=entered, publicity=None) is None


def test_publicity_sets_the_objection_and_payout_deadlines(chronic: Plan) -> None:
    publicity = Publicity(
        period_id=3,
        publicity_date=date(2026, 12, 7),
        objection_window_end=objection_window_end(date(2026, 12, 7), 3),
    )
    entered = start_of_day(date(2026, 12, 7))
    window = deadline_for(
        ClaimState.PUBLICISED, terms=terms(chronic), entered=entered, publicity=publicity
    )
    assert window is not None and window.due == start_of_day(date(2026, 12, 10))
    payout = deadline_for(
        ClaimState.AWAITING_FUNDS, terms=terms(chronic), entered=entered, publicity=publicity
    )
    # Sharing on the 14th; paid within 7 days of it, the 21st included.
    assert payout is not None and payout.due == start_of_day(date(2026, 12, 22))


def test_objections_are_heard_only_inside_the_publicity_window() -> None:
    publicity = Publicity(
        period_id=3,
        publicity_date=date(2026, 12, 7),
        objection_window_end=objection_window_end(date(2026, 12, 7), 3),
    )
    opens = start_of_day(date(2026, 12, 7))
    assert objection_refusal(publicity, now=opens) is None
    last_second = publicity.objection_window_end - timedelta(seconds=1)
    assert objection_refusal(publicity, now=last_second) is None
    early = objection_refusal(publicity, now=opens - timedelta(seconds=1))
    assert early is not None and early.code is ActionRefusal.OUTSIDE_PUBLICITY_WINDOW
    assert objection_refusal(publicity, now=publicity.objection_window_end) is not None
    assert objection_refusal(None, now=opens) is not None


# ---- reporting -----------------------------------------------------------------------


def test_the_claim_id_is_derived_from_what_makes_a_claim_unique() -> None:
    first = claim_id_for("chronic", 7, "Malignant Tumour", date(2026, 10, 1))
    assert first == claim_id_for("chronic", 7, " malignant tumour ", date(2026, 10, 1))
    assert first != claim_id_for("chronic", 7, "malignant tumour", date(2026, 10, 2))
    assert check_claim_id(first) == first
    with pytest.raises(InputError, match="claim='bad id'"):
        check_claim_id("bad id")


def report(chronic: Plan, **overrides: object) -> None:
    values: dict[str, object] = {
        "plan": chronic,
        "member_id": 7,
        "condition": "malignant tumour",
        "diagnosis_date": date(2026, 10, 1),
        "hospital": "Ruijin Hospital",
        "documents": [],
        "claimed_fen": None,
        "today": ON,
    }
    values.update(overrides)
    check_report(**values)  # type: ignore[arg-type]


def test_a_readable_report_passes(chronic: Plan) -> None:
    report(chronic)
    report(chronic, diagnosis_date=ON, claimed_fen=Fen(30_000_000))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"member_id": 0}, "member=0: must be a positive member id"),
        ({"member_id": 2**63}, "must be a positive member id"),
        ({"condition": " "}, "condition=' '"),
        ({"hospital": ""}, "hospital=''"),
        ({"hospital": "h" * 401}, "must be 1 to 400 characters"),
        ({"diagnosis_date": date(2026, 11, 29)}, "diagnosed='2026-11-29': is in the future"),
        (
            {"documents": [Document(kind=DocumentKind.OTHER, reference="d")] * 51},
            "documents='51 documents': at most 50",
        ),
        ({"documents": [Document(kind=DocumentKind.OTHER, reference="")]}, "document=''"),
        ({"claimed_fen": Fen(0)}, "amount='0.00': must be positive"),
        (
            {"claimed_fen": Fen(30_000_001)},
            "amount='300000.01': exceeds the largest benefit of plan chronic (300000.00)",
        ),
    ],
)
def test_an_unreadable_report_names_the_field_and_value(
    chronic: Plan, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError) as caught:
        report(chronic, **overrides)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_terms_pin_the_plans_deadlines_and_jury_rules(chronic: Plan) -> None:
    rules = terms(chronic)
    assert (rules.plan_id, rules.rules_version) == ("chronic", "chronic-2020.1")
    assert rules.approve_above == HALF
    assert (rules.jury_min_valid_votes, rules.juror_min_age, rules.juror_min_tenure_days) == (
        1000,
        18,
        30,
    )
    assert rules.materials_deadline_days == 30


def test_a_family_is_named_by_its_paying_member() -> None:
    assert family_of(juror(member_id=5)) == 5
    assert family_of(juror(member_id=6, payer_id=5)) == 5
