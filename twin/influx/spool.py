"""The on-disk spool: batches that wait, in order, for the InfluxDB server to come back.

One file per batch, ``<seq>_<lines>_<fields>.lp`` (line protocol, as it will be sent), written
to a ``.tmp`` name, fsync'd, renamed and the directory fsync'd, so a file with the final name is
always complete and a crash leaves at most a ``.tmp`` that :class:`Spool` salvages on open (its
complete lines are kept). Sequence numbers only grow, so sorted names are the send order; a new
:class:`Spool` on the same directory (a restarted twin) continues where the old one stopped. A
lock file (``.lock``, ``flock``) keeps two sinks from sharing one spool.

Batches the server refuses as malformed move to ``rejected/`` beside a ``.why`` file with the
server's answer; they are never re-sent by the sink. :func:`flush_spool` sends a spool without a
twin (a later flush, after the run that spooled the batches has ended).
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from twin.errors import TwinError

if TYPE_CHECKING:
    from twin.influx.config import InfluxConfig
    from twin.influx.sink import Transport

_NAME = re.compile(r"^(\d{12})_(\d+)_(\d+)\.lp$")


class SpoolError(TwinError):
    """The spool directory cannot be used (in use by another sink, or not writable)."""


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    seq: int
    lines: int
    fields: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


class Spool:
    """Append-only batch files in one directory, read back oldest first."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.rejected_dir = self.dir / "rejected"
        try:
            self.rejected_dir.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.dir / ".lock", "a+b")  # noqa: SIM115 - held for our lifetime
        except OSError as exc:
            raise SpoolError(f"influx spool {self.dir}: cannot create ({exc.strerror})") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise SpoolError(f"influx spool {self.dir} is in use by another sink; give each "
                             "sink its own spool_dir") from None
        self._salvage()
        self._batches: list[SpooledBatch] = []
        self.bytes = 0
        for p in sorted(self.dir.iterdir()):
            m = _NAME.match(p.name)
            if m:
                self._batches.append(SpooledBatch(int(m[1]), int(m[2]), int(m[3]), p))
                self.bytes += p.stat().st_size
        last_rej = [int(m[1]) for p in self.rejected_dir.iterdir() if (m := _NAME.match(p.name))]
        self._next = max([b.seq for b in self._batches] + last_rej + [0]) + 1

    def __len__(self) -> int:
        return len(self._batches)

    def close(self) -> None:
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    def append(self, body: bytes, lines: int, fields: int) -> SpooledBatch:
        """Write one batch durably (fsync'd) at the end of the queue."""
        seq = self._next
        self._next += 1
        path = self.dir / f"{seq:012d}_{lines}_{fields}.lp"
        _write_durably(path, body)
        batch = SpooledBatch(seq, lines, fields, path)
        self._batches.append(batch)
        self.bytes += len(body)
        return batch

    def oldest(self) -> tuple[SpooledBatch, bytes] | None:
        if not self._batches:
            return None
        b = self._batches[0]
        return b, b.path.read_bytes()

    def remove_oldest(self) -> None:
        b = self._batches.pop(0)
        self.bytes -= b.path.stat().st_size
        b.path.unlink()

    def reject_oldest(self, why: str) -> Path:
        """Move the oldest batch to ``rejected/`` with the reason beside it."""
        b = self._batches.pop(0)
        self.bytes -= b.path.stat().st_size
        dest = self.rejected_dir / b.name
        os.replace(b.path, dest)
        _write_durably(dest.with_suffix(".why"), why.encode())
        return dest

    def reject(self, body: bytes, lines: int, fields: int, why: str) -> Path:
        """Store a refused batch that never was in the queue under ``rejected/``."""
        seq = self._next
        self._next += 1
        dest = self.rejected_dir / f"{seq:012d}_{lines}_{fields}.lp"
        _write_durably(dest, body)
        _write_durably(dest.with_suffix(".why"), why.encode())
        return dest

    def _salvage(self) -> None:
        """Complete the batches a crash left as ``.tmp``: keep their complete lines."""
        for tmp in sorted(self.dir.glob("*.lp.tmp")):
            m = _NAME.match(tmp.name[:-4])
            body = tmp.read_bytes()
            cut = body.rfind(b"\n")
            complete = body if body.endswith(b"\n") else body[:cut + 1] if cut >= 0 else b""
            if m and complete.strip():
                lines = complete.count(b"\n")
                final = tmp.with_name(f"{m[1]}_{lines}_{m[3] if body == complete else 0}.lp")
                _write_durably(final, complete)
            tmp.unlink()


def _write_durably(path: Path, body: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def flush_spool(config: InfluxConfig, timeout_s: float = 60.0,
                transport: Transport | None = None) -> tuple[int, int]:
    """Send the batches waiting in ``config.spool_dir`` oldest first, without a twin: a later
    flush, after the run that spooled them has ended. Stops at the first batch the server does
    not take (it stays) or after ``timeout_s``; refused batches move to ``rejected/``. Returns
    (batches sent, batches left)."""
    from twin.influx.sink import OK, RETRY, InfluxTransport, log

    spool = Spool(config.spool_dir)
    tr = transport if transport is not None else InfluxTransport(config)
    sent = 0
    try:
        end = time.monotonic() + timeout_s
        while len(spool) and time.monotonic() < end:
            head = spool.oldest()
            assert head is not None
            batch, body = head
            out = tr.send(body)
            if out.kind == RETRY:
                log.warning("influx flush: %s does not take batches (%s); %d left in %s",
                            config.url, out.detail, len(spool), spool.dir)
                break
            if out.kind == OK:
                spool.remove_oldest()
                sent += 1
            else:
                path = spool.reject_oldest(out.detail)
                log.error("influx flush: %s refused %s (%s); moved to %s", config.url,
                          batch.name, out.detail, path)
        return sent, len(spool)
    finally:
        spool.close()
        if transport is None:
            tr.close()
