"""InfluxDB sink: the twin's telemetry as line protocol, spooled to disk while the server is away.

See ``docs/influx.md`` for the schema and settings; :mod:`twin.influx.schema` for the mapping,
:mod:`twin.influx.sink` for the delivery guarantees, :mod:`twin.influx.spool` for the disk format.
"""

from twin.influx.config import InfluxConfig, load_influx, parse_influx
from twin.influx.schema import LineSchema, split_path
from twin.influx.sink import InfluxSink, InfluxTransport, Outcome, SinkStats, classify
from twin.influx.spool import Spool, SpoolError

__all__ = ["InfluxConfig", "InfluxSink", "InfluxTransport", "LineSchema", "Outcome", "SinkStats",
           "Spool", "SpoolError", "classify", "load_influx", "parse_influx", "split_path"]


def sink_for(twin_or_config: object, catalogue: object, path: str | None,
             source: str = "model") -> InfluxSink | None:
    """The sink the CLI asks for: ``--influx FILE`` or the TWIN_INFLUX_* environment; None when
    neither is given (the embedded store stays the only telemetry)."""
    import os

    if path is None and not os.environ.get("TWIN_INFLUX_URL"):
        return None
    cfg = twin_or_config
    return InfluxSink(load_influx(path), catalogue, cfg.satellite.name,  # type: ignore[attr-defined]
                      cfg.orbit.epoch, source=source)  # type: ignore[attr-defined]
