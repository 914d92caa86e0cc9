"""InfluxDB sink: line-protocol build rate and sustained end-to-end write rate, on plant frames.

Steps the default satellite (903 channels) for ``--frames-built`` ticks and prints:

- line-protocol build rate of :class:`twin.influx.LineSchema` (points = channel values, i.e.
  field values; lines = measurement+tag sets per tick), and the same lines built with
  influxdb-client's ``Point`` objects in the same run, with the ratio;
- the cost of ``InfluxSink.write_frame`` on the twin's side (median and 99th percentile);
- the sustained end-to-end rate: ``--frames`` frames through an :class:`InfluxSink` into a local
  VictoriaMetrics (started here on a free port with a temporary storage dir, or ``--url``),
  from the first ``write_frame`` until the server has taken the last batch; the server's own
  ``vm_rows_inserted_total{type="influx"}`` confirms the count. Goal: 300k points/s.

    .venv/bin/python bench/influx_bench.py [--frames 3000] [--batch-lines 5000] [--url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from influxdb_client import Point, WritePrecision

from twin.catalogue import build_catalogue
from twin.config import load_satellite
from twin.influx import InfluxSink, LineSchema, parse_influx, split_path
from twin.model.plant import Plant

GOAL = 300_000.0  # points/s sustained


def plant_frames(n: int) -> tuple[object, list[tuple[float, np.ndarray]]]:
    cfg = load_satellite().config
    cat = build_catalogue(cfg)
    plant = Plant(cfg, seed=1)
    frames = []
    for _ in range(n):
        plant.step()
        frames.append((plant.t_s, cat.sample(plant)))
    return cat, frames


def point_lines(cat: object, schema: LineSchema, t_s: float, frame: np.ndarray) -> str:
    """The same lines as LineSchema.frame_lines, built with influxdb-client Point objects."""
    groups: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    for ch in cat.channels:  # type: ignore[attr-defined]
        k = split_path(ch.path)
        groups.setdefault((k.measurement, k.component, k.index), []).append(
            (k.field, float(frame[ch.index])))
    ts = schema.timestamp_ns(t_s)
    out = []
    for (meas, comp, idx), fields in groups.items():
        p = Point(meas).tag("satellite", schema.satellite)
        if comp:
            p = p.tag("component", comp)
        if idx:
            p = p.tag("index", idx)
        p = p.tag("source", "model")
        for name, value in fields:
            p = p.field(name, value)
        out.append(p.time(ts, WritePrecision.NS).to_line_protocol())
    return "\n".join(out)


def normalise(text: str) -> list[tuple[str, list[tuple[str, float]], str]]:
    out = []
    for line in text.split("\n"):
        head, fields, ts = line.split(" ")
        meas, *tags = head.split(",")
        pairs = sorted((k, float(v)) for k, v in (f.split("=") for f in fields.split(",")))
        out.append((",".join([meas, *sorted(tags)]), pairs, ts))
    return out


def rate(fn, items: list, per_item: int, min_s: float = 1.0) -> float:
    """Items × per_item per second, repeating the list until min_s has passed."""
    n, start = 0, time.perf_counter()
    while True:
        for item in items:
            fn(*item)
        n += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= min_s:
            return n * per_item / elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_vm(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
    port = free_port()
    proc = subprocess.Popen([binary, f"-httpListenAddr=127.0.0.1:{port}",
                             f"-storageDataPath={data}", "-retentionPeriod=100y",
                             "-loggerLevel=ERROR"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"victoria-metrics did not start on {url}")


def vm_influx_rows(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith('vm_rows_inserted_total{type="influx"}'):
                    return int(float(line.split()[-1]))
    except OSError:
        return None
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=3000, help="frames sent end to end")
    ap.add_argument("--frames-built", type=int, default=200, help="distinct plant frames")
    ap.add_argument("--batch-lines", type=int, default=5000)
    ap.add_argument("--url", help="an InfluxDB v2 write endpoint instead of a local VM")
    ap.add_argument("--bucket", default="twin")
    args = ap.parse_args()

    cat, frames = plant_frames(args.frames_built)
    n_ch = len(cat)  # type: ignore[arg-type]
    epoch = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(microsecond=0)
    schema = LineSchema(cat, "OTS-1", epoch)  # type: ignore[arg-type]
    # Point sorts tags and fields and prints 1.0 as 1; compare what the lines mean.
    same = normalise(point_lines(cat, schema, *frames[0])) == normalise(
        schema.frame_lines(*frames[0]).text)
    ours = rate(schema.frame_lines, frames, n_ch)
    base = rate(lambda t, f: point_lines(cat, schema, t, f), frames[:20], n_ch)
    print(f"satellite: {n_ch} channels in {schema.n_lines} lines per tick")
    print(f"line protocol, LineSchema      : {ours / 1e6:6.2f} M points/s "
          f"({ours / n_ch * schema.n_lines / 1e6:.2f} M lines/s)")
    print(f"line protocol, influxdb Point  : {base / 1e3:6.1f} k points/s")
    print(f"ratio                          : {ours / base:6.1f}x (same lines: {same})")

    tmp = Path(tempfile.mkdtemp(prefix="influx-bench-"))
    proc = None
    try:
        url = args.url
        if url is None:
            proc, url = start_vm(tmp / "vm")
        cfg = parse_influx({"url": url, "bucket": args.bucket, "spool_dir": str(tmp / "spool"),
                            "batch_lines": args.batch_lines, "flush_s": 0.5,
                            "max_queue": 100_000})
        rows0 = vm_influx_rows(url) if proc else None
        sink = InfluxSink(cfg, cat, "OTS-1", epoch)  # type: ignore[arg-type]
        calls = []
        start = time.perf_counter()
        for k in range(args.frames):
            f = frames[k % len(frames)][1]
            t0 = time.perf_counter()
            sink.write_frame(float(k), f)
            calls.append(time.perf_counter() - t0)
            while sink.stats().queued > 2000:  # the bench outruns any twin; keep memory sane
                time.sleep(0.001)
        ok = sink.wait_sent(600)
        elapsed = time.perf_counter() - start
        stats = sink.stats()
        sink.close()
        points = args.frames * n_ch
        e2e = stats.points_sent / elapsed
        print(f"write_frame on the twin's side : median {statistics.median(calls) * 1e6:.1f} us, "
              f"p99 {np.percentile(calls, 99) * 1e6:.1f} us")
        print(f"end to end ({'VictoriaMetrics' if proc else url}, batches of "
              f"{args.batch_lines} lines): {e2e / 1e3:.0f} k points/s "
              f"({stats.lines_sent / elapsed / 1e3:.0f} k lines/s) over {elapsed:.1f} s, "
              f"goal {GOAL / 1e3:.0f} k: {e2e / GOAL:.2f}x goal")
        print(f"sent {stats.points_sent}/{points} points, all sent: {ok}, spooled batches "
              f"{stats.spooled_batches}, dropped {stats.dropped}")
        if proc:
            rows = vm_influx_rows(url)
            if rows is not None and rows0 is not None:
                print(f"server counted {rows - rows0} rows (vm_rows_inserted_total, type=influx)")
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
