"""A real VictoriaMetrics server for the InfluxDB sink's integration tests.

VictoriaMetrics (Debian package ``victoria-metrics``) takes InfluxDB v2 line protocol on
``/api/v2/write`` — what influxdb-client sends — and gives it back on ``/api/v1/export`` as JSON
lines. Differences from InfluxDB the tests allow for:

- timestamps are kept in milliseconds (the sink sends nanoseconds);
- the bucket and org are not stored (no ``db`` label), and each field becomes a series named
  ``<measurement>_<field>`` with the line's tags as labels;
- string fields are not kept as strings, so commands and events are checked on their numeric
  fields and tags; their string fields are checked on the line protocol in the unit tests;
- samples more than about two days in the future or older than ``-retentionPeriod`` are dropped,
  so the tests put the epoch an hour before now rather than the satellite's configured epoch;
- a line far over ``-influx.maxLineSize`` (256 KiB by default) makes it answer 400: our rejected
  batch (a line just over the limit that arrives in one read is accepted).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

BINARY = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VictoriaMetrics:
    """One victoria-metrics process on a fixed port and storage dir; stop and start again."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"vm-{self.port}.log"

    def start(self, timeout: float = 20.0) -> None:
        assert self.proc is None, "already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [BINARY, f"-httpListenAddr=127.0.0.1:{self.port}",
             f"-storageDataPath={self.data_dir}", "-retentionPeriod=100y",
             "-search.disableCache", "-search.latencyOffset=0s", "-loggerLevel=ERROR"],
            stdout=log, stderr=subprocess.STDOUT)
        self._log = log
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"victoria-metrics did not answer on {self.url} in {timeout} s")

    def stop(self) -> None:
        """Really stop the process (SIGTERM, then SIGKILL) and wait for it."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        self._log.close()

    def export(self, match: str = '{__name__=~".+"}') -> list[dict]:
        """Every stored sample of the matching series (flushed first, so it is readable now)."""
        with urllib.request.urlopen(self.url + "/internal/force_flush", timeout=10):
            pass
        query = urllib.parse.urlencode({"match[]": match, "start": "0",
                                        "end": str(int(time.time()) + 3 * 86400)})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line]

    def wait_for_samples(self, count: int, match: str = '{__name__=~".+"}',
                         timeout: float = 60.0) -> list[dict]:
        """Poll the export until ``count`` samples are there (or the timeout): no fixed sleeps."""
        deadline = time.monotonic() + timeout
        while True:
            series = self.export(match)
            got = sum(len(s["values"]) for s in series)
            if got >= count or time.monotonic() >= deadline:
                return series
            time.sleep(0.1)


def need_binary() -> None:
    if not Path(BINARY).exists():
        pytest.skip("VictoriaMetrics is not installed (Debian package victoria-metrics; "
                    "`make test` installs it): the InfluxDB sink's server tests need it")
