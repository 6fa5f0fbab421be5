"""Configuration from environment variables, all under the MUTUALAID_ prefix.

With nothing set, everything runs embedded: a Temporal dev server on localhost, local Ray, a
SQLite file and a member store under the state directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from mutualaid.clock import SECONDS_PER_DAY, ProgramClock
from mutualaid.errors import InputError

PREFIX = "MUTUALAID_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(name="STATE_DIR", default=".mutualaid", help="where embedded state lives"),
    Setting(
        name="DATABASE_URL",
        default="",
        help="SQLAlchemy URL; default a SQLite file in the state directory",
    ),
    Setting(name="TEMPORAL_ADDRESS", default="localhost:7233", help="Temporal frontend host:port"),
    Setting(name="TEMPORAL_NAMESPACE", default="default", help="Temporal namespace"),
    Setting(name="TEMPORAL_UI_PORT", default="8233", help="Web UI port of the embedded server"),
    Setting(name="TASK_QUEUE", default="mutualaid", help="Temporal task queue of the workers"),
    Setting(name="RAY_ADDRESS", default="", help="Ray cluster address; empty: local ray.init()"),
    Setting(name="STORE_ROOT", default="", help="member store root; default <state>/store"),
    Setting(name="PLAN_FILES", default="", help="extra plan files or folders, ':'-separated"),
    Setting(
        name="SECONDS_PER_DAY",
        default=str(SECONDS_PER_DAY),
        help="real seconds per program day (86400 = real time)",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    state_dir: Path
    database_url: str
    temporal_address: str
    temporal_namespace: str
    temporal_ui_port: int
    task_queue: str
    ray_address: str | None
    store_root: str
    plan_files: tuple[Path, ...]
    seconds_per_day: Fraction

    @property
    def clock(self) -> ProgramClock:
        return ProgramClock(seconds_per_day=self.seconds_per_day)

    @property
    def temporal_host_port(self) -> tuple[str, int]:
        host, _, port = self.temporal_address.rpartition(":")
        return host, int(port)

    @property
    def web_ui_url(self) -> str:
        host, _ = self.temporal_host_port
        return f"http://{host}:{self.temporal_ui_port}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings, refusing a bad value with the variable's name and value."""
    env = os.environ if environ is None else environ

    def raw(name: str) -> str:
        setting = next(s for s in SETTINGS if s.name == name)
        return env.get(PREFIX + name, "").strip() or setting.default

    state_dir = Path(raw("STATE_DIR"))
    database_url = raw("DATABASE_URL") or f"sqlite:///{state_dir / 'mutualaid.db'}"
    if "://" not in database_url:
        raise InputError(PREFIX + "DATABASE_URL", database_url, "is not a database URL")
    address = raw("TEMPORAL_ADDRESS")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(PREFIX + "TEMPORAL_ADDRESS", address, "must be host:port")
    ui_port = raw("TEMPORAL_UI_PORT")
    if not ui_port.isdigit() or not 0 < int(ui_port) < 65536:
        raise InputError(PREFIX + "TEMPORAL_UI_PORT", ui_port, "must be a port number")
    seconds = raw("SECONDS_PER_DAY")
    try:
        seconds_per_day = Fraction(seconds)
    except (ValueError, ZeroDivisionError):
        raise InputError(PREFIX + "SECONDS_PER_DAY", seconds, "is not a number") from None
    if seconds_per_day <= 0:
        raise InputError(PREFIX + "SECONDS_PER_DAY", seconds, "must be positive")
    plan_files = tuple(Path(p) for p in raw("PLAN_FILES").split(os.pathsep) if p.strip())
    for path in plan_files:
        if not path.exists():
            raise InputError(PREFIX + "PLAN_FILES", str(path), "does not exist")
    task_queue = raw("TASK_QUEUE")
    return Settings(
        state_dir=state_dir,
        database_url=database_url,
        temporal_address=address,
        temporal_namespace=raw("TEMPORAL_NAMESPACE"),
        temporal_ui_port=int(ui_port),
        task_queue=task_queue,
        ray_address=raw("RAY_ADDRESS") or None,
        store_root=raw("STORE_ROOT") or str(state_dir / "store"),
        plan_files=plan_files,
        seconds_per_day=seconds_per_day,
    )
