"""Usage errors, on every command group: one line `error: ...` on stderr, no traceback, exit 2.

Typer raises the exceptions of its own vendored click (not click's), which the entry point
used to miss: a bad integer, a missing or unknown option and an unknown command each printed
a Python traceback and exited 1. Dates are YYYY-MM-DD only; moments (`--as-of`) add
THH:MM[:SS] and an optional offset.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli


def assert_one_line_usage_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ("settle", "retry", "--sharing-date", "2026-10-14", "--attempt", "x"),
            ("'--attempt'", "settle retry --help"),
            id="settle-bad-int",
        ),
        pytest.param(
            ("population", "generate", "--members", "abc"),
            ("'--members'",),
            id="population-bad-int",
        ),
        pytest.param(("demo", "--members", "abc"), ("'--members'",), id="demo-bad-int"),
        pytest.param(
            ("settle", "lock"), ("Missing option '--publicity-date'",), id="settle-missing-option"
        ),
        pytest.param(
            ("periods", "start", "--publicity-date", "2026-12-07", "--bogus"),
            ("No such option: --bogus",),
            id="periods-unknown-option",
        ),
        pytest.param(
            ("schedules", "backfill", "--from", "2026-12-07"),
            ("Missing option '--to'",),
            id="schedules-missing-option",
        ),
        pytest.param(
            ("claims", "submit", "--bogus"), ("No such option: --bogus",), id="claims-unknown"
        ),
        pytest.param(("dev", "up", "--bogus"), ("No such option: --bogus",), id="dev-unknown"),
        pytest.param(("nosuch",), ("No such command 'nosuch'",), id="unknown-command"),
        pytest.param(("settle",), ("missing command", "mutualaid settle --help"), id="no-command"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    args: tuple[str, ...], expected: tuple[str, ...], tmp_path: Path
) -> None:
    result = run_cli(*args, env={"MUTUALAID_STATE_DIR": str(tmp_path)})
    assert_one_line_usage_error(result, *expected)
    assert not list(tmp_path.iterdir()), "a usage error wrote something"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ("periods", "start", "--publicity-date", "2026-W50-1"),
            "error: publicity_date='2026-W50-1': is not a real date in the form YYYY-MM-DD",
            id="week-date",
        ),
        pytest.param(
            ("settle", "lock", "--publicity-date", "20261207"),
            "error: publicity_date='20261207': is not a real date in the form YYYY-MM-DD",
            id="basic-date",
        ),
        pytest.param(
            ("population", "generate", "--as-of", "2026-10-1", "--executor", "inline"),
            "error: as_of='2026-10-1': is not a real date in the form YYYY-MM-DD",
            id="short-day",
        ),
        pytest.param(
            ("settle", "retry", "--sharing-date", "2026-10-14", "--as-of", "2026-10-14T12"),
            "error: as_of='2026-10-14T12': is not a date YYYY-MM-DD or a moment",
            id="moment-without-minutes",
        ),
    ],
)
def test_dates_are_yyyy_mm_dd_only(args: tuple[str, ...], expected: str, tmp_path: Path) -> None:
    result = run_cli(*args, env={"MUTUALAID_STATE_DIR": str(tmp_path)})
    assert_one_line_usage_error(result)
    assert result.stderr.startswith(expected), result.stderr


@pytest.mark.parametrize("inside", [False, True], ids=["file", "under-a-file"])
def test_a_store_that_is_a_file_is_one_line_and_nothing_is_written(
    tmp_path: Path, inside: bool
) -> None:
    a_file = tmp_path / "members.parquet"
    a_file.write_bytes(b"not a folder")
    store = a_file / "store" if inside else a_file
    state = tmp_path / "state"
    result = run_cli(
        "population",
        "generate",
        "--store",
        str(store),
        "--members",
        "10",
        "--shards",
        "1",
        "--as-of",
        "2026-10-01",
        "--executor",
        "inline",
        env={"MUTUALAID_STATE_DIR": str(state)},
    )
    # The value is shortened to fit the line, keeping both ends.
    assert_one_line_usage_error(result, "error: store='", f"{store.name}'", "is a file")
    assert a_file.read_bytes() == b"not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["members.parquet"] + (
        ["state"] if state.exists() else []
    )
    assert not (state / "store").exists()
