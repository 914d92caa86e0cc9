"""What a standalone stub senses: constants (with command loopback), profiles, recordings."""

from __future__ import annotations

import pytest
from stubkit import BOARDS, CAT, CFG, ManualClock, client

from firmware_stubs import make_stub
from firmware_stubs.cli import build_source
from firmware_stubs.sources import (
    ConstantSource,
    RecordingSource,
    load_constants,
    load_profile,
    nominal_values,
)
from twin.cli import main as twin_main
from twin.errors import ConfigError, TwinError
from twin.store import RunStore

BUS_V = "power.bus.voltage_v"


def test_nominal_values_are_a_fresh_plants_frame():
    v = nominal_values(CFG)
    assert set(v) == {c.path for c in CAT.channels}
    assert v[BUS_V] == pytest.approx(CFG.bus.voltage_v)


async def test_a_constant_source_reads_back_commands_written_to_the_board():
    src = ConstantSource({"thermal.pump.1.speed_pct": 100.0}, ManualClock())
    async with make_stub(BOARDS["thermal"], src, noise=False, sample_rate_hz=0) as stub, \
            client(stub) as c:
        assert not (await c.write_register(0, 4250, device_id=1)).isError()
        stub.sample()
        assert (await c.read_input_registers(88, count=1, device_id=1)).registers == [4250]
        assert (await c.read_holding_registers(0, count=1, device_id=1)).registers == [4250]


def test_constants_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('"power.bus.voltage_v" = 118.5\n', encoding="utf-8")
    assert load_constants(f, CAT) == {BUS_V: 118.5}
    f.write_text('"power.bus.volts" = 118.5\n', encoding="utf-8")
    with pytest.raises(ConfigError,
                       match=r"power\.bus\.volts = 'power\.bus\.volts': expected a channel path"):
        load_constants(f, CAT)


@pytest.mark.parametrize("kind", ["toml", "csv"])
def test_profiles_are_piecewise_linear_and_hold_at_the_ends(tmp_path, kind):
    clock = ManualClock()
    if kind == "toml":
        f = tmp_path / "p.toml"
        f.write_text('[points]\n"power.bus.voltage_v" = [[0, 120.0], [60, 114.0], [120, 121.0]]'
                     '\n"thermal.loop.1.supply_temp_c" = [[30, 10.0]]\n', encoding="utf-8")
    else:
        f = tmp_path / "p.csv"
        f.write_text("t_s,power.bus.voltage_v,thermal.loop.1.supply_temp_c\n0,120.0,\n30,,10.0\n"
                     "60,114.0,\n120,121.0,\n", encoding="utf-8")
    src = load_profile(f, CAT, clock)
    for t, want in ((-5, 120.0), (0, 120.0), (30, 117.0), (90, 117.5), (500, 121.0)):
        clock.t = t
        reading = src.read()
        assert reading.t_s == t
        assert reading.values[BUS_V] == pytest.approx(want)
        assert reading.values["thermal.loop.1.supply_temp_c"] == 10.0


def test_a_looping_profile_repeats(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('loop = true\n[points]\n"power.bus.voltage_v" = [[0, 100.0], [10, 110.0]]\n',
                 encoding="utf-8")
    clock = ManualClock(25.0)
    assert load_profile(f, CAT, clock).read().values[BUS_V] == pytest.approx(105.0)


@pytest.mark.parametrize(("text", "key", "expected"), [
    ('[points]\n"power.bus.voltage_v" = [[0, 1], [0, 2]]\n', "power.bus.voltage_v",
     "times strictly increasing"),
    ('[points]\n"power.bus.voltage_v" = [0, 1]\n', "points.power.bus.voltage_v",
     "[[t_s, value], ...]"),
    ('[points]\n"power.bus.vol" = [[0, 1]]\n', "points.power.bus.vol", "a channel path"),
    ('looping = true\n', "looping", "only the keys loop and points"),
])
def test_bad_profiles_give_one_clear_config_error(tmp_path, text, key, expected):
    f = tmp_path / "p.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_profile(f, CAT)
    assert str(exc.value).startswith(f"{f}: {key} = ") and expected in str(exc.value)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert twin_main(["simulate", "--duration", "10m", "--record-every", "60s", "--quiet",
                      "--out", str(out)]) == 0
    return out


def test_a_recording_plays_back_sample_and_hold(recording):
    with RunStore.open(recording) as store:
        _, frames = store.read_frames()
    col = CAT[BUS_V].index
    clock = ManualClock(0.0)
    src = RecordingSource(recording, clock)
    assert src.read().values[BUS_V] == frames[0, col]
    clock.t = 179.0  # rows every 60 s: still the row recorded at 120 s
    r = src.read()
    assert (r.t_s, r.values[BUS_V]) == (120.0, frames[2, col])
    clock.t = 1e6
    assert src.read().t_s == 600.0
    looped = RecordingSource(recording, ManualClock(600.0 + 61.0), loop=True)
    assert looped.read().t_s == 60.0


def test_build_source_parses_the_cli_forms(recording, tmp_path):
    assert isinstance(build_source(["constant"], CFG, CAT, 1.0, False), ConstantSource)
    assert isinstance(build_source(["recording", str(recording)], CFG, CAT, 10.0, True),
                      RecordingSource)
    with pytest.raises(TwinError, match="expected 'constant"):
        build_source(["profile"], CFG, CAT, 1.0, False)
    with pytest.raises(TwinError, match="not a recorded run"):
        build_source(["recording", str(tmp_path)], CFG, CAT, 1.0, False)
