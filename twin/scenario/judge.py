"""Judging a scenario's expectations on what a run saw (pure: no twin, no I/O).

Channel expectations are judged over the checked frames whose time (from the run's start) lies
in ``[from_s, to_s]``; fault expectations over the plant's fault list (start and end times, not
sampled); trigger expectations over the trigger's fire times. The rules are in
``docs/scenarios.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from twin.catalogue import Catalogue
from twin.scenario.result import ExpectationResult
from twin.scenario.spec import Expectation, compare

EPS = 1e-9


def judge(e: Expectation, cat: Catalogue, times: Sequence[float], samples: np.ndarray,
          columns: Sequence[int], fired: Mapping[str, list[float]], faults: Iterable[Any],
          t_start_s: float = 0.0) -> ExpectationResult:
    """One expectation. ``samples``: the checked frames' ``columns`` (catalogue indexes), one
    row per time in ``times``; ``faults``: the plant's faults (:class:`twin.model.faults`)."""
    if e.kind == "channel":
        return channel(e, cat, np.asarray(times, dtype=float), samples, list(columns))
    if e.kind == "fault":
        return fault(e, faults, t_start_s)
    hits = [t for t in fired.get(e.trigger, []) if e.from_s - EPS <= t <= e.to_s + EPS]
    ok = bool(hits) == e.present
    text = f"fired at {', '.join(f'{t:g} s' for t in hits)}" if hits else "did not fire"
    return ExpectationResult(e.name, e.rule(), ok, text, {"fired_s": hits}, e.note)


def channel(e: Expectation, cat: Catalogue, t: np.ndarray, samples: np.ndarray,
            columns: list[int]) -> ExpectationResult:
    sel = (t >= e.from_s - EPS) & (t <= e.to_s + EPS)
    unit = cat[e.channel].unit
    u = f" {unit}" if unit else ""
    if not sel.any():
        return ExpectationResult(e.name, e.rule(), False, "no checked frame in the window",
                                 {}, e.note)
    x = samples[sel, columns.index(cat[e.channel].index)]
    tw = t[sel]
    frames = int(sel.sum())
    if e.stat == "reaches":
        hits = np.flatnonzero([compare(float(v), e.op, e.value) for v in x])
        best = int(np.argmax(x) if e.op in (">", ">=") else np.argmin(x))
        if hits.size:
            i = int(hits[0])
            return ExpectationResult(
                e.name, e.rule(), True, f"reached {x[i]:g}{u} at {tw[i]:g} s",
                {"value": float(x[i]), "t_s": float(tw[i]), "frames": frames}, e.note)
        return ExpectationResult(
            e.name, e.rule(), False, f"never reached; closest {x[best]:g}{u} at {tw[best]:g} s",
            {"value": float(x[best]), "t_s": float(tw[best]), "frames": frames}, e.note)
    if e.stat == "mean":
        v, at = float(np.mean(x)), None
    else:
        i = {"max": np.argmax, "min": np.argmin}.get(e.stat, lambda a: a.size - 1)(x)
        v, at = float(x[i]), float(tw[i])
    ok = compare(v, e.op, e.value)
    where = f" at {at:g} s" if at is not None else ""
    text = f"{e.stat} {v:g}{u}{where} over {frames} frames"
    return ExpectationResult(e.name, e.rule(), ok, text,
                             {"value": v, "t_s": at, "frames": frames}, e.note)


def fault(e: Expectation, faults: Iterable[Any], t_start_s: float) -> ExpectationResult:
    t0_us = round(t_start_s * 1e6)
    lo_us, hi_us = t0_us + round(e.from_s * 1e6), t0_us + round(e.to_s * 1e6)
    found = []
    for f in faults:
        if f.kind != e.fault or (e.target and f.target != e.target):
            continue
        if f.state == "pending":
            continue  # never became active
        end = f.end_us if f.end_us is not None else math.inf
        if f.start_us <= hi_us and end >= lo_us:
            found.append(f.describe())
    ok = bool(found) == e.present
    if found:
        text = "; ".join(f"fault {d['id']} {d['kind']} on {d['target']} active from "
                         f"{d['start_s']:g} s to "
                         f"{'end' if d['end_s'] is None else format(d['end_s'], 'g') + ' s'}"
                         for d in found)
    else:
        text = "no such fault active in the window"
    return ExpectationResult(e.name, e.rule(), ok, text, {"faults": found}, e.note)
