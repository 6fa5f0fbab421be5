"""What crosses the period workflow's edges: its input, the payloads of its activities, and
the report it ends with. One frozen dataclass per message; activities by registered name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

WORKFLOW_NAME = "Period"
TRIGGER_NAME = "PeriodTrigger"


def workflow_id(plan_id: str, publicity_date: date) -> str:
    return f"period-{plan_id}-{publicity_date.isoformat()}"


# Registered activity names.
LOCK = "periods.lock_roster"
GATHER = "periods.gather_cases"
PUBLISH = "periods.publish"
CLOSE_WINDOW = "periods.close_window"
FIX_SHARE = "periods.fix_share"
DEBIT = "periods.debit"
RETRY = "periods.retry"
FINAL_REPORT = "periods.final_report"
RECORDED = "periods.recorded"

# Query names.
STATUS = "status"
# Update names.
RESUME = "resume"

# Period states an operator acts on (search attribute `PeriodState`, the status query).
WAITING_FOR_PREVIOUS = "WaitingForPreviousPeriod"  # the lock waits for the previous period
NOT_YET = "WaitingToRetry"  # another step said "not yet"; tried again on a timer
INTEGRITY_STOP = "DataIntegrityStop"  # stored data is damaged: stopped until `resume`


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodInput:
    plan_id: str
    publicity_date: date
    # Real seconds per program day, as text (exact); "86400" is real time.
    seconds_per_day: str = "86400"
    # The real instant at which the program clock read `program_origin` (None: the start;
    # program_origin None: the same instant). Periods and claims of one run share them.
    clock_origin: datetime | None = None
    program_origin: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerInput:
    """What a Schedule passes: the plan. The publicity day is the scheduled moment's date."""

    plan_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    plan_id: str
    publicity_date: date


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """What SQL holds of a period: its state, and its final report once it has one (a period
    with a final report has run to the end: it is never run again)."""

    state: str | None  # None: no period row yet
    report: PeriodReport | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resume:
    """An operator's word that a damaged store was repaired: try the stopped step again."""

    operator: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LockRequest:
    plan_id: str
    publicity_date: date
    now: datetime  # program moment


@dataclass(frozen=True, slots=True, kw_only=True)
class Locked:
    period_id: int
    members: int
    # The plan's timing rules, so the workflow needs no plan file of its own.
    objection_window_days: int
    retry_days: int
    payout_deadline_days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GatherRequest:
    plan_id: str
    period_id: int
    cutoff: datetime  # program moment: 00:00 on the publicity day


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """A case on the publicity list. No personal data beyond the masked forms."""

    claim_id: str
    masked_member: str
    age: int
    condition: str
    hospital: str  # masked: the hospital's name only
    benefit_fen: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Gathered:
    cases: tuple[Case, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishRequest:
    plan_id: str
    period_id: int
    publicity_date: date
    cases: tuple[Case, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    provisional_share_fen: int
    list_file: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseWindowRequest:
    period_id: int
    claim_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowClosed:
    cleared: tuple[str, ...]
    objected: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareRequest:
    plan_id: str
    publicity_date: date
    benefits_fen: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareFixed:
    aid_fen: int
    fee_fen: int
    surplus_in_fen: int
    members: int
    share_fen: int
    # What each cleared case is paid, in the order given (reduced only by the per-case cap).
    payouts_fen: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitRequest:
    plan_id: str
    sharing_date: date
    attempt: int  # 0: the debit; 1..retry days: the retries
    aid_fen: int
    now: datetime  # program moment


@dataclass(frozen=True, slots=True, kw_only=True)
class Debited:
    attempt: int
    paid_fen: int
    unpaid_fen: int
    subsidy_fen: int
    removed: int | None
    period_closed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRequest:
    plan_id: str
    period_id: int
    publicity_date: date
    funded_claims: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodReport:
    period: str
    members: int
    cases: int
    aid_fen: int
    fee_fen: int
    surplus_in_fen: int
    share_fen: int
    collected_fen: int
    unpaid_fen: int
    subsidy_fen: int
    surplus_out_fen: int
    payouts_made: int
    payouts_fen: int
    payouts_missing: tuple[str, ...]
    balanced: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodStatus:
    period: str
    state: str
    members: int | None
    cases: tuple[str, ...]
    cleared: tuple[str, ...]
    objected: tuple[str, ...]
    share_fen: int | None
    next_step_at: datetime | None  # program moment
    # WaitingForPreviousPeriod: the workflow id of the period it waits for.
    waiting_for: str | None = None
    # DataIntegrityStop / WaitingToRetry: the step and what it said.
    stopped_step: str | None = None
    problem: str | None = None
