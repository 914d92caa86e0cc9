"""``twin simulate``: the plant as fast as possible, every channel recorded, a summary printed.

A run directory is an embedded store (:mod:`twin.store`: every channel at every recorded
instant — the start, every ``--record-every`` and the end, also when the duration is not a
whole number of record intervals — lossless, with the config text, seed and step needed to
re-simulate it), plus ``summary.json`` and a copy of the satellite file. The plant runs inside
a :class:`~twin.runtime.Twin`, whose alarms are judged on every recorded frame as a live twin
judges them on every refresh; their transitions are recorded as events and in the store's
alarms table (:func:`twin.recording.judge_alarms`, :func:`~twin.recording.record_event`), and
the plant's energy books (J) go into ``meta.extra["energy_books"]``. With ``--influx FILE`` (or
the TWIN_INFLUX_* environment) every recorded frame and event also goes to InfluxDB
(:func:`twin.influx.sink_for`, tagged with the run's id), all of it sent or spooled before the
command returns. A scenario
(``twin simulate SCENARIO``) is run by :func:`twin.scenario.simulate_scenario_command`.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from twin.catalogue import Catalogue
from twin.errors import TwinError
from twin.model.outputs import books
from twin.model.plant import Plant
from twin.store import RunStore, run_meta


@dataclass(frozen=True, slots=True)
class Summary:
    duration_s: float
    step_s: float
    seed: int
    sunlit_fraction: float
    eclipses: int
    longest_eclipse_s: float
    min_soc_pct: float
    max_gpu_temp_c: float
    max_loop_supply_c: float
    mean_pflops: float
    min_pflops: float
    max_shed_level: int
    electrical_residual_pct: float
    heat_residual_pct: float
    wall_s: float
    realtime_factor: float


def run(plant: Plant, catalogue: Catalogue, duration_s: float, step_s: float,
        record_every_s: float, sink: Callable[[float, np.ndarray], object],
        progress: bool = False) -> float:
    """Step ``plant`` for ``duration_s``, handing ``sink(t_s, frame)`` the start frame, one
    every ``record_every_s`` and the last one (also after a last, shorter interval); returns
    the wall seconds spent."""
    n_steps = round(duration_s / step_s)
    every = max(1, round(record_every_s / step_s))
    sink(plant.t_s, catalogue.sample(plant))
    bar = ProgressBar(n_steps, enabled=progress)
    t0 = time.perf_counter()
    done = 0
    while done < n_steps:
        chunk = min(every, n_steps - done)
        plant.run(chunk, step_s)
        done += chunk
        sink(plant.t_s, catalogue.sample(plant))
        bar.update(done, plant.t_s)
    wall = time.perf_counter() - t0
    bar.close()
    return wall


def run_in_memory(plant: Plant, catalogue: Catalogue, duration_s: float, step_s: float,
                  record_every_s: float) -> tuple[np.ndarray, float]:
    """:func:`run` into an array of frames (tests and small runs)."""
    rows: list[np.ndarray] = []
    wall = run(plant, catalogue, duration_s, step_s, record_every_s,
               lambda _t, frame: rows.append(frame))
    return np.array(rows), wall


def summarise(plant: Plant, catalogue: Catalogue, frames: np.ndarray, wall: float,
              step_s: float) -> Summary:
    col = {c.path: c.index for c in catalogue.channels}
    t = frames[:, col["sim.time_s"]]
    sunlit = frames[:, col["orbit.sunlit"]] > 0.5
    dt = np.diff(t)
    entries = np.flatnonzero(sunlit[:-1] & ~sunlit[1:])
    exits = np.flatnonzero(~sunlit[:-1] & sunlit[1:])
    longest = 0.0
    for e in entries:
        later = exits[exits > e]
        if later.size:
            longest = max(longest, float(t[later[0] + 1] - t[e + 1]))
    soc = [c.index for c in catalogue.select(["power.battery.*.soc_pct"])
           if c.path.count(".") == 3]
    gpu = frames[:, col["compute.hottest_gpu_temp_c"]]
    supply = [c.index for c in catalogue.select(["thermal.loop.*.supply_temp_c"])]
    pf = frames[:, col["compute.pflops"]]
    b = books(plant.params, plant.state)
    duration = float(t[-1] - t[0])
    return Summary(
        duration_s=duration, step_s=step_s, seed=plant.seed,
        sunlit_fraction=float(np.sum(dt * sunlit[:-1]) / duration) if duration else 1.0,
        eclipses=int(entries.size), longest_eclipse_s=longest,
        min_soc_pct=float(frames[:, soc].min()), max_gpu_temp_c=float(gpu.max()),
        max_loop_supply_c=float(frames[:, supply].max()),
        mean_pflops=float(pf[1:].mean()) if pf.size > 1 else float(pf[0]),
        min_pflops=float(pf[1:].min()) if pf.size > 1 else float(pf[0]),
        max_shed_level=int(frames[:, col["power.pcdu.shed_level"]].max()),
        electrical_residual_pct=b["e_residual_pct"], heat_residual_pct=b["q_residual_pct"],
        wall_s=wall, realtime_factor=duration / wall if wall > 0 else math.inf,
    )


def format_summary(s: Summary) -> str:
    rows = [
        ("simulated", f"{s.duration_s / 3600:.2f} h at {s.step_s:g} s steps, seed {s.seed}"),
        ("wall time", f"{s.wall_s:.2f} s ({s.realtime_factor:,.0f}× real time)"),
        ("sunlit fraction", f"{s.sunlit_fraction:.1%}"),
        ("eclipses", f"{s.eclipses} (longest {s.longest_eclipse_s / 60:.1f} min)"),
        ("min battery SOC", f"{s.min_soc_pct:.1f} %"),
        ("max GPU temperature", f"{s.max_gpu_temp_c:.1f} °C"),
        ("max loop supply", f"{s.max_loop_supply_c:.1f} °C"),
        ("delivered compute", f"mean {s.mean_pflops:.1f} PFLOP/s, min {s.min_pflops:.1f}"),
        ("max load-shed level", f"{s.max_shed_level}"),
        ("energy books", f"electrical residual {s.electrical_residual_pct:+.4f} %, "
         f"heat residual {s.heat_residual_pct:+.2e} %"),
    ]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(w)}  {v}" for k, v in rows)


class ProgressBar:
    """A one-line progress bar on stderr (only when it is a terminal): the simulated time
    reached and its pace, or, with ``what`` (e.g. "panels"), the count done of ``total``."""

    def __init__(self, total: int, enabled: bool, what: str = "") -> None:
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.what = what
        self.t0 = time.perf_counter()
        self.last = 0.0

    def update(self, done: int, sim_s: float = 0.0) -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self.last < 0.1 and done < self.total):
            return
        self.last = now
        frac = done / self.total if self.total else 1.0
        bar = "#" * int(frac * 30)
        if self.what:
            tail = f"{done:,} of {self.total:,} {self.what}"
        else:
            rate = sim_s / max(now - self.t0, 1e-9)
            tail = f"t = {sim_s / 3600:7.2f} h  {rate:,.0f}×"
        sys.stderr.write(f"\r[{bar:<30}] {frac:6.1%}  {tail}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def simulate_command(args: argparse.Namespace) -> int:
    from twin.cli import load_config

    if args.scenario:
        from twin.scenario import simulate_scenario_command

        return simulate_scenario_command(args)
    cfg = load_config(args.config)
    step = args.step if args.step is not None else cfg.simulation.step_s
    if not 0.01 <= step <= 60.0:
        raise TwinError(f"--step {step:g} s: expected 0.01 s to 60 s (stable from 0.1 s to 10 s)")
    if args.duration <= 0:
        raise TwinError(f"--duration {args.duration:g} s: expected a positive duration")
    from twin.recording import judge_alarms, record_event, record_past_events
    from twin.runtime import Twin

    twin = Twin(cfg, seed=args.seed)
    plant, catalogue = twin.plant, twin.catalogue
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else Path("runs") / f"{stamp}-{cfg.satellite.name}"
    meta = run_meta(cfg, plant.seed, step, args.record_every, duration_s=args.duration)
    from twin.influx import close_run_sink, sink_for

    with RunStore.create(out, catalogue, meta) as store:
        influx = sink_for(cfg, catalogue, args.influx, run=store.meta)

        record_past_events(store, twin)
        twin.on_event(lambda ev: record_event(store, ev))
        if influx is not None:
            influx.attach(twin, frames=False)  # the alarm events

        def record(t_s: float, frame: np.ndarray) -> None:
            store.append(t_s, frame)
            if influx is not None:
                influx.write_frame(t_s, frame)
            judge_alarms(twin, frame)

        try:
            wall = run(plant, catalogue, args.duration, step, args.record_every, record,
                       progress=not args.quiet)
        finally:
            influx_text = close_run_sink(influx)
        _, frames = store.read_frames()
        summary = summarise(plant, catalogue, frames, wall, step)
        store.set_extra("summary", asdict(summary))
        store.set_extra("energy_books", books(plant.params, plant.state))
    (out / "summary.json").write_text(json.dumps(asdict(summary), indent=1))
    shutil.copyfile(cfg.source, out / "satellite.toml")
    print(format_summary(summary))
    print(f"recorded {frames.shape[0]} × {frames.shape[1]} values to {out}")
    if influx_text:
        print(influx_text)
    return 0
