"""`mutualaid project` as a user runs it: on the embedded default with no set-up, its table,
CSV, charts and page; a what-if beside the base; bad input refused with one line and nothing
written."""

from __future__ import annotations

import csv
import json
import struct
from datetime import date
from pathlib import Path

import pytest

from infra.plans import builtin_plan_sources
from simulation.projection import ProjectionSpec, project
from simulation.projection_input import builtin_assumptions
from tests.helpers import run_cli
from workers import projection_report as report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_a_projection_with_a_what_if_writes_its_table_csv_charts_and_page(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "project",
        "--years",
        "2",
        "--members",
        "2M",
        "--set",
        "waiting_days=180",
        "--set",
        "fee_rate_percent=6",
        "--out",
        str(out),
        env={"MUTUALAID_STATE_DIR": str(tmp_path / "state"), "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "every period" in result.stdout and "share (what-if)" in result.stdout
    assert "yearly share" in result.stdout and "│ 2021 " in result.stdout
    with (out / "periods.csv").open() as f:
        rows = list(csv.DictReader(f))
    by_scenario = {name: [r for r in rows if r["scenario"] == name] for name in ("base", "what-if")}
    assert len(by_scenario["base"]) == len(by_scenario["what-if"]) == 48
    # Money is whole fen in the CSV; the what-if's fee is 6% of its aid, floored.
    for row in by_scenario["what-if"]:
        assert int(row["fee_fen"]) == int(row["aid_fen"]) * 6 // 100
    first_case = {
        name: next(i for i, r in enumerate(rows) if int(r["cases"]) > 0)
        for name, rows in by_scenario.items()
    }
    assert first_case["what-if"] > first_case["base"]
    for name in report.CHARTS:
        width, height = png_size((out / name).read_bytes())
        assert width > 600 and height > 300, name
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "waiting_days=180" in page and "National Cancer Center" in page


def test_the_what_if_is_drawn_on_the_same_charts_as_the_base() -> None:
    plan = next(s.plan for s in builtin_plan_sources() if s.plan.id == "chronic")
    spec = ProjectionSpec(
        plan=plan,
        assumptions=builtin_assumptions("chronic"),
        members=1000,
        launch=date(2026, 1, 1),
        years=1,
        seed=1,
    )
    runs = {"base": project(spec), "what-if": project(spec)}
    for figure in (
        report.share_figure(runs),
        report.yearly_figure(runs, plan.sharing.annual_cap_fen),
        report.members_figure(runs),
    ):
        labels = [line.get_label() for line in figure.axes[0].get_lines()]
        assert {"base", "what-if"} <= {label.split(":")[0] for label in labels}
    cap_lines = [
        line
        for line in report.yearly_figure(runs, 18_800).axes[0].get_lines()
        if list(line.get_ydata()) == [188.0, 188.0]
    ]
    assert len(cap_lines) == 1


def test_the_json_summary_is_one_document_per_scenario(tmp_path: Path) -> None:
    result = run_cli(
        "project",
        "--plan",
        "major",
        "--years",
        "1",
        "--members",
        "10k",
        "--json",
        "--out",
        str(tmp_path / "out"),
        env={"MUTUALAID_STATE_DIR": str(tmp_path / "state")},
    )
    assert result.returncode == 0, result.stderr
    years = json.loads(result.stdout)["base"]
    assert [y["year"] for y in years] == [2018, 2019]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--members", "lots"), "members='lots'"),
        (("--members", "0"), "members=0"),
        (("--set", "waiting_days=soon"), "waiting_days='soon'"),
        (("--set", "colour=red"), "set='colour'"),
        (("--set", "waiting_days"), "set='waiting_days'"),
        (("--set", "relative_risk=-2"), "projection.relative_risk=-2"),
        (("--plan", "gold"), "plan='gold'"),
        (("--growth", "moon"), "growth='moon'"),
        (("--launch", "2020-02-30"), "launch='2020-02-30'"),
        (("--years", "0"), "years=0"),
        (("--versus", "nowhere.toml"), "plan_file='nowhere.toml'"),
    ],
)
def test_bad_input_is_one_line_naming_the_field_and_nothing_is_written(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "project",
        "--years",
        "1",
        *args,
        "--out",
        str(out),
        env={"MUTUALAID_STATE_DIR": str(tmp_path / "state")},
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert named in lines[0], lines[0]
    assert not out.exists()
