"""The member store: a partitioned Parquet dataset of member accounts on any pyarrow
filesystem (a local folder by default, object storage at scale).

Layout under `<root>/<plan>/`::

    store.json                        format, plan, shard count (fixed at creation)
    HEAD                              id of the latest committed snapshot
    snapshots/<id>/shard-00007.parquet
    snapshots/<id>/patch-00007.parquet   a debit retry's changed rows (see below)
    snapshots/<id>/owing-00007.parquet   the first debit's families still owing
    snapshots/<id>/manifest.json      shard files, rows, sha256, rules version, period

A debit retry writes only what changed (format 2): its shard is the full file of the period's
first debit (`base` in the manifest names that snapshot) with a patch laid over it, the rows of
every family the retries charged, folded into one patch per shard. A retry reads the small
`owing` file of the attempt before instead of the whole shard, so its cost grows with the
unpaid, not with N, and the chain of bases is never longer than one period (the next roster
is a full file). After a retry the families still owing are read from its patch, which holds
them all (they owed before).

Snapshots are immutable: every period writes new ones and never updates a file in place.
Every file of a snapshot or a ledger is written once through the step's staging folder
(`settlement.files`). A snapshot's manifest is written after all its shards, then HEAD (the
only file that is ever replaced, with store.json): a crash leaves at worst unreferenced files
and staging debris, which the next run of the same step removes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from mutualaid.errors import InputError, IntegrityError
from mutualaid.membership import Member
from settlement.files import StagedFiles, read_bytes
from settlement.patches import apply_patch
from settlement.schema import (
    MEMBERS,
    STORE_FORMAT,
    member_from_row,
    parquet_bytes,
    read_parquet,
)
from settlement.snapshots import chain_position

# About 1.5 million members a shard: a shard task's memory stays near 1 GB at its peak, and
# the Parquet files stay large enough that reading and writing them is not dominated by
# per-file costs (measured in benchmarks/README.md).
ROWS_PER_SHARD = 1_500_000


def local_cpus() -> int:
    """The CPUs this process may run on (its affinity, which container limits narrow), not the
    host's count."""
    return len(os.sched_getaffinity(0)) or 1


