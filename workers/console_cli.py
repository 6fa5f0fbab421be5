"""`mutualaid web` (the operations console and the public publicity page) and
`mutualaid users ...` (who may sign in to it, with which role)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from infra.config import load_settings
from infra.db import reading, unit_of_work
from infra.plans import get_plan
from infra.repositories import ConsoleUserRepository
from mutualaid.access import USER_ROLES, ConsoleRole
from mutualaid.errors import InputError
from workers.claims_client import database, member_id_of
from workers.console_serve import console_context, console_server, console_url
from workers.output import JsonFlag, emit, errors
from workers.stack import plan_sources, prepare_database

users = typer.Typer(
    help="Console users: add (prints the token once), list, token (a new one), revoke.",
    no_args_is_help=True,
)
_ROLE_NAMES = sorted(role.value for role in USER_ROLES)


def user_role(text: str) -> ConsoleRole:
    value = text.strip().lower()
    if value not in _ROLE_NAMES:
        raise InputError("role", text, "must be one of " + ", ".join(_ROLE_NAMES))
    return ConsoleRole(value)


@users.command("add")
def users_add(
    name: Annotated[str, typer.Option("--name", help="The login (staff: their actor name).")],
    role: Annotated[str, typer.Option("--role", help="One of " + ", ".join(_ROLE_NAMES) + ".")],
    member: Annotated[
        int | None, typer.Option("--member", help="The member's id (role member only).")
    ] = None,
    plan_id: Annotated[str, typer.Option("--plan", help="The member's plan.")] = "chronic",
    as_json: JsonFlag = False,
) -> None:
    """Add a console user and print its token, once (only its hash is kept). Staff are
    registered as actors in the same role, so their steps pass the claims' own checks."""
    wanted = user_role(role)
    member_id = member_id_of(member, "member") if member is not None else None
    settings = load_settings()
    plan = get_plan(plan_sources(settings), plan_id) if member_id is not None else None
    engine = prepare_database(settings)
    try:
        with unit_of_work(engine) as session:
            token = ConsoleUserRepository(session).add(
                name,
                wanted,
                at=datetime.now(UTC),
                plan_id=plan.id if plan is not None else None,
                member_id=member_id,
            )
    finally:
        engine.dispose()
    emit(
        {"name": name.strip(), "role": wanted.value, "member": member_id, "token": token},
        as_json=as_json,
        title="Console user added (the token is shown this once)",
    )


@users.command("token")
def users_token(name: Annotated[str, typer.Option("--name")], as_json: JsonFlag = False) -> None:
    """Issue a new token for a user (the old one stops working; a revoked user returns)."""
    settings = load_settings()
    with database(settings) as engine, unit_of_work(engine) as session:
        token = ConsoleUserRepository(session).new_token(name.strip())
    emit({"name": name.strip(), "token": token}, as_json=as_json, title="New token")


@users.command("revoke")
def users_revoke(name: Annotated[str, typer.Option("--name")], as_json: JsonFlag = False) -> None:
    """Stop a user's token from working."""
    settings = load_settings()
    with database(settings) as engine, unit_of_work(engine) as session:
        revoked = ConsoleUserRepository(session).revoke(name.strip(), at=datetime.now(UTC))
    emit({"name": name.strip(), "revoked": revoked}, as_json=as_json, title="Revoked")


@users.command("list")
def users_list(as_json: JsonFlag = False) -> None:
    """Every console user (never a token)."""
    settings = load_settings()
    with database(settings) as engine, reading(engine) as session:
        listed = ConsoleUserRepository(session).list()
    rows = [
        {
            "name": u.name,
            "role": u.role.value,
            "member": u.member_id,
            "plan": u.plan_id,
            "added_at": u.added_at.isoformat(timespec="seconds"),
            "revoked_at": u.revoked_at.isoformat(timespec="seconds") if u.revoked_at else None,
        }
        for u in listed
    ]
    emit(rows, as_json=as_json, title="Console users")


def web_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option("--port", help="Default: MUTUALAID_CONSOLE_PORT (8300).")
    ] = None,
) -> None:
    """Serve the operations console and the public publicity page until interrupted."""
    settings = load_settings()
    chosen = port if port is not None else settings.console_port
    if not 0 < chosen < 65536:
        raise InputError("port", chosen, "must be a TCP port (1-65535)")
    engine = prepare_database(settings)
    server = console_server(console_context(settings, engine), host=host, port=chosen)
    errors.print(f"console: {console_url(host, chosen)}", markup=False, highlight=False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        errors.print(
            "warning: the console speaks plain HTTP; beyond this machine put it behind a "
            "TLS proxy (tokens travel in its cookie)",
            markup=False,
            highlight=False,
        )
    try:
        server.run()
    finally:
        engine.dispose()
