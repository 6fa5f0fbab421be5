"""Each kind of error gets its Temporal retry behaviour: not yet is retried, the rest is
final, and data-integrity failures page the operator."""

from __future__ import annotations

import logging

import pytest
from temporalio.exceptions import ApplicationError

from activities.failures import FINAL_ERROR_TYPES, NOT_YET, refusals_are_final
from mutualaid.errors import (
    ConflictError,
    InputError,
    IntegrityError,
    InvariantError,
    MutualAidError,
    NotYetError,
    PlanError,
    RefusedError,
)
from settlement.reconcile import ReconciliationError


def raised(error: Exception) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught, refusals_are_final():
        raise error
    return caught.value


def test_not_yet_is_retryable_and_names_what_it_waits_for() -> None:
    error = raised(NotYetError("period", "p2", "waits", waiting_for="period-chronic-2026-12-07"))
    assert error.type == NOT_YET and not error.non_retryable
    assert error.details == ("period-chronic-2026-12-07",)


@pytest.mark.parametrize(
    "error",
    [
        InputError("aid_fen", -1, "must not be negative"),
        PlanError("plan", "x", "is broken"),
        RefusedError("period", "p", "was cancelled"),
        ConflictError("aid_fen", 1, "fixed with another aid"),
    ],
)
def test_bad_input_refusals_and_conflicts_are_final(error: MutualAidError) -> None:
    mapped = raised(error)
    assert mapped.non_retryable and mapped.type == type(error).__name__
    assert mapped.type in FINAL_ERROR_TYPES


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("shard", "s", "does not match its checksum"),
        InvariantError("paid + unpaid != charge"),
        ReconciliationError("does not reconcile"),
    ],
)
def test_data_integrity_is_final_and_pages_the_operator(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="mutualaid.activities"):
        mapped = raised(error)
    assert mapped.non_retryable and mapped.type in FINAL_ERROR_TYPES
    assert any("PAGE OPERATOR" in r.getMessage() for r in caplog.records)


def test_anything_else_is_left_for_temporal_to_retry() -> None:
    with pytest.raises(ConnectionError), refusals_are_final():
        raise ConnectionError("database went away")
