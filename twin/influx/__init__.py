"""InfluxDB sink: the twin's telemetry as line protocol, spooled to disk while the server is away.

See ``docs/influx.md`` for the schema and settings; :mod:`twin.influx.schema` for the mapping,
:mod:`twin.influx.sink` for the delivery guarantees, :mod:`twin.influx.spool` for the disk format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twin.influx.config import InfluxConfig, load_influx, parse_influx
from twin.influx.schema import LineSchema, split_path
from twin.influx.sink import (
    InfluxSink,
    InfluxTransport,
    Outcome,
    SinkStats,
    classify,
)
from twin.influx.spool import Spool, SpoolError, flush_spool

if TYPE_CHECKING:
    from twin.store import RunMeta

__all__ = ["InfluxConfig", "InfluxSink", "InfluxTransport", "LineSchema", "Outcome", "SinkStats",
           "Spool", "SpoolError", "classify", "close_run_sink", "describe_sink", "flush_spool",
           "load_influx", "parse_influx", "sink_for", "split_path"]


def sink_for(twin_or_config: object, catalogue: object, path: str | bool | None,
             source: str = "model", *, run: RunMeta | None = None,
             lossless: bool | None = None) -> InfluxSink | None:
    """The sink a command asks for — the one place that decides, for every kind of run.

    ``path``: ``--influx FILE``; None (or True): the TWIN_INFLUX_* environment, if
    TWIN_INFLUX_URL is set; False: no sink (library calls that did not ask for one). None when
    nothing is configured (the embedded store stays the only telemetry). ``run``: the metadata
    of the run being recorded; its ``run_id`` and scenario name become the ``run`` and
    ``scenario`` tags, and a sink for a run that is not live (``origin`` other than ``live``:
    simulate, scenario, re-simulation, fork) is lossless: it waits for room rather than drop
    (``lossless`` decides otherwise when given).
    """
    import os

    if path is False or (path in (None, True) and not os.environ.get("TWIN_INFLUX_URL")):
        return None
    cfg = twin_or_config
    tags: dict[str, str] = {}
    if run is not None:
        tags = {"run": run.run_id, "scenario": str(run.extra.get("scenario") or "")}
    return InfluxSink(load_influx(path if isinstance(path, str) else None), catalogue,  # type: ignore[arg-type]
                      cfg.satellite.name, cfg.orbit.epoch,  # type: ignore[attr-defined]
                      source=source, tags=tags,
                      lossless=(run is not None and run.origin != "live") if lossless is None
                      else lossless)


def close_run_sink(sink: InfluxSink | None) -> str:
    """End a batch run's sink: everything queued is sent or spooled before this returns (then
    spooled batches are sent for up to ``drain_s`` while the server takes them). Returns one
    line saying where the points went ("" without a sink)."""
    if sink is None:
        return ""
    cfg = sink.config
    sink.close(timeout=cfg.drain_s + 2 * cfg.timeout_s + 60.0, drain_s=cfg.drain_s)
    return describe_sink(sink)


def describe_sink(sink: InfluxSink) -> str:
    st = sink.stats()
    text = (f"influx: {st.points_sent:,} points in {st.batches_sent} batches sent to "
            f"{sink.config.url}")
    if st.spooled_batches:
        text += f" ({st.spooled_batches} batches went through the spool)"
    if st.waited_s >= 0.1:
        text += f"; the run waited {st.waited_s:.1f} s for the sink"
    if st.spool_batches:
        text += (f"; {st.spool_batches} batches ({st.spool_bytes / 1e6:.1f} MB) wait in "
                 f"{sink.config.spool_dir} for the server ({st.last_error or 'behind'}); the "
                 "next sink on that spool, or twin.influx.flush_spool, sends them")
    for what, n in (("dropped", st.dropped), ("lost", st.lost_lines),
                    ("rejected batches", st.rejected)):
        if n:
            text += f"; {n} {what}"
    return text

