"""What a stub board senses: the plant's truth, a constant, a scripted profile or a recorded run.

A source's :meth:`~Source.read` returns a :class:`Reading`: a time stamp (simulated seconds) and
the true value of each channel it knows, by catalogue path, in display units (°C, %, W...).
Channels a source does not know keep whatever the board last held (for command channels: the
last command written). Sources that hold their own state (:class:`ConstantSource`) take commands
back through :meth:`~Source.command`, so that a standalone stub reads back what was written.

Clocks: the plant source takes the plant's time; the others take a ``clock`` callable giving
source seconds, by default :class:`WallClock` (wall seconds since creation × ``speed``).
"""

from __future__ import annotations

import csv
import itertools
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from twin.configschema import parse_toml, read_text_file
from twin.errors import CommandError, ConfigError

if TYPE_CHECKING:
    from twin.catalogue import Catalogue
    from twin.model.plant import Plant


class Reading(NamedTuple):
    t_s: float
    values: Mapping[str, float]


class Source(Protocol):
    def read(self) -> Reading: ...

    def command(self, path: str, value: float) -> None: ...


class WallClock:
    """Wall seconds since creation (monotonic), times ``speed``."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self.t0) * self.speed


class CallableSource:
    """Truth from a callable returning ``(t_s, {path: value})``."""

    def __init__(self, fn: Callable[[], tuple[float, Mapping[str, float]]]) -> None:
        self.fn = fn

    def read(self) -> Reading:
        t, values = self.fn()
        return Reading(t, values)

    def command(self, path: str, value: float) -> None:
        pass


def plant_source(plant: Plant, catalogue: Catalogue) -> CallableSource:
    """The embedded default: the plant's frame now (computed once per tick and command set)."""
    index = {c.path: c.index for c in catalogue.channels}
    cache: dict[str, Any] = {"tick": None, "reading": None}

    def read() -> tuple[float, Mapping[str, float]]:
        u = plant.inputs  # a command changes the frame's command channels before any step
        tick = (id(plant.state), plant.state.tick, plant.state.t_us, u.shed_level_cmd,
                b"".join(a.tobytes() for a in (u.rack_enabled, u.rack_cap_w, u.pump_speed,
                                               u.panel_deploy, u.heater_mode)))
        if cache["tick"] != tick:
            frame = catalogue.sample(plant).tolist()
            cache["tick"], cache["reading"] = tick, (plant.t_s, _FrameView(index, frame))
        return cache["reading"]

    return CallableSource(read)


class _FrameView(Mapping[str, float]):
    def __init__(self, index: dict[str, int], frame: list[float]) -> None:
        self.index, self.frame = index, frame

    def __getitem__(self, path: str) -> float:
        return self.frame[self.index[path]]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)


def plant_command_sink(plant: Plant) -> Callable[[str, float], None]:
    """A command callback applying board commands to ``plant.inputs`` (catalogue units).

    A stand-in for the twin's command path, for the embedded stubs and tests: rack enable and
    power cap (0: none), pump speed (%), radiator deploy, heater mode (enum index), shed level.
    """

    def apply(path: str, value: float) -> None:
        u = plant.inputs
        parts = path.split(".")
        if parts[:2] == ["compute", "rack"] and parts[3] == "enabled":
            u.rack_enabled[int(parts[2]) - 1] = value >= 0.5
        elif parts[:2] == ["compute", "rack"] and parts[3] == "power_cap_w":
            u.rack_cap_w[int(parts[2]) - 1] = value if value > 0 else math.inf
        elif parts[:2] == ["thermal", "pump"] and parts[3] == "speed_pct":
            u.pump_speed[int(parts[2]) - 1] = value / 100.0
        elif parts[:2] == ["thermal", "radiator"] and parts[3] == "deploy_cmd":
            u.panel_deploy[int(parts[2]) - 1] = value >= 0.5
        elif parts[:2] == ["power", "battery"] and parts[3] == "heater_mode":
            u.heater_mode[int(parts[2]) - 1] = int(value)
        elif path == "power.pcdu.shed_level_cmd":
            u.shed_level_cmd = int(value)
        else:
            raise CommandError(f"no plant input for {path!r}")

    return apply


class ConstantSource:
    """Fixed values; commands written to the board replace them (a loopback)."""

    def __init__(self, values: Mapping[str, float], clock: Callable[[], float] | None = None
                 ) -> None:
        self.values = dict(values)
        self.clock = clock or WallClock()

    def read(self) -> Reading:
        return Reading(self.clock(), self.values)

    def command(self, path: str, value: float) -> None:
        self.values[path] = value


def nominal_values(cfg: Any) -> dict[str, float]:
    """Every channel of a freshly started plant of ``cfg``: a sensible constant default."""
    from twin.catalogue import build_catalogue
    from twin.model.plant import Plant

    cat = build_catalogue(cfg)
    frame = cat.sample(Plant(cfg)).tolist()
    return {c.path: frame[c.index] for c in cat.channels}


def load_constants(path: str | Path, catalogue: Catalogue | None = None) -> dict[str, float]:
    """``"path" = value`` pairs from a TOML file."""
    table = _read_toml(path)
    out = {}
    for key, v in table.items():
        _check_channel(key, str(path), key, catalogue)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(str(path), key, v, "a number")
        out[key] = float(v)
    return out


