"""The InfluxDB telemetry schema: catalogue frames, commands and events as line protocol.

A channel path ``subsystem.component[.index].quantity_unit`` maps to

- measurement: the subsystem (``power``, ``thermal``, ``compute``, ``orbit``, ``sim``);
- tags: ``satellite`` (config ``[satellite] name``), ``component`` (the path's name parts between
  subsystem and quantity, joined by dots: ``battery``, ``rack.gpu``, ``pcdu.rack``), ``index``
  (its number parts joined by dots: ``1``, ``2.5`` for rack 2 GPU 5), ``source`` (``model``,
  ``board:<name>`` or ``replay``). A tag with nothing to say (``orbit.sunlit`` has no component or
  index) is left out, since line protocol has no empty tag values;
- field: the quantity with its unit (``soc_pct``, ``temp_c``), always a float — booleans, counts and
  enums included — so a field never changes type between points;
- run tags, when the sink writes a recorded run: ``run`` (the run store's ``run_id``) and
  ``scenario`` (the scenario's name, for scenario runs and their branches), so runs that share
  simulated times (a what-if branch and its parent, two seeds of one scenario) stay apart;
- timestamp: nanoseconds since the Unix epoch in simulated time, ``orbit.epoch + t``.

All channels of one measurement and tag set share one line per tick, so a frame of the default
satellite (903 channels) is 199 lines. NaN and infinite values cannot be carried by line protocol:
they are left out of their line (a line left with no field is dropped) and counted.

A :class:`LineSchema` works out each line's prefix (measurement and tags) and field names once;
:meth:`LineSchema.frame_lines` then turns a frame into text with one ``str.format`` call.

Commands (measurement ``command``): tags satellite, command, user, role, status (and the run
tags); fields ``ok`` (1.0 or 0.0), ``args`` (JSON), ``message``, ``wall_s`` (wall-clock
seconds). Events (measurement ``event``): tags satellite, kind (and the run tags); fields
``severity`` (1..1000), ``message``, ``data`` (JSON), ``wall_s``. Both use the simulated time of
the record as timestamp.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from twin.catalogue import Catalogue
    from twin.commands import CommandRecord
    from twin.runtime import Event

_MEAS = str.maketrans({",": r"\,", " ": r"\ ", "\n": " "})
_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": " "})
_UNIX = datetime(1970, 1, 1, tzinfo=UTC)
_STR = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": r"\n"})


def escape_measurement(text: str) -> str:
    return text.translate(_MEAS)


def escape_tag(text: str) -> str:
    """A tag key or value (also a field key): commas, equals signs and spaces escaped."""
    return text.translate(_TAG)


def string_field(text: str) -> str:
    """A quoted string field value."""
    return '"' + text.translate(_STR) + '"'


def epoch_ns(epoch: datetime) -> int:
    """Nanoseconds since the Unix epoch of an aware datetime, exactly."""
    return (epoch - _UNIX) // timedelta(microseconds=1) * 1000


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """Where a channel lands: measurement, component, index, field."""

    measurement: str
    component: str
    index: str
    field: str


def split_path(path: str) -> SeriesKey:
    """``compute.rack.2.gpu.5.temp_c`` → (compute, rack.gpu, 2.5, temp_c)."""
    parts = path.split(".")
    middle = parts[1:-1]
    names = [p for p in middle if not p.isdigit()]
    numbers = [p for p in middle if p.isdigit()]
    return SeriesKey(parts[0], ".".join(names), ".".join(numbers), parts[-1])


@dataclass(frozen=True, slots=True)
class FrameLines:
    text: str  # lines joined by "\n", no trailing newline
    lines: int
    fields: int
    omitted: int  # non-finite values left out


class LineSchema:
    """Precomputed line-protocol layout of one catalogue for one satellite and source."""

    def __init__(self, catalogue: Catalogue, satellite: str, epoch: datetime,
                 source: str = "model", sources: Mapping[str, str] | None = None,
                 tags: Mapping[str, str] | None = None) -> None:
        """``tags``: more tags on every line (the run tags ``run`` and ``scenario``); empty
        values are left out."""
        self.satellite = satellite
        self.epoch_ns = epoch_ns(epoch)
        self._sat_tag = "satellite=" + escape_tag(satellite)
        self.tags = {k: v for k, v in (tags or {}).items() if v}
        self._extra = "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in self.tags.items())
        groups: dict[tuple[str, str, str, str], list[tuple[int, str]]] = {}
        for ch in catalogue.channels:
            key = split_path(ch.path)
            src = (sources or {}).get(ch.path, source)
            groups.setdefault((key.measurement, key.component, key.index, src), []).append(
                (ch.index, key.field))
        self.prefixes: list[str] = []
        self.field_names: list[list[str]] = []
        order: list[int] = []
        template: list[str] = []
        for (meas, comp, idx, src), members in groups.items():
            tags = [self._sat_tag]
            if comp:
                tags.append("component=" + escape_tag(comp))
            if idx:
                tags.append("index=" + escape_tag(idx))
            tags.append("source=" + escape_tag(src))
            prefix = escape_measurement(meas) + "," + ",".join(tags) + self._extra
            names = [escape_tag(f) for _, f in members]
            self.prefixes.append(prefix)
            self.field_names.append(names)
            order.extend(i for i, _ in members)
            safe = prefix.replace("{", "{{").replace("}", "}}")
            fields = ",".join(n.replace("{", "{{").replace("}", "}}") + "={}" for n in names)
            template.append(f"{safe} {fields} {{ts}}")
        self.order = np.array(order, dtype=np.intp)
        self.n_lines = len(self.prefixes)
        self.n_fields = len(order)
        self._template = "\n".join(template)
        self._line_sizes = [len(n) for n in self.field_names]

    def timestamp_ns(self, t_s: float) -> int:
        """Simulated seconds since epoch → Unix nanoseconds."""
        return self.epoch_ns + round(t_s * 1e9)

    def frame_lines(self, t_s: float, frame: np.ndarray) -> FrameLines:
        """One frame (catalogue order) as line protocol, one line per measurement and tag set."""
        values = frame[self.order]
        ts = self.timestamp_ns(t_s)
        if np.isfinite(values).all():
            return FrameLines(self._template.format(*values.tolist(), ts=ts), self.n_lines,
                              self.n_fields, 0)
        return self._lines_skipping(values, ts)

    def _lines_skipping(self, values: np.ndarray, ts: int) -> FrameLines:
        ok = np.isfinite(values)
        vals = values.tolist()
        out: list[str] = []
        start = fields = 0
        for prefix, names in zip(self.prefixes, self.field_names, strict=True):
            parts = [f"{n}={vals[start + k]}" for k, n in enumerate(names) if ok[start + k]]
            start += len(names)
            if parts:
                out.append(f"{prefix} {','.join(parts)} {ts}")
                fields += len(parts)
        return FrameLines("\n".join(out), len(out), fields, self.n_fields - fields)

    def command_line(self, rec: CommandRecord) -> str:
        tags = (f"command,{self._sat_tag},command={escape_tag(rec.command) or '?'}"
                f",user={escape_tag(rec.user) or '?'},role={escape_tag(rec.role) or '?'}"
                f",status={escape_tag(rec.status) or '?'}{self._extra}")
        fields = (f"ok={1.0 if rec.status == 'Good' else 0.0},"
                  f"args={string_field(_json(rec.args))},message={string_field(rec.message)},"
                  f"wall_s={_finite(rec.wall_s)}")
        return f"{tags} {fields} {self.timestamp_ns(rec.sim_s)}"

    def event_line(self, ev: Event) -> str:
        tags = f"event,{self._sat_tag},kind={escape_tag(ev.kind) or '?'}{self._extra}"
        fields = (f"severity={float(ev.severity)},message={string_field(ev.message)},"
                  f"data={string_field(_json(ev.data))},wall_s={_finite(ev.wall_s)}")
        return f"{tags} {fields} {self.timestamp_ns(ev.sim_s)}"


def _json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0
