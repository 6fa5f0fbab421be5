"""`mutualaid loadtest`: the load tests' command group (claims, periods, settlement, clean)."""

from __future__ import annotations

import typer

from workers.loadtest_claims import loadtest_claims, loadtest_clean, loadtest_periods
from workers.loadtest_settlement import loadtest_settlement

loadtest = typer.Typer(
    help="Load tests with synthetic populations: claims, periods and settlement at volume.",
    no_args_is_help=True,
)
loadtest.command("claims")(loadtest_claims)
loadtest.command("periods")(loadtest_periods)
loadtest.command("settlement")(loadtest_settlement)
loadtest.command("clean")(loadtest_clean)
