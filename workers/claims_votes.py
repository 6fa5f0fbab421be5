"""Jurors' votes from the command line: one juror's, or a CSV file of them read and checked
whole, then sent to the claim in batches of at most `MAX_VOTES_PER_BATCH`."""

from __future__ import annotations

import csv
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle

from messages import claims as msg
from mutualaid.errors import InputError
from mutualaid.jury import repeated_juror
from workers.claims_client import member_id_of


def read_votes(juror: int | None, approve: bool | None, path: Path | None) -> list[msg.JuryVote]:
    """The votes to send: `--juror` with `--approve/--reject`, or those of `--votes`."""
    if path is None:
        if juror is None or approve is None:
            raise InputError("juror", juror, "give --juror with --approve or --reject, or --votes")
        return [msg.JuryVote(juror_id=member_id_of(juror, "juror"), approve=approve)]
    if juror is not None:
        raise InputError("juror", juror, "give either --juror or --votes, not both")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError("votes", str(path), f"cannot be read: {exc.strerror}") from None
    votes: list[msg.JuryVote] = []
    numbers: list[int] = []
    for number, row in enumerate(csv.reader(lines), start=1):
        if not row or row[0].strip().lower() in {"", "juror_id"}:
            continue
        if len(row) != 2 or not row[0].strip().isdigit():
            raise InputError(f"votes line {number}", ",".join(row), "must be juror_id,approve")
        choice = row[1].strip().lower()
        if choice not in {"approve", "reject"}:
            raise InputError(f"votes line {number}", ",".join(row), "vote approve or reject")
        juror_id = member_id_of(int(row[0]), f"votes line {number}")
        votes.append(msg.JuryVote(juror_id=juror_id, approve=choice == "approve"))
        numbers.append(number)
    if not votes:
        raise InputError("votes", str(path), "holds no votes")
    # The whole file is checked before the first batch is sent, so a refused file records
    # nothing (a repeat in a later batch would otherwise land after earlier batches).
    repeat = repeated_juror(vote.juror_id for vote in votes)
    if repeat is not None:
        first, second = votes[repeat.first], votes[repeat.second]
        how = "the same vote" if first.approve == second.approve else "contradicting votes"
        raise InputError(
            "votes",
            str(path),
            f"juror {repeat.juror_id} votes twice (lines {numbers[repeat.first]} and "
            f"{numbers[repeat.second]}, {how}); one vote per juror, nothing was sent",
        )
    return votes


def send_votes(
    votes: Sequence[msg.JuryVote],
) -> Callable[[WorkflowHandle[Any, Any], msg.ClaimStatus], Awaitable[object]]:
    """The step that sends the votes in batches and adds up the claim's receipts."""

    async def send(handle: WorkflowHandle[Any, Any], status: msg.ClaimStatus) -> object:
        counted = repeated = 0
        refused: list[msg.RefusedVote] = []
        round_ = status.jury_round
        for start in range(0, len(votes), msg.MAX_VOTES_PER_BATCH):
            batch = msg.JuryVotes(votes=tuple(votes[start : start + msg.MAX_VOTES_PER_BATCH]))
            receipt = await handle.execute_update(msg.VOTE, batch, result_type=msg.VoteReceipt)
            counted += receipt.counted
            repeated += receipt.repeated
            refused.extend(receipt.refused)
            round_ = receipt.round
        return {
            "round": round_,
            "counted": counted,
            "repeated": repeated,
            "refused": [f"{r.juror_id}: {r.detail}" for r in refused],
        }

    return send
