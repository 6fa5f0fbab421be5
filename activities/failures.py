"""How an activity fails: a business refusal or a broken invariant is final (retrying cannot
change the answer); anything else, a database or network hiccup, is retried by Temporal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from mutualaid.errors import InputError, InvariantError


def refused(message: str, *, kind: str) -> ApplicationError:
    """A business refusal: the workflow reads the message; Temporal does not retry."""
    return ApplicationError(message, type=kind, non_retryable=True)


@contextmanager
def refusals_are_final() -> Iterator[None]:
    """Turn the program's own "no" (InputError) and broken invariants into non-retryable
    application errors; let every other exception through to be retried."""
    try:
        yield
    except InputError as exc:
        raise refused(str(exc), kind=type(exc).__name__) from exc
    except InvariantError as exc:
        raise refused(str(exc), kind="InvariantError") from exc
