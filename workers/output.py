"""Printing for the command line: a rich table for people, one JSON document for machines."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]

console = Console()
errors = Console(stderr=True)


def emit(
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Any], *, as_json: bool, title: str = ""
) -> None:
    if as_json:
        print(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
        return
    if isinstance(rows, Mapping):
        table = Table(title=title, show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows.items():
            table.add_row(str(key), _cell(value))
    else:
        table = Table(title=title)
        columns = list(rows[0].keys()) if rows else []
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(_cell(row[c]) for c in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)
