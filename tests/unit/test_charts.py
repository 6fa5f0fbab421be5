"""The load tests' inline SVG charts: well-formed XML, every series drawn and named, text
escaped, a logarithmic axis, and charts with nothing to draw."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from loadtest.charts import line_chart, tick_label

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_every_series_is_a_line_with_its_name_in_the_legend() -> None:
    root = parse(
        line_chart(
            {
                "started": [(float(s), float(s % 7)) for s in range(60)],
                "completed": [(float(s), float(s % 5)) for s in range(60)],
            },
            x_label="seconds",
            y_label="per second",
            width=600,
            height=200,
        )
    )
    lines = list(root.iter(f"{SVG}polyline"))
    assert len(lines) == 2
    assert len({line.get("stroke") for line in lines}) == 2
    assert all(len((line.get("points") or "").split()) == 60 for line in lines)
    labels = texts(root)
    assert {"started", "completed", "seconds", "per second"} <= set(labels)
    assert root.get("width") == "600" and root.get("height") == "200"


def test_points_stay_inside_the_chart() -> None:
    width, height = 500, 220
    root = parse(
        line_chart(
            {"a": [(3.0, -2.0), (10.0, 97.0), (17.0, 40.0)]},
            x_label="x",
            y_label="y",
            width=width,
            height=height,
        )
    )
    for circle in root.iter(f"{SVG}circle"):
        assert 0 <= float(circle.get("cx") or -1) <= width
        assert 0 <= float(circle.get("cy") or -1) <= height


def test_text_is_escaped() -> None:
    svg = line_chart(
        {"<b>members & co</b>": [(1.0, 2.0)]}, x_label="N < 10'", y_label='"s"', width=400
    )
    root = parse(svg)
    assert "<b>" not in svg
    assert "<b>members & co</b>" in texts(root)


def test_a_log_axis_has_a_tick_per_decade_and_spaces_decades_evenly() -> None:
    sizes = [100_000.0, 1_000_000.0, 10_000_000.0]
    root = parse(
        line_chart(
            {"total": [(n, n / 1e6) for n in sizes]},
            x_label="members",
            y_label="seconds",
            log_x=True,
        )
    )
    labels = texts(root)
    assert {"100k", "1M", "10M"} <= set(labels)
    assert "members (log scale)" in labels
    xs = [float(c.get("cx") or 0) for c in root.iter(f"{SVG}circle")]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.2)


def test_a_log_axis_refuses_an_x_of_zero() -> None:
    with pytest.raises(ValueError, match="logarithmic"):
        line_chart({"a": [(0.0, 1.0)]}, x_label="x", y_label="y", log_x=True)


@pytest.mark.parametrize("log_x", [False, True])
def test_a_chart_with_no_points_says_so(log_x: bool) -> None:
    root = parse(line_chart({"empty": []}, x_label="x", y_label="y", log_x=log_x))
    assert "no data" in texts(root)
    assert "empty" in texts(root)
    assert not list(root.iter(f"{SVG}polyline"))
    assert "no data" in texts(parse(line_chart({}, x_label="x", y_label="y")))


def test_a_single_point_is_marked() -> None:
    root = parse(line_chart({"one": [(5.0, 5.0)]}, x_label="x", y_label="y"))
    assert len(list(root.iter(f"{SVG}circle"))) == 1


def test_a_chart_too_small_to_plot_is_refused() -> None:
    with pytest.raises(ValueError, match="no room"):
        line_chart({"a": [(1.0, 1.0)]}, x_label="x", y_label="y", width=100)


def test_tick_labels_are_short() -> None:
    assert tick_label(100_000.0) == "100k"
    assert tick_label(5_000_000.0) == "5M"
    assert tick_label(0.5) == "0.5"
