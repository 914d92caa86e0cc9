"""Batch runs to InfluxDB: ``twin simulate SCENARIO`` and forks against a real VictoriaMetrics,
tagged with their run and scenario, everything sent or spooled before the command returns; with
the server down the run completes, its batches wait in the spool and a later flush delivers
them. A slow server costs a batch run little: the spool takes over, nothing is dropped."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _influxhelp import FrameSource, recent_epoch, sink_config, split_path
from _vmserver import VictoriaMetrics

from twin.catalogue import build_catalogue
from twin.cli import main
from twin.commands import CommandRecord, Event
from twin.config import DEFAULT_SATELLITE, load_satellite
from twin.influx import InfluxSink, LineSchema, Outcome, flush_spool
from twin.store import RunStore

SCENARIO = """
[scenario]
name = "influx-unit"
satellite = "{satellite}"
duration_s = 600
record_every_s = 10
seed = 4

[[action]]
at_s = 100
command = "InjectFault"
args = {{ kind = "pump_failure", target = "thermal.pump.2" }}

[[trigger]]
name = "hot"
channel = "compute.hottest_gpu_temp_c"
op = ">"
value = 80.0
actions = [{{ command = "SetLoadShedLevel", args = {{ level = 2 }} }}]

[[expect]]
name = "pump failure recorded"
fault = "pump_failure"
"""


def write_scenario(tmp_path: Path, epoch: dt.datetime) -> Path:
    """The default satellite with ``epoch`` (VictoriaMetrics drops far-future samples)."""
    text = DEFAULT_SATELLITE.read_text(encoding="utf-8")
    stamp = epoch.strftime("%Y-%m-%dT%H:%M:%SZ")
    text, n = re.subn(r"(?m)^epoch\s*=.*$", f"epoch = {stamp}", text)
    assert n == 1
    sat = tmp_path / "satellite-now.toml"
    sat.write_text(text, encoding="utf-8")
    path = tmp_path / "influx-unit.toml"
    path.write_text(SCENARIO.format(satellite=sat), encoding="utf-8")
    return path


def write_settings(tmp_path: Path, url: str, spool: Path) -> Path:
    path = tmp_path / "influx.toml"
    path.write_text(f'[influx]\nurl = "{url}"\nbucket = "twin"\norg = "lab"\ntoken = "t"\n'
                    f'spool_dir = "{spool}"\nretry_min_s = 0.2\nretry_max_s = 1.0\n'
                    'timeout_s = 2.0\ndrain_s = 10.0\n', encoding="utf-8")
    return path


def stored(run: Path) -> tuple[str, np.ndarray, np.ndarray, int, int, list[str]]:
    with RunStore.open(run) as r:
        times, frames = r.read_frames()
        return (r.meta.run_id, times, frames, len(r.commands()), len(r.events()),
                [c.path for c in r.channels()])


def assert_run_arrived(vm: VictoriaMetrics, run: Path, epoch: dt.datetime,
                       scenario: str, after_s: float = -1.0) -> None:
    """Every channel of every frame the run recorded after ``after_s``, under its run tag."""
    run_id, times, frames, *_, paths = stored(run)
    keep = times > after_s
    times, frames = times[keep], frames[keep]
    want_ms = [int(epoch.timestamp()) * 1000 + round(t * 1000) for t in times]
    export = vm.wait_for_samples(frames.size, f'{{run="{run_id}",source="model"}}')
    got = {}
    for s in export:
        m = s["metric"]
        assert m["scenario"] == scenario and m["satellite"] == "OTS-1" and m["source"] == "model"
        order = np.argsort(s["timestamps"], kind="stable")
        got[(m["__name__"], m.get("component", ""), m.get("index", ""))] = (
            [s["timestamps"][i] for i in order], np.array(s["values"], dtype=float)[order])
    assert len(got) == len(paths)
    for i, path in enumerate(paths):
        k = split_path(path)
        g_times, g_values = got[(f"{k.measurement}_{k.field}", k.component, k.index)]
        assert g_times == want_ms, path
        np.testing.assert_allclose(g_values, frames[:, i], rtol=1e-11, atol=1e-300,
                                   err_msg=path)


def test_simulate_a_scenario_and_fork_it_into_influx(
        vm: VictoriaMetrics, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    epoch = recent_epoch()
    scenario = write_scenario(tmp_path, epoch)
    settings = write_settings(tmp_path, vm.url, tmp_path / "spool")
    run = tmp_path / "run"
    assert main(["simulate", str(scenario), "--out", str(run), "--quiet",
                 "--influx", str(settings)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"influx: [\d,]+ points in \d+ batches sent to " + re.escape(vm.url), out)
    assert "wait in" not in out  # nothing left in the spool
    assert_run_arrived(vm, run, epoch, "influx-unit")
    run_id, _, _, n_commands, n_events, _ = stored(run)
    assert n_commands == 2 and n_events >= 3
    cmds = vm.wait_for_samples(n_commands, f'{{__name__="command_ok",run="{run_id}"}}')
    assert sorted((s["metric"]["command"], s["metric"]["user"], s["metric"]["scenario"])
                  for s in cmds) == [("InjectFault", "scenario", "influx-unit"),
                                     ("SetLoadShedLevel", "scenario", "influx-unit")]
    events = vm.wait_for_samples(n_events, f'{{__name__="event_severity",run="{run_id}"}}')
    assert sum(len(s["values"]) for s in events) == n_events
    assert {s["metric"]["kind"] for s in events} >= {"command", "scenario"}

    # A what-if branch: the frames it adds after the fork, under its own run id.
    branch = tmp_path / "branch"
    assert main(["replay", str(run), "--fork", "90", "--do", "SetLoadShedLevel level=2",
                 "--out", str(branch), "--quiet", "--influx", str(settings)]) == 0
    assert "influx: " in capsys.readouterr().out
    branch_id = stored(branch)[0]
    assert branch_id != run_id
    assert_run_arrived(vm, branch, epoch, "influx-unit", after_s=90.0)
    with RunStore.open(branch) as br:  # the commands the branch made: at and after the fork
        made = sorted((c.name, c.user) for c in br.commands()
                      if c.t_s > 90.0 or c.user == "what-if")
    assert ("SetLoadShedLevel", "what-if") in made and ("InjectFault", "scenario") in made
    cmds = vm.wait_for_samples(len(made), f'{{__name__="command_ok",run="{branch_id}"}}')
    assert sorted((s["metric"]["command"], s["metric"]["user"]) for s in cmds
                  for _ in s["values"]) == made


def test_with_the_server_down_the_run_completes_and_a_later_flush_delivers(
        vm_stopped: VictoriaMetrics, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    epoch = recent_epoch()
    scenario = write_scenario(tmp_path, epoch)
    spool = tmp_path / "spool"
    settings = write_settings(tmp_path, vm_stopped.url, spool)
    run = tmp_path / "run"
    t0 = time.monotonic()
    assert main(["simulate", str(scenario), "--out", str(run), "--quiet",
                 "--influx", str(settings)]) == 0
    assert time.monotonic() - t0 < 30  # no waiting on a server that is not there
    out = capsys.readouterr().out
    assert "wait in " + str(spool) in out and "recorded to" in out
    batches = sorted(spool.glob("*.lp"))
    assert batches
    spooled_lines = sum(p.read_bytes().count(b"\n") for p in batches)
    _, times, _, n_commands, n_events, _ = stored(run)
    per_frame = LineSchema(build_catalogue(load_satellite().config), "OTS-1", epoch).n_lines
    assert per_frame == 200  # the default satellite's 909 channels
    assert spooled_lines == len(times) * per_frame + n_commands + n_events

    vm_stopped.start()
    from twin.influx import load_influx

    assert flush_spool(load_influx(settings), timeout_s=60) == (len(batches), 0)
    assert not sorted(spool.glob("*.lp"))
    assert_run_arrived(vm_stopped, run, epoch, "influx-unit")


class SlowServer:
    """Takes every batch, ``delay_s`` late: a server that is up but slow."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.accepted: list[bytes] = []
        self.lock = threading.Lock()

    def send(self, body: bytes) -> Outcome:
        time.sleep(self.delay_s)  # the server's latency, not synchronisation
        with self.lock:
            self.accepted.append(body)
        return Outcome("ok")

    def close(self) -> None:
        pass


