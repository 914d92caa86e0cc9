"""Helpers for the InfluxDB sink tests: real plant frames and what the server should hold."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from twin.catalogue import Catalogue, build_catalogue
from twin.config import load_satellite
from twin.influx import InfluxConfig, parse_influx, split_path
from twin.model.plant import Plant


def recent_epoch() -> dt.datetime:
    """An hour ago, whole seconds: inside VictoriaMetrics' window (it drops far-future samples)."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)


class FrameSource:
    """The default satellite's plant, stepped one tick per frame."""

    def __init__(self, seed: int = 7) -> None:
        self.cfg = load_satellite().config
        self.catalogue: Catalogue = build_catalogue(self.cfg)
        self.plant = Plant(self.cfg, seed=seed)
        self.sent: list[tuple[float, np.ndarray]] = []

    def next(self) -> tuple[float, np.ndarray]:
        self.plant.step()
        frame = self.catalogue.sample(self.plant)
        self.sent.append((self.plant.t_s, frame))
        return self.plant.t_s, frame


def sink_config(url: str, spool: Path, **extra: Any) -> InfluxConfig:
    table = {"url": url, "bucket": "twin", "org": "lab", "token": "unused-by-vm",
             "spool_dir": str(spool), "flush_s": 0.2, "batch_lines": 2000,
             "retry_min_s": 0.2, "retry_max_s": 1.0, "timeout_s": 2.0}
    table.update(extra)
    return parse_influx(table, "<test>", env={})


def series_key(labels: dict[str, str]) -> tuple[str, str, str]:
    return labels["__name__"], labels.get("component", ""), labels.get("index", "")


def expected_series(catalogue: Catalogue, epoch: dt.datetime,
                    frames: list[tuple[float, np.ndarray]]) -> dict[tuple[str, str, str],
                                                                    tuple[list[int], np.ndarray]]:
    """(series name, component, index) → (millisecond timestamps, values), as documented."""
    epoch_ms = int(epoch.timestamp()) * 1000
    times = [epoch_ms + round(t * 1000) for t, _ in frames]
    values = np.array([f for _, f in frames])
    out = {}
    for ch in catalogue.channels:
        k = split_path(ch.path)
        out[(f"{k.measurement}_{k.field}", k.component, k.index)] = (times, values[:, ch.index])
    return out


def stored_series(export: list[dict]) -> dict[tuple[str, str, str], tuple[list[int], np.ndarray]]:
    out = {}
    for s in export:
        order = np.argsort(s["timestamps"], kind="stable")
        out[series_key(s["metric"])] = ([s["timestamps"][i] for i in order],
                                        np.array(s["values"], dtype=float)[order])
    return out


def assert_all_arrived(export: list[dict], catalogue: Catalogue, epoch: dt.datetime,
                       frames: list[tuple[float, np.ndarray]]) -> None:
    """Every channel of every frame is stored once, at its millisecond, with its value."""
    want = expected_series(catalogue, epoch, frames)
    got = stored_series(export)
    assert set(got) == set(want)
    for key, (times, values) in want.items():
        g_times, g_values = got[key]
        assert g_times == times, key
        # VictoriaMetrics keeps 12 significant decimal digits (decimal mantissa and exponent).
        np.testing.assert_allclose(g_values, values, rtol=1e-11, atol=1e-300, err_msg=str(key))
