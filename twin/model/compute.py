"""GPU racks: utilisation, clocks, power, throttling and delivered compute.

Model (per GPU):
- Utilisation u = clip(u_profile(t) + x, 0, 1) with x an Ornstein–Uhlenbeck noise (exact
  discretisation, Gillespie 1996, Phys. Rev. E 54, 2084) so that the noise does not depend on dt.
- Board power P = P_idle + (P_TDP − P_idle)·u·(f/f_max)^k: dynamic CMOS power ∝ f·V² with V
  roughly ∝ f across the DVFS range, so k ≈ 2–3 (Rabaey, Digital Integrated Circuits, ch. 5).
- Thermal slowdown: above the slowdown temperature the clock falls linearly with temperature to
  f_min at the shutdown temperature, as GPU firmware's thermal controller does; at or above the
  shutdown temperature the GPU powers off and stays off (latched) until its rack is power-cycled.
- Rack power cap: the common clock ratio that keeps the rack (GPUs + overhead) at or below its cap.
- Delivered compute = peak·u·f/f_max for every GPU that runs.
"""

from __future__ import annotations

import math

import numpy as np

from twin.model.params import Params


def profile_utilisation(p: Params, t_s: float) -> float:
    if p.workload_profile == "diurnal":
        return p.util_mean + p.util_amplitude * math.sin(2.0 * math.pi * t_s / p.util_period_s)
    return p.util_mean


def noise_step(p: Params, x: np.ndarray, rng: np.random.Generator, dt_s: float) -> np.ndarray:
    """Exact OU update with stationary standard deviation ``util_noise``."""
    if p.util_noise == 0.0:
        return x
    a = math.exp(-dt_s / p.util_tau_s)
    return x * a + (p.util_noise * math.sqrt(1.0 - a * a)) * rng.standard_normal(x.shape[0])


def thermal_clock_frac(p: Params, die_k: np.ndarray) -> np.ndarray:
    """1 below the slowdown temperature, falling linearly to f_min/f_max at shutdown."""
    span = p.shutdown_k - p.slowdown_k
    frac = 1.0 - (die_k - p.slowdown_k) * ((1.0 - p.f_min_frac) / span)
    return np.clip(frac, p.f_min_frac, 1.0)


def dynamic_power_w(p: Params, util: np.ndarray, clock_frac: np.ndarray) -> np.ndarray:
    return (p.gpu_tdp_w - p.gpu_idle_w) * util * clock_frac**p.power_exp


def cap_clock_frac(p: Params, util: np.ndarray, runaway_w: np.ndarray, running: np.ndarray,
                   cap_w: np.ndarray) -> np.ndarray:
    """Per-rack clock ratio that holds each rack at or below its power cap (1 = uncapped).

    With every running GPU of a rack at the same ratio r: P_rack = overhead + Σ(P_idle + runaway)
    + r^k·Σ dyn(f_max) ≤ cap, so r = ((cap − fixed)/Σdyn)^(1/k), clipped to [f_min/f_max, 1].
    """
    shape = (p.n_racks, p.gpus_per_rack)
    run = running.reshape(shape)
    fixed = p.rack_overhead_w + (run * (p.gpu_idle_w + runaway_w.reshape(shape))).sum(axis=1)
    dyn = ((p.gpu_tdp_w - p.gpu_idle_w) * util.reshape(shape) * run).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(dyn > 0.0, (cap_w - fixed) / dyn, np.inf)
    r = np.clip(ratio, 0.0, None) ** (1.0 / p.power_exp)
    return np.clip(r, p.f_min_frac, 1.0)


def delivered_pflops(p: Params, util: np.ndarray, clock_frac: np.ndarray,
                     running: np.ndarray) -> float:
    return float(p.peak_tflops * 1e-3 * np.dot(util * clock_frac, running))
