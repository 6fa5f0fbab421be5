"""The console the demo leaves running: `mutualaid web` in the background on the embedded
stack, and sign-in tokens for a demo operator, reviewer and investigator, kept (mode 600)
in `<state>/console-tokens.json`, since a token is shown only once and the demo's user has
no one to ask for one."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from infra.config import Settings
from infra.db import unit_of_work
from infra.repositories import ConsoleUserRepository
from mutualaid.access import ConsoleRole
from workers.stack import background_console

DEMO_USERS = (
    ("demo-operator", ConsoleRole.OPERATOR),
    ("demo-console-reviewer", ConsoleRole.REVIEWER),
    ("demo-console-investigator", ConsoleRole.INVESTIGATOR),
)


def tokens_file(settings: Settings) -> Path:
    return settings.state_dir / "console-tokens.json"


def open_console(settings: Settings, engine: Engine) -> str:
    """Start the console (or find it running) and make sure the demo's users have tokens on
    file. Returns the console's address."""
    url = background_console(settings).up()
    path = tokens_file(settings)
    if path.exists():
        return url
    tokens: dict[str, str] = {}
    with unit_of_work(engine) as session:
        users = ConsoleUserRepository(session)
        known = {u.name for u in users.list()}
        for name, role in DEMO_USERS:
            # A demo killed after adding its users and before writing the file issues new
            # tokens: the old ones were never shown.
            tokens[name] = (
                users.new_token(name) if name in known else users.add(name, role, at=_now())
            )
    staged = path.with_suffix(".tmp")
    staged.unlink(missing_ok=True)
    # Created readable by its owner only, before a byte is written.
    with os.fdopen(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(json.dumps(tokens, indent=2) + "\n")
    staged.replace(path)
    return url


def _now() -> datetime:
    return datetime.now(UTC)
