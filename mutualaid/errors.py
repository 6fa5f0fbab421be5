"""The error types of the program.

Expected "no" answers about a member or a claim (a claim that is not eligible, a member who
may not join) are values, not exceptions: see `mutualaid.eligibility`. Exceptions are for
requests that cannot be carried out, and each kind says what to do about it::

    MutualAidError
    ├── ExplainedError     one line naming the field and the value
    │   ├── InputError     bad input: fix the request; nothing was written
    │   │   └── PlanError  a plan file that cannot be loaded
    │   ├── RefusedError   a rule says no (a finished period, an unknown actor): final
    │   ├── NotYetError    not yet: wait and ask again (the day has not come, the previous
    │   │                  period is not closed); the only kind Temporal retries
    │   ├── ConflictError  someone else did it first, or differently: final
    │   └── IntegrityError stored data does not match its record (a checksum, a manifest):
    │                      stop loudly and page the operator; never retried away
    └── InvariantError     money or state that does not add up: a bug, never retried away

The command line maps them to exit codes (`EXIT_CODES`); activities map them to Temporal's
retry behaviour (`activities.failures`).
"""

from __future__ import annotations


class MutualAidError(Exception):
    """Base of every error this program raises on purpose."""


class ExplainedError(MutualAidError):
    """An error whose message is one line naming the field and the value.

    >>> str(ExplainedError("amount", "-3", "must not be negative"))
    "amount='-3': must not be negative"
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={_short(value)}: {reason}")


class InputError(ExplainedError, ValueError):
    """Input that cannot be accepted. The message is one line naming the field and the value.

    >>> str(InputError("amount", "-3", "must not be negative"))
    "amount='-3': must not be negative"
    """


class PlanError(InputError):
    """A plan file that is malformed or inconsistent."""


class RefusedError(ExplainedError):
    """A well-formed request that a rule of the program refuses; asking again changes nothing."""


class NotYetError(ExplainedError):
    """A request that is too early: the day has not come, or an earlier step is not done.
    `waiting_for` names what it waits for (a period id, a moment) when there is one."""

    def __init__(self, field: str, value: object, reason: str, *, waiting_for: str = "") -> None:
        super().__init__(field, value, reason)
        self.waiting_for = waiting_for


class ConflictError(ExplainedError):
    """Another run did this first, or did it differently: nothing of this request was written."""


class IntegrityError(ExplainedError):
    """Stored data does not match what was recorded of it (a checksum, a size, a manifest, a
    broken chain). An operator must look: retrying cannot repair it."""


class InvariantError(MutualAidError, AssertionError):
    """A rule about money or state that must always hold did not."""


# What the command line exits with for each kind: usage and input 2 (as click does), a
# refusal or conflict 3, "not yet, wait" 4, data integrity 5 (page the operator).
EXIT_CODES: tuple[tuple[type[MutualAidError], int], ...] = (
    (InputError, 2),
    (RefusedError, 3),
    (ConflictError, 3),
    (NotYetError, 4),
    (IntegrityError, 5),
    (InvariantError, 5),
)


def exit_code_for(error: MutualAidError) -> int:
    """The process exit status for an error (2 for anything not listed).

    >>> exit_code_for(NotYetError("period", "p", "is not closed"))
    4
    """
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return 2


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    # One line, bounded: the value may be an oversized document list or a whole file.
    text = text.replace("\n", "\\n")
    if len(text) <= limit:
        return text
    # Keep both ends: a path's tail (the file) says as much as its head.
    head = (limit - 3) // 3
    return text[:head] + "..." + text[-(limit - 3 - head) :]
