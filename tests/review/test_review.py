"""Review: summary values against a known run, limit violations with durations, CSV and line
protocol round trips, PNG plots, and --vs on a known what-if."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from twin.catalogue import Channel
from twin.replay import Action, fork
from twin.review import (
    compare_runs,
    export_csv,
    export_lp,
    format_comparison,
    format_summary,
    incident_sheet,
    limit_violations,
    plot_channels,
    read_csv,
    summarise_run,
)
from twin.review.cli import add_review_arguments, review_command
from twin.scenario import parse_scenario, run_scenario
from twin.store import RunMeta, RunStore

PUMP = """
[scenario]
name = "review-unit"
duration_s = 900
record_every_s = 10
seed = 2

[[action]]
at_s = 200
command = "InjectFault"
args = { kind = "pump_failure", target = "thermal.pump.2" }

[[expect]]
name = "pump failure recorded"
fault = "pump_failure"
target = "thermal.pump.2"
"""
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("review")
    run_scenario(parse_scenario(PUMP, "review-unit.toml"), base / "pump")
    fork(base / "pump", 250.0, base / "shed", [Action("SetLoadShedLevel", {"level": 4})],
         keep_future=True)
    return base


def test_summary_agrees_with_the_simulators_own_summary(tmp_path: Path) -> None:
    from twin.cli import main

    assert main(["simulate", "--duration", "2h", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    with RunStore.open(tmp_path / "a") as run:
        known = run.meta.extra["summary"]  # twin.simulate.summarise, computed while recording
        s = summarise_run(run)
    assert s["duration_s"] == known["duration_s"] == 7200.0
    assert s["sunlit_fraction"] == pytest.approx(known["sunlit_fraction"], abs=1e-12)
    assert s["eclipses"] == known["eclipses"]
    assert s["extremes"]["power.battery.N.soc_pct"]["min"] == known["min_soc_pct"]
    assert s["extremes"]["compute.hottest_gpu_temp_c"]["max"] == known["max_gpu_temp_c"]
    assert abs(s["energy_books"]["power.balance.residual_pct"]["final"]) < 0.1


def test_limit_violations_have_their_times_and_durations(tmp_path: Path) -> None:
    ch = Channel("thermal.loop.1.supply_temp_c", "°C", "float", -50, 100, "test",
                 (None, 10.0), (None, 20.0), index=0)
    ok = Channel("power.bus.voltage_v", "V", "float", 0, 200, "no limits", index=1)
    times = np.arange(0.0, 100.0, 10.0)
    x = np.array([0, 12, 15, 25, 5, 5, 11, 5, 5, 30.0])  # yellow 10-40, yellow 60-70, red 90-
    with RunStore.create(tmp_path / "v", [ch, ok], RunMeta(seed=1)) as st:
        st.append_block(times, np.stack([x, np.ones_like(x)], axis=1))
    with RunStore.open(tmp_path / "v") as run:
        vs = limit_violations(run)
    got = [(v.level, v.start_s, v.end_s, v.duration_s, v.worst, v.ongoing) for v in vs]
    assert got == [("red", 10.0, 40.0, 30.0, 25.0, False),
                   ("yellow", 60.0, 70.0, 10.0, 11.0, False),
                   ("red", 90.0, 90.0, 0.0, 30.0, True)]


@pytest.mark.parametrize(("yellow", "red", "values", "worst"), [
    # red-only high limit (compute.gpus_failed: red above 0.5): the largest count, not the first
    ((None, None), (None, 0.5), [0, 8, 64, 30], 64.0),
    # red-only low limit (thermal.pump.N.running: red below 0.5)
    ((None, None), (0.5, None), [1, 0.2, 0, 0.4], 0.0),
    # yellow-only high (compute.gpus_throttled: yellow above 0.5)
    ((None, 0.5), (None, None), [0, 3, 9, 2], 9.0),
    # yellow-only low, one-sided with a red below it
    ((40.0, None), (30.0, None), [50, 38, 25, 35], 25.0),
    # two-sided: whichever side it went furthest past (0.5 beyond +0.1 vs 0.2 beyond -0.1)
    ((-0.1, 0.1), (-1.0, 1.0), [0, -0.3, 0.6, -0.2], 0.6),
])
def test_the_worst_value_of_a_violation_is_the_one_furthest_past_its_limits(
        tmp_path: Path, yellow: tuple[float | None, float | None],
        red: tuple[float | None, float | None], values: list[float], worst: float) -> None:
    ch = Channel("compute.gpus_failed", "", "float", -200, 200, "test", yellow, red, index=0)
    with RunStore.create(tmp_path / "w", [ch], RunMeta(seed=1)) as st:
        st.append_block(np.arange(len(values), dtype=float),
                        np.array(values, dtype=float)[:, None])
    with RunStore.open(tmp_path / "w") as run:
        (v,) = limit_violations(run)
    assert v.worst == worst and v.ongoing and v.start_s == 1.0


def test_csv_and_line_protocol_round_trip(runs: Path, tmp_path: Path) -> None:
    with RunStore.open(runs / "pump") as run:
        n = export_csv(run, tmp_path / "x.csv", ["power.battery.*.soc_pct"], 100.0, 300.0)
        t, v = run.read_channels([f"power.battery.{i}.soc_pct" for i in range(1, 5)], 100, 300)
        lines = export_lp(run, tmp_path / "x.lp", ["power.battery.2.soc_pct"], 100.0, 300.0)
    header, rows = read_csv(tmp_path / "x.csv")
    assert n == 21 and header == [f"power.battery.{i}.soc_pct" for i in range(1, 5)]
    got = np.array(rows)
    assert np.array_equal(got[:, 0], t) and np.array_equal(got[:, 1:], v)  # exact floats
    text = (tmp_path / "x.lp").read_text().splitlines()
    assert lines == len(text) == 21
    meas, fields, _ts = text[0].split(" ")
    with RunStore.open(runs / "pump") as run:
        run_id = run.meta.run_id
    # tagged with the run, as the sink tags it: no collision with the what-if branch's lines
    assert meas == ("power,satellite=OTS-1,component=battery,index=2,source=replay,"
                    f"run={run_id},scenario=review-unit")
    assert float(fields.split("=")[1]) == v[0, 1]
    stamps = [int(line.rsplit(" ", 1)[1]) for line in text]
    assert np.array_equal(np.diff(stamps), np.diff(t) * 1e9)


def test_plots_and_the_incident_sheet_are_png_files(runs: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (optional dependency)")
    from twin.review.plots import SHEET

    with RunStore.open(runs / "pump") as run:
        a = plot_channels(run, ["soc_pct", "hottest_gpu"], tmp_path / "p.png")
        b = incident_sheet(run, tmp_path / "s.png")
    assert a.read_bytes()[:8] == PNG and b.read_bytes()[:8] == PNG
    width, height = (int.from_bytes(b.read_bytes()[16 + 4 * i:20 + 4 * i], "big")
                     for i in range(2))
    assert (width, height) == (1320, 1540)  # 12 × 14 in at 110 dpi: five readable panels
    drawn = {p for panel in SHEET for p in (*panel[1], *panel[4])}
    assert {"power.array.power_w", "power.bus.load_w", "power.bus.voltage_v",
            "power.battery.soc_pct", "power.pcdu.shed_level"} <= drawn


def test_the_incident_sheet_marks_eclipses_faults_commands_and_alarms(runs: Path) -> None:
    from twin.review.plots import _Axis, _Marks

    with RunStore.open(runs / "pump") as run:
        marks = _Marks(run, _Axis(run))
        t, sun = run.read_channel("orbit.sunlit")
    assert marks.eclipses == [(float(t[sun < 0.5][0]), 900.0)]  # the run ends in eclipse
    assert marks.faults == [(200.0, "F1 pump_failure thermal.pump.2")]
    assert marks.commands == [200.0]
    raised = {(p, lv) for _t, p, lv in marks.alarms}
    assert ("thermal.pump.2.running", "red") in raised
    assert ("compute.hottest_gpu_temp_c", "yellow") in raised


def test_plot_says_when_it_keeps_only_the_first_channels(
        runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (optional dependency)")
    png = tmp_path / "many.png"
    assert review_command(parse([str(runs / "pump"), "--plot", "temp_c", "--png", str(png),
                                 "--quiet"])) == 0
    out = capsys.readouterr().out
    assert "channels match temp_c; plotting the first 40" in out
    assert png.read_bytes()[:8] == PNG


def test_vs_reports_the_differences_of_a_known_what_if(runs: Path) -> None:
    with RunStore.open(runs / "pump") as a, RunStore.open(runs / "shed") as b:
        c = compare_runs(a, b)
    assert c["b_is_branch_of_a"] and c["fork_t_s"] == 250.0
    assert c["metrics_a"]["max_shed_level"] == 0 and c["metrics_b"]["max_shed_level"] >= 4
    assert c["metrics_b"]["pflop_h"] < c["metrics_a"]["pflop_h"]  # shedding costs compute
    assert 250.0 < c["first_divergence_s"] <= 260.0
    text = format_comparison(c)
    assert "command only in B: 250 s SetLoadShedLevel {'level': 4}" in text
    assert "first divergence at 260 s" in text
    # the runs' lengths and the scenario's expectations, side by side
    assert c["metrics_a"]["duration_s"] == c["metrics_b"]["duration_s"] == 900.0
    lengths = {line.split()[0]: line.split() for line in text.splitlines()
               if line.startswith(("duration", "ticks"))}
    assert lengths["duration"][1:] == ["900", "s", "900", "s", "="]
    assert lengths["ticks"][2:] == ["91", "91", "="]
    assert "expectations (A | B):" in text
    assert "  pump failure recorded: PASS (fault 1 pump_failure" in text
    assert text.count("PASS (fault 1 pump_failure on thermal.pump.2") == 2


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_review_arguments(p)
    return p.parse_args(argv)


def test_the_summary_gives_the_energy_books_totals_that_close(runs: Path) -> None:
    """The plant's own books (stored by the batch run): in = out + stored change (+ residual),
    the DESIGN contract's 0.1 %; the integrals of the recorded power channels (sample-and-hold
    at the 10 s record interval, what a live run gets) agree with them to a few percent."""
    from twin.review.energy import Integrator

    with RunStore.open(runs / "pump") as run:
        s = summarise_run(run)
        integ = Integrator(run.channels())
        integ.add(*run.read_frames())
    e = s["energy"]
    assert e["source"] == "plant"
    e_in = e["e_generated_j"]
    e_out = e["e_loads_j"] + e["e_losses_j"] + e["e_fault_j"] + e["e_stored_change_j"]
    assert abs(e_in - e_out) / e_in < 1e-3 and e_in > 0
    q_in = e["q_dissipated_j"] + e["q_absorbed_j"]
    q_out = e["q_radiated_j"] + e["q_leaked_j"] + e["q_stored_change_j"]
    assert abs(q_in - q_out) / q_in < 1e-3
    got = integ.totals()
    assert got["array_in_j"] == pytest.approx(e["e_generated_j"], rel=0.03)
    assert got["load_out_j"] == pytest.approx(e["e_loads_j"], rel=0.03)
    # the radiators reject most of the heat radiated; other surfaces radiate the rest
    assert 0.8 * e["q_radiated_j"] < got["radiators_j"] < e["q_radiated_j"]
    text = format_summary(s)
    assert "electrical (plant's books): in " in text and " kWh from the array" in text
    assert "heat (plant's books): in " in text and " radiated" in text


def test_review_command_prints_summary_violations_and_expectations(
        runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert review_command(parse([str(runs / "pump"), "--quiet", "--json", str(out)])) == 0
    text = capsys.readouterr().out
    assert "fault 1 pump_failure on thermal.pump.2 injected" in text
    assert "thermal.pump.2.running red for 700 s" in text
    assert "PASS  pump failure recorded" in text
    data = json.loads(out.read_text())
    assert data["summary"]["duration_s"] == 900.0
    # the alarm transitions, with their times (judged during the run, not at its end)
    hot = [a for a in data["summary"]["alarms"] if a["source"] == "compute.hottest_gpu_temp_c"]
    assert [(a["previous"], a["state"]) for a in hot][:1] == [("ok", "yellow-high")]
    assert 200.0 < hot[0]["t_s"] < 900.0
    assert f"{hot[0]['t_s']:>9g} s  compute.hottest_gpu_temp_c ok → yellow-high" in text
    assert review_command(parse([str(runs / "pump"), "--vs", str(runs / "shed")])) == 0
    assert "max shed level" in capsys.readouterr().out


def test_the_sheet_also_prints_the_summary(runs: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (optional dependency)")
    import shutil

    run = tmp_path / "pump"
    shutil.copytree(runs / "pump", run)
    assert review_command(parse([str(run), "--sheet", "--quiet"])) == 0
    text = capsys.readouterr().out
    assert f"wrote {run / 'incident.png'}" in text
    assert "limit violations:" in text and "PASS  pump failure recorded" in text


def test_long_work_shows_a_progress_bar_on_a_terminal(
        runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (optional dependency)")
    import io
    import sys

    from twin.replay import resimulate

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    again = resimulate(runs / "pump", tmp_path / "again")  # identical: compared to the end
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    with RunStore.open(runs / "pump") as a, RunStore.open(again) as b:
        assert compare_runs(a, b, progress=True)["first_divergence_s"] is None
        export_csv(a, tmp_path / "x.csv", ["soc_pct"], progress=True)
        export_lp(a, tmp_path / "x.lp", ["soc_pct"], progress=True)
        incident_sheet(a, tmp_path / "s.png", progress=True)
        plot_channels(a, ["soc_pct", "temp_c"], tmp_path / "p.png", progress=True)
    text = err.getvalue()
    assert "100.0%  91 of 91 common ticks" in text
    assert text.count("100.0%  91 of 91 ticks") == 3  # CSV, line protocol, the plot's read
    assert "100.0%  5 of 5 panels" in text and "100.0%  2 of 2 panels" in text
