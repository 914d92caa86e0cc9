"""Satellite configs shared by the model tests (cached: loading and validating costs ~50 ms)."""

from __future__ import annotations

import dataclasses
from functools import cache

from twin.config import SatelliteConfig, load_satellite


@cache
def default_config() -> SatelliteConfig:
    return load_satellite().config


@cache
def quiet_config() -> SatelliteConfig:
    """The default satellite without per-GPU utilisation noise: every GPU at exactly 85 %."""
    cfg = default_config()
    workload = dataclasses.replace(cfg.compute.workload, noise=0.0)
    return dataclasses.replace(cfg, compute=dataclasses.replace(cfg.compute, workload=workload))
