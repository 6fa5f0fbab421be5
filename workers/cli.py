"""The `mutualaid` command line. Errors are one line on stderr and a non-zero exit.

Each command's module is imported only when that command runs (or for the top-level help):
together they import Temporal, Ray, FastAPI, Alembic and matplotlib, about 4 s that a
`settle` or `claims` command need not pay for what it does not use.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, NoReturn

import typer
from typer._click import Command, Context
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from mutualaid.errors import MutualAidError, exit_code_for
from workers.output import errors

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, attribute): a Typer (a group of commands) or one command's function
    "dev": ("workers.setup_cli", "dev"),
    "plans": ("workers.setup_cli", "plans"),
    "db": ("workers.setup_cli", "db"),
    "claims": ("workers.claims_cli", "claims_app"),
    "actors": ("workers.actors_cli", "actors_app"),
    "worker": ("workers.worker", "worker_command"),
    "population": ("workers.settle_cli", "population"),
    "settle": ("workers.settle_cli", "settle"),
    "periods": ("workers.periods_cli", "periods"),
    "schedules": ("workers.periods_cli", "schedules"),
    "loadtest": ("workers.loadtest_cli", "loadtest"),
    "project": ("workers.project_cli", "project_command"),
    "web": ("workers.console_cli", "web_command"),
    "users": ("workers.console_cli", "users"),
    "search-attributes": ("workers.setup_cli", "search_attributes"),
    "config": ("workers.setup_cli", "config"),
    "demo": ("workers.demo_cli", "demo"),
}


class Commands(TyperGroup):
    """The top-level group: a command is built from its module when it is looked up."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        target: Any = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            group = typer.main.get_group(target)
            group.name = cmd_name
            return group
        single = typer.Typer(add_completion=False)
        single.command(cmd_name)(target)
        return typer.main.get_command(single)


app = typer.Typer(
    cls=Commands,
    help="Run a Chronic Disease Mutual Aid Program.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Run a Chronic Disease Mutual Aid Program."""


def main() -> None:
    """Entry point: run the command, turning every expected error into one line on stderr and
    its exit code (2 for bad input and every usage error, as click does)."""
    try:
        code = app(standalone_mode=False)
    except MutualAidError as exc:
        _fail(str(exc), exit_code_for(exc))
    except typer.Abort:
        errors.print("aborted", markup=False)
        sys.exit(130)
    except NoArgsIsHelpError as exc:
        # The group's help is already on stdout (typer prints it while raising).
        _fail(f"missing command{_help_hint(exc)}", 2)
    except UsageError as exc:
        # A bad value, a missing or unknown option or command. Typer raises the exceptions of
        # its own vendored click, not click's; they all derive from its UsageError.
        _fail(f"{exc.format_message()}{_help_hint(exc)}", 2)
    except typer.TyperException as exc:
        _fail(exc.format_message(), exc.exit_code or 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    """One line on stderr, whatever the message held, and the exit code."""
    line = " ".join(message.split())
    errors.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


def _help_hint(exc: UsageError) -> str:
    return f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""


if __name__ == "__main__":
    main()
