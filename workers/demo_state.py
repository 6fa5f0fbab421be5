"""The demo's run as `<state>/demo.json` keeps it: the periods it runs (written before any is
started), the periods whose claims were reported, and whether it finished. The program clock
is the deployment's (in SQL, `workers.stack.recorded_clock`), not the demo's own."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from infra.config import Settings


@dataclass(slots=True, kw_only=True)
class DemoRun:
    """One run of the demo as `<state>/demo.json` keeps it: written at each step, so a run
    killed anywhere is resumed, never started a second time beside itself."""

    periods: list[date]
    reported: list[date]  # periods whose claims were reported
    finished: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "periods": [d.isoformat() for d in self.periods],
                "reported": [d.isoformat() for d in self.reported],
                "finished": self.finished,
            },
            indent=1,
        )

    def save(self, state_file: Path) -> None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = state_file.with_suffix(".tmp")
        temporary.write_text(self.to_json())
        temporary.replace(state_file)


def load_run(state_file: Path) -> DemoRun:
    """The run to do: the one a kill interrupted (its periods as recorded), or a new one."""
    saved: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    if saved and not saved.get("finished", True):
        return DemoRun(
            periods=[date.fromisoformat(d) for d in saved.get("periods", [])],
            reported=[date.fromisoformat(d) for d in saved.get("reported", [])],
        )
    run = DemoRun(periods=[], reported=[])
    run.save(state_file)
    return run


def wipe(settings: Settings) -> None:
    """Everything the demo made under the state directory, for `--fresh`: its databases, its
    run, the member store and the publicity lists."""
    for name in ("mutualaid.db", "temporal.db", "demo.json", "demo.tmp"):
        for path in settings.state_dir.glob(f"{name}*"):
            path.unlink()
    for folder in (Path(settings.store_root), settings.state_dir / "publicity"):
        shutil.rmtree(folder, ignore_errors=True)
