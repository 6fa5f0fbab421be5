"""What crosses the period workflow's edges: its input, the payloads of its activities, the
report it ends with, and the states it shows. One frozen dataclass per message; the
registered names that activities, queries and updates keep whatever their code is called."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

WORKFLOW_NAME = "Period"
TRIGGER_NAME = "PeriodTrigger"


def workflow_id(plan_id: str, publicity_date: date) -> str:
    """A period's name, as its workflow, its SQL row and its claims know it.

    >>> workflow_id("chronic", date(2026, 12, 7))
    'period-chronic-2026-12-07'
    """
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
LIST_CASES = "periods.list_cases"
TELL_CLAIMS = "periods.tell_claims"

# workflow.patched id: periods started before it gathered the full cases into their history
# and signalled each claim from it, one after another.
FANOUT_PATCH = "period-fanout"
# Claims told by one `tell_claims` activity: the period's history grows by one activity per
# batch, not by two events a claim.
TELL_BATCH = 1000

# Query names.
STATUS = "status"
# Update names.
RESUME = "resume"


class PeriodState(StrEnum):
    """Where a period is, spelled as operators query it (`PeriodState='DataIntegrityStop'`,
    the search attribute) and as `periods status` shows it. The debit's retries add numbered
    states (`debit_state`)."""

    WAITING = "Waiting"  # started; nothing done yet
    WAITING_FOR_PUBLICITY_DAY = "WaitingForPublicityDay"  # until 00:00 on the publicity day
    LOCKING = "Locking"  # the roster is being locked
    PUBLICISING = "Publicising"  # the cases gathered, the list published, the claims told
    OBJECTION_WINDOW = "ObjectionWindow"  # members may object until the window ends
    DEBITING = "Debiting"  # waiting for the sharing day, then running the debit
    PAYING_OUT = "PayingOut"  # the claims told they are funded; until the payout deadline
    CLOSED = "Closed"  # the final report is stored
    # The states an operator acts on.
    WAITING_FOR_PREVIOUS_PERIOD = "WaitingForPreviousPeriod"  # the lock waits for it to close
    WAITING_TO_RETRY = "WaitingToRetry"  # another step said "not yet"; tried again on a timer
    DATA_INTEGRITY_STOP = "DataIntegrityStop"  # stored data is damaged: stopped until `resume`


def debit_state(attempt: int, *, running: bool) -> str:
    """The state around debit attempt `attempt` (0: the debit, 1..: the retries): `Debiting`
    for the debit, waiting or running; `Retry<n>` while retry n waits for its day and
    `Retrying<n>` while it runs.

    >>> [debit_state(0, running=False), debit_state(2, running=False), debit_state(2, running=True)]
    ['Debiting', 'Retry2', 'Retrying2']
    """
    if attempt == 0:
        return PeriodState.DEBITING.value
    return f"Retrying{attempt}" if running else f"Retry{attempt}"


# The period's final report waits for `payout_due` (00:00 after the payout deadline's last
# day); periods started before this patch waited until 00:00 on that last day.
PAYOUT_DUE_PATCH = "period-payout-due"


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
    """What a Schedule passes: the plan and the deployment's program clock. The publicity day
    is the program date at the scheduled moment."""

    plan_id: str
    # The deployment's clock, as in PeriodInput (Schedules applied before it was recorded
    # carry none: real time).
    seconds_per_day: str = "86400"
    clock_origin: datetime | None = None
    program_origin: datetime | None = None


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
    # The program moment of publication. Requests recorded before it was sent carry none;
    # they are dated 00:00 on the publicity day, when the list is due.
    now: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    provisional_share_fen: int
    list_file: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRequest:
    """Gather the period's cases and publish them, in one step: the cases' details go from
    SQL to SQL and the list file, never through the period's history."""

    plan_id: str
    period_id: int
    publicity_date: date
    cutoff: datetime  # program moment: 00:00 on the publicity day
    now: datetime  # the program moment of publication


@dataclass(frozen=True, slots=True, kw_only=True)
class Listed:
    """The published list as the workflow needs it: ids and benefits, in list order."""

    claim_ids: tuple[str, ...]
    benefits_fen: tuple[int, ...]
    provisional_share_fen: int
    list_file: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TellRequest:
    """One batch of claims to signal: `notice` to each, or, for `funded`, each its amount."""

    signal: str  # messages.claims.PUBLICISED, CLEARED or FUNDED
    period_id: int
    claim_ids: tuple[str, ...]
    publicity_date: date | None = None  # publicised: the notice's dates
    objection_window_end: datetime | None = None
    amounts_fen: tuple[int, ...] = ()  # funded: one per claim


@dataclass(frozen=True, slots=True, kw_only=True)
class Told:
    unreachable: tuple[str, ...]  # closed or missing claim workflows


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
    state: str  # a `PeriodState`, or a debit retry's numbered state (`debit_state`)
    members: int | None
    cases: tuple[str, ...]
    cleared: tuple[str, ...]
    objected: tuple[str, ...]
    share_fen: int | None
    next_step_at: datetime | None  # program moment
    # WaitingForPreviousPeriod: the workflow id of the period it waits for.
    waiting_for: str | None = None
    # DataIntegrityStop / WaitingToRetry: the step (its registered name) and what it said.
    stopped_step: str | None = None
    problem: str | None = None
