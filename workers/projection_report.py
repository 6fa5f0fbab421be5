"""What `mutualaid project` shows: the period table, the yearly summary, a CSV, three charts as
PNG and one HTML page that holds them all (the images inline, so the page can be mailed)."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from mutualaid.money import format_fen
from simulation.projection import PeriodProjection

# One projection under a name ("base", "what-if"), as the charts and tables show it.
Runs = Mapping[str, Sequence[PeriodProjection]]
CSV_COLUMNS = (
    "scenario",
    "publicity_date",
    "sharing_date",
    "members",
    "joined",
    "left",
    "aged_out",
    "refunded",
    "removed",
    "paid_out",
    "diagnosed",
    "cases",
    "aid_fen",
    "fee_fen",
    "surplus_in_fen",
    "share_fen",
    "charged_fen",
    "subsidy_fen",
    "unpaid_fen",
    "collected_fen",
    "surplus_out_fen",
    "year_shares_fen",
    "year_charged_fen",
)
CHARTS = ("share.png", "yearly.png", "members.png")
_COLOURS = ("#1f5fa8", "#d0621b")


@dataclass(frozen=True, slots=True, kw_only=True)
class YearSummary:
    """A calendar year of sharing days, for a member on the roster all year."""

    year: int
    periods: int
    members_at_end: int
    cases: int
    aid_fen: int
    shares_fen: int  # the year's shares added up: what a member owes without the cap
    charged_fen: int  # what the member was charged, under the cap
    subsidy_fen: int  # what the operator paid above the cap, over all members


def yearly(periods: Sequence[PeriodProjection]) -> list[YearSummary]:
    years: dict[int, list[PeriodProjection]] = {}
    for period in periods:
        years.setdefault(period.sharing_date.year, []).append(period)
    return [
        YearSummary(
            year=year,
            periods=len(rows),
            members_at_end=rows[-1].members,
            cases=sum(r.cases for r in rows),
            aid_fen=sum(r.aid_fen for r in rows),
            shares_fen=rows[-1].year_shares_fen,
            charged_fen=rows[-1].year_charged_fen,
            subsidy_fen=sum(r.subsidy_fen for r in rows),
        )
        for year, rows in sorted(years.items())
    ]


def period_table(runs: Runs) -> list[dict[str, Any]]:
    """The terminal's period table: the first run in full, the others' share and year beside."""
    names = list(runs)
    base = runs[names[0]]
    table = []
    for i, p in enumerate(base):
        row: dict[str, Any] = {
            "period": p.publicity_date.isoformat(),
            "members": short_count(p.members),
            "cases": f"{p.cases:,}",
            "aid": short_yuan(p.aid_fen),
            "fee": short_yuan(p.fee_fen),
            "share": format_fen(p.share_fen),
            "year to date": format_fen(p.year_shares_fen),
            "subsidy": short_yuan(p.subsidy_fen),
        }
        for name in names[1:]:
            other = runs[name][i]
            row[f"share ({name})"] = format_fen(other.share_fen)
            row[f"year ({name})"] = format_fen(other.year_shares_fen)
        table.append(row)
    return table


def year_table(runs: Runs, cap_fen: int) -> list[dict[str, Any]]:
    rows = []
    for name, periods in runs.items():
        for y in yearly(periods):
            rows.append(
                {
                    "scenario": name,
                    "year": y.year,
                    "periods": y.periods,
                    "members at end": short_count(y.members_at_end),
                    "cases": f"{y.cases:,}",
                    "yearly share": format_fen(y.shares_fen),
                    "charged (cap)": format_fen(y.charged_fen),
                    "over cap": "yes" if y.shares_fen > cap_fen else "no",
                    "operator subsidy": short_yuan(y.subsidy_fen),
                }
            )
    return rows


def short_count(n: int) -> str:
    """A count for a narrow column: 105.4M, 61.2k, 950.

    >>> short_count(105_400_000), short_count(61_230), short_count(950)
    ('105.4M', '61.2k', '950')
    """
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    return f"{n / 1_000:.1f}k" if n >= 10_000 else f"{n:,}"


def short_yuan(amount_fen: int) -> str:
    """Money for a narrow column: exact below a million yuan, in millions above (the CSV has
    every fen).

    >>> short_yuan(45_600_000_000), short_yuan(1_234_56)
    ('456.0M', '1234.56')
    """
    if abs(amount_fen) >= 100_000_000:
        return f"{amount_fen / 100_000_000:.1f}M"
    return format_fen(amount_fen)


def write_csv(runs: Runs, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for name, periods in runs.items():
            for p in periods:
                writer.writerow([name, *(_value(getattr(p, c)) for c in CSV_COLUMNS[1:])])


def _value(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def charts(runs: Runs, cap_fen: int) -> dict[str, bytes]:
    """The three charts as PNG bytes, by file name."""
    return {
        "share.png": _png(share_figure(runs)),
        "yearly.png": _png(yearly_figure(runs, cap_fen)),
        "members.png": _png(members_figure(runs)),
    }


def _figure(title: str) -> tuple[Figure, Any]:
    figure = Figure(figsize=(9, 4.2), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=12, fontweight="bold")
    axes.grid(True, color="#dddddd", linewidth=0.6)
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def share_figure(runs: Runs) -> Figure:
    figure, axes = _figure("Share per period (yuan per member)")
    for (name, periods), colour in zip(runs.items(), _COLOURS, strict=False):
        axes.plot(
            [p.publicity_date for p in periods],
            [p.share_fen / 100 for p in periods],
            label=name,
            color=colour,
            linewidth=1.6,
        )
    axes.set_ylabel("yuan")
    axes.set_ylim(bottom=0)
    axes.legend(frameon=False)
    return figure


def yearly_figure(runs: Runs, cap_fen: int) -> Figure:
    figure, axes = _figure("Yearly cost per member: the year's shares so far, against the cap")
    for (name, periods), colour in zip(runs.items(), _COLOURS, strict=False):
        axes.step(
            [p.sharing_date for p in periods],
            [p.year_shares_fen / 100 for p in periods],
            where="post",
            label=f"{name}: year to date",
            color=colour,
            linewidth=1.4,
        )
        ends = yearly(periods)
        axes.scatter(
            [date(y.year, 12, 28) for y in ends if y.periods == 24],
            [y.shares_fen / 100 for y in ends if y.periods == 24],
            color=colour,
            zorder=3,
            s=22,
        )
    axes.axhline(cap_fen / 100, color="#b00020", linestyle="--", linewidth=1.2)
    axes.annotate(
        f"annual cap {format_fen(cap_fen)} yuan",
        xy=(0.01, cap_fen / 100),
        xycoords=("axes fraction", "data"),
        xytext=(0, 4),
        textcoords="offset points",
        color="#b00020",
        fontsize=9,
    )
    axes.set_ylabel("yuan")
    axes.set_ylim(bottom=0)
    axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(0, 0.92))
    return figure


def members_figure(runs: Runs) -> Figure:
    figure, axes = _figure("Members (millions, lines) and cases per period (dots)")
    cases_axes = axes.twinx()
    for (name, periods), colour in zip(runs.items(), _COLOURS, strict=False):
        days = [p.publicity_date for p in periods]
        axes.plot(days, [p.members / 1e6 for p in periods], color=colour, label=name)
        cases_axes.scatter(days, [p.cases for p in periods], color=colour, s=8, alpha=0.6)
    axes.set_ylabel("members, millions")
    cases_axes.set_ylabel("cases")
    axes.set_ylim(bottom=0)
    cases_axes.set_ylim(bottom=0)
    axes.legend(frameon=False, loc="upper left")
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def html_page(
    *,
    title: str,
    inputs: Mapping[str, str],
    runs: Runs,
    cap_fen: int,
    images: Mapping[str, bytes],
    sources: Sequence[str],
) -> str:
    """One self-contained page: the inputs, the yearly summary, the charts, every period."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title>",
        "<style>body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;"
        "color:#222;padding:0 1em}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em}"
        "table{border-collapse:collapse;font-size:13px;margin:.5em 0}"
        "th,td{padding:3px 9px;border-bottom:1px solid #e4e4e4;text-align:right}"
        "th{background:#f4f6f9;position:sticky;top:0}td:first-child,th:first-child"
        "{text-align:left}img{max-width:100%;margin:.4em 0}.over{color:#b00020;"
        "font-weight:600}dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px}"
        "dt{font-weight:600}dd{margin:0}.periods{max-height:32em;overflow:auto}</style>",
        f"</head><body><h1>{escape(title)}</h1><dl>",
    ]
    parts += [f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in inputs.items()]
    parts.append("</dl><h2>Each year, for a member on the roster all year</h2>")
    parts.append(_html_table(year_table(runs, cap_fen), highlight="over cap"))
    for name in CHARTS:
        data = base64.b64encode(images[name]).decode()
        parts.append(f"<img alt='{escape(name)}' src='data:image/png;base64,{data}'>")
    parts.append("<h2>Every period</h2><div class='periods'>")
    parts.append(_html_table(period_table(runs)))
    parts.append("</div><h2>Sources of the incidence rates</h2><ul>")
    parts += [f"<li>{escape(source)}</li>" for source in sources]
    parts.append("</ul></body></html>")
    return "".join(parts)


def _html_table(rows: Sequence[Mapping[str, Any]], *, highlight: str = "") -> str:
    if not rows:
        return "<p>No periods.</p>"
    head = "".join(f"<th>{escape(str(c))}</th>" for c in rows[0])
    body = []
    for row in rows:
        css = " class='over'" if highlight and row.get(highlight) == "yes" else ""
        cells = "".join(f"<td>{escape(str(v))}</td>" for v in row.values())
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
