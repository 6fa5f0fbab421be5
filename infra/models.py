"""The relational schema: SQLAlchemy 2.x typed models.

Money is BigInteger fen. Unique keys make double processing impossible: one rules version per
plan and version name, one claim per member and diagnosis, one event per claim and event key,
one period per plan and publicity day, one debit run per period and attempt, one shard commit
per run and shard, one payout per claim. Relationships are not mapped: repositories query
explicitly, so no lazy load ever hits the database behind the caller's back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import false, text

from infra.states import DebitRunState, PayoutState, PeriodStage, PublicityOutcome
from messages.periods import workflow_id as period_workflow_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Id = BigInteger().with_variant(Integer(), "sqlite")
Money = BigInteger


class Moment(TypeDecorator[datetime]):
    """An aware moment, stored in UTC. SQLite keeps no zone, so a naive value read back is
    UTC by construction; a naive value written is refused (it would be ambiguous)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} written to the database")
        moment = value.astimezone(UTC)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class StateColumn(TypeDecorator[E]):
    """A state (`infra.states`) held as its string value, read back as its enum: the column
    is a plain VARCHAR, so the values are the strings the database has always held."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum
        self.length = length

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class PlanRow(Base):
    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Moment())


class RulesVersionRow(Base):
    """One version of a plan's rules, with the exact file text. Never updated: a change of
    rules is a new version, so every period can name the rules it ran under."""

    __tablename__ = "plan_rule_versions"
    __table_args__ = (UniqueConstraint("plan_id", "rules_version"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    rules_version: Mapped[str] = mapped_column(String(64))
    effective_from: Mapped[date] = mapped_column(Date)
    content_sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(Moment())


class ClaimRow(Base):
    """A claim as its own history left it: `state` and `state_since` move with each
    transition, `overdue` is set by the workflow's own note that an SLA passed and cleared
    by the next transition, so the console counts and sorts open work from indexes."""

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("plan_id", "member_id", "condition", "diagnosis_date"),
        CheckConstraint("benefit_fen IS NULL OR benefit_fen >= 0", name="benefit_not_negative"),
        Index("ix_claims_plan_state_overdue", "plan_id", "state", "overdue"),
        # The pipeline's order (overdue first, then the longest waiting), with the state in
        # the index so a page of open claims is read from the index alone, in order.
        Index(
            "ix_claims_pipeline_order",
            text("overdue DESC"),
            "state_since",
            "id",
            "state",
        ),
        Index("ix_claims_state_order", "state", text("overdue DESC"), "state_since", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    rules_version: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    condition: Mapped[str] = mapped_column(String(200))
    diagnosis_date: Mapped[date] = mapped_column(Date)
    hospital: Mapped[str] = mapped_column(String(400))
    state: Mapped[str] = mapped_column(String(40), index=True)
    benefit_fen: Mapped[int | None] = mapped_column(Money)
    period_id: Mapped[int | None] = mapped_column(ForeignKey("periods.id"), index=True)
    reported_at: Mapped[datetime] = mapped_column(Moment())
    updated_at: Mapped[datetime] = mapped_column(Moment())
    state_since: Mapped[datetime] = mapped_column(Moment())
    overdue: Mapped[bool] = mapped_column(Boolean, server_default=false())


class ClaimEventRow(Base):
    """Append-only history of a claim. event_key makes a retried activity's write a no-op."""

    __tablename__ = "claim_events"
    __table_args__ = (
        UniqueConstraint("claim_id", "seq"),
        UniqueConstraint("claim_id", "event_key"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    event_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(Moment())
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class PeriodRow(Base):
    """One sharing period of one plan, keyed by its publicity day."""

    __tablename__ = "periods"
    __table_args__ = (
        UniqueConstraint("plan_id", "publicity_date"),
        CheckConstraint("members IS NULL OR members >= 0", name="members_not_negative"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    publicity_date: Mapped[date] = mapped_column(Date)
    sharing_date: Mapped[date] = mapped_column(Date)
    rules_version: Mapped[str] = mapped_column(String(64))
    state: Mapped[PeriodStage] = mapped_column(StateColumn(PeriodStage, 40))
    members: Mapped[int | None] = mapped_column(BigInteger)
    aid_fen: Mapped[int | None] = mapped_column(Money)
    fee_fen: Mapped[int | None] = mapped_column(Money)
    surplus_in_fen: Mapped[int | None] = mapped_column(Money)
    share_fen: Mapped[int | None] = mapped_column(Money)
    collected_fen: Mapped[int | None] = mapped_column(Money)
    unpaid_fen: Mapped[int | None] = mapped_column(Money)
    subsidy_fen: Mapped[int | None] = mapped_column(Money)
    surplus_out_fen: Mapped[int | None] = mapped_column(Money)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(Moment())
    closed_at: Mapped[datetime | None] = mapped_column(Moment())

    @property
    def workflow_id(self) -> str:
        return period_workflow_id(self.plan_id, self.publicity_date)


class ObjectionRow(Base):
    __tablename__ = "objections"
    __table_args__ = (UniqueConstraint("claim_id", "period_id", "objector_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"), index=True)
    objector_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(Moment())


class JuryVoteRow(Base):
    """One juror's vote in one jury round of a claim; a second vote by the same juror is
    refused by the unique key rather than counted."""

    __tablename__ = "jury_votes"
    __table_args__ = (UniqueConstraint("claim_id", "round", "juror_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    juror_id: Mapped[int] = mapped_column(BigInteger)
    approve: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(Moment())


class JurorQualificationRow(Base):
    """A member who passed a plan's juror qualification test. Eligibility to sit on a jury
    also needs age and tenure, checked on the voting day by the claim's rules."""

    __tablename__ = "juror_qualifications"
    __table_args__ = (UniqueConstraint("plan_id", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    member_id: Mapped[int] = mapped_column(BigInteger)
    passed_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(Moment())


class DebitRunRow(Base):
    """One run of the debit job (attempt 0 on the sharing day, then one per retry day). Its
    plan is frozen here before any shard runs; committed_at is set last."""

    __tablename__ = "debit_runs"
    __table_args__ = (UniqueConstraint("period_id", "attempt"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    share_fen: Mapped[int] = mapped_column(Money)
    members: Mapped[int] = mapped_column(BigInteger)
    input_snapshot: Mapped[str] = mapped_column(String(400))
    frozen_plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[DebitRunState] = mapped_column(StateColumn(DebitRunState, 20))
    planned_at: Mapped[datetime] = mapped_column(Moment())
    committed_at: Mapped[datetime | None] = mapped_column(Moment())
    paid_fen: Mapped[int | None] = mapped_column(Money)
    unpaid_fen: Mapped[int | None] = mapped_column(Money)
    subsidy_fen: Mapped[int | None] = mapped_column(Money)


class ShardCommitRow(Base):
    __tablename__ = "shard_commits"
    __table_args__ = (UniqueConstraint("run_id", "shard"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("debit_runs.id"), index=True)
    shard: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(BigInteger)
    paid_fen: Mapped[int] = mapped_column(Money)
    unpaid_fen: Mapped[int] = mapped_column(Money)
    subsidy_fen: Mapped[int] = mapped_column(Money)
    ledger_path: Mapped[str] = mapped_column(String(400))
    ledger_sha256: Mapped[str] = mapped_column(String(64))


class PayoutRow(Base):
    """At most one payout per claim: the claim id is the payment rail's idempotency key."""

    __tablename__ = "payouts"
    __table_args__ = (
        UniqueConstraint("claim_id"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"))
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(Money)
    state: Mapped[PayoutState] = mapped_column(StateColumn(PayoutState, 20))
    reference: Mapped[str | None] = mapped_column(String(120))
    requested_at: Mapped[datetime] = mapped_column(Moment())
    paid_at: Mapped[datetime | None] = mapped_column(Moment())


class MemberChangeRow(Base):
    """A change to the member store (join, exit, family link, payout exit), recorded here and
    folded into the roster snapshot at the next lock. change_key makes a retried write a no-op.
    applied_snapshot is set when a lock folds it in."""

    __tablename__ = "member_changes"
    __table_args__ = (UniqueConstraint("change_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    member_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    effective_on: Mapped[date] = mapped_column(Date)
    change_key: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(Moment())
    applied_snapshot: Mapped[str | None] = mapped_column(String(200), index=True)


class PublicityEntryRow(Base):
    """One case on a period's public list, masked as the public sees it. The list is fixed
    when published; the provisional share shown beside it is the period's, not the case's."""

    __tablename__ = "publicity_entries"
    __table_args__ = (UniqueConstraint("period_id", "claim_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"), index=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"))
    masked_member: Mapped[str] = mapped_column(String(40))
    age: Mapped[int] = mapped_column(Integer)
    condition: Mapped[str] = mapped_column(String(200))
    hospital: Mapped[str] = mapped_column(String(400))
    benefit_fen: Mapped[int] = mapped_column(Money)
    provisional_share_fen: Mapped[int] = mapped_column(Money)
    outcome: Mapped[PublicityOutcome] = mapped_column(StateColumn(PublicityOutcome, 20))
    published_at: Mapped[datetime] = mapped_column(Moment())


class ActorRow(Base):
    """Staff who take a claim's human steps (reviewers, investigators) or run the program
    (operators), known by login with one role. A step by a name that is not here, or not in
    the role the step needs, is refused before anything is recorded."""

    __tablename__ = "actors"
    __table_args__ = (
        CheckConstraint("role IN ('reviewer', 'investigator', 'operator')", name="known_role"),
    )

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    added_at: Mapped[datetime] = mapped_column(Moment())


class ProgramClockRow(Base):
    """The deployment's program clock, recorded once when the deployment is first set up:
    every workflow, activity, Schedule, the demo and the load test map real moments to
    program moments through it, so two claims started a minute apart agree on the day."""

    __tablename__ = "program_clock"
    __table_args__ = (CheckConstraint("id = 1", name="one_clock"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Text, exact: "86400", "2", "1/10" (a Fraction), never a float.
    seconds_per_day: Mapped[str] = mapped_column(String(40))
    origin_real: Mapped[datetime] = mapped_column(Moment())
    origin_program: Mapped[datetime] = mapped_column(Moment())
    recorded_at: Mapped[datetime] = mapped_column(Moment())


class ConsoleUserRow(Base):
    """Who may sign in to the console, with one role. Only the SHA-256 of the token is
    kept: the token is 256 random bits, shown once by `mutualaid users add`, so a fast hash
    is enough and a copy of this table lets nobody sign in. Staff users are also registered
    staff (`actors`) under the same login, since their steps go through the claim's checks;
    a member user names the member (plan and id) whose own data it may read."""

    __tablename__ = "console_users"
    __table_args__ = (
        UniqueConstraint("token_sha256"),
        CheckConstraint(
            "role IN ('member', 'reviewer', 'investigator', 'operator')", name="known_role"
        ),
        CheckConstraint(
            "(role = 'member') = (member_id IS NOT NULL AND plan_id IS NOT NULL)",
            name="member_named",
        ),
    )

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    plan_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id"))
    member_id: Mapped[int | None] = mapped_column(BigInteger)
    token_sha256: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(Moment())
    revoked_at: Mapped[datetime | None] = mapped_column(Moment())
