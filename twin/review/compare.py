"""Two runs side by side (an incident and its what-if branch): the differences that matter.

Per run: its length (start, end, duration, ticks), minimum battery state of charge, hottest
GPU, compute delivered (PFLOP/s integrated over time, in PFLOP·h, and its minimum), highest
load-shed level, GPUs failed or shut down, alarms raised, a scenario's expectation results
(pass/fail and measured value, side by side by name), faults and commands. Between them: the
first recorded instant (on common tick times) at which any channel differs, and the channels
that differ there (a progress bar over the common ticks on request).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from twin.store import RunReader

METRICS = (
    ("min_soc_pct", "power.battery.soc_pct", "min", "min battery SOC", "%"),
    ("max_gpu_temp_c", "compute.hottest_gpu_temp_c", "max", "max GPU temperature", "°C"),
    ("min_pflops", "compute.pflops", "min", "min compute", "PFLOP/s"),
    ("max_shed_level", "power.pcdu.shed_level", "max", "max shed level", ""),
    ("max_gpus_failed", "compute.gpus_failed", "max", "max GPUs failed/shut down", ""),
    ("min_bus_voltage_v", "power.bus.voltage_v", "min", "min bus voltage", "V"),
)


def run_metrics(run: RunReader) -> dict[str, Any]:
    span = run.time_range() or (float("nan"), float("nan"))
    out: dict[str, Any] = {"start_s": span[0], "end_s": span[1],
                           "duration_s": span[1] - span[0], "ticks": run.tick_count()}
    paths = {c.path for c in run.channels()}
    for key, path, stat, _, _ in METRICS:
        if path in paths:
            t, v = run.read_channel(path)
            out[key] = float(np.nanmin(v) if stat == "min" else np.nanmax(v))
            out[key + "_t_s"] = float(t[int(np.nanargmin(v) if stat == "min"
                                            else np.nanargmax(v))])
    if "compute.pflops" in paths:
        t, v = run.read_channel("compute.pflops")
        out["pflop_h"] = float(np.sum(v[:-1] * np.diff(t)) / 3600) if t.size > 1 else 0.0
    rank = {"ok": 0, "yellow": 1, "red": 2}
    out["alarms_raised"] = sum(rank.get(a.state.split("-")[0], 0)
                               > rank.get(a.previous.split("-")[0], 0) for a in run.alarms())
    res = run.meta.extra.get("scenario_result")
    out["expectations"] = {str(e.get("name")): (bool(e.get("passed")), str(e.get("measured")))
                           for e in (res.get("expectations", []) if isinstance(res, dict)
                                     else [])}
    out["faults"] = [e.message for e in run.events(kind="fault")]
    out["commands"] = [f"{c.t_s:g} s {c.name} {c.args} → {c.status}" for c in run.commands()]
    return out


def first_divergence(a: RunReader, b: RunReader, chunk: int = 4096, progress: bool = False
                     ) -> tuple[float | None, list[str]]:
    """The first common tick time where any channel differs, and those channels (≤ 10)."""
    from twin.simulate import ProgressBar

    pa = [c.path for c in a.channels()]
    common = [p for p in pa if p in {c.path for c in b.channels()}]
    ta = a.read_channel(pa[0])[0]
    tb = b.read_channel(common[0])[0]
    ts = np.intersect1d(ta, tb)
    with _bar(ProgressBar(ts.size, enabled=progress, what="common ticks")) as bar:
        return _diverge(a, b, common, ts, chunk, bar)


@contextmanager
def _bar(bar: Any) -> Iterator[Any]:
    try:
        yield bar
    finally:
        bar.close()


def _diverge(a: RunReader, b: RunReader, common: list[str], ts: np.ndarray, chunk: int,
             bar: Any) -> tuple[float | None, list[str]]:
    for i in range(0, ts.size, chunk):
        lo, hi = float(ts[i]), float(ts[min(i + chunk, ts.size) - 1])
        t1, f1 = a.read_channels(common, lo, hi)
        t2, f2 = b.read_channels(common, lo, hi)
        k1 = np.isin(t1, ts)
        k2 = np.isin(t2, ts)
        f1, f2, tt = f1[k1], f2[k2], t1[k1]
        diff = ~((f1 == f2) | (np.isnan(f1) & np.isnan(f2)))
        rows = np.flatnonzero(diff.any(axis=1))
        if rows.size:
            r = int(rows[0])
            return float(tt[r]), [common[j] for j in np.flatnonzero(diff[r])[:10]]
        bar.update(min(i + chunk, ts.size))
    return None, []


def compare_runs(a: RunReader, b: RunReader, progress: bool = False) -> dict[str, Any]:
    ma, mb = run_metrics(a), run_metrics(b)
    t, chans = first_divergence(a, b, progress=progress)
    return {"a": str(a.directory), "b": str(b.directory), "metrics_a": ma, "metrics_b": mb,
            "first_divergence_s": t, "diverging_channels": chans,
            "b_is_branch_of_a": b.meta.parent_id == a.meta.run_id,
            "fork_t_s": b.meta.fork_t_s}


LENGTHS = (("start_s", "start", "s"), ("end_s", "end", "s"), ("duration_s", "duration", "s"),
           ("ticks", "ticks recorded", ""))


def format_comparison(c: dict[str, Any]) -> str:
    ma, mb = c["metrics_a"], c["metrics_b"]
    rows = [("", "A", "B", "B − A")]
    for key, label, unit in LENGTHS:
        if key in ma and key in mb:
            u = f" {unit}" if unit else ""
            d = mb[key] - ma[key]
            rows.append((label, f"{ma[key]:g}{u}", f"{mb[key]:g}{u}",
                         "=" if d == 0 else f"{d:+g}"))
    for key, _, _, label, unit in (*METRICS, ("pflop_h", "", "", "compute delivered",
                                              "PFLOP·h"), ("alarms_raised", "", "",
                                                           "alarms raised or worse", "")):
        if key in ma and key in mb:
            u = f" {unit}" if unit else ""
            d = mb[key] - ma[key]
            rows.append((label, f"{ma[key]:.4g}{u}", f"{mb[key]:.4g}{u}",
                         "=" if d == 0 else f"{d:+.4g}"))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"A: {c['a']}", f"B: {c['b']}"]
    if c["b_is_branch_of_a"]:
        lines.append(f"B is a what-if branch of A forked at {c['fork_t_s']:g} s")
    lines += ["  ".join(x.ljust(w[i]) for i, x in enumerate(r)) for r in rows]
    lines += _expectations(ma.get("expectations") or {}, mb.get("expectations") or {})
    for side, m in (("A", ma), ("B", mb)):
        lines.append(f"faults {side}: {len(m['faults'])}" + "".join(
            f"\n  {f}" for f in m["faults"]))
    only_b = [x for x in mb["commands"] if x not in ma["commands"]]
    only_a = [x for x in ma["commands"] if x not in mb["commands"]]
    lines += [f"command only in A: {x}" for x in only_a]
    lines += [f"command only in B: {x}" for x in only_b]
    t = c["first_divergence_s"]
    if t is None:
        lines.append("no difference on common ticks")
    else:
        lines.append(f"first divergence at {t:g} s: {', '.join(c['diverging_channels'])}")
    return "\n".join(lines)


def _expectations(ea: dict[str, tuple[bool, str]], eb: dict[str, tuple[bool, str]]
                  ) -> list[str]:
    """A scenario's expectations, A's result beside B's, by name."""
    if not ea and not eb:
        return []

    def cell(e: tuple[bool, str] | None) -> str:
        return "—" if e is None else f"{'PASS' if e[0] else 'FAIL'} ({e[1]})"

    lines = ["expectations (A | B):"]
    for name in dict.fromkeys([*ea, *eb]):
        a, b = ea.get(name), eb.get(name)
        changed = " ← changed" if a is not None and b is not None and a[0] != b[0] else ""
        lines.append(f"  {name}: {cell(a)} | {cell(b)}{changed}")
    return lines
