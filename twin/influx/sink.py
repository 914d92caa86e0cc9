"""The InfluxDB sink: frames, commands and events to an InfluxDB v2 write endpoint, nothing lost.

The twin's side only appends to an in-memory queue (:meth:`InfluxSink.write_frame` copies the
frame and returns in about a microsecond); one background thread turns queued items into line
protocol (:mod:`twin.influx.schema`; a batch run's sink has a worker process make the frames'
text, :mod:`twin.influx.formatter`), cuts batches of about ``batch_lines`` lines (or whatever
is there after ``flush_s``) and sends them with influxdb-client's synchronous v2 write API.

Nothing is lost while the server is away:

- a batch the server does not take because it is unreachable, times out or answers 429 or 5xx
  goes to the on-disk spool (:mod:`twin.influx.spool`, fsync'd per batch); so does every later
  batch while the spool is not empty, so the server receives batches in the order they were made;
- the spool is re-sent oldest first, after a back-off (``retry_min_s`` doubling to
  ``retry_max_s``); a new sink on the same ``spool_dir`` (a restarted twin) sends what is left
  before anything new;
- 401, 403 and 404 mean the token, org or bucket are wrong, not the batch: those batches are kept
  and retried like an outage, with a loud log line;
- any other 4xx (400 malformed, 413 too large, 422 unprocessable) is the batch's fault: it moves
  to ``spool_dir/rejected/`` with the server's answer beside it and is never re-sent.

Memory is bounded: at most ``max_queue`` frames or records wait in memory. The queue only fills
if the writer thread cannot keep up with local formatting and disk writes; then a live twin's new
items are dropped, counted in ``dropped`` and logged, rather than stopping the twin. A batch run
(``lossless=True``: ``twin simulate``, scenarios, re-simulations and forks, which produce frames
as fast as the plant steps) waits for room instead (``waited_s``), and while its queue is more
than half full the writer spools batches instead of waiting for the server, so a slow server
costs the run little. A batch that cannot be spooled (disk full) is counted in ``lost_lines``
and logged. What the writer holds in memory when the process is killed is lost; the embedded
store is the record of truth.

The first failure is logged as a warning naming the server and the reason, repeats at debug
level, and the recovery at info level with the outage's length.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np

from twin.influx.config import InfluxConfig
from twin.influx.schema import FrameLines, LineSchema
from twin.influx.spool import Spool

if TYPE_CHECKING:
    from twin.catalogue import Catalogue
    from twin.commands import CommandRecord
    from twin.influx.formatter import ProcessFormatter
    from twin.runtime import Event, Twin

log = logging.getLogger("twin.influx")

OK, RETRY, REJECT = "ok", "retry", "reject"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # OK, RETRY or REJECT
    detail: str = ""


class Transport(Protocol):
    def send(self, body: bytes) -> Outcome: ...

    def close(self) -> None: ...


class InfluxTransport:
    """influxdb-client's synchronous v2 write API, with each answer sorted into ok/retry/reject."""

    def __init__(self, cfg: InfluxConfig) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.cfg = cfg
        self.client = InfluxDBClient(url=cfg.url, token=cfg.token, org=cfg.org,
                                     timeout=int(cfg.timeout_s * 1000), enable_gzip=cfg.gzip,
                                     retries=False)
        self.api = self.client.write_api(write_options=SYNCHRONOUS)

    def send(self, body: bytes) -> Outcome:
        from influxdb_client import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            self.api.write(bucket=self.cfg.bucket, org=self.cfg.org, record=body,
                           write_precision=WritePrecision.NS)
        except ApiException as exc:
            return classify(exc.status or 0, (exc.body or exc.reason or "").strip()[:500])
        except Exception as exc:  # connection refused, reset, timeout, DNS: the server is away
            return Outcome(RETRY, f"{type(exc).__name__}: {_short(exc)}")
        return Outcome(OK)

    def close(self) -> None:
        self.client.close()


def classify(status: int, body: str) -> Outcome:
    """An HTTP error status → retry (server or setup at fault) or reject (the batch is)."""
    if status == 429 or status >= 500 or status == 0:
        return Outcome(RETRY, f"HTTP {status}: {body}")
    if status in (401, 403, 404):
        return Outcome(RETRY, f"HTTP {status} (check token, org and bucket): {body}")
    return Outcome(REJECT, f"HTTP {status}: {body}")


