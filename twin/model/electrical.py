"""Solar array, battery and bus physics: pure functions on arrays, SI units.

Sources:
- Array power: P = S·cosθ·A·η·(1 − d)·[1 + γ(T − T_ref)], the standard linear temperature model
  (Patel, Spacecraft Power Systems, §4.6; cell datasheets give γ).
- Battery: Thevenin equivalent circuit, OCV(SOC) in series with R0 and one R1‖C1 pair (Plett,
  Battery Management Systems vol. 1, §2.5–2.8), with the exact zero-order-hold update of the RC
  voltage for a current held over the step.
"""

from __future__ import annotations

import numpy as np

from twin.model.params import Params


def array_power_w(
    flux_w_m2: float,
    cos_inc: np.ndarray,
    area_m2: float,
    eta: float,
    degradation: float,
    temp_k: np.ndarray,
    tref_k: float,
    tc_per_k: float,
    strings_ok_frac: np.ndarray,
) -> np.ndarray:
    """Maximum-power output of each wing (W) before the array regulator."""
    temp_factor = np.maximum(0.0, 1.0 + tc_per_k * (temp_k - tref_k))
    return (flux_w_m2 * area_m2 * eta * (1.0 - degradation)) * np.maximum(cos_inc, 0.0) * (
        temp_factor * strings_ok_frac
    )


def array_temp_step(
    p: Params,
    temp_k: np.ndarray,
    absorbed_w: np.ndarray,
    electric_w: np.ndarray,
    dt_s: float,
) -> np.ndarray:
    """Backward-Euler step of a wing's radiative balance, emission linearised about T.

    C·dT/dt = absorbed − P_elec − (ε_f + ε_b)·σ·A·(T⁴ − T_sink⁴)  (both faces radiate).
    """
    k = (p.array_eps_front + p.array_eps_back) * p.sigma * p.wing_area_m2
    e0 = k * (temp_k**4 - p.sink_k**4)
    h = 4.0 * k * temp_k**3
    c_dt = p.array_c_j_k / dt_s
    return temp_k + (absorbed_w - electric_w - e0) / (c_dt + h)


def ocv_cell_v(p: Params, soc: np.ndarray) -> np.ndarray:
    return np.interp(soc, p.ocv_soc, p.ocv_v)


def stored_energy_j(
    p: Params, soc: np.ndarray, capacity_factor: np.ndarray, shorted: np.ndarray
) -> np.ndarray:
    """Chemical energy of each string: Q·n_s·∫₀^SOC OCV dsoc (J).

    The OCV table is piecewise linear, so its integral is piecewise quadratic: exact here.
    """
    x = np.clip(soc, 0.0, 1.0)
    k = np.clip(np.searchsorted(p.ocv_soc, x, side="right") - 1, 0, p.ocv_soc.shape[0] - 2)
    d = x - p.ocv_soc[k]
    slope = (p.ocv_v[k + 1] - p.ocv_v[k]) / (p.ocv_soc[k + 1] - p.ocv_soc[k])
    integral = p.ocv_energy[k] + d * (p.ocv_v[k] + 0.5 * slope * d)
    return p.capacity_as * capacity_factor * (p.cells_series - shorted) * integral


def discharge_current_a(ocv_v: np.ndarray, v1_v: np.ndarray, r0_ohm: np.ndarray,
                        power_w: np.ndarray) -> np.ndarray:
    """Current that delivers ``power_w`` at the terminals: (E − R0·I)·I = P, E = OCV − V1.

    The smaller root of R0·I² − E·I + P = 0; NaN where the string cannot deliver that power.
    Negative power (charging) gives the negative root of the same equation.
    """
    e = ocv_v - v1_v
    disc = e * e - 4.0 * r0_ohm * power_w
    with np.errstate(invalid="ignore"):
        return 2.0 * power_w / (e + np.sqrt(disc))


def max_discharge_power_w(p: Params, ocv_v: np.ndarray, v1_v: np.ndarray,
                          r0_ohm: np.ndarray, v_min_v: np.ndarray) -> np.ndarray:
    """Terminal power at the current limit or the minimum voltage, whichever binds first."""
    e = ocv_v - v1_v
    i_v = np.maximum((e - v_min_v) / r0_ohm, 0.0)
    i = np.minimum(i_v, p.i_discharge_max_a)
    return (e - r0_ohm * i) * i


def max_charge_current_a(p: Params, ocv_v: np.ndarray, v1_v: np.ndarray,
                         r0_ohm: np.ndarray, v_cut_v: np.ndarray) -> np.ndarray:
    """CC-CV: the charge current limit, or less so that V_t = OCV + V1 + R0·I ≤ V_cutoff."""
    i_cv = np.maximum((v_cut_v - ocv_v + v1_v) / r0_ohm, 0.0)
    return np.minimum(i_cv, p.i_charge_max_a)


def rc_step(v1_v: np.ndarray, current_a: np.ndarray, r1_ohm: float, tau_s: float,
            dt_s: float) -> np.ndarray:
    """Exact update of the RC-pair voltage for a current held over the step."""
    decay = np.exp(-dt_s / tau_s)
    return v1_v * decay + r1_ohm * current_a * (1.0 - decay)
