"""The line-protocol schema: names as documented, exact values, NaN/inf left out and counted."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from _influxhelp import FrameSource

from twin.commands import CommandRecord, Event
from twin.influx import LineSchema, split_path
from twin.influx.schema import epoch_ns

EPOCH = dt.datetime(2026, 12, 21, tzinfo=dt.UTC)
# measurement,tags fields timestamp — tag values here never contain escaped spaces or commas.
LINE = re.compile(r"^([a-z]+),(\S+) (\S+) (\d+)$")


def parse(text: str) -> list[tuple[str, dict[str, str], dict[str, float], int]]:
    out = []
    for line in text.split("\n"):
        m = LINE.match(line)
        assert m, line
        tags = dict(kv.split("=", 1) for kv in m[2].split(","))
        fields = {k: float(v) for k, v in (kv.split("=", 1) for kv in m[3].split(","))}
        out.append((m[1], tags, fields, int(m[4])))
    return out


@pytest.mark.parametrize(("path", "expected"), [
    ("power.battery.1.soc_pct", ("power", "battery", "1", "soc_pct")),
    ("compute.rack.2.gpu.5.temp_c", ("compute", "rack.gpu", "2.5", "temp_c")),
    ("thermal.loop.1.flow_kg_s", ("thermal", "loop", "1", "flow_kg_s")),
    ("power.pcdu.rack.3.on", ("power", "pcdu.rack", "3", "on")),
    ("orbit.sunlit", ("orbit", "", "", "sunlit")),
    ("sim.time_s", ("sim", "", "", "time_s")),
])
def test_paths_split_into_measurement_component_index_field(path: str, expected: tuple) -> None:
    k = split_path(path)
    assert (k.measurement, k.component, k.index, k.field) == expected


def test_a_frame_is_one_line_per_component_with_every_value_exact() -> None:
    src = FrameSource()
    t, frame = src.next()
    schema = LineSchema(src.catalogue, "OTS-1", EPOCH)
    out = schema.frame_lines(t, frame)
    lines = parse(out.text)
    assert out.lines == len(lines) == schema.n_lines
    assert out.fields == len(src.catalogue) and out.omitted == 0
    got = {}
    for meas, tags, fields, ts in lines:
        assert ts == epoch_ns(EPOCH) + round(t * 1e9)
        assert tags["satellite"] == "OTS-1" and tags["source"] == "model"
        assert len({(meas, tags.get("component"), tags.get("index"))}) == 1
        for name, value in fields.items():
            got[(meas, tags.get("component", ""), tags.get("index", ""), name)] = value
    assert len(got) == len(src.catalogue)  # no (series, field) twice
    for ch in src.catalogue.channels:
        k = split_path(ch.path)
        # repr() of a float reads back to the same float: the line carries it exactly.
        assert got[(k.measurement, k.component, k.index, k.field)] == frame[ch.index], ch.path


def test_non_finite_values_are_left_out_and_counted() -> None:
    src = FrameSource()
    t, frame = src.next()
    schema = LineSchema(src.catalogue, "OTS-1", EPOCH)
    frame = frame.copy()
    soc = src.catalogue["power.battery.1.soc_pct"].index
    frame[soc] = np.nan
    frame[src.catalogue["power.battery.2.temp_c"].index] = np.inf
    sim = [c.index for c in src.catalogue.select(["sim.*"])]
    frame[sim] = -np.inf  # every field of the sim lines (the clock's and sim.scenario's)
    out = schema.frame_lines(t, frame)
    omitted = 2 + len(sim)
    sim_lines = sum(p.startswith("sim,") for p in schema.prefixes)
    assert sim_lines == 2
    assert out.omitted == omitted and out.fields == len(src.catalogue) - omitted
    assert out.lines == schema.n_lines - sim_lines
    assert "nan" not in out.text and "inf" not in out.text
    assert "sim," not in out.text
    assert all(LINE.match(line) for line in out.text.split("\n"))


def test_tag_values_and_strings_are_escaped() -> None:
    src = FrameSource()
    schema = LineSchema(src.catalogue, "OTS 1,b=x", EPOCH, source="board:psu 1")
    t, frame = src.next()
    first = schema.frame_lines(t, frame).text.split("\n")[0]
    assert first.startswith(r"sim,satellite=OTS\ 1\,b\=x,source=board:psu\ 1 time_s=")
    rec = CommandRecord(1.5, 1.7e9, "al ice", "operator", "Step", {"n": 3}, "Good",
                        'said "hi"\\')
    line = schema.command_line(rec)
    assert line == (r"command,satellite=OTS\ 1\,b\=x,command=Step,user=al\ ice,role=operator,"
                    r'status=Good ok=1.0,args="{\"n\": 3}",message="said \"hi\"\\",'
                    f"wall_s=1700000000.0 {epoch_ns(EPOCH) + 1_500_000_000}")
    ev = schema.event_line(Event(2.0, 1.7e9, "fault", 700, "pump\nfailed", {"loop": 1}))
    assert ev == (r"event,satellite=OTS\ 1\,b\=x,kind=fault severity=700.0,"
                  r'message="pump\nfailed",data="{\"loop\": 1}",'
                  f"wall_s=1700000000.0 {epoch_ns(EPOCH) + 2_000_000_000}")


def test_timestamps_are_epoch_plus_simulated_time_in_nanoseconds() -> None:
    src = FrameSource()
    schema = LineSchema(src.catalogue, "OTS-1", EPOCH)
    assert epoch_ns(EPOCH) == 1_797_811_200 * 10**9  # 2026-12-21T00:00:00Z
    assert schema.timestamp_ns(0.1) == epoch_ns(EPOCH) + 100_000_000
    assert schema.timestamp_ns(86_400.25) == epoch_ns(EPOCH) + 86_400_250_000_000
