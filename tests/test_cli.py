"""The twin command: subcommands, help, clear errors, and a recorded nominal run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from twin.cli import main, parse_duration
from twin.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ["up", "serve", "console", "simulate", "replay", "review", "stub", "boards", "nodeset",
            "users"]


def twin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twin.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_help_lists_every_contract_command():
    out = twin("--help")
    assert out.returncode == 0
    for name in [*CONTRACT, "channels", "config"]:
        assert name in out.stdout


@pytest.mark.parametrize("name", [*CONTRACT, "channels", "config"])
def test_each_subcommand_has_help(name):
    out = twin(name, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: twin " + name in out.stdout


def test_console_is_a_real_command():
    out = twin("console", "--help")
    assert out.returncode == 0 and "--url" in out.stdout


def test_durations():
    assert parse_duration("24h") == 86400
    assert parse_duration("90m") == 5400
    assert parse_duration("1.5d") == 1.5 * 86400
    assert parse_duration("250ms") == 0.25
    assert parse_duration("10") == 10


def test_bad_duration_names_the_argument():
    out = twin("simulate", "--duration", "3 weeks")
    assert out.returncode == 2
    assert "--duration" in out.stderr and "3 weeks" in out.stderr


def test_bad_config_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "sat.toml"
    text = (ROOT / "configs" / "satellite.toml").read_text()
    bad.write_text(text.replace("area_per_wing_m2 = 160.0", "area_per_wing_m2 = -5.0"))
    out = twin("channels", "--config", str(bad))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert str(bad) in out.stderr and "solar_array.area_per_wing_m2" in out.stderr
    assert "-5.0" in out.stderr


def test_channels_filter_and_count():
    out = twin("channels", "compute.rack.1.gpu.1.*")
    assert out.returncode == 0
    assert "compute.rack.1.gpu.1.temp_c" in out.stdout
    assert "compute.rack.1.gpu.2" not in out.stdout
    count = twin("channels", "--count")
    assert int(count.stdout) > 800


def test_config_check_prints_margins():
    out = twin("config", "configs/satellite.toml")
    assert out.returncode == 0
    assert "worst eclipse" in out.stdout and "depth of discharge" in out.stdout


def test_simulate_records_every_channel_and_summarises(tmp_path, capsys):
    out_dir = tmp_path / "run"
    rc = main(["simulate", "--duration", "2h", "--out", str(out_dir), "--quiet",
               "--record-every", "30s"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "sunlit fraction" in printed and "energy books" in printed
    with RunStore.open(out_dir) as store:
        _, frames = store.read_frames()
        channels = store.channels()
        assert store.meta.seed == 1 and store.meta.record_every_s == 30.0
    summary = json.loads((out_dir / "summary.json").read_text())
    assert frames.shape == (2 * 3600 // 30 + 1, len(channels))
    assert summary["eclipses"] >= 1  # the default orbit is in its eclipse season
    assert abs(summary["electrical_residual_pct"]) < 0.1
    assert abs(summary["heat_residual_pct"]) < 0.1
    assert 20.0 < summary["min_soc_pct"] < 100.0
    assert (out_dir / "satellite.toml").exists()
