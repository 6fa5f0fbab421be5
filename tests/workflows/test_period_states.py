"""The period's states keep their spellings: operators query them (`PeriodState='...'`), the
command line exits by them, and running periods carry them as search-attribute values."""

from __future__ import annotations

from messages.periods import PeriodState, debit_state


def test_the_period_states_keep_their_spellings() -> None:
    assert [state.value for state in PeriodState] == [
        "Waiting",
        "WaitingForPublicityDay",
        "Locking",
        "Publicising",
        "ObjectionWindow",
        "Debiting",
        "PayingOut",
        "Closed",
        "WaitingForPreviousPeriod",
        "WaitingToRetry",
        "DataIntegrityStop",
    ]


def test_the_debit_is_debiting_and_each_retry_is_numbered_while_it_waits_and_runs() -> None:
    assert debit_state(0, running=False) == debit_state(0, running=True) == "Debiting"
    assert [debit_state(n, running=False) for n in (1, 5)] == ["Retry1", "Retry5"]
    assert [debit_state(n, running=True) for n in (1, 5)] == ["Retrying1", "Retrying5"]
