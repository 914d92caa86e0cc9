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
    assert meas == ("power,satellite=OTS-1,component=battery,index=2,source=replay")
    assert float(fields.split("=")[1]) == v[0, 1]
    stamps = [int(line.rsplit(" ", 1)[1]) for line in text]
    assert np.array_equal(np.diff(stamps), np.diff(t) * 1e9)


def test_plots_and_the_incident_sheet_are_png_files(runs: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (optional dependency)")
    with RunStore.open(runs / "pump") as run:
        a = plot_channels(run, ["soc_pct", "hottest_gpu"], tmp_path / "p.png")
        b = incident_sheet(run, tmp_path / "s.png")
    assert a.read_bytes()[:8] == PNG and b.read_bytes()[:8] == PNG


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


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_review_arguments(p)
    return p.parse_args(argv)


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
    assert review_command(parse([str(runs / "pump"), "--vs", str(runs / "shed")])) == 0
    assert "max shed level" in capsys.readouterr().out
