"""The on-disk schema of a run, its metadata and the records it keeps besides samples.

A run is one SQLite 3 file, ``run.sqlite``, in the run directory (``PRAGMA application_id`` =
0x4F54574E "OTWN", ``PRAGMA user_version`` = :data:`FORMAT_VERSION`). Tables:

``meta(key, value)``
    One row per :class:`RunMeta` field and per store setting; ``value`` is JSON. Settings:
    ``format`` ("orbital-twin-run"), ``version``, ``codec`` (see :mod:`twin.store.codec`),
    ``block_ticks`` (ticks per sealed block), ``channel_count``.
``channels(idx, path, unit, dtype, lo, hi, description, yellow_lo, yellow_hi, red_lo, red_hi,
writable, source, enum)``
    A copy of the catalogue; ``idx`` is the position in a frame, ``enum`` a JSON list; limits that
    do not exist are NULL.
``blocks(id, n, t_first, t_last, times)``
    Sealed blocks in time order (``id`` 0, 1, …): ``n`` ticks from ``t_first`` to ``t_last``
    (simulated seconds), ``times`` the codec blob of the ``n`` tick times.
``samples(id, data)``
    One row per block and channel: ``id = block_id * 2**20 + channel idx``, ``data`` the codec
    blob of that channel's ``n`` values in that block (so a run holds at most 2**20 channels).
``tail(seq, n, t_first, t_last, times, frames)``
    Ticks recorded but not yet sealed into a block, as raw little-endian float64 (``times``: n
    values; ``frames``: n × channels, row-major). The writer adds a row at each commit and
    deletes them all in the transaction that seals their block, so at every commit
    ``blocks`` + ``tail`` hold every tick exactly once.
``commands(id, t_s, wall_time, user, name, args, status, result)``
    Every command: simulated and wall (Unix) time, who, what, JSON arguments, status
    (an OPC UA status name, "Good" when accepted), JSON result.
``events(id, t_s, wall_time, severity, source, kind, message, data)``
    Severity on the OPC UA scale 1–1000; ``data`` JSON.
``alarms(id, t_s, wall_time, source, state, previous, value, message)``
    Alarm transitions: the channel (or other source) whose state changed from ``previous`` to
    ``state`` (e.g. "ok", "yellow", "red", "acked"), and the value that caused it.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from twin.catalogue import Channel

FORMAT = "orbital-twin-run"
FORMAT_VERSION = 1
APPLICATION_ID = 0x4F54574E  # "OTWN"
DB_NAME = "run.sqlite"
LOCK_NAME = "run.lock"
CHANNEL_BITS = 20
MAX_CHANNELS = 1 << CHANNEL_BITS

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE channels (
    idx INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, unit TEXT NOT NULL, dtype TEXT NOT NULL,
    lo REAL, hi REAL, description TEXT NOT NULL, yellow_lo REAL, yellow_hi REAL, red_lo REAL,
    red_hi REAL, writable INTEGER NOT NULL, source TEXT NOT NULL, enum TEXT NOT NULL);
CREATE TABLE blocks (
    id INTEGER PRIMARY KEY, n INTEGER NOT NULL, t_first REAL NOT NULL, t_last REAL NOT NULL,
    times BLOB NOT NULL);
CREATE INDEX blocks_t_first ON blocks (t_first);
CREATE INDEX blocks_t_last ON blocks (t_last);
CREATE TABLE samples (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE tail (
    seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, t_first REAL NOT NULL, t_last REAL NOT NULL,
    times BLOB NOT NULL, frames BLOB NOT NULL);
CREATE TABLE commands (
    id INTEGER PRIMARY KEY, t_s REAL NOT NULL, wall_time REAL NOT NULL, user TEXT NOT NULL,
    name TEXT NOT NULL, args TEXT NOT NULL, status TEXT NOT NULL, result TEXT NOT NULL);
CREATE INDEX commands_t ON commands (t_s);
CREATE TABLE events (
    id INTEGER PRIMARY KEY, t_s REAL NOT NULL, wall_time REAL NOT NULL, severity INTEGER NOT NULL,
    source TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX events_t ON events (t_s);
CREATE TABLE alarms (
    id INTEGER PRIMARY KEY, t_s REAL NOT NULL, wall_time REAL NOT NULL, source TEXT NOT NULL,
    state TEXT NOT NULL, previous TEXT NOT NULL, value REAL, message TEXT NOT NULL);
CREATE INDEX alarms_t ON alarms (t_s);
"""


