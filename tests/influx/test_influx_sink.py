"""The sink's delivery rules with a scripted transport: order, spool, rejects, bounded memory."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from _influxhelp import FrameSource, recent_epoch, sink_config

from twin.influx import InfluxSink, Outcome, Spool, SpoolError, classify


class ScriptedServer:
    """A transport that answers as told and remembers every body it accepted, in order."""

    def __init__(self) -> None:
        self.answer = Outcome("ok")
        self.accepted: list[bytes] = []
        self.attempts = 0
        self.gate = threading.Event()
        self.gate.set()

    def send(self, body: bytes) -> Outcome:
        self.gate.wait()
        self.attempts += 1
        if self.answer.kind == "ok":
            self.accepted.append(body)
        return self.answer

    def close(self) -> None:
        pass

    def times(self) -> list[int]:
        return [int(line.rsplit(b" ", 1)[1]) for body in self.accepted
                for line in body.splitlines() if line.startswith(b"sim,") and b" time_s=" in line]


def make_sink(tmp_path: Path, server: ScriptedServer, **extra: object) -> InfluxSink:
    src = FrameSource()
    cfg = sink_config("http://127.0.0.1:9", tmp_path / "spool", **extra)
    sink = InfluxSink(cfg, src.catalogue, "OTS-1", recent_epoch(), transport=server)
    sink.src = src  # type: ignore[attr-defined]
    return sink


@pytest.mark.parametrize(("status", "kind"), [
    (500, "retry"), (503, "retry"), (429, "retry"), (0, "retry"),
    (401, "retry"), (403, "retry"), (404, "retry"),
    (400, "reject"), (413, "reject"), (422, "reject"),
])
def test_http_statuses_sort_into_retry_or_reject(status: int, kind: str) -> None:
    assert classify(status, "body").kind == kind


def test_batches_reach_the_server_in_order_across_an_outage(tmp_path: Path) -> None:
    server = ScriptedServer()
    sink = make_sink(tmp_path, server, batch_lines=300)
    src = sink.src  # type: ignore[attr-defined]
    try:
        for _ in range(10):
            sink.write_frame(*src.next())
        assert sink.flush()
        server.answer = Outcome("retry", "HTTP 503: busy")
        for _ in range(10):
            sink.write_frame(*src.next())
        assert sink.flush()
        assert sink.stats().spool_batches > 0 and not sink.stats().server_up
        server.answer = Outcome("ok")
        for _ in range(10):
            sink.write_frame(*src.next())
        assert sink.wait_sent(20)
    finally:
        sink.close()
    stats = sink.stats()
    assert server.times() == sorted(server.times())
    assert len(server.times()) == 30
    assert stats.points_sent == 30 * len(src.catalogue)
    assert stats.retries >= 1 and stats.failures >= 1 and stats.last_error == "HTTP 503: busy"


def test_a_new_sink_sends_the_old_spool_before_anything_new(tmp_path: Path) -> None:
    down = ScriptedServer()
    down.answer = Outcome("retry", "ConnectionRefusedError")
    first = make_sink(tmp_path, down)
    src = first.src  # type: ignore[attr-defined]
    for _ in range(5):
        first.write_frame(*src.next())
    first.close()
    assert len(list((tmp_path / "spool").glob("*.lp"))) >= 1

    up = ScriptedServer()
    second = make_sink(tmp_path, up)
    second.src = src  # type: ignore[attr-defined]
    for _ in range(5):
        second.write_frame(*src.next())
    assert second.wait_sent(20)
    second.close()
    assert len(up.times()) == 10 and up.times() == sorted(up.times())
    assert not list((tmp_path / "spool").glob("*.lp"))


def test_a_refused_batch_is_set_aside_once_and_not_retried(tmp_path: Path) -> None:
    server = ScriptedServer()
    server.answer = Outcome("reject", "HTTP 400: bad line")
    sink = make_sink(tmp_path, server)
    src = sink.src  # type: ignore[attr-defined]
    sink.write_frame(*src.next())
    assert sink.flush()
    server.answer = Outcome("ok")
    sink.write_frame(*src.next())
    assert sink.wait_sent(10)
    sink.close()
    assert server.attempts == 2 and sink.stats().rejected == 1
    (rejected,) = (tmp_path / "spool" / "rejected").glob("*.lp")
    assert rejected.with_suffix(".why").read_text() == "HTTP 400: bad line"


def test_writes_stay_fast_while_the_server_hangs_and_memory_stays_bounded(
        tmp_path: Path) -> None:
    server = ScriptedServer()
    server.gate.clear()  # every send blocks, like a server that accepts and never answers
    sink = make_sink(tmp_path, server, max_queue=64, batch_lines=1)
    src = sink.src  # type: ignore[attr-defined]
    t, frame = src.next()
    try:
        slowest = 0.0
        for k in range(200):
            t0 = time.perf_counter()
            sink.write_frame(t + k, frame)
            slowest = max(slowest, time.perf_counter() - t0)
        stats = sink.stats()
        assert slowest < 0.005
        assert stats.queued <= 64 and stats.dropped > 0  # bounded; the loss is counted
    finally:
        server.gate.set()
        sink.close()


def test_a_crash_mid_write_leaves_a_spool_that_reopens_with_its_complete_lines(
        tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"a x=1 1\nb x=2 2\n", 2, 2)
    spool.close()
    (tmp_path / "000000000002_3_3.lp.tmp").write_bytes(b"c x=1 3\nd x=2 4\ne x=")
    again = Spool(tmp_path)
    assert len(again) == 2
    again.remove_oldest()
    batch, body = again.oldest()  # type: ignore[misc]
    assert body == b"c x=1 3\nd x=2 4\n" and batch.lines == 2
    assert not list(tmp_path.glob("*.tmp"))
    again.close()


def test_two_sinks_cannot_share_one_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    try:
        with pytest.raises(SpoolError, match="in use"):
            Spool(tmp_path)
    finally:
        spool.close()


class StandInTwin:
    """The part of :class:`twin.runtime.Twin` a sink attaches to: listeners, plant time, mirror."""

    def __init__(self, src: FrameSource) -> None:
        self.src = src
        self.frame_fns: list = []
        self.event_fns: list = []
        self.command_fns: list = []
        self.plant = src.plant
        self.mirror = type("Mirror", (), {})()

    def on_frame(self, fn: object) -> None:
        self.frame_fns.append(fn)

    def on_event(self, fn: object) -> None:
        self.event_fns.append(fn)

    def on_command(self, fn: object) -> None:
        self.command_fns.append(fn)

    def refresh(self) -> None:
        self.mirror.values = self.src.next()[1]
        for fn in self.frame_fns:
            fn(self)


def test_an_attached_sink_records_the_twins_frames_events_and_commands(tmp_path: Path) -> None:
    from twin.commands import CommandRecord, Event

    server = ScriptedServer()
    sink = make_sink(tmp_path, server)
    twin = StandInTwin(sink.src)  # type: ignore[attr-defined]
    sink.attach(twin)  # type: ignore[arg-type]
    twin.refresh()
    for fn in twin.event_fns:
        fn(Event(twin.plant.t_s, 1.7e9, "command", 200, "alice: Pause", {}))
    for fn in twin.command_fns:
        fn(CommandRecord(twin.plant.t_s, 1.7e9, "alice", "operator", "Pause", {}, "Good", "ok"))
    assert sink.wait_sent(10)
    sink.close()
    text = b"".join(server.accepted).decode()
    assert text.startswith("sim,satellite=OTS-1,source=model time_s=")
    assert "\nevent,satellite=OTS-1,kind=command severity=200.0" in text
    assert "\ncommand,satellite=OTS-1,command=Pause,user=alice,role=operator,status=Good" in text
    assert sink.stats().points_sent == len(sink.schema.order) + 4 + 5


def test_a_spool_that_cannot_be_written_is_counted_as_lost_not_fatal(tmp_path: Path) -> None:
    server = ScriptedServer()
    server.answer = Outcome("retry", "HTTP 503")
    sink = make_sink(tmp_path, server)
    src = sink.src  # type: ignore[attr-defined]

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    sink.spool.append = full  # type: ignore[method-assign]
    sink.write_frame(*src.next())
    assert sink.flush(10)
    stats = sink.stats()
    sink.close()
    assert stats.lost_lines == sink.schema.n_lines and "No space left" in stats.last_error
