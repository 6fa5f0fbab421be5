"""The member store: immutable Parquet snapshots with manifests, checked on read."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy.orm import Session

from infra.plans import builtin_plan_sources
from infra.repositories import MemberChangeRepository, PlanRepository
from mutualaid.errors import InputError, IntegrityError
from mutualaid.membership import ChangeKind, ExitReason, MemberChange, MemberStatus
from settlement.members import current_member
from settlement.schema import MEMBERS, STATUS_CODES, read_parquet
from settlement.store import Manifest, MemberStore, fitted_shards

AT = datetime(2026, 12, 1, tzinfo=UTC)


def members_table(ids: list[int], *, shards: int, shard: int) -> pa.Table:
    mine = [i for i in ids if i % shards == shard]
    n = len(mine)
    return pa.table(
        {
            "member_id": pa.array(mine, pa.int64()),
            "payer_id": pa.array(mine, pa.int64()),
            "birth_date": pa.array([date(1990, 1, 1)] * n, pa.date32()),
            "join_date": pa.array([date(2026, 1, 1)] * n, pa.date32()),
            "chronic_groups": pa.array([0b101] * n, pa.uint8()),
            "status": pa.array([STATUS_CODES[MemberStatus.COVERED]] * n, pa.int8()),
            "exit_reason": pa.array([0] * n, pa.int8()),
            "exit_date": pa.array([None] * n, pa.date32()),
            "funds_fen": pa.array([10_000] * n, pa.int64()),
            "deposit_fen": pa.array([0] * n, pa.int64()),
            "paid_year": pa.array([2026] * n, pa.int16()),
            "paid_this_year_fen": pa.array([0] * n, pa.int64()),
            "unpaid_fen": pa.array([0] * n, pa.int64()),
        },
        schema=MEMBERS,
    )


def populated(root: Path, ids: list[int], shards: int = 3) -> MemberStore:
    store = MemberStore.create(str(root), "chronic", shards=shards)
    files = tuple(
        store.write_shard("gen-1", s, members_table(ids, shards=shards, shard=s))
        for s in range(shards)
    )
    store.commit_snapshot(
        Manifest(
            snapshot="gen-1",
            plan_id="chronic",
            kind="population",
            parent=None,
            rules_version="chronic-2020.1",
            period=None,
            shards=files,
            created_at=AT.isoformat(),
        )
    )
    return store


def test_a_member_is_found_in_its_shard_of_the_latest_snapshot(tmp_path: Path) -> None:
    store = populated(tmp_path, list(range(1, 11)))
    assert store.head() == "gen-1"
    assert store.manifest("gen-1").rows == 10
    member = MemberStore.open(str(tmp_path), "chronic").find(7)
    assert member is not None
    assert (member.member_id, member.payer_id, member.chronic_groups) == (7, None, (1, 3))
    assert member.status is MemberStatus.COVERED
    assert store.find(99) is None


def test_writing_a_shard_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    store = populated(tmp_path, list(range(1, 11)))
    again = store.write_shard("gen-1", 1, members_table(list(range(1, 11)), shards=3, shard=1))
    assert again == store.manifest("gen-1").shards[1]


def test_ids_are_delta_encoded_and_the_other_columns_may_use_a_dictionary(
    tmp_path: Path,
) -> None:
    store = populated(tmp_path, list(range(1, 3001)))
    path = Path(store.shard_path("gen-1", 0))
    chunks = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {
        chunks.column(i).path_in_schema: set(chunks.column(i).encodings)
        for i in range(chunks.num_columns)
    }
    for name in ("member_id", "payer_id"):
        assert "DELTA_BINARY_PACKED" in encodings[name], encodings[name]
        assert "RLE_DICTIONARY" not in encodings[name], encodings[name]
    assert "RLE_DICTIONARY" in encodings["funds_fen"]  # one value repeated: a dictionary wins
    assert pq.read_table(path).equals(members_table(list(range(1, 3001)), shards=3, shard=0))


def test_a_shard_is_read_as_pq_read_table_reads_it_and_a_missing_column_is_an_error(
    tmp_path: Path,
) -> None:
    store = populated(tmp_path, list(range(1, 3001)))
    data = Path(store.shard_path("gen-1", 0)).read_bytes()
    assert read_parquet(data).equals(pq.read_table(pa.BufferReader(data)))
    assert read_parquet(data, ["funds_fen", "member_id"]).column_names == ["funds_fen", "member_id"]
    with pytest.raises(pa.ArrowInvalid, match="no column nope"):
        read_parquet(data, ["member_id", "nope"])
    with pytest.raises(pa.ArrowInvalid):
        read_parquet(b"not parquet")


@pytest.mark.parametrize(
    ("members", "workers", "shards"),
    [
        (1_000, 1, 1),
        (1_000, 2, 2),
        (1_000_000, 2, 2),
        (10_000_000, 2, 8),  # 7 wanted: a last wave of one would leave a core idle
        (30_000_000, 2, 20),
        (450_000_000, 2, 300),
        (450_000_000, 16, 304),
    ],
)
def test_a_new_store_has_about_1_5m_members_a_shard_in_whole_waves(
    members: int, workers: int, shards: int
) -> None:
    assert fitted_shards(members, workers) == shards
    assert shards % workers == 0
    assert members / shards <= 1_500_000


def test_the_shard_count_is_fixed_for_life(tmp_path: Path) -> None:
    populated(tmp_path, [1, 2, 3], shards=3)
    assert MemberStore.create(str(tmp_path), "chronic", shards=3).shards == 3
    with pytest.raises(InputError, match="shards=4: the store of plan chronic has 3 shards"):
        MemberStore.create(str(tmp_path), "chronic", shards=4)


def test_a_corrupt_shard_is_refused_on_read(tmp_path: Path) -> None:
    store = populated(tmp_path, list(range(1, 11)))
    path = Path(store.shard_path("gen-1", 2))
    path.write_bytes(path.read_bytes()[:-9] + b"corrupted")
    with pytest.raises(IntegrityError, match="does not match its manifest checksum"):
        store.read_shard(store.manifest("gen-1"), 2)
    path.unlink()
    with pytest.raises(IntegrityError, match="is missing"):
        store.read_shard(store.manifest("gen-1"), 2)


def test_a_store_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    populated(tmp_path, [1])
    meta = tmp_path / "chronic" / "store.json"
    meta.write_text(json.dumps({"format": 99, "plan_id": "chronic", "shards": 3}))
    with pytest.raises(InputError, match="store format=99: was written by a newer schema"):
        MemberStore.open(str(tmp_path), "chronic")


def test_a_plan_without_a_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has no member store"):
        MemberStore.open(str(tmp_path), "major")


def test_current_member_folds_queued_changes_over_the_snapshot(
    tmp_path: Path, session: Session
) -> None:
    for source in builtin_plan_sources():
        PlanRepository(session).record(source, at=AT)
    populated(tmp_path, [1, 2, 3])
    changes = MemberChangeRepository(session)
    changes.queue(
        MemberChange(
            plan_id="chronic",
            member_id=2,
            kind=ChangeKind.EXIT,
            effective_on=date(2026, 11, 30),
            exit_reason=ExitReason.PAID_OUT,
        ),
        change_key="payout-exit-c-2",
        at=AT,
    )
    changes.queue(
        MemberChange(
            plan_id="chronic",
            member_id=50,
            kind=ChangeKind.JOIN,
            effective_on=date(2026, 11, 30),
            birth_date=date(1985, 6, 1),
            chronic_groups=(2,),
            payer_id=1,
        ),
        change_key="join-50",
        at=AT,
    )
    paid_out = current_member(str(tmp_path), session, "chronic", 2)
    assert paid_out is not None
    assert (paid_out.status, paid_out.exit_date) == (MemberStatus.PAID_OUT, date(2026, 11, 30))
    joined = current_member(str(tmp_path), session, "chronic", 50)
    assert joined is not None
    assert (joined.join_date, joined.payer_id, joined.chronic_groups) == (
        date(2026, 11, 30),
        1,
        (2,),
    )
    assert current_member(str(tmp_path), session, "chronic", 77) is None
    # A plan with no store yet still sees members who joined through changes.
    assert current_member(str(tmp_path), session, "major", 50) is None