@dataclass(frozen=True, slots=True)
class RunMeta:
    """What a run is: enough, with the command log, to re-simulate it bit for bit.

    ``origin``: ``"simulated"`` (``twin simulate``, scenarios, re-simulations), ``"live"`` (a
    live twin of the model alone: ``twin serve`` without boards, ``twin up`` with the firmware
    stubs), ``"measured"`` (a live twin against real boards, ``twin serve --boards``: its values
    are measurements, so it is replayed and forked from a recorded state, never re-simulated;
    :attr:`measured`) or ``"branch"`` (a what-if). ``seed`` is the plant's (a measured run's is
    its shadow model's); recordings of real boards made before ``origin`` said so have none.
    A what-if branch names its parent run (``parent_id``, and ``parent_path`` relative to the
    branch's directory) and the simulated time it forked at; a branch of a measured run has
    ``extra["measured_history"]``. ``run_id`` and ``created`` are filled in by
    :meth:`RunStore.create`.
    """

    satellite: str = ""
    config_text: str = ""  # the satellite TOML, verbatim
    config_source: str = ""  # where it was read from
    seed: int | None = None
    step_s: float | None = None  # plant step
    record_every_s: float | None = None  # recorder rate: every channel at this period
    origin: str = "simulated"  # "simulated", "live", "measured" (real boards) or "branch"
    parent_id: str | None = None
    parent_path: str | None = None
    fork_t_s: float | None = None
    run_id: str = ""
    created: str = ""  # ISO 8601 UTC
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        """Whether the run's values (or its history, for a branch) are real boards'
        measurements: it can be replayed and forked from a recorded state, not re-simulated."""
        return (self.origin == "measured" or self.seed is None
                or bool(self.extra.get("measured_history")))

    def completed(self) -> RunMeta:
        """This meta with ``run_id`` and ``created`` filled in where empty."""
        return replace(
            self,
            run_id=self.run_id or uuid.uuid4().hex,
            created=self.created or datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def rows(self) -> list[tuple[str, str]]:
        return [(f.name, to_json(getattr(self, f.name))) for f in fields(self)]

    @classmethod
    def from_rows(cls, rows: Mapping[str, str]) -> RunMeta:
        known = {f.name for f in fields(cls)}
        return cls(**{k: json.loads(v) for k, v in rows.items() if k in known})


@dataclass(frozen=True, slots=True)
class CommandRecord:
    id: int
    t_s: float
    wall_time: float
    user: str
    name: str
    args: dict[str, Any]
    status: str
    result: Any


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    t_s: float
    wall_time: float
    severity: int
    source: str
    kind: str
    message: str
    data: Any


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    id: int
    t_s: float
    wall_time: float
    source: str
    state: str
    previous: str
    value: float | None
    message: str


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"cannot record a {type(obj).__name__} as JSON")


def to_json(value: Any) -> str:
    """JSON text for metadata and record fields (numpy scalars and arrays become lists)."""
    return json.dumps(value, default=_plain, separators=(",", ":"), ensure_ascii=False)


def channel_row(idx: int, ch: Channel) -> tuple[Any, ...]:
    return (idx, ch.path, ch.unit, ch.dtype, _real(ch.lo), _real(ch.hi), ch.description,
            ch.yellow[0], ch.yellow[1], ch.red[0], ch.red[1], int(ch.writable), ch.source,
            to_json(list(ch.enum)))


def channel_from_row(row: tuple[Any, ...]) -> Channel:
    (idx, path, unit, dtype, lo, hi, desc, ylo, yhi, rlo, rhi, writable, source, enum) = row
    return Channel(path, unit, dtype, _unreal(lo), _unreal(hi), desc, (ylo, yhi), (rlo, rhi),
                   bool(writable), source, tuple(json.loads(enum)), idx)


def _real(x: float) -> float | None:
    """SQLite has no NaN (it stores NULL): keep infinite ranges, map NaN to NULL."""
    return None if isinstance(x, float) and math.isnan(x) else float(x)


def _unreal(x: float | None) -> float:
    return math.nan if x is None else float(x)
