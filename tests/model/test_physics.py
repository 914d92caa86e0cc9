"""Closed-form validation of the plant's physics: pure functions and short plant runs.

Every expected number is computed here by hand from a named formula (not by calling the function
under test a second time); tolerances are explicit and say why they are what they are.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from _satellites import default_config, quiet_config

from twin.model import compute, electrical, orbit, thermal
from twin.model.params import C_TO_K, Params, build_params
from twin.model.plant import Plant

SIGMA = 5.670374419e-8  # W m⁻² K⁻⁴, CODATA 2018
S_1AU = 1361.0  # W/m², total solar irradiance at 1 AU (Kopp & Lean 2011, GRL 38, L01706)


@cache
def params() -> Params:
    return build_params(default_config())


def exchanger_g(flow_kg_s: float, cp: float, ua_w_k: float) -> float:
    """Wall-to-fluid conductance ṁ·c_p·ε with ε = 1 − exp(−NTU), NTU = UA/(ṁ·c_p).

    Effectiveness–NTU for one fluid against an isothermal wall (C_r = 0): Incropera, Fundamentals
    of Heat and Mass Transfer, 6th ed., eq. 11.35.
    """
    c = flow_kg_s * cp
    return c * (1.0 - math.exp(-ua_w_k / c))


# --- radiators ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("load_w", "absorbed_w", "area_m2", "eps"),
    [
        (8000.0, 1500.0, 12.0, 0.88),  # one default panel at its share of 103 kW, plus sun/Earth
        (3000.0, 0.0, 12.0, 0.44),  # a panel with half its emissivity (radiator_damage 0.5)
        (1500.0, 200.0, 1.8, 0.88),  # a stowed panel: 15 % of its area
        (0.0, 900.0, 12.0, 0.88),  # no flow-borne heat: the panel alone in sunlight
    ],
)
def test_radiator_settles_at_stefan_boltzmann_equilibrium(
    load_w: float, absorbed_w: float, area_m2: float, eps: float
) -> None:
    """A loop carrying Q to a panel settles where ε·σ·A_eff·(T⁴ − T_s⁴) = Q + Q_abs.

    Stefan–Boltzmann law for a grey surface, both faces radiating with fin efficiency η
    (A_eff = 2·η·A, Gilmore, Spacecraft Thermal Control Handbook, ch. 6). The loop sits above the
    panel by Q/G with G = ṁ·c_p·ε (Incropera eq. 11.35). Tolerance 0.1 K.
    """
    p = params()
    k4 = 2.0 * p.fin_eff * SIGMA * eps * area_m2
    flow = p.flow_nominal_kg_s / p.panels_per_loop
    g_panel = exchanger_g(flow, p.cp, p.panel_ua_w_k)
    t_panel = ((load_w + absorbed_w) / k4 + p.sink_k**4) ** 0.25
    t_loop = t_panel + load_w / g_panel

    one = np.zeros(1, dtype=np.int64)
    die, plate = np.array([300.0]), np.array([300.0])
    loop, panel = np.array([300.0]), np.array([300.0])
    g_plate = np.array([exchanger_g(flow, p.cp, p.plate_ua_w_k)])
    for _ in range(60):  # huge implicit steps: a Newton iteration on the radiative balance
        sol = thermal.solve_loops(
            1e7, die, plate, np.zeros(1), p.die_c_j_k, p.plate_c_j_k, p.g_jc_w_k, g_plate,
            one, loop, np.array([5e5]), np.array([load_w]), panel, p.panel_c_j_k,
            np.array([g_panel]), one, np.array([absorbed_w]), np.array([k4]), p.sink_k)
        die, plate, loop, panel = sol.die_k, sol.plate_k, sol.loop_k, sol.panel_k
    print(f"Q={load_w:.0f} W Q_abs={absorbed_w:.0f} W A={area_m2} m² ε={eps}: panel "
          f"{panel[0] - C_TO_K:.2f} °C (SB {t_panel - C_TO_K:.2f} °C), "
          f"loop {loop[0] - C_TO_K:.2f} °C")
    assert panel[0] == pytest.approx(t_panel, abs=0.1)
    assert loop[0] == pytest.approx(t_loop, abs=0.1)
    assert sol.radiated_w[0] == pytest.approx(load_w + absorbed_w, rel=1e-4, abs=0.5)


# --- solar array ----------------------------------------------------------------------------


def test_array_power_at_reference_matches_hand_calculation() -> None:
    """One default wing, Sun-normal at 28 °C, 1 AU: P = S·A·η·pf·(1 − d).

    1361 W/m² × 160 m² × 0.30 × 0.85 × 0.95 = 52 752.36 W (configs/satellite.toml, Patel,
    Spacecraft Power Systems §4.6). Tolerance 1e-9 relative (pure arithmetic).
    """
    p = params()
    got = electrical.array_power_w(S_1AU, np.array([1.0]), p.wing_area_m2, p.array_eta,
                                   p.array_degradation, np.array([28.0 + C_TO_K]),
                                   p.array_tref_k, p.array_tc_per_k, np.array([1.0]))
    assert got[0] == pytest.approx(52752.36, rel=1e-9)


@pytest.mark.parametrize("theta_deg", [0.0, 30.0, 60.0, 89.0, 95.0, 180.0])
@pytest.mark.parametrize("temp_c", [-20.0, 28.0, 60.0, 85.0])
@pytest.mark.parametrize("strings_lost", [0, 12])
def test_array_power_follows_cosine_and_temperature_law(
    theta_deg: float, temp_c: float, strings_lost: int
) -> None:
    """P = S·A·η·(1 − d)·max(cos θ, 0)·(1 + γ·(T − T_ref))·(1 − lost/N).

    Linear temperature model (Patel, Spacecraft Power Systems §4.6); γ = −0.22 %/K from the XTJ
    Prime datasheet; strings are in parallel, so each lost string takes 1/N of the power. A wing
    facing away from the Sun (θ > 90°) gives nothing. Tolerance 1e-9 relative.
    """
    p = params()
    cos_t = math.cos(math.radians(theta_deg))
    expected = (S_1AU * 160.0 * 0.30 * 0.85 * (1.0 - 0.05) * max(cos_t, 0.0)
                * (1.0 - 0.0022 * (temp_c - 28.0)) * (1.0 - strings_lost / 48))
    got = electrical.array_power_w(
        S_1AU, np.array([cos_t]), p.wing_area_m2, p.array_eta, p.array_degradation,
        np.array([temp_c + C_TO_K]), p.array_tref_k, p.array_tc_per_k,
        np.array([1.0 - strings_lost / p.strings_per_wing]))
    assert got[0] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_plant_array_power_in_sunlight_matches_hand_calculation() -> None:
    """In the plant, available power = η_reg·Σ S_eff·A·η·(1 − d)·(1 + γ·(T_wing − T_ref)).

    S_eff is the flux of the orbit environment at the start of the step (Sun–Earth distance and
    penumbra included), T_wing the wing temperature at the start of the step; tracking wings have
    cos θ = 1. Tolerance 1e-9 relative.
    """
    plant = Plant(default_config())
    for _ in range(3):
        plant.run(97, 1.0)
        wing_k = plant.state.wing_temp_k.copy()
        plant.step(1.0)
        flux = plant.env_row.flux_w_m2
        assert flux > 1300.0, "the default orbit is sunlit for its first 14 minutes"
        per_wing = (flux * 160.0 * 0.30 * 0.85 * 0.95 * (1.0 - 0.0022 * (wing_k - (28.0 + C_TO_K))))
        assert plant.state.array_available_w == pytest.approx(0.98 * per_wing.sum(), rel=1e-9)


# --- battery --------------------------------------------------------------------------------


def ocv_integral_v(p: Params, soc_a: float, soc_b: float) -> float:
    """∫_a^b OCV(soc) dsoc per cell (V), exact for the piecewise-linear OCV table.

    Each segment of a piecewise-linear function integrates exactly by the trapezoid rule, so the
    interval is split at the table's breakpoints.
    """
    knots = [x for x in p.ocv_soc if soc_a < x < soc_b]
    xs = np.array([soc_a, *knots, soc_b])
    vs = np.interp(xs, p.ocv_soc, p.ocv_v)
    return float(np.sum(np.diff(xs) * (vs[1:] + vs[:-1]) / 2.0))


@pytest.mark.parametrize(
    ("soc_a", "soc_b"),
    [
        (0.50, 0.60),  # one whole table segment
        (0.0, 1.0),  # the full string: 30.7 kWh nominal
        (0.90, 0.91),  # 1 % inside a segment: a linear interpolation of the integral is 1.2 % off
        (0.42, 0.45),
        (0.00, 0.01),  # the steep end of the table: 4 % off if interpolated linearly
    ],
)
def test_stored_energy_change_equals_ocv_table_integral(soc_a: float, soc_b: float) -> None:
    """E(b) − E(a) = Q·n_s·∫_a^b OCV dsoc: the chemical energy between two states of charge.

    Definition of the open-circuit energy of a cell (Plett, Battery Management Systems vol. 1,
    §3.5); Q = 6 × 50 Ah, n_s = 28. Tolerance 0.1 % (the DESIGN.md energy-book budget).
    """
    p = params()
    one = np.ones(1)
    none = np.zeros(1, dtype=np.int64)
    e = [float(electrical.stored_energy_j(p, np.array([s]), one, none)[0]) for s in (soc_a, soc_b)]
    expected = 300.0 * 3600.0 * 28 * ocv_integral_v(p, soc_a, soc_b)
    assert e[1] - e[0] == pytest.approx(expected, rel=1e-3)


def test_battery_string_ride_through_energy_equals_ocv_integral_minus_losses() -> None:
    """A string discharged at a constant 25 kW (an eclipse's share of a 93 kW bus load through
    the BDR) delivers E = Q·n_s·∫OCV dsoc − ∫(R0·I² + V1·I) dt until it can no longer hold 25 kW.

    Energy balance of the Thevenin cell model (Plett vol. 1, §2.5–2.8): chemical energy out =
    terminal energy + ohmic and polarisation losses. The OCV integral is computed here from the
    table (exact for piecewise-linear OCV). Tolerance 0.1 % (the DESIGN.md energy-book budget).
    """
    p = params()
    n = p.cells_series
    power_w, dt = 25000.0, 1.0
    soc0 = soc = np.array([0.90])
    v1 = np.zeros(1)
    r0 = np.array([p.cell_r0 * n])
    delivered = lost = 0.0
    t = 0.0
    v_min = np.array([p.v_min_cell * n])
    while True:
        ocv = electrical.ocv_cell_v(p, soc) * n
        if electrical.max_discharge_power_w(p, ocv, v1, r0, v_min)[0] < power_w:
            break
        i = electrical.discharge_current_a(ocv, v1, r0, np.array([power_w]))
        assert (ocv - v1 - r0 * i)[0] * i[0] == pytest.approx(power_w, rel=1e-12)
        lost += float(((v1 + r0 * i) * i)[0]) * dt
        delivered += power_w * dt
        soc = soc - i * dt / p.capacity_as
        v1 = electrical.rc_step(v1, i, p.cell_r1 * n, p.tau1_s, dt)
        t += dt
    chemical = p.capacity_as * n * ocv_integral_v(p, float(soc[0]), float(soc0[0]))
    print(f"ride-through at 25 kW from SOC 90 %: {t / 60:.1f} min to SOC {soc[0]:.3f}, "
          f"{delivered / 3.6e6:.2f} kWh delivered, {lost / 3.6e6:.3f} kWh lost in R0/R1")
    assert delivered == pytest.approx(chemical - lost, rel=1e-3)
    # The worst eclipse of the default orbit is 20.6 min (configs/satellite.toml): one string
    # alone must not carry the whole satellite, but its share must last far longer than that.
    assert t > 3 * 20.6 * 60


# --- GPU thermal path -----------------------------------------------------------------------


def _gpu_network(dt: float, n_steps: int, power_w: float, c_plate: float,
                 g_plate: float, t0: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
    """Die and plate temperatures after each step of a power step, with the loop held at t0."""
    p = params()
    one = np.zeros(1, dtype=np.int64)
    die, plate = np.array([t0]), np.array([t0])
    loop, panel = np.array([t0]), np.array([t0])
    dies, plates = [], []
    for _ in range(n_steps):
        sol = thermal.solve_loops(
            dt, die, plate, np.array([power_w]), p.die_c_j_k, c_plate, p.g_jc_w_k,
            np.array([g_plate]), one, loop, np.array([1e18]), np.zeros(1), panel,
            p.panel_c_j_k, np.zeros(1), one, np.zeros(1), np.zeros(1), p.sink_k)
        die, plate, loop = sol.die_k, sol.plate_k, sol.loop_k
        dies.append(die[0])
        plates.append(plate[0])
    return np.array(dies), np.array(plates)


def test_die_step_response_has_time_constant_c_over_g() -> None:
    """Die on an isothermal plate: T(t) = T0 + (P/G)·(1 − e^(−t/τ)), τ = C/G.

    Lumped-capacitance response (Incropera eq. 5.6): C = 120 J/K, G = 1/0.030 K/W → τ = 3.6 s.
    At 0.1 s steps the rise at t = τ is 1 − 1/e of the final rise, and the whole response, within
    2 % of the final rise (backward Euler lags by about dt/2).
    """
    p = params()
    dt, power = 0.1, 600.0
    tau = p.die_c_j_k / p.g_jc_w_k
    assert tau == pytest.approx(3.6)
    dies, _ = _gpu_network(dt, 200, power, c_plate=1e18, g_plate=124.0)
    t = dt * np.arange(1, dies.size + 1)
    rise = power / p.g_jc_w_k
    analytic = 300.0 + rise * (1.0 - np.exp(-t / tau))
    assert np.max(np.abs(dies - analytic)) <= 0.02 * rise
    t63 = float(np.interp(300.0 + rise * (1.0 - math.exp(-1.0)), dies, t))
    print(f"τ = C/G = {tau:.2f} s; 63.2 % reached after {t63:.3f} s")
    assert t63 == pytest.approx(tau, rel=0.02)


def test_die_and_plate_two_node_step_response() -> None:
    """Die and cold plate after a 700 W step, loop fixed: the exact two-node solution.

    C·dT/dt = A·T + b with A = [[−g/Cd, g/Cd], [g/Cp, −(g+G)/Cp]], b = [P/Cd, 0]; T(t) =
    T_ss + V·exp(Λt)·V⁻¹·(T0 − T_ss), Λ the eigenvalues of A (linear ODE theory; the network is
    the standard two-node RC model of a cold-plated package). G = ṁc_p·ε at the nominal 0.039
    kg/s per plate (Incropera eq. 11.35). Tolerance 2 % of the final rise at 0.1 s steps.
    """
    p = params()
    dt, power = 0.1, 700.0
    g, cd, cp = p.g_jc_w_k, p.die_c_j_k, p.plate_c_j_k
    big_g = exchanger_g(p.flow_nominal_kg_s / p.gpus_per_loop, p.cp, p.plate_ua_w_k)
    a = np.array([[-g / cd, g / cd], [g / cp, -(g + big_g) / cp]])
    t_ss = np.array([power * (1.0 / g + 1.0 / big_g), power / big_g])
    lam, vec = np.linalg.eig(a)
    coef = np.linalg.solve(vec, -t_ss)  # T0 − T_ss relative to the 300 K start
    t = dt * np.arange(1, 1201)
    exact = t_ss[:, None] + vec @ (coef[:, None] * np.exp(np.outer(lam, t)))
    dies, plates = _gpu_network(dt, t.size, power, c_plate=cp, g_plate=big_g)
    print(f"time constants {-1.0 / lam} s; final rises die {t_ss[0]:.2f} K plate {t_ss[1]:.2f} K")
    assert np.max(np.abs(dies - 300.0 - exact[0])) <= 0.02 * t_ss[0]
    assert np.max(np.abs(plates - 300.0 - exact[1])) <= 0.02 * t_ss[1]


@pytest.mark.parametrize("flow_kg_s", [2.5 / 64, 2.5 / 128, 0.005])
@pytest.mark.parametrize("power_w", [90.0, 700.0, 1300.0])
def test_junction_temperature_from_coolant_flow_and_resistances(
    flow_kg_s: float, power_w: float
) -> None:
    """T_j = T_coolant + P·(R_jc + 1/(ṁ·c_p·(1 − exp(−UA/(ṁ·c_p))))) at steady state.

    Series thermal resistances with the effectiveness–NTU cold plate (Incropera eq. 11.35,
    C_r = 0). Default: R_jc = 0.030 K/W, UA = 300 W/K, c_p = 3600 J/(kg K); 2.5 kg/s shared by
    64 plates is the nominal flow. Tolerance 0.2 K.
    """
    p = params()
    expected = power_w * (0.030 + 1.0 / exchanger_g(flow_kg_s, 3600.0, 300.0))
    dies, _ = _gpu_network(100.0, 200, power_w, c_plate=p.plate_c_j_k,
                           g_plate=exchanger_g(flow_kg_s, p.cp, p.plate_ua_w_k))
    print(f"{power_w:.0f} W at {flow_kg_s * 1e3:.1f} g/s: "
          f"T_j − T_coolant = {dies[-1] - 300.0:.2f} K")
    assert dies[-1] - 300.0 == pytest.approx(expected, abs=0.2)


def test_plant_junction_temperatures_follow_coolant_and_flow() -> None:
    """In the running plant (constant utilisation), every die sits at
    T_loop + P·(R_jc + 1/(ṁ·c_p·ε)) with ṁ its loop's flow over 64 plates (Incropera eq. 11.35).

    The loop drifts by ~1 K per 10 min over an orbit and the die follows within seconds, so the
    quasi-steady relation holds to 0.2 K at any instant after start-up.
    """
    plant = Plant(quiet_config())
    p = plant.params
    for _ in range(4):
        plant.run(300, 1.0)
        s = plant.state
        mdot = s.loop_flow_kg_s[p.gpu_loop] / p.gpus_per_loop
        g = mdot * 3600.0 * (1.0 - np.exp(-300.0 / (mdot * 3600.0)))
        expected = s.loop_k[p.gpu_loop] + s.gpu_power_w * (0.030 + 1.0 / g)
        assert np.max(np.abs(s.die_k - expected)) <= 0.2


def test_split_time_scale_scheme_matches_the_coupled_implicit_solver() -> None:
    """The plant steps dies and cold plates every tick against the loop temperature held over a
    10 s slow interval, and the loops and panels once per interval with the heat booked by the
    ticks (twin/model/slow.py). Over a 10-minute warm-up transient that must agree with the
    fully coupled backward-Euler reference ``solve_loops`` at 1 s steps: dies and plates within
    0.05 K, loops and panels within 0.05 K (loop τ ≈ 100 s ≫ 10 s); heat is conserved exactly."""
    from twin.model.slow import solve_loop_panels

    p = params()
    rng = np.random.default_rng(7)
    die0 = np.full(p.n_gpus, 300.0)
    gpu_w = 500.0 + 200.0 * rng.random(p.n_gpus)
    loop0 = np.array([298.0, 300.0])
    panel0 = np.full(p.n_panels, 290.0)
    panel_abs = np.full(p.n_panels, 1200.0)
    panel_k4 = 2.0 * p.fin_eff * SIGMA * p.panel_eps * p.panel_area_m2 * np.ones(p.n_panels)
    flows = [2.5, 1.5]
    g_plate = np.array([exchanger_g(f / p.gpus_per_loop, p.cp, p.plate_ua_w_k) for f in flows])
    g_panel = np.array([exchanger_g(f / p.panels_per_loop, p.cp, p.panel_ua_w_k) for f in flows])
    c_loop = np.array([5.7e5, 5.7e5])
    direct = np.array([6900.0, 6400.0])
    args = (p.die_c_j_k, p.plate_c_j_k, p.g_jc_w_k, g_plate[p.gpu_loop], p.gpu_loop)
    pargs = (p.panel_c_j_k, g_panel[p.panel_loop], p.panel_loop, panel_abs, panel_k4, p.sink_k)

    die, plate, loop, panel = die0.copy(), die0.copy(), loop0.copy(), panel0.copy()
    for _ in range(600):  # reference: everything coupled, implicit, every second
        ref = thermal.solve_loops(1.0, die, plate, gpu_w, *args, loop, c_loop, direct, panel,
                                  *pargs)
        die, plate, loop, panel = ref.die_k, ref.plate_k, ref.loop_k, ref.panel_k

    sdie, splate, sloop, spanel = die0.copy(), die0.copy(), loop0.copy(), panel0.copy()
    held = np.full(2, 1e30)  # an infinite capacity holds the loop temperature over the tick
    for _ in range(60):
        heat_j = np.zeros(2)
        for _ in range(10):
            tick = thermal.solve_loops(1.0, sdie, splate, gpu_w, *args, sloop, held,
                                       np.zeros(2), spanel, p.panel_c_j_k, np.zeros(p.n_panels),
                                       p.panel_loop, np.zeros(p.n_panels), np.zeros(p.n_panels),
                                       p.sink_k)
            sdie, splate = tick.die_k, tick.plate_k
            heat_j += tick.plate_to_loop_w * 1.0
        sloop, spanel, _ = solve_loop_panels(10.0, sloop, c_loop, heat_j / 10.0 + direct,
                                             spanel, *pargs)
    print(f"max |Δ| die {np.abs(sdie - die).max():.4f} K, loop {np.abs(sloop - loop).max():.4f}"
          f" K, panel {np.abs(spanel - panel).max():.4f} K")
    assert np.abs(sdie - die).max() <= 0.05
    assert np.abs(splate - plate).max() <= 0.05
    assert np.abs(sloop - loop).max() <= 0.05
    assert np.abs(spanel - panel).max() <= 0.05


def test_exchanger_conductance_limits() -> None:
    """ε-NTU limits (Incropera §11.4): G → UA as ṁ → ∞, G → ṁ·c_p as UA/(ṁc_p) → ∞, G = 0
    without flow. Tolerances 0.1 % (the limits are approached, not reached)."""
    g = thermal.exchanger_conductance_w_k(np.array([1e6, 1e-3, 0.0]), 3600.0, 300.0)
    assert g[0] == pytest.approx(300.0, rel=1e-3)
    assert g[1] == pytest.approx(3.6, rel=1e-3)
    assert g[2] == 0.0


# --- throttling -----------------------------------------------------------------------------


def test_thermal_clock_is_full_below_slowdown_and_minimum_at_shutdown() -> None:
    """Clock ratio vs die temperature: 1 up to 87 °C, linear down to f_min/f_max = 600/1980 at
    92 °C and held there above (nvidia-smi slowdown/shutdown thresholds, config [compute]).
    Tolerance 1e-12 (pure arithmetic)."""
    p = params()
    f_min = 600.0 / 1980.0
    temps_c = np.array([20.0, 86.99, 87.0, 87.01, 89.5, 91.99, 92.0, 120.0])
    frac = compute.thermal_clock_frac(p, temps_c + C_TO_K)
    assert frac[0] == frac[1] == frac[2] == 1.0
    assert frac[3] < 1.0
    assert frac[4] == pytest.approx((1.0 + f_min) / 2.0, abs=1e-12)  # midway → midway
    assert frac[5] > f_min
    assert frac[6] == pytest.approx(f_min, abs=1e-12)
    assert frac[7] == pytest.approx(f_min, abs=1e-12)
    assert np.all(np.diff(frac) <= 0.0)


# --- orbit ----------------------------------------------------------------------------------


def test_default_orbit_sunlit_fraction_and_eclipses_per_day() -> None:
    """650 km dawn-dusk SSO at the December solstice: ~80 % sunlit and 14–15 eclipses a day.

    Eclipse fraction of a circular orbit, cylindrical shadow: f = (1/π)·acos(√(h² + 2Rh) /
    ((R + h)·cos β)) (Rickman, NASA TFAWS Introduction to On-Orbit Thermal Environments; Wertz &
    Larson, SMAD 3rd ed., §5.1), β from the model's environment. The model uses a conical
    shadow with the mid-penumbra criterion, so agreement is expected to within 1 %-point.
    Orbits per day = 86 400 s / T, T = 2π·√(a³/μ) (Kepler's third law).
    """
    p = params()
    t = np.arange(0.0, 86400.0, 5.0)
    env = orbit.environment(p.orbit, t)
    sunlit = float(env.sunlit.mean())
    entries = int(np.sum(env.sunlit[:-1] & ~env.sunlit[1:]))
    a = orbit.R_EARTH_M + 650e3
    period = 2.0 * math.pi * math.sqrt(a**3 / orbit.MU_EARTH_M3_S2)
    h, r = 650e3, orbit.R_EARTH_M
    beta = float(np.mean(np.abs(env.beta_rad)))
    f_ecl = math.acos(math.sqrt(h * h + 2.0 * r * h) / ((r + h) * math.cos(beta))) / math.pi
    first = orbit.next_transition(p.orbit, 0.0, True)
    print(f"sunlit {sunlit:.2%} (cylindrical {1 - f_ecl:.2%}), {entries} eclipses, "
          f"{86400 / period:.2f} orbits/day, |β| {math.degrees(beta):.1f}°, first eclipse at "
          f"{first / 60:.1f} min")
    assert sunlit == pytest.approx(1.0 - f_ecl, abs=0.01)
    assert 0.78 <= sunlit <= 0.82
    assert entries in (math.floor(86400 / period), math.ceil(86400 / period))
    assert 14 <= entries <= 15