def test_a_batch_run_never_drops_and_spools_while_the_server_is_slow(tmp_path: Path) -> None:
    src = FrameSource()
    frames = [src.next() for _ in range(400)]
    server = SlowServer(0.2)
    cfg = sink_config("http://127.0.0.1:9", tmp_path / "spool", max_queue=32, batch_lines=2000)
    sink = InfluxSink(cfg, src.catalogue, "OTS-1", recent_epoch(), transport=server,
                      lossless=True, tags={"run": "r1", "scenario": "s"})
    t0 = time.perf_counter()
    for t, f in frames:
        sink.write_frame(t, f)
    produced_s = time.perf_counter() - t0
    mid = sink.stats()
    sink.close(timeout=120, drain_s=120)
    st = sink.stats()
    assert st.dropped == 0 and st.frames == 400 and st.lost_lines == 0
    assert mid.spooled_batches > 0  # the spool took over while the server was slow
    # ~40 batches at 0.2 s each: 8 s of sending; the twin's side was done long before.
    assert produced_s < 0.5 * st.batches_sent * server.delay_s, produced_s
    assert st.spool_batches == 0 and st.points_sent == 400 * len(src.catalogue)
    times = [int(line.rsplit(b" ", 1)[1]) for body in server.accepted
             for line in body.splitlines() if line.startswith(b"sim,") and b" time_s=" in line]
    assert times == sorted(times) and len(times) == 400  # in order, each once
    assert all(b",run=r1,scenario=s " in body for body in server.accepted)


def test_run_tags_are_on_every_line() -> None:
    src = FrameSource()
    schema = LineSchema(src.catalogue, "OTS-1", recent_epoch(), tags={"run": "abc,1",
                                                                      "scenario": ""})
    text = schema.frame_lines(*src.next()).text
    assert all(line.split(" ", 1)[0].endswith(r",source=model,run=abc\,1")
               for line in text.splitlines())
    cmd = schema.command_line(CommandRecord(1.0, 2.0, "u", "operator", "Pause", {}, "Good", "ok"))
    assert cmd.startswith("command,satellite=OTS-1,command=Pause,user=u,role=operator,"
                          r"status=Good,run=abc\,1 ")
    ev = schema.event_line(Event(1.0, 2.0, "fault", 700, "m", {}))
    assert ev.startswith(r"event,satellite=OTS-1,kind=fault,run=abc\,1 ")
