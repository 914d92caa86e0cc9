"""What a recorded run says: summary, extremes per subsystem, limit violations, records.

Everything is computed from the store (frames read in chunks of ticks, so a day at 1 s fits in
memory a chunk at a time). Limits are the catalogue's yellow/red limits stored with the run;
a violation lasts from the first tick outside the limits to the first tick back inside
(sample-and-hold: the value holds until the next tick), or to the end of the run ("ongoing");
its worst value is the one furthest beyond the innermost limit on its side (yellow where the
channel has one, else red), so one-sided and red-only limits have a true worst too. The energy
books' totals: :mod:`twin.review.energy`. Alarm transitions are the run's alarms table (what
the twin judged while recording, live or batch), not re-judged here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from twin.review.energy import Integrator, energy_books, format_energy
from twin.store import RunReader

CHUNK_TICKS = 4096
LEVEL = {0: "ok", 1: "yellow", 2: "red"}


@dataclass(frozen=True, slots=True)
class Violation:
    channel: str
    level: str  # worst level reached in the interval: "yellow" or "red"
    start_s: float
    end_s: float
    duration_s: float
    worst: float  # the value furthest beyond the limits (past the innermost limit on its side)
    ongoing: bool  # still outside at the end of the run


def iter_frames(run: RunReader, t0: float | None = None, t1: float | None = None,
                chunk: int = CHUNK_TICKS, progress: bool = False
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(times, frames) in chunks of at most ``chunk`` ticks."""
    from twin.simulate import ProgressBar

    times = run.read_channel(run.channels()[0].path, t0, t1)[0]
    bar = ProgressBar(times.size, enabled=progress)
    for i in range(0, times.size, chunk):
        tt = times[i:i + chunk]
        t, f = run.read_frames(float(tt[0]), float(tt[-1]))
        bar.update(min(i + chunk, times.size), float(tt[-1]))
        yield t, f
    bar.close()


def _levels(run: RunReader) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    chans = run.channels()
    big = math.inf
    arr = np.array([[c.yellow[0] if c.yellow[0] is not None else -big,
                     c.yellow[1] if c.yellow[1] is not None else big,
                     c.red[0] if c.red[0] is not None else -big,
                     c.red[1] if c.red[1] is not None else big] for c in chans], dtype=float)
    limited = np.flatnonzero(np.isfinite(arr).any(axis=1))
    a = arr[limited]
    return limited, a[:, 0], a[:, 1], a[:, 2], a[:, 3]


def limit_violations(run: RunReader, t0: float | None = None, t1: float | None = None,
                     progress: bool = False) -> list[Violation]:
    """Every interval a channel spent outside its yellow (or red) limits, in start order."""
    idx, ylo, yhi, rlo, rhi = _levels(run)
    chans = run.channels()
    start = np.full(idx.size, np.nan)
    worst_lvl = np.zeros(idx.size, dtype=int)
    worst_val = np.full(idx.size, np.nan)
    out: list[Violation] = []
    # "worst": the value furthest beyond the innermost limit on its side (yellow if the
    # channel has one there, else red), so one-sided and red-only limits are measured too
    lo = np.where(np.isfinite(ylo), ylo, rlo)
    hi = np.where(np.isfinite(yhi), yhi, rhi)

    def beyond(v: np.ndarray) -> np.ndarray:
        return np.maximum(lo - v, v - hi)

    last_t = math.nan
    for times, frames in iter_frames(run, t0, t1, progress=progress):
        x = frames[:, idx]
        lvl = np.where((x < rlo) | (x > rhi), 2, np.where((x < ylo) | (x > yhi), 1, 0))
        for r in range(times.size):
            t, row, lv = float(times[r]), x[r], lvl[r]
            bad = lv > 0
            opening = bad & np.isnan(start)
            start[opening] = t
            worst_val[opening] = row[opening]
            inside = bad & ~opening
            with np.errstate(invalid="ignore"):
                further = inside & (beyond(row) > beyond(worst_val))
            worst_val[further] = row[further]
            worst_lvl[bad] = np.maximum(worst_lvl[bad], lv[bad])
            closing = ~bad & ~np.isnan(start)
            for j in np.flatnonzero(closing):
                out.append(Violation(chans[idx[j]].path, LEVEL[int(worst_lvl[j])],
                                     float(start[j]), t, t - float(start[j]),
                                     float(worst_val[j]), False))
            start[closing] = np.nan
            worst_lvl[closing] = 0
        last_t = float(times[-1])
    for j in np.flatnonzero(~np.isnan(start)):
        out.append(Violation(chans[idx[j]].path, LEVEL[int(worst_lvl[j])], float(start[j]),
                             last_t, last_t - float(start[j]), float(worst_val[j]), True))
    out.sort(key=lambda v: (v.start_s, v.channel))
    return out


