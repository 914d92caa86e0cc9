"""Validation of twin.model.orbit against published values and closed-form geometry.

Every expected number names its source; tolerances are explicit.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from twin.model.orbit import (
    AU_M,
    EARTH_ALBEDO,
    EARTH_IR_W_M2,
    MU_EARTH_M3_S2,
    R_EARTH_M,
    R_SUN_M,
    SOLAR_CONSTANT_W_M2,
    TROPICAL_YEAR_S,
    CircularOrbit,
    Environment,
    beta_angle_rad,
    critical_beta_rad,
    earth_view_factor,
    eclipse_fraction,
    environment,
    illumination_conical,
    julian_date,
    next_transition,
    orbit_from_ltan,
    orbital_period_s,
    position_eci,
    rtn_axes,
    shadow_cylindrical,
    sun_position,
    sun_synchronous_inclination_rad,
)

DEG = math.pi / 180.0
DEFAULT_EPOCH = datetime(2026, 12, 21, tzinfo=UTC)


@pytest.fixture
def default_orbit() -> CircularOrbit:
    """The default satellite: 650 km sun-synchronous, LTAN 06:00, epoch 2026-12-21T00:00Z."""
    return orbit_from_ltan(650e3, sun_synchronous_inclination_rad(650e3), 6.0, DEFAULT_EPOCH)


def frozen_sun_orbit(altitude_m: float, beta_rad: float) -> tuple[CircularOrbit, np.ndarray]:
    """An orbit with a fixed node and a fixed Sun direction at the requested beta angle.

    Sun = cos β·x̂_node + sin β·N̂, where x̂_node is the ascending-node direction (R̂ at u = 0).
    """
    orbit = CircularOrbit(
        altitude_m=altitude_m,
        inclination_rad=51.6 * DEG,
        raan0_rad=40.0 * DEG,
        raan_rate_rad_s=0.0,
        arg_latitude0_rad=0.0,
        epoch_jd=julian_date(DEFAULT_EPOCH),
    )
    radial, _, normal = rtn_axes(orbit, np.array([0.0]))
    sun = math.cos(beta_rad) * radial[0] + math.sin(beta_rad) * normal[0]
    return orbit, sun


# --- constants and time -------------------------------------------------------------------
def test_thermal_constants_match_gilmore_and_kopp_lean() -> None:
    # Kopp & Lean (2011): TSI 1360.8 ± 0.5 W/m²; Gilmore (2002) ch. 2 orbit averages.
    assert abs(SOLAR_CONSTANT_W_M2 - 1360.8) <= 0.5
    assert EARTH_IR_W_M2 == 237.0
    assert EARTH_ALBEDO == 0.30


def test_julian_date_of_j2000_and_timezones() -> None:
    # Meeus, Astronomical Algorithms ch. 7: 2000-01-01 12:00 is JD 2451545.0.
    assert julian_date(datetime(2000, 1, 1, 12, tzinfo=UTC)) == pytest.approx(2451545.0, abs=1e-9)
    # Naive is UTC; another zone is converted (13:00+01:00 == 12:00Z).
    assert julian_date(datetime(2000, 1, 1, 12)) == pytest.approx(2451545.0, abs=1e-9)
    cet = timezone(timedelta(hours=1))
    assert julian_date(datetime(2000, 1, 1, 13, tzinfo=cet)) == pytest.approx(2451545.0, abs=1e-9)


# --- orbit arithmetic ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("altitude_m", "expected_s"),
    [
        # Kepler III by hand: 2π·sqrt(7028137³ / 3.986004418e14) = 5863.69 s = 97.73 min.
        (650e3, 5863.69),
        # 2π·sqrt(6928137³ / 3.986004418e14) = 5738.99 s = 95.65 min.
        (550e3, 5738.99),
    ],
)
def test_orbital_period_follows_keplers_third_law(altitude_m: float, expected_s: float) -> None:
    assert orbital_period_s(altitude_m) == pytest.approx(expected_s, abs=0.01)


def test_orbital_period_in_minutes_matches_usual_figures() -> None:
    # Commonly quoted: 650 km ≈ 97.7 min, 550 km ≈ 95.6 min (Wertz & Larson, SMAD App. tables).
    assert orbital_period_s(650e3) / 60.0 == pytest.approx(97.7, abs=0.05)
    assert orbital_period_s(550e3) / 60.0 == pytest.approx(95.6, abs=0.06)


@pytest.mark.parametrize(
    ("altitude_m", "expected_deg"),
    # Wertz & Larson, SMAD 3rd ed. §6.2.2 sun-synchronous inclination vs altitude (J2 formula).
    [(550e3, 97.59), (650e3, 97.99), (800e3, 98.60)],
)
def test_sun_synchronous_inclination(altitude_m: float, expected_deg: float) -> None:
    got = sun_synchronous_inclination_rad(altitude_m) / DEG
    assert got == pytest.approx(expected_deg, abs=0.05)


def test_sun_synchronous_node_turns_once_per_tropical_year(default_orbit: CircularOrbit) -> None:
    # Definition of sun-synchronism: dΩ/dt = 2π / tropical year ≈ 0.98565°/day.
    assert default_orbit.raan_rate_rad_s == pytest.approx(2.0 * math.pi / TROPICAL_YEAR_S, rel=1e-9)
    assert default_orbit.raan_rate_rad_s * 86400.0 / DEG == pytest.approx(0.98565, abs=1e-4)


def test_critical_beta_at_650_km() -> None:
    # β* = asin(6378.137 / 7028.137) = 65.16° (Rickman, NASA TFAWS thermal environments).
    assert critical_beta_rad(650e3) / DEG == pytest.approx(65.16, abs=0.01)


def test_orbit_properties(default_orbit: CircularOrbit) -> None:
    # n = sqrt(μ/a³), T = 2π/n, a = R + h.
    a_m = R_EARTH_M + 650e3
    assert default_orbit.radius_m == a_m
    assert default_orbit.mean_motion_rad_s == pytest.approx(math.sqrt(MU_EARTH_M3_S2 / a_m**3))
    assert default_orbit.period_s == pytest.approx(2.0 * math.pi / default_orbit.mean_motion_rad_s)


def test_rtn_axes_are_orthonormal_right_handed_and_follow_motion(
    default_orbit: CircularOrbit,
) -> None:
    t = np.linspace(0.0, 3.0 * default_orbit.period_s, 997)
    radial, transverse, normal = rtn_axes(default_orbit, t)
    for axis in (radial, transverse, normal):
        np.testing.assert_allclose(np.linalg.norm(axis, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.sum(radial * transverse, axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.cross(radial, transverse), normal, atol=1e-12)
    position = position_eci(default_orbit, t)
    np.testing.assert_allclose(np.linalg.norm(position, axis=1), default_orbit.radius_m, rtol=1e-12)
    # T is the velocity direction: central difference of r, ±0.01 s (the node drift adds
    # ~ω_Ω·a ≈ 1.4 m/s cross-track, i.e. < 2e-4 of v; tolerance 5e-4).
    dt = 0.01
    ahead, behind = position_eci(default_orbit, t + dt), position_eci(default_orbit, t - dt)
    velocity = (ahead - behind) / (2.0 * dt)
    direction = velocity / np.linalg.norm(velocity, axis=1)[:, None]
    np.testing.assert_allclose(direction, transverse, atol=5e-4)


# --- Sun ------------------------------------------------------------------------------------
def _declination_deg_and_distance_au(when: datetime) -> tuple[float, float]:
    unit, distance_m = sun_position(np.array([julian_date(when)]))
    return math.degrees(math.asin(unit[0, 2])), float(distance_m[0] / AU_M)


def test_sun_declination_at_march_equinox_2025() -> None:
    # USNO: March equinox 2025-03-20 09:01 UTC, where δ = 0. Almanac formula ~0.01°.
    declination, _ = _declination_deg_and_distance_au(datetime(2025, 3, 20, 9, 1, tzinfo=UTC))
    assert abs(declination) < 0.02


def test_sun_declination_at_june_solstice_2025() -> None:
    # USNO: June solstice 2025-06-21 02:42 UTC, δ = ε = 23.436° (mean obliquity of 2025).
    declination, _ = _declination_deg_and_distance_au(datetime(2025, 6, 21, 2, 42, tzinfo=UTC))
    assert declination == pytest.approx(23.44, abs=0.02)


def test_sun_distance_at_perihelion_and_aphelion_2025() -> None:
    # USNO: perihelion 2025-01-04 13:28 UTC at 0.983328 AU; aphelion 2025-07-03 19:55 UTC at
    # 1.016644 AU. The Almanac series R = 1.00014 - 0.01671 cos g - 0.00014 cos 2g is good to
    # ~1e-4 AU (its extremes are 0.98329 and 1.01671), hence the 1e-4 tolerance.
    _, perihelion = _declination_deg_and_distance_au(datetime(2025, 1, 4, 13, 28, tzinfo=UTC))
    _, aphelion = _declination_deg_and_distance_au(datetime(2025, 7, 3, 19, 55, tzinfo=UTC))
    assert perihelion == pytest.approx(0.98333, abs=1e-4)
    assert aphelion == pytest.approx(1.01664, abs=1e-4)


def test_sun_position_is_vectorised_unit_vectors() -> None:
    jd = julian_date(DEFAULT_EPOCH) + np.linspace(0.0, 365.0, 50)
    unit, distance_m = sun_position(jd)
    assert unit.shape == (50, 3)
    assert distance_m.shape == (50,)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-12)


# --- eclipse geometry -----------------------------------------------------------------------
@pytest.mark.parametrize("beta_deg", [0.0, 20.0, 45.0, 60.0, -63.0])
def test_cylindrical_shadow_fraction_matches_closed_form(beta_deg: float) -> None:
    # Rickman (NASA TFAWS): f = (1/π)·acos(sqrt(h² + 2Rh) / ((R + h) cos β)); numerical
    # fraction over a 200,000-point grid in one period must agree within 0.2 % of an orbit.
    orbit, sun = frozen_sun_orbit(650e3, beta_deg * DEG)
    t = np.arange(200_000) * (orbit.period_s / 200_000)
    shadowed = shadow_cylindrical(position_eci(orbit, t), sun)
    expected = float(eclipse_fraction(650e3, beta_deg * DEG))
    assert expected > 0.0
    assert shadowed.mean() == pytest.approx(expected, abs=0.002)


def test_no_cylindrical_eclipse_above_critical_beta() -> None:
    # β* = 65.16° at 650 km (asin(R/(R+h))): above it the orbit never enters the cylinder.
    assert eclipse_fraction(650e3, np.array([65.3 * DEG, -70.0 * DEG, 89.0 * DEG])).tolist() == [
        0.0,
        0.0,
        0.0,
    ]
    orbit, sun = frozen_sun_orbit(650e3, 65.3 * DEG)
    t = np.linspace(0.0, orbit.period_s, 50_000)
    assert not shadow_cylindrical(position_eci(orbit, t), sun).any()


def test_eclipse_fraction_at_zero_beta_650_km() -> None:
    # β = 0: f = acos(sqrt(650² + 2·6378.137·650)/7028.137)/π = acos(0.42002)/π = 0.3620.
    assert float(eclipse_fraction(650e3, 0.0)) == pytest.approx(0.3620, abs=1e-4)


def test_conical_illumination_full_sun_umbra_and_penumbra() -> None:
    orbit, sun = frozen_sun_orbit(650e3, 0.0)
    period = orbit.period_s
    t = np.arange(0.0, period, 0.01)
    nu = illumination_conical(position_eci(orbit, t), sun, AU_M)
    # u = 0 faces the Sun; u = 180° is the anti-solar point, deep in umbra.
    assert nu[0] == 1.0
    assert nu[int(0.5 * period / 0.01)] == 0.0
    penumbra = (nu > 0.0) & (nu < 1.0)
    assert penumbra.any()
    # Penumbra crossing at β = 0: the Sun-Earth apparent separation changes at the orbit rate
    # ω = 2π/T, and the penumbra spans 2a, a = asin(R_sun / 1 AU) (0.533° solar diameter):
    # 2a/ω = 0.0093013 rad / 1.07153e-3 rad/s = 8.68 s per crossing, two crossings per orbit.
    expected_s = 2.0 * math.asin(R_SUN_M / AU_M) / (2.0 * math.pi / period)
    assert expected_s == pytest.approx(8.68, abs=0.01)
    per_crossing_s = penumbra.sum() * 0.01 / 2.0
    assert per_crossing_s == pytest.approx(expected_s, abs=0.1)
    assert 8.0 <= per_crossing_s <= 12.0


def test_conical_illumination_is_monotonic_across_eclipse_entry(
    default_orbit: CircularOrbit,
) -> None:
    entry = next_transition(default_orbit, 0.0, sunlit_now=True)
    assert entry is not None
    t = entry + np.arange(-60.0, 60.0, 0.05)
    nu = environment(default_orbit, t).illumination
    assert nu[0] == 1.0
    assert nu[-1] == 0.0
    assert np.all(np.diff(nu) <= 0.0)
    assert ((nu > 0.0) & (nu < 1.0)).sum() > 10


def test_conical_annular_case_when_sun_disk_larger_than_earth() -> None:
    # Far from Earth, centred behind it: ν = 1 - b²/a² (Montenbruck & Gill §3.4.2).
    sun = np.array([1.0, 0.0, 0.0])
    r = np.array([[-2.0e10, 0.0, 0.0]])  # Earth's apparent radius below the Sun's
    a = math.asin(R_SUN_M / (AU_M + 2.0e10))
    b = math.asin(R_EARTH_M / 2.0e10)
    nu = illumination_conical(r, sun, AU_M)
    assert nu[0] == pytest.approx(1.0 - (b / a) ** 2, rel=1e-12)


# --- Earth view factor ----------------------------------------------------------------------
H_650 = (R_EARTH_M + 650e3) / R_EARTH_M


def test_view_factor_nadir_and_zenith() -> None:
    # Howell catalogue, plate facing the sphere centre: F = 1/H²; facing away: 0.
    f = earth_view_factor(650e3, np.array([1.0, -1.0]))
    assert f[0] == pytest.approx(1.0 / H_650**2, rel=1e-12)
    assert f[1] == 0.0


def test_view_factor_side_facing_plate() -> None:
    # Howell, γ = 90°: F = (1/π)·[atan(1/X) - X/H²], X = sqrt(H² - 1).
    x = math.sqrt(H_650**2 - 1.0)
    expected = (math.atan(1.0 / x) - x / H_650**2) / math.pi
    assert float(earth_view_factor(650e3, 0.0)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "gamma_boundary_rad",
    [math.acos(1.0 / H_650), 0.5 * math.pi + math.asin(1.0 / H_650)],
)
def test_view_factor_continuous_at_regime_boundaries(gamma_boundary_rad: float) -> None:
    eps = 1e-10
    below, above = earth_view_factor(
        650e3, np.cos([gamma_boundary_rad - eps, gamma_boundary_rad + eps])
    )
    assert abs(below - above) < 1e-9


def test_view_factor_decreases_with_tilt() -> None:
    gamma = np.linspace(0.0, math.pi, 20_001)
    f = earth_view_factor(650e3, np.cos(gamma))
    assert np.all(np.diff(f) <= 1e-15)
    assert f.min() >= 0.0
    assert f.max() <= 1.0 / H_650**2 + 1e-15


# --- the default satellite's environment ----------------------------------------------------
def test_default_orbit_is_in_eclipse_season_in_december(default_orbit: CircularOrbit) -> None:
    # Dawn-dusk (LTAN 06:00) SSO at the December solstice: N̂ ≈ (0, sin i, cos i) and the Sun at
    # α = 270°, δ = -23.44°, so sin β ≈ -0.917·0.990 + 0.398·0.139 → β ≈ -58.5°; below the
    # critical 65.16°, so this is the dawn-dusk orbit's (winter) eclipse season.
    beta_deg = float(beta_angle_rad(default_orbit, np.array([0.0]))[0]) / DEG
    print(f"beta at 2026-12-21T00:00Z: {beta_deg:.2f} deg")
    assert 55.0 < abs(beta_deg) < 62.0
    assert abs(beta_deg) < critical_beta_rad(650e3) / DEG


def test_default_orbit_eclipse_lasts_about_twenty_minutes(default_orbit: CircularOrbit) -> None:
    # Rickman closed form at β = -58.6°: f = acos(2952.0 / (7028.1·cos β))/π ≈ 0.202 → 19.7 min.
    t = np.arange(0.0, default_orbit.period_s, 0.5)
    env = environment(default_orbit, t)
    dark_min = float(np.sum(1.0 - env.illumination) * 0.5 / 60.0)
    print(f"conical eclipse over one orbit: {dark_min:.2f} min")
    assert 19.0 <= dark_min <= 21.0
    # next_transition: entry then exit, duration vs the closed form at the mid-eclipse beta.
    entry = next_transition(default_orbit, 0.0, sunlit_now=True)
    assert entry is not None
    exit_ = next_transition(default_orbit, entry, sunlit_now=False)
    assert exit_ is not None
    beta_mid = float(beta_angle_rad(default_orbit, np.array([0.5 * (entry + exit_)]))[0])
    expected_s = float(eclipse_fraction(650e3, beta_mid)) * default_orbit.period_s
    assert exit_ - entry == pytest.approx(expected_s, abs=2.0)


def test_default_orbit_has_no_eclipse_in_june(default_orbit: CircularOrbit) -> None:
    # June solstice: N̂ ≈ (0, -sin i, cos i), Sun at α = 90°, δ = +23.44° → β ≈ -74.5°,
    # beyond β* = 65.16°: full sun all orbit.
    june = orbit_from_ltan(650e3, default_orbit.inclination_rad, 6.0, datetime(2026, 6, 21))
    # The same orbit propagated half a year (the node keeps LTAN 06:00 by sun-synchronism).
    half_year_s = (datetime(2027, 6, 21, tzinfo=UTC) - DEFAULT_EPOCH).total_seconds()
    for orbit, t0 in ((june, 0.0), (default_orbit, half_year_s)):
        beta_deg = float(beta_angle_rad(orbit, np.array([t0]))[0]) / DEG
        print(f"beta in June: {beta_deg:.2f} deg")
        assert abs(beta_deg) > critical_beta_rad(650e3) / DEG
        t = t0 + np.arange(0.0, orbit.period_s, 1.0)
        assert np.all(environment(orbit, t).illumination == 1.0)
        assert next_transition(orbit, t0, sunlit_now=True) is None


def test_inclined_550_km_orbit_has_an_eclipse_every_orbit() -> None:
    # 550 km, 53°, node at local noon on 2026-12-21: β ≈ -14°, far below β* = 67.0°, so every
    # one of the ~15 orbits in the day is eclipsed. (A 53° orbit is not eclipsed every orbit
    # all year: |β| can reach i + ε = 76.4° > 67.0°, giving short full-sun seasons.)
    orbit = orbit_from_ltan(550e3, 53.0 * DEG, 12.0, DEFAULT_EPOCH)
    period = orbit.period_s
    t = np.arange(0.0, 15 * period, 2.0)
    env = environment(orbit, t)
    assert np.all(np.abs(env.beta_rad) < critical_beta_rad(550e3))
    orbit_index = (t // period).astype(int)
    for k in range(15):
        assert env.illumination[orbit_index == k].min() == 0.0


def test_next_transition_brackets_the_change_to_a_tenth_of_a_second(
    default_orbit: CircularOrbit,
) -> None:
    t_now = 1234.5
    sunlit_now = bool(environment(default_orbit, np.array([t_now])).sunlit[0])
    t_next = next_transition(default_orbit, t_now, sunlit_now)
    assert t_next is not None
    assert t_now < t_next < t_now + 2.0 * default_orbit.period_s
    states = environment(default_orbit, np.array([t_next - 0.1, t_next])).sunlit
    assert bool(states[0]) == sunlit_now
    assert bool(states[1]) != sunlit_now
    # Already in the other state: the transition is now.
    assert next_transition(default_orbit, t_now, not sunlit_now) == t_now
    # A horizon too short to reach it.
    short_horizon_s = t_next - t_now - 20.0
    assert next_transition(default_orbit, t_now, sunlit_now, horizon_s=short_horizon_s) is None


def test_environment_fields_are_consistent(default_orbit: CircularOrbit) -> None:
    t = np.arange(0.0, default_orbit.period_s, 5.0)
    env = environment(default_orbit, t)
    assert isinstance(env, Environment)
    n = t.size
    assert env.sun_rtn.shape == (n, 3)
    for field in ("t_s", "sun_distance_au", "illumination", "solar_flux_w_m2", "beta_rad"):
        assert getattr(env, field).shape == (n,)
    np.testing.assert_allclose(np.linalg.norm(env.sun_rtn, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(env.beta_rad, beta_angle_rad(default_orbit, t), atol=1e-12)
    # Flux = S/d² · ν; December: d ≈ 0.984 AU → ~1405 W/m² in full sun.
    np.testing.assert_allclose(
        env.solar_flux_w_m2, SOLAR_CONSTANT_W_M2 / env.sun_distance_au**2 * env.illumination
    )
    assert env.solar_flux_w_m2.max() == pytest.approx(1405.0, abs=3.0)
    np.testing.assert_array_equal(env.sunlit, env.illumination > 0.5)
    np.testing.assert_array_equal(env.albedo_factor, np.maximum(env.sun_rtn[:, 0], 0.0))


def test_environment_slices_are_bitwise_identical(default_orbit: CircularOrbit) -> None:
    t = np.arange(0.0, 86_400.0, 1.0)
    full = environment(default_orbit, t)
    slices = [(0, 1), (1, 2), (3, 10), (17, 86_400), (1000, 7001), (5861, 5900), (86_399, 86_400)]
    rng = np.random.default_rng(1)
    for _ in range(20):
        a = int(rng.integers(0, 86_399))
        slices.append((a, int(rng.integers(a + 1, 86_401))))
    for a, b in slices:
        part = environment(default_orbit, t[a:b])
        for field in Environment.__slots__:
            expected = getattr(full, field)[a:b]
            got = getattr(part, field)
            assert got.tobytes() == expected.tobytes(), (field, a, b)
