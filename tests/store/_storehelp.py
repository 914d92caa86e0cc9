"""Helpers for the store tests: a small catalogue and frames with awkward values."""

from __future__ import annotations

import math

import numpy as np

from twin.catalogue import Channel


def small_channels() -> list[Channel]:
    """Eight channels covering every data type, in frame order."""
    specs = [
        ("sim.time_s", "s", "float", ()),
        ("orbit.sunlit", "", "bool", ()),
        ("power.battery.1.heater_mode", "", "enum", ("auto", "off", "on")),
        ("power.pcdu.shed_level", "", "int", ()),
        ("power.battery.1.soc_pct", "%", "float", ()),
        ("thermal.radiator.1.temp_c", "°C", "float", ()),
        ("compute.rack.1.gpu.1.util_pct", "%", "float", ()),
        ("power.bus.voltage_v", "V", "float", ()),
    ]
    return [Channel(path, unit, dtype, 0.0, 100.0, f"test channel {i}", (None, 90.0),
                    (None, 95.0), False, "model", enum, i)
            for i, (path, unit, dtype, enum) in enumerate(specs)]


def awkward_frames(times: np.ndarray) -> np.ndarray:
    """Frames for :func:`small_channels`: smooth, noisy, stepped and special values.

    Each row is a function of its time alone, so any subset of ticks can be checked.
    """
    t = np.asarray(times, dtype=float).reshape(-1)
    noise = np.modf(np.abs(np.sin(t * 12.9898 + 1.0) * 43758.5453))[0]  # a function of t alone
    f = np.empty((t.size, 8))
    f[:, 0] = t
    f[:, 1] = (np.sin(t / 300.0) > 0).astype(float)
    f[:, 2] = np.floor(t / 500.0) % 3
    f[:, 3] = np.floor(t / 2000.0) % 4
    f[:, 4] = 80.0 + 10.0 * np.sin(t / 1000.0)
    f[:, 5] = -20.0 + 30.0 * np.cos(t / 700.0)
    f[:, 6] = 50.0 + 40.0 * noise
    f[:, 7] = 120.0 + 1e-3 * (noise - 0.5)
    # special values, bit for bit: NaN (with a payload), ±inf, -0.0, a subnormal
    k = np.round(t * 2).astype(np.int64)  # tick number at 0.5 s
    f[k % 17 == 0, 5] = math.nan
    f[k % 29 == 3, 5] = math.inf
    f[k % 31 == 5, 5] = -math.inf
    f[k % 37 == 7, 4] = -0.0
    f[k % 41 == 11, 4] = 5e-324
    f.view(np.uint64)[k % 43 == 13, 7] = np.uint64(0x7FF8_0000_DEAD_BEEF)
    return f


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))
