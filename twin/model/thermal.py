"""Lumped thermal network: GPU dies → cold plates → coolant loops → radiator panels → space,
and battery strings → avionics plate → its radiator → space.

Integration: one backward-Euler (implicit) step of the whole linear(ised) network, solved exactly
by elimination because each network is a tree with the loop (or the avionics plate) as its hub.
Backward Euler is L-stable, so stiff small nodes (a 120 J/K die on a 33 W/K path: τ ≈ 4 s)
stay stable at 10 s steps, and each heat flow is evaluated with the same new temperatures on both
of its ends, so the books close to rounding. Radiation εσA(T⁴ − T_sink⁴) is linearised about the
temperature at the start of the step (Gilmore, Spacecraft Thermal Control Handbook, §15: the usual
Newton linearisation of the radiative term in implicit thermal solvers).

Heat exchangers use the effectiveness–NTU relation for a fluid passing an isothermal wall,
ε = 1 − exp(−UA/(ṁ·c_p)) (Incropera, Fundamentals of Heat and Mass Transfer, eq. 11.35 with
C_r = 0): the conductance seen by the wall is G = ṁ·c_p·ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def exchanger_conductance_w_k(flow_kg_s: np.ndarray, cp: float, ua_w_k: float) -> np.ndarray:
    """G = ṁ·c_p·(1 − exp(−UA/(ṁ·c_p))); 0 without flow."""
    c = flow_kg_s * cp
    with np.errstate(divide="ignore", invalid="ignore"):
        g = c * -np.expm1(-ua_w_k / c)
    return np.where(c > 0.0, g, 0.0)


def radiation_linear(k_w_k4: np.ndarray, t_k: np.ndarray, sink_k: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Emitted power k·(T⁴ − T_s⁴) and its slope 4·k·T³ at T (k = ε·σ·A)."""
    t3 = t_k * t_k * t_k
    return k_w_k4 * (t3 * t_k - sink_k**4), 4.0 * k_w_k4 * t3


@dataclass(slots=True)
class LoopSolution:
    die_k: np.ndarray
    plate_k: np.ndarray
    loop_k: np.ndarray
    panel_k: np.ndarray
    plate_to_loop_w: np.ndarray  # per loop, mean over the step
    loop_to_panel_w: np.ndarray  # per panel
    radiated_w: np.ndarray  # per panel


def solve_loops(
    dt_s: float,
    die_k: np.ndarray, plate_k: np.ndarray, gpu_w: np.ndarray,
    c_die: float, c_plate: float, g_jc: float, g_plate: np.ndarray, gpu_loop: np.ndarray,
    loop_k: np.ndarray, c_loop: np.ndarray, loop_direct_w: np.ndarray,
    panel_k: np.ndarray, c_panel: float, g_panel: np.ndarray, panel_loop: np.ndarray,
    panel_abs_w: np.ndarray, panel_k4: np.ndarray, sink_k: float,
) -> LoopSolution:
    """One implicit step of die/plate/loop/panel for every loop at once.

    Elimination (primes are new temperatures):
      die:   a_d·Td' − g_jc·Tp' = C_d/Δt·Td + P                 (a_d = C_d/Δt + g_jc)
      plate: Tp' = α + β·Tl'  after substituting Td'
      panel: Tr' = γ + δ·Tl'  (a_r = C_r/Δt + G + h, h the linearised radiation slope)
      loop:  (C_l/Δt + Σg(1−β) + ΣG(1−δ))·Tl' = C_l/Δt·Tl + Q_direct + Σg·α + ΣG·γ
    """
    n_loops = loop_k.shape[0]
    cd = c_die / dt_s
    cp = c_plate / dt_s
    a_d = cd + g_jc
    rhs_d = cd * die_k + gpu_w
    a_p = cp + g_jc + g_plate - g_jc * g_jc / a_d
    alpha = (cp * plate_k + g_jc * rhs_d / a_d) / a_p
    beta = g_plate / a_p

    e0, h = radiation_linear(panel_k4, panel_k, sink_k)
    cr = c_panel / dt_s
    a_r = cr + g_panel + h
    gamma = (cr * panel_k + panel_abs_w - e0 + h * panel_k) / a_r
    delta = g_panel / a_r

    cl = c_loop / dt_s
    lhs = (cl
           + np.bincount(gpu_loop, g_plate * (1.0 - beta), n_loops)
           + np.bincount(panel_loop, g_panel * (1.0 - delta), n_loops))
    rhs = (cl * loop_k + loop_direct_w
           + np.bincount(gpu_loop, g_plate * alpha, n_loops)
           + np.bincount(panel_loop, g_panel * gamma, n_loops))
    tl = rhs / lhs
    tp = alpha + beta * tl[gpu_loop]
    td = (rhs_d + g_jc * tp) / a_d
    tl_panel = tl[panel_loop]
    tr = gamma + delta * tl_panel
    plate_to_loop = np.bincount(gpu_loop, g_plate * (tp - tl[gpu_loop]), n_loops)
    return LoopSolution(
        die_k=td, plate_k=tp, loop_k=tl, panel_k=tr,
        plate_to_loop_w=plate_to_loop,
        loop_to_panel_w=g_panel * (tl_panel - tr),
        radiated_w=e0 + h * (tr - panel_k),
    )


def solve_avionics(
    dt_s: float,
    batt_k: np.ndarray, c_batt: float, batt_w: np.ndarray, g_batt: float,
    av_k: float, c_av: float, av_w: float, av_k4: float, sink_k: float,
) -> tuple[np.ndarray, float, float]:
    """Implicit step of the battery strings and the avionics plate with its radiator.

    Returns (battery temperatures, avionics temperature, mean radiated power over the step);
    ``av_w`` includes the plate's absorbed environmental heat.
    """
    cb = c_batt / dt_s
    a_b = cb + g_batt
    gamma = (cb * batt_k + batt_w) / a_b
    delta = g_batt / a_b  # the same for every string
    n = batt_k.shape[0]
    t3 = av_k * av_k * av_k
    e0 = av_k4 * (t3 * av_k - sink_k**4)
    h = 4.0 * av_k4 * t3
    ca = c_av / dt_s
    lhs = ca + h + n * g_batt * (1.0 - delta)
    rhs = ca * av_k + av_w - e0 + h * av_k + g_batt * float(gamma.sum())
    ta = rhs / lhs
    tb = gamma + delta * ta
    return tb, ta, e0 + h * (ta - av_k)


def exchanger_g(flow_kg_s: float, cp: float, ua_w_k: float) -> float:
    """Scalar :func:`exchanger_conductance_w_k`."""
    c = flow_kg_s * cp
    return c * -math.expm1(-ua_w_k / c) if c > 0.0 else 0.0
