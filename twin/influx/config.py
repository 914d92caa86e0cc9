"""The InfluxDB sink's settings: an ``[influx]`` TOML table, overridden by the environment.

```toml
[influx]
url = "http://localhost:8086"
token = "..."          # or TWIN_INFLUX_TOKEN, better kept out of files
org = "lab"
bucket = "twin"
batch_lines = 5000     # lines per write request
flush_s = 1.0          # a batch older than this is sent even if not full
spool_dir = "runs/influx-spool"
drain_s = 30.0         # end of a batch run: keep sending the spool this long
```

Environment variables ``TWIN_INFLUX_URL``, ``TWIN_INFLUX_TOKEN``, ``TWIN_INFLUX_ORG`` and
``TWIN_INFLUX_BUCKET`` win over the file, so a token never has to be written down.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.configschema import build, param
from twin.errors import ConfigError

ENV = {"url": "TWIN_INFLUX_URL", "token": "TWIN_INFLUX_TOKEN", "org": "TWIN_INFLUX_ORG",
       "bucket": "TWIN_INFLUX_BUCKET"}


@dataclass(frozen=True, slots=True)
class InfluxConfig:
    url: str = param(doc="server URL, e.g. http://localhost:8086")
    bucket: str = param(doc="bucket to write to")
    token: str = param("", doc="API token (prefer TWIN_INFLUX_TOKEN)")
    org: str = param("", doc="organisation name or id")
    batch_lines: int = param(5000, ge=1, le=1_000_000, doc="lines per write request")
    flush_s: float = param(1.0, gt=0.0, le=3600.0, doc="send a partial batch after this long")
    spool_dir: str = param("runs/influx-spool", doc="where batches wait while the server is away")
    timeout_s: float = param(5.0, gt=0.0, le=600.0, doc="HTTP timeout of one write request")
    retry_min_s: float = param(0.5, gt=0.0, le=600.0, doc="first wait before re-sending")
    retry_max_s: float = param(5.0, gt=0.0, le=3600.0, doc="longest wait between re-sends")
    max_queue: int = param(4096, ge=16, le=10_000_000,
                           doc="frames/records held in memory before the writer takes them")
    gzip: bool = param(False, doc="gzip request bodies (smaller, more CPU)")
    drain_s: float = param(30.0, ge=0.0, le=86400.0, doc="at the end of a batch run, keep "
                           "sending spooled batches this long while the server takes them")


def parse_influx(table: Any, file: str = "<string>",
                 env: Mapping[str, str] | None = None) -> InfluxConfig:
    """An ``[influx]`` table (``{}`` if absent) with the environment's overrides applied."""
    env = os.environ if env is None else env
    table = dict(table) if isinstance(table, dict) else table
    if isinstance(table, dict):
        for key, var in ENV.items():
            if env.get(var):
                table[key] = env[var]
        file_shown = file + " + environment" if any(env.get(v) for v in ENV.values()) else file
    else:
        file_shown = file
    cfg = build(InfluxConfig, table, file_shown, "influx")
    if not cfg.url.startswith(("http://", "https://")):
        raise ConfigError(file_shown, "influx.url", cfg.url, "an http:// or https:// URL")
    if not cfg.bucket:
        raise ConfigError(file_shown, "influx.bucket", cfg.bucket, "a bucket name")
    if cfg.retry_max_s < cfg.retry_min_s:
        raise ConfigError(file_shown, "influx.retry_max_s", cfg.retry_max_s,
                          f"a number >= retry_min_s ({cfg.retry_min_s:g})")
    return cfg


def load_influx(path: str | Path | None = None,
                env: Mapping[str, str] | None = None) -> InfluxConfig:
    """Settings from the ``[influx]`` table of a TOML file (optional) and the environment."""
    if path is None:
        return parse_influx({}, "<environment>", env)
    file = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(file, "", None, "an existing TOML file (not found)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", None, f"valid TOML ({exc})") from None
    return parse_influx(data.get("influx", {}), file, env)