def _group(path: str) -> str:
    return re.sub(r"\.\d+(?=\.)", ".N", path)


def summarise_run(run: RunReader, progress: bool = False) -> dict[str, Any]:
    """The run's summary as plain data (JSON-ready)."""
    chans = run.channels()
    col = {c.path: c.index for c in chans}
    span = run.time_range() or (math.nan, math.nan)
    groups: dict[str, list[int]] = {}
    for c in chans:
        if c.dtype == "float":
            groups.setdefault(_group(c.path), []).append(c.index)
    gmin = {g: (math.inf, "", math.nan) for g in groups}
    gmax = {g: (-math.inf, "", math.nan) for g in groups}
    sun_t: list[np.ndarray] = []
    sun_v: list[np.ndarray] = []
    books: dict[str, list[float]] = {}
    integ = Integrator(chans)
    n = 0
    for times, frames in iter_frames(run, progress=progress):
        n += times.size
        integ.add(times, frames)
        for g, cols in groups.items():
            sub = frames[:, cols]
            if not np.isfinite(sub).any():
                continue
            i, j = np.unravel_index(np.nanargmin(sub), sub.shape)
            if sub[i, j] < gmin[g][0]:
                gmin[g] = (float(sub[i, j]), chans[cols[j]].path, float(times[i]))
            i, j = np.unravel_index(np.nanargmax(sub), sub.shape)
            if sub[i, j] > gmax[g][0]:
                gmax[g] = (float(sub[i, j]), chans[cols[j]].path, float(times[i]))
        if "orbit.sunlit" in col:
            sun_t.append(times)
            sun_v.append(frames[:, col["orbit.sunlit"]] > 0.5)
        for name in ("power.balance.residual_pct", "thermal.balance.residual_pct"):
            if name in col:
                books.setdefault(name, []).extend(frames[:, col[name]].tolist())
    duration = float(span[1] - span[0])
    out: dict[str, Any] = {"run": str(run.directory), "satellite": run.meta.satellite,
                           "origin": run.meta.origin, "seed": run.meta.seed,
                           "run_id": run.meta.run_id,
                           "start_s": span[0], "end_s": span[1], "duration_s": duration,
                           "ticks": n, "parent": run.meta.parent_path,
                           "fork_t_s": run.meta.fork_t_s}
    if sun_t:
        t = np.concatenate(sun_t)
        s = np.concatenate(sun_v)
        dt = np.diff(t)
        out["sunlit_fraction"] = float(np.sum(dt * s[:-1]) / duration) if duration else 1.0
        out["eclipses"] = int(np.sum(s[:-1] & ~s[1:]))
    out["energy_books"] = {
        k: {"final": v[-1], "max_abs": float(np.nanmax(np.abs(v)))} for k, v in books.items()}
    out["energy"] = energy_books(run.meta.extra, integ.totals())
    out["extremes"] = {g: {"min": gmin[g][0], "min_channel": gmin[g][1], "min_t_s": gmin[g][2],
                           "max": gmax[g][0], "max_channel": gmax[g][1], "max_t_s": gmax[g][2]}
                       for g in groups if math.isfinite(gmin[g][0])}
    out["faults"] = [{"t_s": e.t_s, "message": e.message} for e in run.events(kind="fault")]
    out["commands"] = [{"t_s": c.t_s, "user": c.user, "name": c.name, "args": c.args,
                        "status": c.status} for c in run.commands()]
    out["alarms"] = [{"t_s": a.t_s, "source": a.source, "state": a.state,
                      "previous": a.previous, "value": a.value} for a in run.alarms()]
    res = run.meta.extra.get("scenario_result")
    if isinstance(res, dict):
        out["expectations"] = [{"name": e.get("name"), "passed": e.get("passed"),
                                "measured": e.get("measured")}
                               for e in res.get("expectations", [])]
    return out


