"""RunStore: what goes in comes out bit for bit, by channel, by range and by instant."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest
from _storehelp import awkward_frames, same_bits

from twin.errors import TwinError
from twin.store import RunMeta, RunStore, StoreError
from twin.store.schema import DB_NAME

BLOCK = 16


@pytest.fixture
def run(tmp_path, channels):
    """A closed run of 100 ticks at 0.5 s (6 sealed blocks of 16 and one short block of 4)."""
    times = np.arange(100) * 0.5
    with RunStore.create(tmp_path / "run", channels, RunMeta(seed=7), block_ticks=BLOCK) as s:
        s.append_block(times[:37], awkward_frames(times)[:37])
        for k in range(37, 100):
            s.append(times[k], awkward_frames(times)[k])
    return tmp_path / "run", times, awkward_frames(times)


def test_every_channel_round_trips_bit_for_bit_including_nan_inf_enum_and_bool(run, channels):
    path, times, frames = run
    with RunStore.open(path) as r:
        t, f = r.read_frames()
        assert same_bits(t, times) and same_bits(f, frames)
        for ch in channels:
            t, v = r.read_channel(ch.path)
            assert same_bits(t, times) and same_bits(v, frames[:, ch.index]), ch.path
        t, v = r.read_channels(["power.battery.1.heater_mode", "orbit.sunlit"])
        assert same_bits(v, frames[:, [2, 1]])
        assert r.tick_count() == 100 and r.time_range() == (0.0, 49.5)
        assert r.channels() == tuple(channels)
        assert r.channels()[2].enum == ("auto", "off", "on")


def test_ranges_are_inclusive_and_clip_at_the_edges(run):
    path, times, frames = run
    soc = frames[:, 4]
    with RunStore.open(path) as r:
        t, v = r.read_channel("power.battery.1.soc_pct", 8.0, 16.0)  # ticks exactly at bounds
        assert same_bits(t, times[16:33]) and same_bits(v, soc[16:33])
        t, v = r.read_channel("power.battery.1.soc_pct", 7.9, 8.1)  # between ticks
        assert same_bits(t, [8.0])
        t, _ = r.read_channel("power.battery.1.soc_pct", 7.75, 7.8)
        assert t.size == 0
        t, v = r.read_channel("power.battery.1.soc_pct", None, 1.0)
        assert same_bits(t, times[:3])
        t, v = r.read_channel("power.battery.1.soc_pct", 49.5, None)
        assert same_bits(t, [49.5]) and same_bits(v, soc[-1:])
        t, _ = r.read_channel("power.battery.1.soc_pct", -10.0, -1.0)
        assert t.size == 0
        t, _ = r.read_channel("power.battery.1.soc_pct", 50.0, 1e9)
        assert t.size == 0
        with pytest.raises(StoreError, match="t0 ≤ t1"):
            r.read_channel("power.battery.1.soc_pct", 5.0, 1.0)


def test_read_instant_gives_the_latest_tick_at_or_before_t(run):
    path, _, frames = run
    with RunStore.open(path) as r:
        assert same_bits(r.read_instant(10.0), frames[20])
        assert same_bits(r.read_instant(10.4), frames[20])  # between ticks
        assert same_bits(r.read_instant(7.99), frames[15])  # last tick of a block
        assert same_bits(r.read_instant(8.0), frames[16])  # first tick of the next
        assert same_bits(r.read_instant(1e12), frames[-1])
        t, f = r.seek(0.2)
        assert t == 0.0 and same_bits(f, frames[0])
        with pytest.raises(StoreError, match="starts at t = 0"):
            r.read_instant(-0.1)
        with pytest.raises(StoreError, match="seek time"):
            r.read_instant(math.nan)


def test_returned_arrays_are_the_callers_to_change(run):
    path, _, frames = run
    with RunStore.open(path) as r:
        r.read_instant(3.0)[:] = 0.0
        _, f = r.read_frames(0.0, 3.0)
        f[:] = 0.0
        assert same_bits(r.read_instant(3.0), frames[6])


def test_the_writer_reads_its_own_unsealed_ticks(tmp_path, channels):
    times = np.arange(40) * 1.0
    frames = awkward_frames(times)
    with RunStore.create(tmp_path / "w", channels, block_ticks=BLOCK) as s:
        s.append_block(times[:20], frames[:20])  # one sealed block, four buffered ticks
        assert s.time_range() == (0.0, 19.0) and s.tick_count() == 20
        assert same_bits(s.read_instant(18.5), frames[18])
        t, v = s.read_channel("thermal.radiator.1.temp_c", 10.0, None)
        assert same_bits(t, times[10:20]) and same_bits(v, frames[10:20, 5])


def test_commands_events_and_alarms_round_trip_with_filters(tmp_path, channels):
    with RunStore.create(tmp_path / "r", channels) as s:
        a = s.record_command(10.0, "alice", "set_pump_speed", {"pump": 1, "pct": np.float64(80)},
                             result={"accepted": True}, wall_time=1.7e9)
        s.record_command(20.0, "bob", "shed_load", {"level": 2}, status="BadUserAccessDenied",
                         result=None)
        s.record_command(30.0, "alice", "shed_load", {"level": 0})
        s.record_event(12.0, 700, "thermal", "fault", "pump 1 failed", {"fault_id": 3})
        s.record_event(25.0, 100, "scenario", "note", "eclipse entry")
        s.record_alarm(13.0, "thermal.loop.1.flow_kg_s", "red", "ok", 0.1, "flow low")
        s.record_alarm(40.0, "thermal.loop.1.flow_kg_s", "ok", "red", math.nan)
    with RunStore.open(tmp_path / "r") as r:
        cmds = r.commands()
        assert [c.t_s for c in cmds] == [10.0, 20.0, 30.0]
        assert cmds[0].id == a and cmds[0].user == "alice" and cmds[0].wall_time == 1.7e9
        assert cmds[0].args == {"pump": 1, "pct": 80.0} and cmds[0].result == {"accepted": True}
        assert cmds[1].status == "BadUserAccessDenied" and cmds[1].result is None
        assert [c.t_s for c in r.commands(15.0, 30.0)] == [20.0, 30.0]
        assert [c.t_s for c in r.commands(name="shed_load", user="alice")] == [30.0]
        assert [e.kind for e in r.events()] == ["fault", "note"]
        assert [e.message for e in r.events(min_severity=500)] == ["pump 1 failed"]
        assert r.events(0, 20, source="thermal")[0].data == {"fault_id": 3}
        assert r.events(13.0, 24.0) == []
        alarms = r.alarms(source="thermal.loop.1.flow_kg_s")
        assert [(x.previous, x.state, x.value) for x in alarms] == [("ok", "red", 0.1),
                                                                    ("red", "ok", None)]


def test_meta_is_kept_and_extra_can_be_added(tmp_path, channels):
    meta = RunMeta(satellite="sat", config_text="[satellite]\nname = 'sat'\n", seed=42,
                   step_s=1.0, record_every_s=10.0, extra={"scenario": "nominal"})
    with RunStore.create(tmp_path / "m", channels, meta) as s:
        s.set_extra("summary", {"min_soc_pct": 41.5})
        run_id = s.meta.run_id
    with RunStore.open(tmp_path / "m") as r:
        m = r.meta
    assert len(run_id) == 32 and m.run_id == run_id and m.created
    assert (m.satellite, m.seed, m.step_s, m.record_every_s) == ("sat", 42, 1.0, 10.0)
    assert m.config_text == meta.config_text and m.parent_id is None
    assert m.extra == {"scenario": "nominal", "summary": {"min_soc_pct": 41.5}}


def test_a_branch_records_its_parent_and_fork_time_and_starts_with_its_history(run, tmp_path):
    path, times, frames = run
    with RunStore.open(path, readonly=False) as parent:
        parent.record_command(5.0, "ops", "early", {})
        parent.record_command(40.0, "ops", "late", {})
    with RunStore.branch(path, tmp_path / "whatif", 20.2) as b:
        b.record_command(21.0, "ops", "other_choice", {})
        b.append(20.3, frames[50])
    with RunStore.open(tmp_path / "whatif") as b, RunStore.open(path) as p:
        assert b.meta.parent_id == p.meta.run_id and b.meta.fork_t_s == 20.2
        assert b.meta.origin == "branch" and b.meta.seed == 7
        assert b.open_parent().meta.run_id == p.meta.run_id
        t, f = b.read_frames()
        assert same_bits(t, np.append(times[:41], 20.3))
        assert same_bits(f[:41], frames[:41]) and same_bits(f[41], frames[50])
        assert [c.name for c in b.commands()] == ["early", "other_choice"]
    with RunStore.open(path) as p, pytest.raises(StoreError, match="not a branch"):
        p.open_parent()


def test_a_closed_run_is_one_file_and_can_be_resumed(run, channels):
    path, times, _ = run
    assert sorted(p.name for p in path.iterdir()) == sorted([DB_NAME, "run.lock"])
    more = np.arange(100, 130) * 0.5
    with RunStore.open(path, readonly=False) as s:
        s.append_block(more, awkward_frames(more))
    with RunStore.open(path) as r:
        t, f = r.read_frames()
    assert same_bits(t, np.concatenate([times, more]))
    assert same_bits(f[100:], awkward_frames(more))


def test_bad_input_gets_a_message_that_says_what_was_expected(run, tmp_path, channels):
    path, _, frames = run
    assert issubclass(StoreError, TwinError)
    with RunStore.open(path) as r:
        with pytest.raises(StoreError, match=r"no channel 'power.battery.1.soc'.*soc_pct"):
            r.read_channel("power.battery.1.soc")
        with pytest.raises(StoreError, match="read-only"):
            r.append(100.0, frames[0])
    with RunStore.open(path, readonly=False) as s:
        with pytest.raises(StoreError, match=r"shape \(7,\).*8 channels"):
            s.append(100.0, frames[0][:7])
        with pytest.raises(StoreError, match="not after the last"):
            s.append(49.5, frames[0])
        with pytest.raises(StoreError, match="finite"):
            s.append(math.inf, frames[0])
        with pytest.raises(StoreError, match="strictly increasing"):
            s.append_block([60.0, 60.0], frames[:2])
        with pytest.raises(StoreError, match="channels per tick"):
            s.append_block([60.0, 61.0], frames[:3])
        with pytest.raises(StoreError, match="severity"):
            s.record_event(1.0, 0, "x", "y", "z")
        with pytest.raises(StoreError, match="another writer"):
            RunStore.open(path, readonly=False)
    with pytest.raises(StoreError, match="already holds a run"):
        RunStore.create(path, channels)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="not a recorded run"):
        RunStore.open(tmp_path / "empty")
    with pytest.raises(StoreError, match="no such run directory"):
        RunStore.open(tmp_path / "missing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a recorded run"):
        RunStore.open(tmp_path / "junk")
    sqlite3.connect(tmp_path / "other.sqlite").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreError, match="not an orbital-twin run"):
        RunStore.open(tmp_path / "other.sqlite")
    with pytest.raises(StoreError, match="duplicate channel"):
        RunStore.create(tmp_path / "dup", channels + channels[:1])
    s = RunStore.create(tmp_path / "closed", channels)
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.read_instant(0.0)
