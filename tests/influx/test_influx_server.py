"""The InfluxDB sink against a real server: VictoriaMetrics' InfluxDB v2 write endpoint.

Read-back goes through ``/api/v1/export``; see _vmserver.py for what VictoriaMetrics keeps
(millisecond timestamps, no bucket label, ``<measurement>_<field>`` series names).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _influxhelp import FrameSource, assert_all_arrived, recent_epoch, series_key, sink_config
from _vmserver import VictoriaMetrics

from twin.commands import CommandRecord, Event
from twin.influx import InfluxSink


def test_frames_round_trip_with_documented_names(vm: VictoriaMetrics, tmp_path: Path) -> None:
    src = FrameSource()
    epoch = recent_epoch()
    frames = [src.next() for _ in range(5)]
    with InfluxSink(sink_config(vm.url, tmp_path / "spool"), src.catalogue, "OTS-1",
                    epoch) as sink:
        for t, f in frames:
            sink.write_frame(t, f)
        assert sink.wait_sent(30)
        assert sink.stats().points_sent == 5 * len(src.catalogue)
    export = vm.wait_for_samples(5 * len(src.catalogue))
    assert_all_arrived(export, src.catalogue, epoch, frames)
    by_key = {series_key(s["metric"]): s["metric"] for s in export}
    soc = by_key[("power_soc_pct", "battery", "1")]
    assert soc == {"__name__": "power_soc_pct", "satellite": "OTS-1", "component": "battery",
                   "index": "1", "source": "model"}  # no bucket/db label: VictoriaMetrics drops it
    assert ("compute_temp_c", "rack.gpu", "2.5") in by_key
    assert ("thermal_flow_kg_s", "loop", "1") in by_key
    assert by_key[("sim_time_s", "", "")] == {"__name__": "sim_time_s", "satellite": "OTS-1",
                                              "source": "model"}


def test_commands_and_events_are_stored(vm: VictoriaMetrics, tmp_path: Path) -> None:
    src = FrameSource()
    epoch = recent_epoch()
    with InfluxSink(sink_config(vm.url, tmp_path / "spool"), src.catalogue, "OTS-1",
                    epoch) as sink:
        sink.write_command(CommandRecord(12.0, 1.7e9, "alice", "operator", "Step", {"n": 3},
                                         "Good", "Step done"))
        sink.write_command(CommandRecord(13.5, 1.7e9, "bob", "viewer", "Pause", {},
                                         "BadUserAccessDenied", "Pause needs the operator role"))
        sink.write_event(Event(20.0, 1.7e9, "fault", 700, "pump 1 failed", {"loop": 1}))
        assert sink.wait_sent(30)
    # String fields (args, message, data) are not kept by VictoriaMetrics; numbers and tags are.
    cmds = vm.wait_for_samples(2, '{__name__="command_ok"}')
    got = {(s["metric"]["command"], s["metric"]["user"], s["metric"]["role"],
            s["metric"]["status"], s["values"][0], s["timestamps"][0]) for s in cmds}
    base = int(epoch.timestamp()) * 1000
    assert got == {("Step", "alice", "operator", "Good", 1, base + 12_000),
                   ("Pause", "bob", "viewer", "BadUserAccessDenied", 0, base + 13_500)}
    events = vm.wait_for_samples(1, '{__name__="event_severity"}')
    assert [(s["metric"]["kind"], s["values"], s["timestamps"]) for s in events] == [
        ("fault", [700], [base + 20_000])]


def test_outage_of_30_s_loses_nothing_and_never_slows_the_writer(
        vm: VictoriaMetrics, tmp_path: Path) -> None:
    src = FrameSource()
    epoch = recent_epoch()
    sink = InfluxSink(sink_config(vm.url, tmp_path / "spool"), src.catalogue, "OTS-1", epoch)
    worst = 0.0
    durations: list[float] = []

    def write_for(seconds: float, period: float = 0.05) -> None:
        nonlocal worst
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t, f = src.next()
            t0 = time.perf_counter()
            sink.write_frame(t, f)
            durations.append(time.perf_counter() - t0)
            time.sleep(period)

    try:
        write_for(3.0)
        vm.stop()  # the process is gone: connection refused from here on
        outage_start = len(src.sent)
        write_for(30.0)  # the outage itself: the one fixed wait in this test
        during = durations[outage_start:]
        spooled = sink.stats()
        vm.start()  # same port, same storage directory
        write_for(2.0)
        assert sink.wait_sent(60), sink.stats()
        stats = sink.stats()
    finally:
        sink.close()
    n_points = len(src.sent) * len(src.catalogue)
    assert spooled.spooled_batches > 0 and spooled.failures > 0 and not spooled.server_up
    assert stats.spool_batches == 0 and stats.server_up and stats.rejected == 0
    assert stats.points_sent == n_points
    # The twin's side never waited on the network: each write is a queue append.
    assert max(during) < 0.005, f"slowest write_frame during the outage {max(during) * 1e3} ms"
    assert float(np.median(during)) < 50e-6
    export = vm.wait_for_samples(n_points, timeout=60)
    assert_all_arrived(export, src.catalogue, epoch, src.sent)


def test_spool_survives_a_restart_of_the_sink(vm_stopped: VictoriaMetrics,
                                              tmp_path: Path) -> None:
    src = FrameSource()
    epoch = recent_epoch()
    cfg = sink_config(vm_stopped.url, tmp_path / "spool")
    first = InfluxSink(cfg, src.catalogue, "OTS-1", epoch)
    for _ in range(20):
        first.write_frame(*src.next())
    assert first.flush(10)
    first.close()  # the twin stops with the server still away
    assert first.stats().spool_batches > 0
    assert sorted((tmp_path / "spool").glob("*.lp"))

    vm_stopped.start()
    second = InfluxSink(cfg, src.catalogue, "OTS-1", epoch)
    try:
        for _ in range(5):
            second.write_frame(*src.next())
        assert second.wait_sent(30), second.stats()
    finally:
        second.close()
    assert not sorted((tmp_path / "spool").glob("*.lp"))
    n_points = len(src.sent) * len(src.catalogue)
    assert_all_arrived(vm_stopped.wait_for_samples(n_points), src.catalogue, epoch, src.sent)


def test_a_batch_the_server_refuses_goes_to_rejected(vm: VictoriaMetrics,
                                                     tmp_path: Path) -> None:
    src = FrameSource()
    epoch = recent_epoch()
    spool = tmp_path / "spool"
    with InfluxSink(sink_config(vm.url, spool), src.catalogue, "OTS-1", epoch) as sink:
        # Far longer than VictoriaMetrics' -influx.maxLineSize (256 KiB): it answers 400. (Just
        # over the limit is not enough: a line read in one go is accepted.)
        sink.write_lines("power,satellite=OTS-1 note_x=1 " + "9" * 2_000_000)
        assert sink.flush(10)
        frames = [src.next() for _ in range(3)]
        for t, f in frames:
            sink.write_frame(t, f)
        assert sink.wait_sent(30)
        stats = sink.stats()
    assert stats.rejected == 1 and "HTTP 400" in stats.last_error
    rejected = sorted((spool / "rejected").glob("*.lp"))
    assert len(rejected) == 1 and rejected[0].read_bytes().startswith(b"power,satellite=OTS-1")
    assert "400" in rejected[0].with_suffix(".why").read_text()
    # The refused batch did not block what came after it.
    assert_all_arrived(vm.wait_for_samples(3 * len(src.catalogue)), src.catalogue, epoch, frames)
