"""CSV and InfluxDB line-protocol export of chosen channels over a time range.

CSV: a header ``time_s,<path>,...`` then one row per tick, values with ``repr`` precision (a
float64 round-trips exactly). Line protocol: the InfluxDB schema of :mod:`twin.influx.schema`
(measurement per subsystem, tags satellite/component/index/source, nanosecond timestamps at the
orbit epoch + simulated time), source tag ``replay``, and the run tags the sink writes — ``run``
(the run's id) and ``scenario`` (its scenario, if any) — so that an exported run does not
collide with its what-if branch or another seed in the same bucket (``docs/influx.md``).
Both read the run in chunks of ticks (:func:`iter_channels`), with a progress bar on request.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from twin.catalogue import Channel
from twin.errors import TwinError
from twin.store import RunReader

CHUNK_TICKS = 4096


def select_channels(run: RunReader, patterns: Sequence[str]) -> list[Channel]:
    """Channels matching globs (``*`` crosses dots) or containing words; all if none given."""
    import fnmatch

    chans = list(run.channels())
    if not patterns:
        return chans
    out = [c for c in chans if any(
        (fnmatch.fnmatchcase(c.path, p) if any(x in p for x in "*?[") else p in c.path)
        for p in patterns)]
    if not out:
        raise TwinError(f"no channel of {run.directory} matches {' '.join(patterns)}")
    return out


def iter_channels(run: RunReader, paths: Sequence[str], t0: float | None = None,
                  t1: float | None = None, chunk: int = CHUNK_TICKS, progress: bool = False
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(times, values of ``paths``) from ``t0`` to ``t1`` in chunks of at most ``chunk`` ticks
    (at least one, possibly empty); a progress bar on stderr when ``progress``."""
    from twin.simulate import ProgressBar

    times = run.read_channel(run.channels()[0].path, t0, t1)[0]
    if times.size == 0:
        yield times, np.empty((0, len(paths)))
        return
    bar = ProgressBar(times.size, enabled=progress, what="ticks")
    for i in range(0, times.size, chunk):
        tt = times[i:i + chunk]
        yield run.read_channels(list(paths), float(tt[0]), float(tt[-1]))
        bar.update(min(i + chunk, times.size))
    bar.close()


def export_csv(run: RunReader, path: str | Path, patterns: Sequence[str] = (),
               t0: float | None = None, t1: float | None = None,
               progress: bool = False) -> int:
    """Write the chosen channels to CSV; returns the number of rows."""
    chans = select_channels(run, patterns)
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["time_s", *[c.path for c in chans]])
        for times, values in iter_channels(run, [c.path for c in chans], t0, t1,
                                           progress=progress):
            for t, row in zip(times.tolist(), values.tolist(), strict=True):
                w.writerow([repr(t), *map(repr, row)])
            n += int(times.size)
    return n


def read_csv(path: str | Path) -> tuple[list[str], list[list[float]]]:
    """(header without time_s, rows with time first) of a CSV written by :func:`export_csv`."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0][1:], [[float(x) for x in r] for r in rows[1:]]


def _epoch(run: RunReader) -> datetime:
    try:
        from twin.replay.resim import load_config

        return load_config(run.meta).orbit.epoch
    except Exception:  # a run without its config text: Unix epoch
        return datetime(1970, 1, 1, tzinfo=UTC)


def run_tags(run: RunReader) -> dict[str, str]:
    """The run tags a sink puts on a recorded run's lines (:func:`twin.influx.sink_for`)."""
    return {"run": run.meta.run_id, "scenario": str(run.meta.extra.get("scenario") or "")}


def export_lp(run: RunReader, path: str | Path, patterns: Sequence[str] = (),
              t0: float | None = None, t1: float | None = None, source: str = "replay",
              progress: bool = False) -> int:
    """Write the chosen channels as InfluxDB line protocol; returns the number of lines."""
    from twin.influx.schema import LineSchema

    chans = select_channels(run, patterns)
    sub = SimpleNamespace(channels=[dataclasses.replace(c, index=i) for i, c in enumerate(chans)])
    schema = LineSchema(sub, run.meta.satellite or "satellite", _epoch(run), source,  # type: ignore[arg-type]
                        tags=run_tags(run))
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for times, values in iter_channels(run, [c.path for c in chans], t0, t1,
                                           progress=progress):
            for t, row in zip(times.tolist(), values, strict=True):
                lines = schema.frame_lines(t, row)
                if lines.lines:
                    fh.write(lines.text + "\n")
                    n += lines.lines
    return n
