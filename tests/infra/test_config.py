"""Settings come from MUTUALAID_* variables; nothing set means embedded mode."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path

import pytest

from infra.config import PREFIX, Settings, load_settings
from infra.db import make_engine
from mutualaid.errors import InputError

SettingsFrom = Callable[[Mapping[str, str]], Settings]


@pytest.fixture
def settings_from(monkeypatch: pytest.MonkeyPatch) -> SettingsFrom:
    """The settings a process with exactly these MUTUALAID_* variables would read."""

    def read(variables: Mapping[str, str]) -> Settings:
        for name in list(os.environ):
            if name.startswith(PREFIX):
                monkeypatch.delenv(name)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return load_settings()

    return read


def test_no_settings_gives_the_embedded_defaults(settings_from: SettingsFrom) -> None:
    settings = settings_from({})
    assert settings.database_url == "sqlite:///.mutualaid/mutualaid.db"
    assert settings.temporal_address == "localhost:7233"
    assert settings.temporal_namespace == "default"
    assert settings.web_ui_url == "http://localhost:8233"
    assert settings.ray_address is None
    assert settings.store_root == ".mutualaid/store"
    assert settings.plan_files == ()
    assert settings.seconds_per_day is None  # the deployment's clock decides (real time)


def test_every_setting_is_read_from_its_variable(
    tmp_path: Path, settings_from: SettingsFrom
) -> None:
    plan = tmp_path / "extra.toml"
    plan.write_text("")
    settings = settings_from(
        {
            "MUTUALAID_STATE_DIR": str(tmp_path),
            "MUTUALAID_DATABASE_URL": "postgresql://u@db/x",
            "MUTUALAID_TEMPORAL_ADDRESS": "temporal.internal:7000",
            "MUTUALAID_TEMPORAL_NAMESPACE": "aid",
            "MUTUALAID_TEMPORAL_UI_PORT": "9000",
            "MUTUALAID_TASK_QUEUE": "claims",
            "MUTUALAID_RAY_ADDRESS": "ray://head:10001",
            "MUTUALAID_STORE_ROOT": "s3://bucket/members",
            "MUTUALAID_PLAN_FILES": str(plan),
            "MUTUALAID_SECONDS_PER_DAY": "2.5",
        }
    )
    assert settings.database_url == "postgresql://u@db/x"
    assert settings.temporal_host_port == ("temporal.internal", 7000)
    assert settings.temporal_namespace == "aid"
    assert settings.web_ui_url == "http://temporal.internal:9000"
    assert settings.task_queue == "claims"
    assert settings.ray_address == "ray://head:10001"
    assert settings.store_root == "s3://bucket/members"
    assert settings.plan_files == (plan,)
    assert settings.seconds_per_day == Fraction(5, 2)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MUTUALAID_TEMPORAL_ADDRESS", "no-port", "MUTUALAID_TEMPORAL_ADDRESS='no-port'"),
        ("MUTUALAID_TEMPORAL_ADDRESS", "h:99999", "must be host:port"),
        ("MUTUALAID_TEMPORAL_UI_PORT", "web", "MUTUALAID_TEMPORAL_UI_PORT='web'"),
        ("MUTUALAID_SECONDS_PER_DAY", "fast", "is not a number"),
        ("MUTUALAID_SECONDS_PER_DAY", "-1", "must be positive"),
        ("MUTUALAID_DATABASE_URL", "mydb", "is not a database URL"),
        ("MUTUALAID_PLAN_FILES", "/no/such/plan.toml", "does not exist"),
    ],
)
def test_a_bad_setting_names_the_variable_and_value(
    variable: str, value: str, message: str, settings_from: SettingsFrom
) -> None:
    with pytest.raises(InputError, match=message):
        settings_from({variable: value})


def test_an_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(InputError) as caught:
        make_engine("postgresql://mutualaid:secret@127.0.0.1:1/none")
    message = str(caught.value)
    assert message.startswith("MUTUALAID_DATABASE_URL='postgresql+psycopg://mutualaid:***@")
    assert "cannot connect" in message
    assert "secret" not in message
    assert "\n" not in message