KEY_GROUPS = {
    "orbit": [],
    "power": ["power.battery.N.soc_pct", "power.battery.soc_pct", "power.bus.voltage_v",
              "power.bus.load_w", "power.battery.N.temp_c", "power.array.power_w"],
    "thermal": ["thermal.loop.N.supply_temp_c", "thermal.loop.N.return_temp_c",
                "thermal.loop.N.inventory_kg", "thermal.radiator.N.temp_c",
                "thermal.avionics.temp_c"],
    "compute": ["compute.hottest_gpu_temp_c", "compute.pflops", "compute.power_w"],
}


def format_summary(s: dict[str, Any], violations: list[Violation] | None = None,
                   full: bool = False) -> str:
    lines = [f"run {s['run']} ({s['satellite']}, {s['origin']}, seed {s['seed']}"
             + (f", id {s['run_id']}" if s.get("run_id") else "") + ")"]
    if s.get("parent"):
        lines.append(f"  branch of {s['parent']} at {s['fork_t_s']:g} s")
    lines.append(f"  duration {s['duration_s'] / 3600:.2f} h ({s['ticks']} ticks, "
                 f"{s['start_s']:g} s to {s['end_s']:g} s)")
    if "sunlit_fraction" in s:
        lines.append(f"  sunlit {s['sunlit_fraction']:.1%}, {s['eclipses']} eclipse entries")
    if s.get("energy") or s["energy_books"]:
        lines.append("  energy books:")
    lines += format_energy(s.get("energy") or {})
    for k, v in s["energy_books"].items():
        lines.append(f"    residual {k}: final {v['final']:+.4f} %, max |.| "
                     f"{v['max_abs']:.4f} %")
    lines.append("extremes (min / max, where and when):")
    for sub, keys in KEY_GROUPS.items():
        shown = [g for g in s["extremes"] if (full and g.startswith(sub + ".")) or g in keys]
        for g in shown:
            e = s["extremes"][g]
            lines.append(f"  {g:<34} {e['min']:>10.3g} ({e['min_channel']} @ "
                         f"{e['min_t_s']:g} s)  {e['max']:>10.3g} ({e['max_channel']} @ "
                         f"{e['max_t_s']:g} s)")
    lines.append(f"faults: {len(s['faults'])}")
    lines += [f"  {f['t_s']:>9g} s  {f['message']}" for f in s["faults"]]
    lines.append(f"commands: {len(s['commands'])}")
    lines += [f"  {c['t_s']:>9g} s  {c['user']}: {c['name']} {c['args']} → {c['status']}"
              for c in s["commands"]]
    lines.append(f"alarm transitions: {len(s['alarms'])}")
    lines += [f"  {a['t_s']:>9g} s  {a['source']} {a['previous']} → {a['state']}"
              for a in s["alarms"][:50]]
    if len(s["alarms"]) > 50:
        lines.append(f"  ... {len(s['alarms']) - 50} more (--json for all)")
    if violations is not None:
        lines.append(f"limit violations: {len(violations)}")
        lines += [f"  {v.start_s:>9g} s  {v.channel} {v.level} for {v.duration_s:g} s "
                  f"(worst {v.worst:.4g}{', ongoing' if v.ongoing else ''})"
                  for v in violations[:200]]
        if len(violations) > 200:
            lines.append(f"  ... {len(violations) - 200} more (--json for all)")
    if "expectations" in s:
        lines.append("scenario expectations:")
        lines += [f"  {'PASS' if e['passed'] else 'FAIL'}  {e['name']}: {e['measured']}"
                  for e in s["expectations"]]
    return "\n".join(lines)


def violations_as_dicts(vs: list[Violation]) -> list[dict[str, Any]]:
    return [asdict(v) for v in vs]
