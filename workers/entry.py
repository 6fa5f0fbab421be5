"""The `mutualaid` command's entry point: join a warm Ray before anything imports Ray.

Ray reads its authentication mode once, when it is imported; a process that joins the warm
Ray of its state folder (`infra.warmray`) must have that head's token in its environment by
then. Every command, the worker and the demo start here.
"""

from __future__ import annotations

import contextlib


def main() -> None:
    from infra.config import load_settings  # noqa: PLC0415 (before the command line, see above)
    from mutualaid.errors import MutualAidError  # noqa: PLC0415

    # Joins the warm Ray when one runs. A bad setting is left to the command line, which
    # reports it as one line with its exit code.
    with contextlib.suppress(MutualAidError):
        load_settings()
    from workers.cli import main as run  # noqa: PLC0415

    run()
