"""The member store's file primitives on any pyarrow filesystem: files written once through a
staging folder, the few files that are replaced whole (HEAD, store.json), and reads.

A file of a step (a snapshot's shard, a ledger, a done marker, a frozen plan, a manifest) is
written once. On a local disk: first under a temporary name in `staging/<step>/` (never beside
the files readers see), then linked into place only if no file holds that name yet. On an
object store, which has no rename: straight to its deterministic name with one atomic PUT once
the name is found free. Finding a file with other bytes is a data-integrity error, never an
overwrite. A crash leaves at worst staging debris (local) or nothing (object store), and the
next run of the same step writes the same bytes. Readers only ever follow a manifest, and a
manifest is written after every file it lists.
"""

from __future__ import annotations

import os
import uuid

import pyarrow.fs as pafs

from mutualaid.errors import ConflictError, IntegrityError


class StagedFiles:
    """The files under one folder (`base`) of a filesystem."""

    def __init__(self, fs: pafs.FileSystem, base: str) -> None:
        self.fs = fs
        self.base = base

    def read_file(self, path: str) -> bytes | None:
        try:
            return read_bytes(self.fs, path)
        except FileNotFoundError:
            return None

    def replace(self, path: str, data: bytes) -> None:
        """Replace a whole file atomically (only HEAD and store.json are ever replaced)."""
        _write_atomic(self.fs, path, data)

    def write_once(self, path: str, data: bytes, *, step: str) -> None:
        """Write a file of a step (a snapshot, a ledger, a done marker, a frozen plan) that
        must never change once written. Staged under `staging/<step>/`, then put in place only
        if the name is free; an existing file with the same bytes is left as it is (a resumed
        or racing writer), one with other bytes is a data-integrity error."""
        if self.write_if_absent(path, data, step=step):
            return
        existing = read_bytes(self.fs, path)
        if existing != data:
            raise IntegrityError(
                "file", path, "already exists with other contents; committed files never change"
            )

    def write_if_absent(self, path: str, data: bytes, *, step: str) -> bool:
        """Put a file in place unless its name is taken; returns whether this call placed it.
        On a local disk through the step's staging folder; on an object store straight to its
        name (`_put_if_absent`)."""
        if not isinstance(self.fs, pafs.LocalFileSystem):
            return _put_if_absent(self.fs, path, data)
        staging = self.staging_dir(step)
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        for _ in range(5):
            self.fs.create_dir(staging, recursive=True)
            temporary = f"{staging}/{uuid.uuid4().hex}-{path.rsplit('/', 1)[-1]}"
            with self.fs.open_output_stream(temporary) as stream:
                stream.write(data)
            try:
                return _place_if_absent(temporary, path)
            except FileNotFoundError:
                # Another driver of the step cleared its staging under us: stage again.
                continue
            finally:
                if self.fs.get_file_info(temporary).type != pafs.FileType.NotFound:
                    self.fs.delete_file(temporary)
        raise ConflictError("file", path, "another run of this step keeps clearing its staging")

    def staging_dir(self, step: str) -> str:
        return f"{self.base}/staging/{step}"

    def clear_staging(self, step: str, *folders: str) -> int:
        """Remove what killed writers of a step left behind: its staging folder, and
        temporary files an older version of this program left beside the real ones in the
        step's folders. Returns how many files went."""
        removed = 0
        for folder in (self.staging_dir(step), *folders):
            selector = pafs.FileSelector(folder, allow_not_found=True)
            for info in self.fs.get_file_info(selector):
                in_staging = folder == self.staging_dir(step)
                if info.type == pafs.FileType.File and (in_staging or ".tmp-" in info.base_name):
                    self.fs.delete_file(info.path)
                    removed += 1
        return removed


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(path)
    with fs.open_input_stream(path) as stream:
        return bytes(stream.read())


def _place_if_absent(temporary: str, path: str) -> bool:
    """Link a staged file to its name unless a file holds it already: atomic on a local disk."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    return True


def _put_if_absent(fs: pafs.FileSystem, path: str, data: bytes) -> bool:
    """An object store has no rename (its "move" is a copy and a delete, twice the bytes) but
    its PUT is atomic: an object is seen whole or not at all, and a killed upload leaves no
    object (an unfinished multipart upload is invisible; a bucket lifecycle rule removes it).
    So a file is written straight to its name once a HEAD finds the name free, and no
    temporary object is ever made. Writers racing past the HEAD write the same bytes (every
    file follows from the step's frozen plan); a file that differed all the same would be
    caught by the sha256 its manifest records, checked on every read, and SQL's conditional
    commit decides which run counts."""
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        return False
    with fs.open_output_stream(path) as stream:
        stream.write(data)
    return True


def _write_atomic(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    if not isinstance(fs, pafs.LocalFileSystem):
        # A PUT replaces an object atomically: readers see the old bytes or the new.
        with fs.open_output_stream(path) as stream:
            stream.write(data)
        return
    temporary = f"{path}.tmp-{uuid.uuid4().hex}"
    with fs.open_output_stream(temporary) as stream:
        stream.write(data)
    fs.move(temporary, path)
