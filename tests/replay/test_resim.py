"""Re-simulation reproduces a recorded run bit for bit; a fork equals its parent up to the fork
and differs after it, and records parent and fork time; a measured run forks from its frame."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from twin.errors import TwinError
from twin.replay import Action, fork, parse_action, resimulate
from twin.store import RunStore


def frames(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with RunStore.open(path) as run:
        return run.read_frames()


def test_resimulating_a_scenario_run_is_bit_for_bit(pump_run: Path, tmp_path: Path) -> None:
    out = resimulate(pump_run, tmp_path / "again")
    ta, fa = frames(pump_run)
    tb, fb = frames(out)
    assert np.array_equal(ta, tb)
    assert fa.tobytes() == fb.tobytes()  # bit for bit, NaNs included
    with RunStore.open(out) as run:
        assert [(c.t_s, c.name, c.args) for c in run.commands()] == [
            (200.0, "InjectFault", {"kind": "pump_failure", "target": "thermal.pump.2"}),
            (205.0, "SetHeaterMode", {"string": 1, "mode": "on"})]


def records(path: Path) -> tuple[list[tuple], list[tuple]]:
    """A run's events and alarm transitions, without wall times and random notification ids."""
    with RunStore.open(path) as run:
        return ([(e.t_s, e.severity, e.kind, e.message) for e in run.events()],
                [(a.t_s, a.source, a.previous, a.state, a.value) for a in run.alarms()])


def test_a_resimulated_run_has_the_same_events_and_alarm_transitions(pump_run: Path,
                                                                    tmp_path: Path) -> None:
    out = resimulate(pump_run, tmp_path / "again")
    events, alarms = records(pump_run)
    assert records(out) == (events, alarms)
    assert len(alarms) > 2 and {"command", "fault", "alarm"} <= {e[2] for e in events}
    assert alarms[0][:4] == (200.0, "thermal.pump.2.running", "ok", "red-low")


def test_resimulating_a_plain_simulate_run_is_bit_for_bit(tmp_path: Path) -> None:
    from twin.cli import main

    assert main(["simulate", "--duration", "20m", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    resimulate(tmp_path / "a", tmp_path / "b")
    ta, fa = frames(tmp_path / "a")
    tb, fb = frames(tmp_path / "b")
    assert np.array_equal(ta, tb) and fa.tobytes() == fb.tobytes()


def test_a_fork_equals_its_parent_before_and_differs_after(pump_run: Path,
                                                           tmp_path: Path) -> None:
    res = fork(pump_run, 400.0, tmp_path / "shed", [Action("SetLoadShedLevel", {"level": 3})],
               keep_future=True)
    assert res.fork_t_s == 400.0 and res.matched_parent is True
    tp, fp = frames(pump_run)
    tb, fb = frames(tmp_path / "shed")
    assert np.array_equal(tp, tb)  # same tick times to the parent's end
    before = tb <= 400.0
    assert fp[before].tobytes() == fb[before].tobytes()
    assert not np.array_equal(fp[~before], fb[~before])
    with RunStore.open(tmp_path / "shed") as br, RunStore.open(pump_run) as parent:
        assert br.meta.origin == "branch" and br.meta.fork_t_s == 400.0
        assert br.meta.parent_id == parent.meta.run_id
        assert br.open_parent().meta.run_id == parent.meta.run_id
        shed = br.read_channel("power.pcdu.shed_level")[1]
        assert shed.max() >= 3
        assert [c.name for c in br.commands()][-1] == "SetLoadShedLevel"


def test_forking_a_branch_of_a_branch_resimulates_it_bit_for_bit(pump_run: Path,
                                                                 tmp_path: Path) -> None:
    fork(pump_run, 300.0, tmp_path / "b1", [parse_action("@350 SetLoadShedLevel level=2")])
    out = resimulate(tmp_path / "b1", tmp_path / "b1-again")
    assert frames(tmp_path / "b1")[1].tobytes() == frames(out)[1].tobytes()


def test_a_measured_run_forks_from_its_recorded_state(pump_run: Path, tmp_path: Path) -> None:
    with RunStore.open(pump_run) as src:
        meta = dataclasses.replace(src.meta, seed=None, origin="measured", run_id="",
                                   created="", extra={})
        times, fr = src.read_frames()
        with RunStore.create(tmp_path / "lab", src.channels(), meta) as lab:
            lab.append_block(times, fr)
    with pytest.raises(TwinError, match=r"measured.*cannot be re-simulated"):
        resimulate(tmp_path / "lab", tmp_path / "x")
    res = fork(tmp_path / "lab", 500.0, tmp_path / "lab-fork", end_s=520.0)
    assert "soc" in res.measured and "die_k" in res.measured and "pump_failed" in res.measured
    assert any(e.startswith("plate_k") for e in res.estimated)
    with RunStore.open(tmp_path / "lab-fork") as br:
        assert br.meta.extra["fork"]["estimated_states"] == res.estimated
        t, soc = br.read_channel("power.battery.1.soc_pct")
        rec = fr[times == 500.0, br.channel_index("power.battery.1.soc_pct")][0]
        assert soc[t == 510.0][0] == pytest.approx(rec, abs=0.5)
        running = br.read_channel("thermal.pump.2.running", 510.0)[1]
        assert running.max() == 0.0  # the failed pump stays failed


def test_actions_parse_from_the_command_line() -> None:
    a = parse_action("@15m InjectFault kind=pump_failure target=thermal.pump.1")
    assert a == Action("InjectFault", {"kind": "pump_failure", "target": "thermal.pump.1"}, 900.0)
    assert parse_action("SetRackEnabled rack=3 enabled=false").args == {"rack": 3,
                                                                        "enabled": False}
    with pytest.raises(TwinError):
        parse_action("SetRackEnabled rack")


def test_a_frame_with_readings_missing_starts_a_plant_and_names_them_estimated() -> None:
    """A lab board offline (or not heard yet) at the fork instant leaves NaN in the frame:
    those states keep the model's values and are reported, the rest are taken."""
    from twin.catalogue import build_catalogue
    from twin.config import load_satellite
    from twin.model.plant import Plant
    from twin.replay.measured import start_from_frame

    cfg = load_satellite().config
    cat = build_catalogue(cfg)
    plant = Plant(cfg, seed=1)
    frame = cat.sample(plant)
    frame[cat["compute.rack.3.gpu.2.state"].index] = np.nan  # the rack board not heard yet
    frame[cat["power.battery.2.temp_c"].index] = np.nan
    frame[cat["thermal.loop.1.supply_temp_c"].index] = 30.0
    measured, estimated = start_from_frame(plant, cat, frame, 100.0)
    assert "gpu_failed" not in measured and "batt_temp_k" not in measured
    assert "supply_k" in measured
    assert plant.state.supply_k[0] == pytest.approx(30.0 + 273.15)
    assert any("gpu_state" in e and "batt_temp_k" in e for e in estimated)