def fitted_shards(members: int, workers: int) -> int:
    """A new store's shard count for a population and the CPUs that will run its tasks: about
    `ROWS_PER_SHARD` members a shard, rounded up to whole waves over the workers (a last wave
    with one shard in it leaves the other workers idle for a whole shard's time), and never
    fewer shards than workers.

    >>> fitted_shards(10_000_000, 2), fitted_shards(30_000_000, 2), fitted_shards(1_000, 1)
    (8, 20, 1)
    >>> fitted_shards(450_000_000, 16), fitted_shards(1_000_000, 2)
    (304, 2)
    """
    workers = max(1, workers)
    wanted = max(1, -(-members // ROWS_PER_SHARD))
    return max(workers, -(-wanted // workers) * workers)


@dataclass(frozen=True, slots=True, kw_only=True)
class PartFile:
    """A small file of a shard beside its full one: a retry's patch, or a debit's families
    still owing. Always in the snapshot's own folder."""

    file: str
    rows: int
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "rows": self.rows, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PartFile:
        return cls(
            file=str(raw["file"]),
            rows=int(raw["rows"]),
            size=int(raw["size"]),
            sha256=str(raw["sha256"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardFile:
    """A shard of a snapshot: its full file (in the folder of snapshot `base` when that is set,
    else its own), the patch laid over it, and the families still owing after a debit."""

    shard: int
    file: str
    rows: int
    size: int
    sha256: str
    base: str | None = None
    patch: PartFile | None = None
    owing: PartFile | None = None

    def to_dict(self) -> dict[str, Any]:
        # Keys only when set: a snapshot without parts is written as format 1 always was.
        out: dict[str, Any] = {
            "shard": self.shard,
            "file": self.file,
            "rows": self.rows,
            "size": self.size,
            "sha256": self.sha256,
        }
        if self.base is not None:
            out["base"] = self.base
        for name, part in (("patch", self.patch), ("owing", self.owing)):
            if part is not None:
                out[name] = part.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ShardFile:
        return cls(
            shard=int(raw["shard"]),
            file=str(raw["file"]),
            rows=int(raw["rows"]),
            size=int(raw["size"]),
            sha256=str(raw["sha256"]),
            base=str(raw["base"]) if raw.get("base") is not None else None,
            patch=PartFile.from_dict(raw["patch"]) if raw.get("patch") is not None else None,
            owing=PartFile.from_dict(raw["owing"]) if raw.get("owing") is not None else None,
        )

    def parts(self) -> tuple[PartFile, ...]:
        return tuple(p for p in (self.patch, self.owing) if p is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    snapshot: str
    plan_id: str
    kind: str
    parent: str | None
    rules_version: str
    period: str | None
    shards: tuple[ShardFile, ...]
    created_at: str

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": STORE_FORMAT,
                "snapshot": self.snapshot,
                "plan_id": self.plan_id,
                "kind": self.kind,
                "parent": self.parent,
                "rules_version": self.rules_version,
                "period": self.period,
                "created_at": self.created_at,
                "shards": [s.to_dict() for s in self.shards],
            },
            indent=1,
            sort_keys=True,
        )


class MemberStore(StagedFiles):
    def __init__(self, fs: pafs.FileSystem, base: str, plan_id: str, shards: int) -> None:
        super().__init__(fs, base)
        self.plan_id = plan_id
        self.shards = shards

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def create(cls, root: str, plan_id: str, *, shards: int) -> MemberStore:
        """Create an empty store for a plan; creating it again with the same shard count is a
        no-op, with another count an error (member_id -> shard is fixed for life)."""
        if not 1 <= shards <= 65_536:
            raise InputError("shards", shards, "must be between 1 and 65536")
        fs, base = _filesystem(root, plan_id)
        info = fs.get_file_info(f"{base}/store.json")
        if info.type != pafs.FileType.NotFound:
            store = cls.open(root, plan_id)
            if store.shards != shards:
                raise InputError(
                    "shards", shards, f"the store of plan {plan_id} has {store.shards} shards"
                )
            return store
        fs.create_dir(base, recursive=True)
        store = cls(fs, base, plan_id, shards)
        meta = {"format": STORE_FORMAT, "plan_id": plan_id, "shards": shards}
        store.replace(f"{base}/store.json", json.dumps(meta, sort_keys=True).encode())
        return store

    @classmethod
    def open(cls, root: str, plan_id: str) -> MemberStore:
        fs, base = _filesystem(root, plan_id)
        try:
            meta = json.loads(read_bytes(fs, f"{base}/store.json"))
        except FileNotFoundError:
            raise InputError(
                "store", f"{root}/{plan_id}", "has no member store (generate a population)"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise IntegrityError("store", f"{base}/store.json", "is corrupt") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("format"), int):
            raise IntegrityError("store", f"{base}/store.json", "is corrupt")
        if meta["format"] > STORE_FORMAT:
            raise InputError(
                "store format",
                meta["format"],
                f"was written by a newer schema (this program reads up to {STORE_FORMAT})",
            )
        if meta.get("plan_id") != plan_id:
            raise IntegrityError("store", f"{base}", f"belongs to plan {meta.get('plan_id')!r}")
        return cls(fs, base, plan_id, int(meta["shards"]))

    @classmethod
    def exists(cls, root: str, plan_id: str) -> bool:
        fs, base = _filesystem(root, plan_id)
        return bool(fs.get_file_info(f"{base}/store.json").type != pafs.FileType.NotFound)

    # -- snapshots ---------------------------------------------------------------------

    def shard_of(self, member_id: int) -> int:
        return member_id % self.shards

    def head(self) -> str | None:
        try:
            return read_bytes(self.fs, f"{self.base}/HEAD").decode().strip() or None
        except FileNotFoundError:
            return None

    def set_head(self, snapshot: str) -> None:
        self.manifest(snapshot)  # refuse to point HEAD at an uncommitted snapshot
        self.replace(f"{self.base}/HEAD", snapshot.encode())

    def advance_head(self, snapshot: str) -> bool:
        """Move HEAD to a committed snapshot only if it lies after HEAD on the chain: a resumed
        or re-run old step never moves HEAD back over later work. Returns whether it moved."""
        head = self.head()
        if head is not None and chain_position(head) >= chain_position(snapshot):
            return False
        self.set_head(snapshot)
        return True

    def relative(self, path: str) -> str:
        """A path inside the store, relative to the plan's folder (`snapshots/...`)."""
        return path.removeprefix(f"{self.base}/")

    def snapshot_dir(self, snapshot: str) -> str:
        return f"{self.base}/snapshots/{snapshot}"

    def shard_path(self, snapshot: str, shard: int) -> str:
        return f"{self.snapshot_dir(snapshot)}/{shard_file_name(shard)}"

    def has_manifest(self, snapshot: str) -> bool:
        info = self.fs.get_file_info(f"{self.snapshot_dir(snapshot)}/manifest.json")
        return bool(info.type != pafs.FileType.NotFound)

    def manifest(self, snapshot: str) -> Manifest:
        path = f"{self.snapshot_dir(snapshot)}/manifest.json"
        try:
            raw = json.loads(read_bytes(self.fs, path))
        except FileNotFoundError:
            raise IntegrityError("snapshot", snapshot, "has no manifest (not committed)") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise IntegrityError("manifest", path, "is corrupt") from None
        return _manifest_from(raw, path, self.plan_id)

    def base_path(self, manifest: Manifest, entry: ShardFile) -> str:
        """Where a shard's full file lies: its own snapshot's folder, or its base's."""
        return f"{self.snapshot_dir(entry.base or manifest.snapshot)}/{entry.file}"

    def part_path(self, snapshot: str, part: PartFile | str) -> str:
        name = part.file if isinstance(part, PartFile) else part
        return f"{self.snapshot_dir(snapshot)}/{name}"

    def write_shard(self, snapshot: str, shard: int, table: pa.Table) -> ShardFile:
        """Write one shard file atomically and return what the manifest records of it. The
        bytes depend only on the table, so a rewrite after a crash is byte-identical."""
        part = self.write_part(snapshot, shard_file_name(shard), table)
        return ShardFile(
            shard=shard, file=part.file, rows=part.rows, size=part.size, sha256=part.sha256
        )

    def write_part(self, snapshot: str, name: str, table: pa.Table) -> PartFile:
        """Write one file of member rows (a shard, a patch, the owing families) once, in the
        snapshot's folder."""
        table = table.cast(MEMBERS) if table.schema != MEMBERS else table
        data = parquet_bytes(table)
        self.write_once(self.part_path(snapshot, name), data, step=snapshot)
        return PartFile(
            file=name, rows=table.num_rows, size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )

    def commit_snapshot(self, manifest: Manifest, *, move_head: bool = True) -> None:
        if len(manifest.shards) != self.shards or [s.shard for s in manifest.shards] != list(
            range(self.shards)
        ):
            raise InputError("manifest", manifest.snapshot, "must list every shard once, in order")
        self.write_once(
            f"{self.snapshot_dir(manifest.snapshot)}/manifest.json",
            manifest.to_json().encode(),
            step=manifest.snapshot,
        )
        if move_head:
            self.advance_head(manifest.snapshot)

    def check_files(self, manifest: Manifest) -> None:
        """Every shard file of a snapshot exists with the size its manifest records: a cheap
        check before a run freezes anything (the checksum is verified when a task reads it)."""
        for entry in manifest.shards:
            files = [(self.base_path(manifest, entry), entry.size)]
            files += [(self.part_path(manifest.snapshot, p), p.size) for p in entry.parts()]
            for path, size in files:
                info = self.fs.get_file_info(path)
                if info.type == pafs.FileType.NotFound:
                    raise IntegrityError("shard", path, "is missing")
                if info.size != size:
                    raise IntegrityError(
                        "shard", path, f"is {info.size} bytes, its manifest says {size}"
                    )

    def read_shard(
        self,
        manifest: Manifest,
        shard: int,
        *,
        verify: bool = True,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """Read one shard of a committed snapshot (its full file with its patch laid over),
        checking each file against the manifest."""
        entry = manifest.shards[shard]
        wanted = columns
        if columns is not None and entry.patch is not None and "member_id" not in columns:
            wanted = ["member_id", *columns]  # the patch is laid over by member id
        table = self._read_members(
            self.base_path(manifest, entry),
            rows=entry.rows,
            sha256=entry.sha256,
            verify=verify,
            columns=wanted,
        )
        if entry.patch is not None:
            path = self.part_path(manifest.snapshot, entry.patch)
            patch = self._read_members(
                path,
                rows=entry.patch.rows,
                sha256=entry.patch.sha256,
                verify=verify,
                columns=wanted,
            )
            table = apply_patch(table, patch, source=path)
        return table.select(columns) if columns is not None else table

    def read_owing(self, manifest: Manifest, shard: int) -> pa.Table | None:
        """The families still owing after a first debit (what the first retry reads); None
        when the snapshot has no such file (a retry's, or one written before format 2)."""
        part = manifest.shards[shard].owing
        if part is None:
            return None
        path = self.part_path(manifest.snapshot, part)
        return self._read_members(path, rows=part.rows, sha256=part.sha256, verify=True)

    def read_patch(self, manifest: Manifest, shard: int) -> pa.Table | None:
        part = manifest.shards[shard].patch
        if part is None:
            return None
        path = self.part_path(manifest.snapshot, part)
        return self._read_members(path, rows=part.rows, sha256=part.sha256, verify=True)

    def _read_members(
        self,
        path: str,
        *,
        rows: int,
        sha256: str,
        verify: bool,
        columns: list[str] | None = None,
    ) -> pa.Table:
        try:
            data = read_bytes(self.fs, path)
        except FileNotFoundError:
            raise IntegrityError("shard", path, self.missing_reason(path)) from None
        if verify and hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError("shard", path, "does not match its manifest checksum (corrupt)")
        try:
            table = read_parquet(data, columns)
        except (pa.ArrowInvalid, OSError) as exc:
            raise IntegrityError("shard", path, f"is not readable Parquet: {exc}") from None
        if table.num_rows != rows:
            raise IntegrityError("shard", path, f"has {table.num_rows} rows, manifest says {rows}")
        if columns is None and table.schema != MEMBERS:
            raise IntegrityError("shard", path, "does not have the member schema")
        return table

    def missing_reason(self, path: str) -> str:
        """Why a file a manifest lists is not there: removed by the retention policy (its
        snapshot's `compacted.json` says so), or missing."""
        folder = path.rsplit("/", 1)[0]
        if self.read_file(f"{folder}/{COMPACTED}") is not None:
            return "was removed by the retention policy (`settle retain`); ledgers remain"
        return "is missing"

    # -- ledgers -----------------------------------------------------------------------

    def ledger_dir(self, period: str, attempt: int) -> str:
        return f"{self.base}/ledgers/{period}/attempt-{attempt}"

    def ledger_path(self, period: str, attempt: int, shard: int) -> str:
        return f"{self.ledger_dir(period, attempt)}/{shard_file_name(shard)}"

    # -- look-ups ----------------------------------------------------------------------

    def find(self, member_id: int) -> Member | None:
        """One member from the latest snapshot, reading only its shard with a filter."""
        return self.find_many([member_id]).get(member_id)

    def find_many(self, member_ids: Iterable[int]) -> dict[int, Member]:
        """Members from the latest snapshot, reading each shard they live in once, with a
        filter: a batch of look-ups (a jury's votes) never opens the store once per member."""
        snapshot = self.head()
        wanted = sorted(set(member_ids))
        if snapshot is None or not wanted:
            return {}
        manifest = self.manifest(snapshot)
        by_shard: dict[int, list[int]] = {}
        for member_id in wanted:
            by_shard.setdefault(self.shard_of(member_id), []).append(member_id)
        found: dict[int, Member] = {}
        for shard, ids in sorted(by_shard.items()):
            entry = manifest.shards[shard]
            table = self._filtered(self.base_path(manifest, entry), ids)
            if entry.patch is not None:
                path = self.part_path(snapshot, entry.patch)
                table = apply_patch(table, self._filtered(path, ids), source=path)
            for row in table.to_pylist():
                found.setdefault(int(row["member_id"]), member_from_row(row, self.plan_id))
        return found

    def _filtered(self, path: str, ids: list[int]) -> pa.Table:
        """The rows of the given members from one file, read with a filter."""
        try:
            table = pq.read_table(path, filesystem=self.fs, filters=[("member_id", "in", ids)])
        except FileNotFoundError:
            raise IntegrityError("shard", path, self.missing_reason(path)) from None
        return table.filter(pc.is_in(table["member_id"], pa.array(ids, pa.int64())))


# A compacted snapshot's record of the files the retention policy removed from it.
COMPACTED = "compacted.json"


def shard_file_name(shard: int) -> str:
    return f"shard-{shard:05d}.parquet"


def patch_file_name(shard: int) -> str:
    return f"patch-{shard:05d}.parquet"


def owing_file_name(shard: int) -> str:
    return f"owing-{shard:05d}.parquet"


def done_marker_name(shard: int) -> str:
    """A shard task's done marker, beside the files it wrote."""
    return f"shard-{shard:05d}.done"


def _filesystem(root: str, plan_id: str) -> tuple[pafs.FileSystem, str]:
    try:
        fs, base = pafs.FileSystem.from_uri(root)
    except (pa.ArrowInvalid, ValueError):
        # A plain relative or absolute path: the local filesystem.
        fs, base = pafs.LocalFileSystem(), os.path.abspath(root)
    return fs, f"{base.rstrip('/')}/{plan_id}"


def _manifest_from(raw: Any, path: str, plan_id: str) -> Manifest:
    try:
        if raw["format"] > STORE_FORMAT:
            raise InputError("manifest format", raw["format"], "was written by a newer schema")
        if raw["plan_id"] != plan_id:
            raise IntegrityError("manifest", path, f"belongs to plan {raw['plan_id']!r}")
        return Manifest(
            snapshot=str(raw["snapshot"]),
            plan_id=str(raw["plan_id"]),
            kind=str(raw["kind"]),
            parent=raw["parent"],
            rules_version=str(raw["rules_version"]),
            period=raw["period"],
            created_at=str(raw["created_at"]),
            shards=tuple(ShardFile.from_dict(entry) for entry in raw["shards"]),
        )
    except (KeyError, TypeError) as exc:
        raise IntegrityError("manifest", path, f"is missing {exc}") from None
