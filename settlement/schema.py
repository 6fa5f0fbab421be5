"""The member account table: one Arrow schema for every snapshot shard.

Enums are stored as small integers with fixed codes (never reorder: snapshots outlive code).
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from mutualaid.membership import ExitReason, Member, MemberStatus

STORE_FORMAT = 2

STATUS_CODES: dict[MemberStatus, int] = {
    MemberStatus.COVERED: 0,
    MemberStatus.EXITED: 1,
    MemberStatus.PAID_OUT: 2,
}
EXIT_CODES: dict[ExitReason | None, int] = {
    None: 0,
    ExitReason.LEFT: 1,
    ExitReason.AGE_LIMIT: 2,
    ExitReason.NON_PAYMENT: 3,
    ExitReason.PAID_OUT: 4,
    ExitReason.WAITING_PERIOD_DIAGNOSIS: 5,
}
STATUS_BY_CODE = {code: status for status, code in STATUS_CODES.items()}
COVERED = STATUS_CODES[MemberStatus.COVERED]
EXIT_BY_CODE = {code: reason for reason, code in EXIT_CODES.items()}

MEMBERS = pa.schema(
    [
        pa.field("member_id", pa.int64(), nullable=False),
        # The member whose account pays; equal to member_id for a paying member.
        pa.field("payer_id", pa.int64(), nullable=False),
        pa.field("birth_date", pa.date32(), nullable=False),
        pa.field("join_date", pa.date32(), nullable=False),
        # Bit g-1 set for chronic group g (eight groups fit a byte).
        pa.field("chronic_groups", pa.uint8(), nullable=False),
        pa.field("status", pa.int8(), nullable=False),
        pa.field("exit_reason", pa.int8(), nullable=False),
        pa.field("exit_date", pa.date32(), nullable=True),
        # Money on the payer's linked payment account (the simulated rail), in fen.
        pa.field("funds_fen", pa.int64(), nullable=False),
        # Simulated rail: money that reaches the account before each retry (a late salary).
        pa.field("deposit_fen", pa.int64(), nullable=False),
        # Shares charged in calendar year paid_year, for the annual cap.
        pa.field("paid_year", pa.int16(), nullable=False),
        pa.field("paid_this_year_fen", pa.int64(), nullable=False),
        # Shares owed and not collected (failed debits still being retried).
        pa.field("unpaid_fen", pa.int64(), nullable=False),
    ]
)


# Ids are unique (member_id) or nearly so (payer_id) and ascending within a shard: a dictionary
# of them is as large as the column and costs a hash per row to build, while delta encoding
# stores the small steps between neighbours. Every other column repeats and keeps a dictionary.
ID_ENCODING = {"member_id": "DELTA_BINARY_PACKED", "payer_id": "DELTA_BINARY_PACKED"}


def parquet_bytes(table: pa.Table) -> bytes:
    """The Parquet bytes of a table of member rows or ledger rows: zstd at its default level,
    statistics for row-group pruning, ids delta-encoded. Depends only on the table (and the
    pyarrow version, which the footer names), so a rewrite after a crash is byte-identical."""
    ids = {name: enc for name, enc in ID_ENCODING.items() if name in table.column_names}
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        write_statistics=True,
        use_dictionary=[name for name in table.column_names if name not in ids],
        column_encoding=ids or None,
    )
    data: bytes = sink.getvalue().to_pybytes()
    return data


def read_parquet(data: bytes, columns: list[str] | None = None) -> pa.Table:
    """The table in Parquet bytes (all columns, or `columns`), one chunk a column. Read as one
    file, not through `pq.read_table`'s dataset layer: that imports pyarrow.dataset and pandas
    (0.3-0.6 s in every fresh Ray worker) and reads a shard about half as fast again. Raises
    ArrowInvalid for bytes that are not Parquet or lack a column asked for."""
    table = pq.ParquetFile(pa.BufferReader(data)).read(columns=columns)
    missing = [name for name in columns or () if name not in table.column_names]
    if missing:
        raise pa.ArrowInvalid(f"no column {', '.join(missing)}")
    return table


def groups_to_mask(groups: tuple[int, ...]) -> int:
    mask = 0
    for group in groups:
        mask |= 1 << (group - 1)
    return mask


def mask_to_groups(mask: int) -> tuple[int, ...]:
    return tuple(g for g in range(1, 9) if mask & (1 << (g - 1)))


def member_from_row(row: dict[str, object], plan_id: str) -> Member:
    member_id = int(row["member_id"])  # type: ignore[call-overload]
    payer_id = int(row["payer_id"])  # type: ignore[call-overload]
    exit_date = row["exit_date"]
    return Member(
        member_id=member_id,
        plan_id=plan_id,
        birth_date=_date(row["birth_date"]),
        join_date=_date(row["join_date"]),
        chronic_groups=mask_to_groups(int(row["chronic_groups"])),  # type: ignore[call-overload]
        payer_id=None if payer_id == member_id else payer_id,
        status=STATUS_BY_CODE[int(row["status"])],  # type: ignore[call-overload]
        exit_date=_date(exit_date) if exit_date is not None else None,
        exit_reason=EXIT_BY_CODE[int(row["exit_reason"])],  # type: ignore[call-overload]
    )


def _date(value: object) -> date:
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {value!r}")
    return value


LEDGER = pa.schema(
    [
        pa.field("member_id", pa.int64(), nullable=False),
        pa.field("payer_id", pa.int64(), nullable=False),
        pa.field("attempt", pa.int8(), nullable=False),
        # The period's share, what this attempt tried to debit, and how it ended.
        pa.field("share_fen", pa.int64(), nullable=False),
        pa.field("charge_fen", pa.int64(), nullable=False),
        pa.field("paid_fen", pa.int64(), nullable=False),
        pa.field("subsidy_fen", pa.int64(), nullable=False),
        pa.field("unpaid_fen", pa.int64(), nullable=False),
        pa.field("removed", pa.bool_(), nullable=False),
    ]
)


def member_to_row(member: Member, *, funds_fen: int = 0, deposit_fen: int = 0) -> dict[str, object]:
    """A member as a store row; account columns keep their values from the caller."""
    return {
        "member_id": member.member_id,
        "payer_id": member.payer_id if member.payer_id is not None else member.member_id,
        "birth_date": member.birth_date,
        "join_date": member.join_date,
        "chronic_groups": groups_to_mask(member.chronic_groups),
        "status": STATUS_CODES[member.status],
        "exit_reason": EXIT_CODES[member.exit_reason],
        "exit_date": member.exit_date,
        "funds_fen": funds_fen,
        "deposit_fen": deposit_fen,
        "paid_year": member.join_date.year,
        "paid_this_year_fen": 0,
        "unpaid_fen": 0,
    }
