"""The run directory on disk: finding, creating and connecting to ``run.sqlite``; the writer lock.

``RUN/run.sqlite`` is created complete or not at all: the schema, metadata and channel list are
written to ``run.sqlite.tmp`` and renamed into place. Pages are 32 KiB: sample blobs are a few
hundred bytes to a few KiB, and large pages waste less space at their ends (measured: 4 KiB
pages +28 % on disk, 8 KiB +6 %, 32 KiB +4 % over the blobs themselves) while reading one
channel over a day still touches only one page per block. ``RUN/run.lock`` carries the
writer's ``flock`` and its pid.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from twin.catalogue import Channel
from twin.store import codec
from twin.store.errors import StoreError
from twin.store.schema import (
    APPLICATION_ID,
    DB_NAME,
    FORMAT,
    FORMAT_VERSION,
    LOCK_NAME,
    SCHEMA,
    RunMeta,
    channel_row,
    to_json,
)

PAGE_SIZE = 32768
BUSY_TIMEOUT_MS = 10_000


class WriterLock:
    """An exclusive ``flock`` on ``run.lock``: one writer per run, freed when its process dies."""

    def __init__(self, directory: Path) -> None:
        self.fd: int | None = None
        path = directory / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"{directory}: cannot take the writer's lock ({exc}); "
                             "open the run read-only") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StoreError(f"{directory} is being recorded by another writer (pid {holder}); "
                             "open it read-only") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def __del__(self) -> None:
        self.release()

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def write_empty_run(directory: Path, channels: list[Channel], meta: RunMeta,
                     block_ticks: int) -> None:
    """Write the schema, meta and channels to a temporary file, then rename it into place."""
    tmp = directory / (DB_NAME + ".tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        conn.execute("BEGIN")
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        settings = {"format": FORMAT, "version": FORMAT_VERSION, "codec": codec.CODEC_NAME,
                    "block_ticks": block_ticks, "channel_count": len(channels)}
        conn.executemany("INSERT INTO meta VALUES (?, ?)",
                         [(k, to_json(v)) for k, v in settings.items()] + meta.rows())
        conn.executemany("INSERT INTO channels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [channel_row(i, ch) for i, ch in enumerate(channels)])
        conn.execute("COMMIT")
    finally:
        conn.close()
    os.replace(tmp, directory / DB_NAME)


def locate(path: Path) -> tuple[Path, Path]:
    """(run directory, database file) for a run directory or its ``run.sqlite``."""
    if path.is_file():
        return path.parent, path
    if not path.is_dir():
        raise StoreError(f"{path}: no such run directory")
    db = path / DB_NAME
    if not db.is_file():
        raise StoreError(f"{path} is not a recorded run (no {DB_NAME}); expected a directory "
                         "written by the recorder, e.g. by `twin simulate --out DIR`")
    return path, db


def connect(db: Path, uri: str, directory: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise StoreError(f"{directory}: cannot open {db.name} ({exc})") from None
    return conn


def check_format(conn: sqlite3.Connection, directory: Path) -> None:
    try:
        (app,) = conn.execute("PRAGMA application_id").fetchone()
        (version,) = conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{directory}: {DB_NAME} is not a recorded run ({exc})") from None
    if app != APPLICATION_ID:
        raise StoreError(f"{directory}: {DB_NAME} is an SQLite file but not an orbital-twin run")
    if version > FORMAT_VERSION:
        raise StoreError(f"{directory}: run format {version} is newer than this twin reads "
                         f"({FORMAT_VERSION}); update orbital-twin")