@dataclass(frozen=True, slots=True)
class SinkStats:
    frames: int  # frames accepted by write_frame
    records: int  # commands, events and raw lines accepted
    dropped: int  # items refused because the memory queue was full
    queued: int  # items waiting in memory now
    lines_sent: int
    points_sent: int  # field values (channel samples) the server took
    batches_sent: int
    spooled_batches: int  # batches ever written to the spool
    spooled_bytes: int
    spool_batches: int  # batches in the spool now
    spool_bytes: int
    retries: int  # re-send attempts of spooled batches
    failures: int  # sends that failed and will be retried
    rejected: int  # batches moved to rejected/
    omitted_nonfinite: int  # NaN/inf values left out
    lost_lines: int  # lines neither sent nor spooled: the spool disk failed
    server_up: bool
    last_error: str
    last_error_wall_s: float
    waited_s: float = 0.0  # lossless: time the twin's side waited for room in the queue


class InfluxSink:
    """Telemetry of one twin to InfluxDB, through a memory queue and an on-disk spool."""

    def __init__(self, config: InfluxConfig, catalogue: Catalogue, satellite: str,
                 epoch: datetime, source: str = "model", *,
                 transport: Transport | None = None, start: bool = True,
                 tags: Mapping[str, str] | None = None, lossless: bool = False) -> None:
        """``tags``: more tags on every line (``run``, ``scenario``); ``lossless``: wait for
        room in a full queue instead of dropping (batch runs)."""
        self.config = config
        self.schema = LineSchema(catalogue, satellite, epoch, source, tags=tags)
        self.lossless = lossless
        self._waiting = False
        self._waited_s = 0.0
        # A batch run formats in a worker process (its plant keeps the interpreter lock).
        self._formatter: ProcessFormatter | None = None
        if lossless and start:
            from twin.influx.formatter import ProcessFormatter

            self._formatter = ProcessFormatter(self.schema)
        self.spool = Spool(config.spool_dir)
        self.transport = transport if transport is not None else InfluxTransport(config)
        self._n = len(catalogue)
        self._q: deque[tuple] = deque()
        self._max_queue = config.max_queue
        self._frames = self._records = self._dropped = 0
        self._lines_sent = self._points_sent = self._batches_sent = 0
        self._spooled_batches = self._spooled_bytes = 0
        self._retries = self._failures = self._rejected = self._omitted = 0
        self._lost_lines = 0
        self._last_error = ""
        self._last_error_wall = 0.0
        self._down_since: float | None = None
        self._backoff = config.retry_min_s
        self._retry_at = 0.0
        self._parts: list[str] = []
        self._batch_lines = self._batch_fields = 0
        self._batch_started = 0.0
        self._cv = threading.Condition()
        self._flush_req = self._flush_done = 0
        self._stopping = False
        self._drain_s = 0.0
        self._thread = threading.Thread(target=self._run, name="influx-sink", daemon=True)
        if start:
            self._thread.start()

    # --- the twin's side: never blocks ---------------------------------------------------------
    def write_frame(self, t_s: float, frame: np.ndarray) -> None:
        """Queue one frame (catalogue order) at simulated time ``t_s``."""
        if len(self._q) >= self._max_queue and not self._room():
            return
        self._frames += 1
        self._q.append((t_s, frame.copy()))

    def write_command(self, rec: CommandRecord) -> None:
        self.write_lines(self.schema.command_line(rec), 1, 5)

    def write_event(self, ev: Event) -> None:
        self.write_lines(self.schema.event_line(ev), 1, 4)

    def write_lines(self, text: str, lines: int | None = None, fields: int = 0) -> None:
        """Queue ready-made line protocol (one or more lines, no trailing newline)."""
        if len(self._q) >= self._max_queue and not self._room():
            return
        self._records += 1
        self._q.append((text, text.count("\n") + 1 if lines is None else lines, fields))

    def attach(self, twin: Twin, frames: bool = True) -> None:
        """Record every frame and event of a running twin, and its commands if it announces them.

        Commands always arrive as events of kind ``command``; the ``command`` measurement is
        written too when the twin offers an ``on_command(fn)`` hook taking a CommandRecord.
        ``frames=False``: events and commands only; a batch run that steps the plant itself
        hands its recorded frames to :meth:`write_frame`.
        """
        if frames:
            twin.on_frame(lambda tw: self.write_frame(tw.plant.t_s, tw.mirror.values))
        twin.on_event(self.write_event)
        on_command = getattr(twin, "on_command", None)
        if on_command is not None:
            on_command(self.write_command)

    def _room(self) -> bool:
        """The queue is full: drop (False), or in lossless mode wait until the writer has
        taken half of it (True; False only if the writer thread is gone)."""
        if not self.lossless:
            self._drop()
            return False
        t0 = time.monotonic()
        with self._cv:
            self._waiting = True
            self._cv.notify_all()
            self._cv.wait_for(lambda: len(self._q) <= self._max_queue // 2 or
                              not self._thread.is_alive())
            self._waiting = False
        self._waited_s += time.monotonic() - t0
        if len(self._q) >= self._max_queue:
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        self._dropped += 1
        if self._dropped == 1 or self._dropped % 10_000 == 0:
            log.error("influx sink: memory queue full (%d items); %d items dropped so far - the "
                      "writer cannot keep up with the local disk", self._max_queue, self._dropped)

    # --- control ---------------------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued before the call is sent or safely spooled."""
        with self._cv:
            self._flush_req += 1
            target = self._flush_req
            self._cv.notify_all()
            return self._cv.wait_for(lambda: self._flush_done >= target or
                                     not self._thread.is_alive(), timeout) and \
                self._flush_done >= target

    def wait_sent(self, timeout: float = 60.0) -> bool:
        """Wait until the queue and the spool are empty: everything reached the server."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.flush(max(0.0, deadline - time.monotonic())):
                return False
            if not len(self.spool):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def close(self, timeout: float = 30.0, drain_s: float = 0.0) -> None:
        """Send or spool what is queued, then stop; the spool is kept for the next sink.

        ``drain_s``: then keep sending spooled batches for up to this long while the server
        takes them (the end of a batch run); what is left stays in the spool.
        """
        with self._cv:
            self._stopping = True
            self._drain_s = drain_s
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            if self._formatter is not None:
                self._formatter.close()
            self.spool.close()
            self.transport.close()

    def __enter__(self) -> InfluxSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> SinkStats:
        return SinkStats(self._frames, self._records, self._dropped, len(self._q),
                         self._lines_sent, self._points_sent, self._batches_sent,
                         self._spooled_batches, self._spooled_bytes, len(self.spool),
                         self.spool.bytes, self._retries, self._failures, self._rejected,
                         self._omitted, self._lost_lines, self._down_since is None,
                         self._last_error, self._last_error_wall, self._waited_s)

    # --- the writer thread -----------------------------------------------------------------------
    def _run(self) -> None:
        poll = min(0.05, self.config.flush_s)
        while True:
            with self._cv:
                if not self._q and not self._stopping and self._flush_req == self._flush_done:
                    self._cv.wait(poll)
                flush_req, stopping = self._flush_req, self._stopping
            try:
                self._take_queue()
                now = time.monotonic()
                if self._parts and (flush_req != self._flush_done or stopping or
                                    now - self._batch_started >= self.config.flush_s):
                    self._seal()
                if not stopping and not self._behind():
                    self._send_spool(budget_s=0.2)
                elif stopping and self._drain_s > 0:
                    self._send_spool(budget_s=self._drain_s, drain=True)
            except Exception:  # never let the writer die: the twin would silently stop recording
                log.exception("influx sink: writer error (continuing)")
                time.sleep(poll)
                continue
            with self._cv:
                self._flush_done = flush_req
                self._cv.notify_all()
            if stopping:
                return

    def _take_queue(self) -> None:
        if self._formatter is not None and self._formatter.alive:
            self._take_queue_chunked(self._formatter)
            return
        q = self._q
        schema = self.schema
        while q:
            item = q.popleft()
            self._taken()
            if isinstance(item[0], str):
                self._add(*item)
            else:
                self._add_frame(schema.frame_lines(item[0], item[1]))

    def _take_queue_chunked(self, fmt: ProcessFormatter) -> None:
        """Frames in chunks to the worker process, up to two chunks ahead; records in order."""
        q = self._q
        pending: deque[tuple[bool | None, list[tuple]]] = deque()  # sent?, frames / record
        while q or pending:
            if q and len(pending) < 2:
                item = q.popleft()
                if isinstance(item[0], str):
                    pending.append((None, [item]))
                else:
                    chunk = [item]
                    while q and len(chunk) < fmt.chunk_frames and not isinstance(q[0][0], str):
                        chunk.append(q.popleft())
                    pending.append((fmt.submit(chunk), chunk))
                self._taken()
                continue
            sent, chunk = pending.popleft()
            if sent is None:
                self._add(*chunk[0])
            else:
                for fl in fmt.result(sent, chunk):
                    self._add_frame(fl)

    def _taken(self) -> None:
        if self._waiting and len(self._q) <= self._max_queue // 2:
            with self._cv:
                self._cv.notify_all()

    def _add_frame(self, fl: FrameLines) -> None:
        self._omitted += fl.omitted
        if fl.lines:
            self._add(fl.text, fl.lines, fl.fields)

    def _add(self, text: str, lines: int, fields: int) -> None:
        if not self._parts:
            self._batch_started = time.monotonic()
        self._parts.append(text)
        self._batch_lines += lines
        self._batch_fields += fields
        if self._batch_lines >= self.config.batch_lines:
            self._seal()

    def _seal(self) -> None:
        body = ("\n".join(self._parts) + "\n").encode()
        lines, fields = self._batch_lines, self._batch_fields
        self._parts = []
        self._batch_lines = self._batch_fields = 0
        if len(self.spool) or time.monotonic() < self._retry_at or self._behind():
            self._to_spool(body, lines, fields)
            return
        out = self.transport.send(body)
        if out.kind == OK:
            self._sent(lines, fields)
        elif out.kind == RETRY:
            self._failed(out.detail)
            self._to_spool(body, lines, fields)
        else:
            path = self.spool.reject(body, lines, fields, out.detail)
            self._refused(out.detail, path.name, lines)

    def _behind(self) -> bool:
        """A batch run's queue is more than half full: spool rather than wait on the server."""
        return self.lossless and len(self._q) > self._max_queue // 2

    def _send_spool(self, budget_s: float, drain: bool = False) -> None:
        end = time.monotonic() + budget_s
        while len(self.spool) and time.monotonic() >= self._retry_at:
            head = self.spool.oldest()
            assert head is not None
            batch, body = head
            self._retries += 1
            out = self.transport.send(body)
            if out.kind == OK:
                self.spool.remove_oldest()
                self._sent(batch.lines, batch.fields)
            elif out.kind == RETRY:
                self._failed(out.detail)
                return
            else:
                path = self.spool.reject_oldest(out.detail)
                self._refused(out.detail, path.name, batch.lines)
            if time.monotonic() >= end or (self._q and not drain):
                return

    def _to_spool(self, body: bytes, lines: int, fields: int) -> None:
        try:
            self.spool.append(body, lines, fields)
        except OSError as exc:  # disk full or gone: the one way the sink loses data
            self._lost_lines += lines
            self._last_error, self._last_error_wall = f"spool: {exc}", time.time()
            log.error("influx sink: cannot spool a batch of %d lines to %s (%s); %d lines lost "
                      "so far", lines, self.spool.dir, exc, self._lost_lines)
            return
        self._spooled_batches += 1
        self._spooled_bytes += len(body)

    def _sent(self, lines: int, fields: int) -> None:
        self._lines_sent += lines
        self._points_sent += fields
        self._batches_sent += 1
        self._backoff = self.config.retry_min_s
        self._retry_at = 0.0
        if self._down_since is not None:
            log.info("influx sink: %s answers again after %.1f s; sending %d spooled batches",
                     self.config.url, time.monotonic() - self._down_since, len(self.spool))
            self._down_since = None

    def _failed(self, detail: str) -> None:
        self._failures += 1
        self._last_error, self._last_error_wall = detail, time.time()
        now = time.monotonic()
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self.config.retry_max_s)
        if self._down_since is None:
            self._down_since = now
            log.warning("influx sink: cannot write to %s (%s); spooling to %s until it answers",
                        self.config.url, detail, self.spool.dir)
        else:
            log.debug("influx sink: still cannot write to %s: %s", self.config.url, detail)

    def _refused(self, detail: str, name: str, lines: int) -> None:
        self._rejected += 1
        self._last_error, self._last_error_wall = detail, time.time()
        log.error("influx sink: %s refused a batch of %d lines (%s); moved to %s/%s, not retried",
                  self.config.url, lines, detail, self.spool.rejected_dir, name)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."