class ProfileSource:
    """Piecewise-linear values in time; before the first point and after the last they hold.

    With ``loop`` the profile repeats with the period of its last point.
    """

    def __init__(self, points: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 clock: Callable[[], float] | None = None, loop: bool = False) -> None:
        self.points = dict(points)
        self.clock = clock or WallClock()
        self.loop = loop
        self.period = max((float(t[-1]) for t, _ in self.points.values()), default=0.0)
        self.extra: dict[str, float] = {}

    def read(self) -> Reading:
        t = self.clock()
        tp = t % self.period if self.loop and self.period > 0 else t
        values = {p: float(np.interp(tp, ts, vs)) for p, (ts, vs) in self.points.items()}
        values.update(self.extra)
        return Reading(t, values)

    def command(self, path: str, value: float) -> None:
        if path not in self.points:
            self.extra[path] = value


def load_profile(path: str | Path, catalogue: Catalogue | None = None,
                 clock: Callable[[], float] | None = None) -> ProfileSource:
    """A profile from TOML or CSV.

    TOML: ``loop = true`` (optional) and a ``[points]`` table of ``"path" = [[t_s, value], ...]``.
    CSV: a header ``t_s,<path>,<path>...`` and one row per time; an empty cell is no point.
    Times are seconds from the start and must increase.
    """
    path = Path(path)
    file = str(path)
    points: dict[str, tuple[list[float], list[float]]] = {}
    loop = False
    if path.suffix.lower() == ".csv":
        try:
            rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
        except OSError as exc:
            raise ConfigError(file, "", None, f"a readable profile ({exc.strerror})") from None
        if not rows or rows[0][0].strip() != "t_s":
            raise ConfigError(file, "header", rows[0] if rows else None, "t_s,<path>,...")
        names = [h.strip() for h in rows[0][1:]]
        for name in names:
            _check_channel(name, file, f"header.{name}", catalogue)
            points[name] = ([], [])
        for n, row in enumerate(rows[1:], start=2):
            try:
                t = float(row[0])
                for name, cell in zip(names, row[1:], strict=False):
                    if cell.strip():
                        points[name][0].append(t)
                        points[name][1].append(float(cell))
            except (ValueError, IndexError):
                raise ConfigError(file, f"line {n}", ",".join(row), "numbers") from None
    else:
        table = _read_toml(path)
        for key in table:
            if key not in ("loop", "points"):
                raise ConfigError(file, key, table[key], "only the keys loop and points")
        loop = bool(table.get("loop", False))
        for name, pairs in table.get("points", {}).items():
            _check_channel(name, file, f"points.{name}", catalogue)
            if not isinstance(pairs, list) or not pairs or not all(
                    isinstance(p, list) and len(p) == 2 and all(
                        isinstance(x, int | float) and not isinstance(x, bool) for x in p)
                    for p in pairs):
                raise ConfigError(file, f"points.{name}", pairs, "[[t_s, value], ...]")
            points[name] = ([float(p[0]) for p in pairs], [float(p[1]) for p in pairs])
    arrays = {}
    for name, (ts, vs) in points.items():
        if not ts or any(b <= a for a, b in itertools.pairwise(ts)):
            raise ConfigError(file, name, ts, "at least one point, times strictly increasing")
        arrays[name] = (np.array(ts), np.array(vs))
    return ProfileSource(arrays, clock, loop)


class RecordingSource:
    """A recorded run (a run directory written by ``twin simulate --out``; see twin.store).

    Sample-and-hold: at source time t the row recorded at or before ``t0 + t`` (t0: the first
    recorded time), optionally looping. The reading's time stamp is the recorded time.
    """

    def __init__(self, directory: str | Path, clock: Callable[[], float] | None = None,
                 loop: bool = False) -> None:
        from twin.store import RunStore

        with RunStore.open(directory) as store:
            self.times, self.frames = store.read_frames()
            self.paths = [c.path for c in store.channels()]
        if self.times.shape[0] == 0:
            raise ConfigError(str(directory), "", None, "a run with at least one recorded tick")
        self.index = {p: i for i, p in enumerate(self.paths)}
        self.clock = clock or WallClock()
        self.loop = loop
        self.extra: dict[str, float] = {}

    def read(self) -> Reading:
        t0, t_end = float(self.times[0]), float(self.times[-1])
        t = self.clock()
        if self.loop and t_end > t0:
            t = t % (t_end - t0)
        row = max(0, int(np.searchsorted(self.times, t0 + t, side="right")) - 1)
        values: dict[str, float] = dict(zip(self.paths, self.frames[row].tolist(), strict=True))
        values.update(self.extra)
        return Reading(float(self.times[row]), values)

    def command(self, path: str, value: float) -> None:
        if path not in self.index:
            self.extra[path] = value


def _read_toml(path: str | Path) -> dict[str, Any]:
    return parse_toml(read_text_file(path, "file"), str(path))


def _check_channel(name: str, file: str, key: str, catalogue: Catalogue | None) -> None:
    if catalogue is not None and name not in catalogue:
        raise ConfigError(file, key, name, "a channel path in the catalogue")
