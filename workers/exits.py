"""How a command that used a Temporal client ends: an explicit exit, errors as one line."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec

from temporalio.service import RPCError

from mutualaid.errors import MutualAidError, exit_code_for
from workers.output import errors

P = ParamSpec("P")


def exits_explicitly(command: Callable[P, None]) -> Callable[P, None]:
    """End a command that used a Temporal client with an explicit exit: the SDK's runtime
    threads can abort the interpreter while it finalizes (a known SDK issue), which would
    turn a clean run into a crash. Errors keep `mutualaid`'s contract: one line, and the
    exit status of the error's kind (`mutualaid.errors.EXIT_CODES`); a Temporal server that
    fails the call is one line and exit 1, never a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except MutualAidError as exc:
            say_on_stderr(f"error: {exc}")
            _exit(exit_code_for(exc))
        except RPCError as exc:
            say_on_stderr(f"error: Temporal answered {exc.status.name}: {first_line(exc.message)}")
            _exit(1)
        except SystemExit as exc:
            _exit(exc.code if isinstance(exc.code, int) else 1)
        _exit(0)

    return run


def say_on_stderr(line: str) -> None:
    errors.print(line, markup=False, highlight=False, soft_wrap=True)


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no detail"


def _exit(code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
