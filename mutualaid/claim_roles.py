"""Who may do what to a claim: the roles, the actors who ask, the actions, and `may`.

A member cannot review; staff cannot review or decide a claim of their own family; only the
applicant submits materials, appeals or withdraws; the applicant does not object to their own
claim. Staff are known by login with one role; members, applicants and jurors by member id.
The answer is a refusal with its reason, or None when the step is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mutualaid.claim import WITHDRAWABLE, ClaimState
from mutualaid.claim_refusals import ActionRefusal, Refused
from mutualaid.errors import InputError
from mutualaid.membership import Member


class Role(StrEnum):
    APPLICANT = "applicant"  # the member who claims
    MEMBER = "member"  # any member of the plan (objections)
    JUROR = "juror"
    REVIEWER = "reviewer"  # platform staff
    INVESTIGATOR = "investigator"  # the third-party firm
    OPERATOR = "operator"  # runs the program (periods, schedules); takes no claim step


# Staff are known by login with one role (the `actors` table, `mutualaid actors add`);
# members, applicants and jurors are known by member id instead.
STAFF_ROLES = frozenset({Role.REVIEWER, Role.INVESTIGATOR, Role.OPERATOR})
MAX_ACTOR_NAME_LENGTH = 100


class Action(StrEnum):
    SUBMIT_MATERIALS = "submit materials"
    REVIEW = "review"
    RECORD_FINDINGS = "record findings"
    DECIDE = "decide"
    APPEAL = "appeal"
    VOTE = "vote"
    WITHDRAW = "withdraw"
    OBJECT = "object"


# Who may take each action, and in which states.
ROLES: dict[Action, frozenset[Role]] = {
    Action.SUBMIT_MATERIALS: frozenset({Role.APPLICANT}),
    Action.REVIEW: frozenset({Role.REVIEWER}),
    Action.RECORD_FINDINGS: frozenset({Role.INVESTIGATOR}),
    Action.DECIDE: frozenset({Role.REVIEWER}),
    Action.APPEAL: frozenset({Role.APPLICANT}),
    Action.VOTE: frozenset({Role.JUROR}),
    Action.WITHDRAW: frozenset({Role.APPLICANT}),
    Action.OBJECT: frozenset({Role.MEMBER}),
}
STATES: dict[Action, frozenset[ClaimState]] = {
    Action.SUBMIT_MATERIALS: frozenset({ClaimState.REPORTED}),
    Action.REVIEW: frozenset({ClaimState.IN_REVIEW}),
    Action.RECORD_FINDINGS: frozenset({ClaimState.INVESTIGATING, ClaimState.REINVESTIGATING}),
    Action.DECIDE: frozenset({ClaimState.AWAITING_DECISION}),
    Action.APPEAL: frozenset({ClaimState.DENIED}),
    Action.VOTE: frozenset({ClaimState.JURY_VOTING}),
    Action.WITHDRAW: WITHDRAWABLE,
    Action.OBJECT: frozenset({ClaimState.PUBLICISED}),
}
# Staff whose own family's claim it is must stand aside.
CONFLICTED_ACTIONS = frozenset({Action.REVIEW, Action.DECIDE})


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who asks. Staff are named by login; a member by id. `family_id` is the paying member
    of the actor's family (themselves when they pay for themselves), for conflict checks;
    staff who are not members have neither id."""

    role: Role
    name: str
    member_id: int | None = None
    family_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Claimant:
    member_id: int
    # The paying member of the claimant's family; None when the member is unknown.
    family_id: int | None


def family_of(member: Member) -> int:
    """The family a member belongs to, named by its paying member.

    >>> from datetime import date
    >>> family_of(Member(member_id=8, plan_id="chronic", birth_date=date(1990, 1, 1),
    ...     join_date=date(2020, 6, 1), payer_id=7))
    7
    """
    return member.payer_id if member.payer_id is not None else member.member_id


def may(action: Action, *, state: ClaimState, actor: Actor, claimant: Claimant) -> Refused | None:
    """Whether an actor may take an action on a claim in a state; None when allowed.

    A member cannot review; staff cannot review or decide a claim of their own family; only
    the applicant submits materials, appeals or withdraws; the applicant does not object to
    their own claim.

    >>> applicant = Claimant(member_id=7, family_id=7)
    >>> may(Action.REVIEW, state=ClaimState.IN_REVIEW,
    ...     actor=Actor(role=Role.MEMBER, name="member:9", member_id=9), claimant=applicant).detail
    'a member cannot review'
    """
    if actor.role not in ROLES[action]:
        return Refused(
            code=ActionRefusal.ROLE_NOT_ALLOWED, detail=f"a {actor.role.value} cannot {action}"
        )
    if actor.role in STAFF_ROLES and actor_name_problem(actor.name) is not None:
        # Checked here, in the validator, so an unnamed step never reaches the registry check.
        return Refused(
            code=ActionRefusal.UNKNOWN_ACTOR,
            detail=f"a {actor.role.value} must be named: {actor_name_problem(actor.name)}",
        )
    if state not in STATES[action]:
        return Refused(
            code=ActionRefusal.WRONG_STATE,
            detail=f"cannot {action} a claim that is {state.value}",
        )
    if actor.role is Role.APPLICANT and actor.member_id != claimant.member_id:
        return Refused(
            code=ActionRefusal.NOT_THE_APPLICANT,
            detail=f"only the applicant (member {claimant.member_id}) may {action}",
        )
    if action is Action.OBJECT and actor.member_id == claimant.member_id:
        return Refused(
            code=ActionRefusal.NOT_THE_APPLICANT,
            detail="the applicant cannot object to their own claim",
        )
    if action in CONFLICTED_ACTIONS:
        if actor.member_id is not None and actor.member_id == claimant.member_id:
            return Refused(
                code=ActionRefusal.OWN_CLAIM,
                detail=f"a {actor.role.value} cannot {action} their own claim",
            )
        if _same_family(actor, claimant):
            return Refused(
                code=ActionRefusal.RELATIVE_CLAIM,
                detail=f"a {actor.role.value} cannot {action} a relative's claim",
            )
    return None


def actor_name_problem(name: str) -> str | None:
    """What is wrong with a staff login, or None. Logins are compared exactly as typed,
    so a name with surrounding blanks is refused rather than silently trimmed.

    >>> actor_name_problem("li") is None, actor_name_problem(" li")
    (True, 'must be 1 to 100 printable characters, without surrounding blanks')
    """
    if (
        not name
        or name != name.strip()
        or len(name) > MAX_ACTOR_NAME_LENGTH
        or not name.isprintable()
    ):
        return (
            f"must be 1 to {MAX_ACTOR_NAME_LENGTH} printable characters, without surrounding blanks"
        )
    return None


def check_actor_name(name: str, *, field: str = "name") -> str:
    """A staff login as typed on a command line: surrounding blanks dropped, then checked.

    >>> check_actor_name("  li ")
    'li'
    """
    cleaned = name.strip()
    problem = actor_name_problem(cleaned)
    if problem is not None:
        raise InputError(field, name, problem)
    return cleaned


def _same_family(actor: Actor, claimant: Claimant) -> bool:
    # The actor pays for the claimant, or both are paid for by the same member.
    return claimant.family_id is not None and claimant.family_id in {
        actor.family_id,
        actor.member_id,
    }
