"""Configuration from environment variables, all under the MUTUALAID_ prefix.

With nothing set, everything runs embedded: a Temporal dev server on localhost, local Ray, a
SQLite file and a member store under the state directory.

`Settings` is a pydantic-settings model: the library reads the variables and turns them into
typed values; the validators here hold what this program asks of each value. A bad value is
one line naming the variable and the value (`load_settings`), never a pydantic report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from infra.warmray import WarmRay
from mutualaid.errors import InputError

PREFIX = "MUTUALAID_"


def _port(value: object) -> object:
    if isinstance(value, str) and not (value.isdigit() and 0 < int(value) < 65536):
        raise ValueError("must be a port number")
    return value


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port")
    return value


def _positive_number(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        number = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise ValueError("is not a number") from None
    if number <= 0:
        raise ValueError("must be positive")
    return number


def _existing(path: Path) -> Path:
    if not path.exists():
        raise ValueError("does not exist")
    return path


def _path_list(value: object) -> object:
    # A `:`-separated list, like PATH; pydantic-settings would read it as JSON (NoDecode).
    if isinstance(value, str):
        return tuple(p for p in value.split(os.pathsep) if p.strip())
    return value


class Settings(BaseSettings):
    """The effective settings. Each field is read from `MUTUALAID_<FIELD NAME>`; its
    description is what `mutualaid config` says it means."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        # pydantic-settings matches names regardless of case: field `state_dir` is read from
        # MUTUALAID_STATE_DIR (and a lower-case spelling of it, which nobody sets).
        # Other MUTUALAID_* variables (the tests' MUTUALAID_TEST_POSTGRES_URL) are not settings.
        extra="ignore",
        frozen=True,
    )

    state_dir: Annotated[Path, Field(description="where embedded state lives")] = Path(".mutualaid")
    database_url: Annotated[
        str,
        Field(
            description="SQLAlchemy URL; default a SQLite file in the state directory",
            validate_default=True,
        ),
    ] = ""
    temporal_address: Annotated[
        str, AfterValidator(_host_port), Field(description="Temporal frontend host:port")
    ] = "localhost:7233"
    temporal_namespace: Annotated[str, Field(description="Temporal namespace")] = "default"
    temporal_ui_port: Annotated[
        int, BeforeValidator(_port), Field(description="Web UI port of the embedded server")
    ] = 8233
    console_port: Annotated[
        int, BeforeValidator(_port), Field(description="port of the console (`mutualaid web`)")
    ] = 8300
    task_queue: Annotated[str, Field(description="Temporal task queue of the workers")] = (
        "mutualaid"
    )
    ray_address: Annotated[
        str | None, Field(description="Ray cluster address; empty: local ray.init()")
    ] = None
    store_root: Annotated[
        str,
        Field(description="member store root; default <state>/store", validate_default=True),
    ] = ""
    plan_files: Annotated[
        tuple[Annotated[Path, AfterValidator(_existing)], ...],
        NoDecode,
        BeforeValidator(_path_list),
        Field(description="extra plan files or folders, ':'-separated"),
    ] = ()
    seconds_per_day: Annotated[
        Fraction | None,
        BeforeValidator(_positive_number),
        Field(
            description="real seconds per program day, recorded in SQL when the deployment is "
            "first set up (unset: 86400, real time); a different value later is refused"
        ),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """A variable set to nothing (or spaces) means its default, as if it were unset."""
        if not isinstance(data, dict):
            return data
        return {
            key: value.strip() if isinstance(value, str) else value
            for key, value in data.items()
            if not (isinstance(value, str) and not value.strip())
        }

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str, info: ValidationInfo) -> str:
        state_dir = info.data.get("state_dir")  # absent: its own error is reported first
        url = value or (f"sqlite:///{state_dir / 'mutualaid.db'}" if state_dir else "")
        if "://" not in url:
            raise ValueError("is not a database URL")
        return url

    @field_validator("store_root")
    @classmethod
    def _store_root(cls, value: str, info: ValidationInfo) -> str:
        state_dir = info.data.get("state_dir")  # absent: its own error is reported first
        return value or (str(state_dir / "store") if state_dir else "")

    @property
    def temporal_host_port(self) -> tuple[str, int]:
        host, _, port = self.temporal_address.rpartition(":")
        return host, int(port)

    @property
    def web_ui_url(self) -> str:
        host, _ = self.temporal_host_port
        return f"http://{host}:{self.temporal_ui_port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One variable, as `mutualaid config` lists it."""

    name: str
    help: str


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(name=name.upper(), help=field.description or "")
    for name, field in Settings.model_fields.items()
)


def absolute_store_root(root: str) -> str:
    """A local store root as an absolute path (a URI as it is): shard tasks may run in
    processes with another working folder (a warm Ray's workers)."""
    return root if "://" in root else os.path.abspath(root)


def load_settings() -> Settings:
    """Read the settings from the environment, refusing a bad value with the variable's name
    and value (the first bad one, in the order of `SETTINGS`). With no Ray address set, a warm
    Ray of the state folder (`dev up --warm-ray`) is joined: its address becomes the setting and
    its token goes into the environment (`workers.entry` does this before Ray is imported)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = PREFIX + str(error["loc"][0]).upper()
        cause = error.get("ctx", {}).get("error")
        reason = str(cause) if isinstance(cause, ValueError) else error["msg"]
        raise InputError(variable, error["input"], reason) from None
    if settings.ray_address is None:
        # A warm Ray that `dev up --warm-ray` started for this state folder, when it runs.
        warm = WarmRay(settings.state_dir).join()
        if warm is not None:
            # Its workers run in the folder `dev up` ran in, not this command's.
            root = absolute_store_root(settings.store_root)
            return settings.model_copy(update={"ray_address": warm, "store_root": root})
    return settings
