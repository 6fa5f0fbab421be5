"""The error types of the program.

Expected "no" answers (a claim that is not eligible, a member who may not join) are values,
not exceptions: see `mutualaid.eligibility`. Exceptions are for input that cannot be read and
for broken invariants::

    MutualAidError
    ├── InputError        bad input: names the field and the value; nothing may be written
    │   └── PlanError     a plan file that cannot be loaded
    └── InvariantError    money or state that does not add up: a bug, never retried away
"""

from __future__ import annotations


class MutualAidError(Exception):
    """Base of every error this program raises on purpose."""


class InputError(MutualAidError, ValueError):
    """Input that cannot be accepted. The message is one line naming the field and the value.

    >>> str(InputError("amount", "-3", "must not be negative"))
    "amount='-3': must not be negative"
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={_short(value)}: {reason}")


class PlanError(InputError):
    """A plan file that is malformed or inconsistent."""


class InvariantError(MutualAidError, AssertionError):
    """A rule about money or state that must always hold did not."""


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    # One line, bounded: the value may be an oversized document list or a whole file.
    text = text.replace("\n", "\\n")
    if len(text) <= limit:
        return text
    # Keep both ends: a path's tail (the file) says as much as its head.
    head = (limit - 3) // 3
    return text[:head] + "..." + text[-(limit - 3 - head) :]
