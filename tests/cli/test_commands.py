"""The command line: tables, --json, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from infra.db import MIGRATIONS
from tests.helpers import run_cli
from workers.cli import COMMANDS

CHRONIC_TOML = Path(__file__).parents[2] / "mutualaid" / "plans" / "chronic.toml"


def test_help_lists_the_command_groups() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for group in ("dev", "plans", "db", "config", "demo"):
        assert group in result.stdout
    # Each command's module is imported when the command is named: the help lists them all.
    assert [name for name in COMMANDS if f" {name} " not in result.stdout] == []


def test_a_single_command_offers_no_shell_completion() -> None:
    """Built lazily, a single command keeps the command line's rule: no completion options."""
    assert "completion" not in run_cli("config", "--help").stdout
    refused = run_cli("config", "--show-completion")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: No such option: --show-completion")
    assert len(refused.stderr.splitlines()) == 1


def test_plans_list_as_json_names_both_shipped_plans() -> None:
    result = run_cli("plans", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["plan"], r["rules_version"]) for r in rows] == [
        ("chronic", "chronic-2020.1"),
        ("major", "major-2019.1"),
    ]


def test_plans_show_gives_the_rules_in_yuan() -> None:
    result = run_cli("plans", "show", "chronic", "--json")
    assert result.returncode == 0, result.stderr
    detail = json.loads(result.stdout)
    assert detail["benefits"] == ["0-39: 300000.00", "40-59: 100000.00"]
    assert detail["annual_cap"] == "188.00"
    assert detail["fee_rate"] == "8%"
    assert detail["waiting_days"] == 90


def test_a_plan_file_from_the_settings_adds_a_plan_without_code(tmp_path: Path) -> None:
    text = CHRONIC_TOML.read_text().replace('id = "chronic"', 'id = "chronic-b"')
    (tmp_path / "b.toml").write_text(text)
    result = run_cli("plans", "list", "--json", env={"MUTUALAID_PLAN_FILES": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert [r["plan"] for r in json.loads(result.stdout)] == ["chronic", "chronic-b", "major"]


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("plans", "show", "nope"), {}, "error: plan='nope': is not a known plan"),
        (
            ("plans", "check", "/no/such.toml"),
            {},
            "error: plan_file='/no/such.toml': does not exist",
        ),
        (
            ("config",),
            {"MUTUALAID_SECONDS_PER_DAY": "0"},
            "error: MUTUALAID_SECONDS_PER_DAY='0': must be positive",
        ),
        (
            ("db", "upgrade"),
            {"MUTUALAID_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"},
            "error: MUTUALAID_DATABASE_URL='postgresql+psycopg://u:***@127.0.0.1:1/x': "
            "cannot connect",
        ),
    ],
)
def test_bad_input_is_one_line_naming_field_and_value(
    args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1


def test_a_malformed_plan_file_is_refused_and_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        CHRONIC_TOML.read_text().replace('fee_rate_percent = "8"', "fee_rate_percent = 8")
    )
    result = run_cli("plans", "check", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: bad.toml:sharing.fee_rate_percent=8: must be a percentage written as text"
    )


def test_a_bad_plan_in_the_settings_stops_db_upgrade_before_writing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(CHRONIC_TOML.read_text().replace("waiting_days = 90", "waiting_days = -1"))
    database = tmp_path / "state" / "mutualaid.db"
    result = run_cli(
        "db",
        "upgrade",
        env={"MUTUALAID_PLAN_FILES": str(bad), "MUTUALAID_STATE_DIR": str(tmp_path / "state")},
    )
    assert result.returncode == 2
    assert "bad.toml:coverage.waiting_days=-1: must not be negative" in result.stderr
    assert not database.exists()


def test_db_upgrade_creates_the_schema_and_records_the_plans(tmp_path: Path) -> None:
    env = {"MUTUALAID_STATE_DIR": str(tmp_path / "state")}
    first = run_cli("db", "upgrade", env=env)
    again = run_cli("db", "upgrade", env=env)
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert first.stdout.startswith(f"schema at {head} on sqlite:///")
    engine = create_engine(f"sqlite:///{tmp_path / 'state' / 'mutualaid.db'}")
    assert "plan_rule_versions" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT plan_id, rules_version FROM plan_rule_versions ORDER BY plan_id"
        ).all()
    assert [tuple(r) for r in rows] == [("chronic", "chronic-2020.1"), ("major", "major-2019.1")]
    engine.dispose()
