"""How an activity fails, one Temporal retry behaviour per kind of error (`mutualaid.errors`):

- bad input, a refusal by a rule, a conflict: final (`non_retryable`), the workflow reads it;
- not yet: retryable, type `NotYetError`, so the caller may wait and ask again;
- data integrity and broken invariants: final, logged at ERROR with `PAGE OPERATOR`, so the
  run stops loudly instead of retrying over damaged data;
- anything else (a database or network hiccup, a killed Ray worker): retried by Temporal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from mutualaid.errors import (
    ConflictError,
    InputError,
    IntegrityError,
    InvariantError,
    NotYetError,
    RefusedError,
)

log = logging.getLogger("mutualaid.activities")

# The error types a workflow must never retry (what `refusals_are_final` raises as final).
FINAL_ERROR_TYPES = (
    "InputError",
    "PlanError",
    "RefusedError",
    "ConflictError",
    "IntegrityError",
    "InvariantError",
    "ReconciliationError",
)
NOT_YET = "NotYetError"
INTEGRITY_TYPES = ("IntegrityError", "InvariantError", "ReconciliationError")


def refused(message: str, *, kind: str) -> ApplicationError:
    """A business refusal: the workflow reads the message; Temporal does not retry."""
    return ApplicationError(message, type=kind, non_retryable=True)


@contextmanager
def refusals_are_final() -> Iterator[None]:
    """Map the program's own errors to Temporal's retry behaviour; let every other exception
    through to be retried."""
    try:
        yield
    except NotYetError as exc:
        # Benign: waiting is expected, so the SDK logs no failure traceback for it.
        raise ApplicationError(
            str(exc), exc.waiting_for, type=NOT_YET, category=ApplicationErrorCategory.BENIGN
        ) from exc
    except (IntegrityError, InvariantError) as exc:
        kind = type(exc).__name__
        if kind not in INTEGRITY_TYPES:
            kind = "IntegrityError" if isinstance(exc, IntegrityError) else "InvariantError"
        log.error("PAGE OPERATOR: data integrity: %s", exc)
        raise refused(str(exc), kind=kind) from exc
    except (InputError, RefusedError, ConflictError) as exc:
        raise refused(str(exc), kind=type(exc).__name__) from exc
