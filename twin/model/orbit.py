"""Orbit and Sun geometry for a circular low Earth orbit: eclipses, beta angle, Earth view factors.

Pure numpy, no state and no I/O. SI units everywhere (metres, seconds, radians); the unit is part
of every name. Time inside the model is ``t_s``, seconds since an orbit's epoch; the epoch is a
Julian date on the UTC scale (UT1 - UTC and TT - UTC, at most ~70 s, are neglected: they move the
Sun by < 0.001 deg).

Model summary
-------------
* Circular Keplerian orbit whose right ascension of the ascending node (RAAN) drifts at the J2
  secular rate; the argument of latitude advances at the Keplerian mean motion (the J2 correction
  to the along-track rate, ~1e-3 relative, is neglected).
* Sun from the Astronomical Almanac low-precision formula, in the mean equator and equinox of
  date, which is also the frame the orbit is expressed in (precession/nutation neglected).
* Shadow: cylindrical (eclipse-season arithmetic) and conical with penumbra (illumination).
* Earth is a sphere of radius ``R_EARTH_M`` (the equatorial radius) for shadow and view factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# --- constants ------------------------------------------------------------------------------
R_EARTH_M = 6378137.0  # WGS-84 equatorial radius
MU_EARTH_M3_S2 = 3.986004418e14  # IERS / WGS-84 GM
J2 = 1.08262668e-3  # EGM2008 unnormalised second zonal harmonic
AU_M = 1.495978707e11  # IAU 2012 Resolution B2
R_SUN_M = 6.957e8  # IAU 2015 Resolution B3 nominal solar radius
SOLAR_CONSTANT_W_M2 = 1361.0  # TSI at 1 AU, Kopp & Lean (2011), GRL 38, L01706
EARTH_IR_W_M2 = 237.0  # orbit-average outgoing long-wave, Gilmore (2002) ch. 2
EARTH_ALBEDO = 0.30  # orbit-average albedo, Gilmore (2002) ch. 2
SECONDS_PER_DAY = 86400.0
TROPICAL_YEAR_S = 365.2421897 * SECONDS_PER_DAY  # mean tropical year (J2000)
SIDEREAL_YEAR_S = 365.256363004 * SECONDS_PER_DAY
JD_J2000 = 2451545.0  # 2000-01-01T12:00 TT
JD_UNIX_EPOCH = 2440587.5  # 1970-01-01T00:00 UTC

_DEG = math.pi / 180.0
_COS_EPS0 = math.cos(23.439 * _DEG)  # mean obliquity at J2000 in the Almanac formula
_SIN_EPS0 = math.sin(23.439 * _DEG)


# --- time and circular-orbit arithmetic -----------------------------------------------------
def julian_date(dt: datetime) -> float:
    """Julian date of a UTC instant; a naive ``datetime`` is taken to be UTC.

    JD = 2440587.5 + (seconds since 1970-01-01T00:00Z) / 86400 (Meeus, *Astronomical Algorithms*,
    2nd ed., ch. 7: JD of the Unix epoch). Leap seconds are ignored, as POSIX time does.
    """
    aware = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return JD_UNIX_EPOCH + aware.timestamp() / SECONDS_PER_DAY


def orbital_period_s(altitude_m: float) -> float:
    """Period of a circular orbit, Kepler's third law: T = 2π·sqrt(a³/μ), a = R + h."""
    a_m = R_EARTH_M + altitude_m
    return 2.0 * math.pi * math.sqrt(a_m**3 / MU_EARTH_M3_S2)


def j2_raan_rate_rad_s(altitude_m: float, inclination_rad: float) -> float:
    """Secular RAAN drift of a circular orbit from J2: dΩ/dt = -(3/2)·n·J2·(R/a)²·cos i.

    Vallado, *Fundamentals of Astrodynamics and Applications*, 4th ed. (2013), §9.6 (secular
    J2 effects, e = 0); Wertz & Larson, *SMAD* 3rd ed., §6.2.2.
    """
    a_m = R_EARTH_M + altitude_m
    n_rad_s = math.sqrt(MU_EARTH_M3_S2 / a_m**3)
    return -1.5 * n_rad_s * J2 * (R_EARTH_M / a_m) ** 2 * math.cos(inclination_rad)


def sun_synchronous_inclination_rad(altitude_m: float) -> float:
    """Inclination of the circular sun-synchronous orbit at ``altitude_m``.

    Sets the J2 nodal regression equal to the mean Sun's rate, 2π per tropical year:
    cos i = -(2/3)·(2π/T_trop)·a^(7/2) / (J2·R²·sqrt(μ)). Vallado (2013) §11.4 (sun-synchronous
    orbits); Wertz & Larson, *SMAD* 3rd ed., §6.2.2.
    """
    a_m = R_EARTH_M + altitude_m
    rate_rad_s = 2.0 * math.pi / TROPICAL_YEAR_S
    cos_i = -(2.0 / 3.0) * rate_rad_s * a_m**3.5 / (J2 * R_EARTH_M**2 * math.sqrt(MU_EARTH_M3_S2))
    return math.acos(cos_i)


def critical_beta_rad(altitude_m: float) -> float:
    """Beta angle above which a circular orbit sees no (cylindrical) eclipse: β* = asin(R/(R+h)).

    Rickman, *Introduction to On-Orbit Thermal Environments*, NASA TFAWS short course (2014).
    """
    return math.asin(R_EARTH_M / (R_EARTH_M + altitude_m))


def eclipse_fraction(altitude_m: float, beta_rad: npt.ArrayLike) -> FloatArray:
    """Fraction of a circular orbit spent in a cylindrical Earth shadow, vectorised over beta.

    f = (1/π)·acos( sqrt(h² + 2Rh) / ((R + h)·cos β) ) for |β| < β*, else 0
    (Rickman, NASA TFAWS *Introduction to On-Orbit Thermal Environments*; Wertz & Larson, *SMAD*
    3rd ed., §5.1).
    """
    beta = np.asarray(beta_rad, dtype=np.float64)
    h = altitude_m
    a_m = R_EARTH_M + h
    cos_beta = np.abs(np.cos(beta))
    in_season = np.abs(beta) < critical_beta_rad(altitude_m)
    ratio = math.sqrt(h * h + 2.0 * R_EARTH_M * h) / (a_m * np.where(in_season, cos_beta, 1.0))
    return np.where(in_season, np.arccos(np.clip(ratio, -1.0, 1.0)) / math.pi, 0.0)


# --- Sun ------------------------------------------------------------------------------------
def _mean_sun_longitude_rad(jd: npt.ArrayLike) -> FloatArray:
    """Mean longitude of the Sun, L = 280.460° + 0.9856474°·(JD - 2451545.0) (Astronomical
    Almanac, low-precision formulae for the Sun)."""
    n_day = np.asarray(jd, dtype=np.float64) - JD_J2000
    return np.remainder(280.460 + 0.9856474 * n_day, 360.0) * _DEG


def sun_position(jd: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Unit vector (n, 3) towards the Sun in ECI and the Sun's distance (n,) in metres.

    The Astronomical Almanac low-precision formula (Section C, "Low precision formulas for the
    Sun"; ~0.01° in longitude, 1950-2050), with n = JD - 2451545.0:
    L = 280.460° + 0.9856474°n, g = 357.528° + 0.9856003°n,
    λ = L + 1.915° sin g + 0.020° sin 2g, ε = 23.439° - 0.0000004°n,
    R = 1.00014 - 0.01671 cos g - 0.00014 cos 2g (AU); the ecliptic latitude is taken as 0.
    The frame is the mean equator and equinox of date.
    """
    n_day = np.atleast_1d(np.asarray(jd, dtype=np.float64)) - JD_J2000
    # Angles are left unreduced (< 200 rad over 1950-2050; sin/cos reduce them exactly).
    mean_lon = (280.460 + 0.9856474 * n_day) * _DEG
    g = (357.528 + 0.9856003 * n_day) * _DEG
    sin_g = np.sin(g)
    cos_g = np.cos(g)
    sin_2g = 2.0 * sin_g * cos_g  # double-angle identities: two transcendentals fewer
    cos_2g = 2.0 * cos_g * cos_g - 1.0
    ecl_lon = mean_lon + (1.915 * sin_g + 0.020 * sin_2g) * _DEG
    # ε = ε0 + δ with |δ| < 1.3e-4 rad over 1950-2050: angle addition with cos δ = 1 - δ²/2 and
    # sin δ = δ - δ³/6 is exact to < 1e-17, and saves two transcendentals per sample.
    delta = -0.0000004 * _DEG * n_day
    cos_d = 1.0 - 0.5 * delta * delta
    sin_d = delta - delta * delta * delta / 6.0
    cos_eps = _COS_EPS0 * cos_d - _SIN_EPS0 * sin_d
    sin_eps = _SIN_EPS0 * cos_d + _COS_EPS0 * sin_d
    sin_lon = np.sin(ecl_lon)
    unit = np.empty((n_day.size, 3), dtype=np.float64)
    unit[:, 0] = np.cos(ecl_lon)
    unit[:, 1] = cos_eps * sin_lon
    unit[:, 2] = sin_eps * sin_lon
    distance_m = (1.00014 - 0.01671 * cos_g - 0.00014 * cos_2g) * AU_M
    return unit, distance_m


# --- orbit ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CircularOrbit:
    """A circular orbit with a J2-drifting node. Angles at ``epoch_jd`` (UTC Julian date)."""

    altitude_m: float
    inclination_rad: float
    raan0_rad: float
    raan_rate_rad_s: float
    arg_latitude0_rad: float
    epoch_jd: float

    @property
    def radius_m(self) -> float:
        """Orbit radius a = R_EARTH_M + altitude_m."""
        return R_EARTH_M + self.altitude_m

    @property
    def mean_motion_rad_s(self) -> float:
        """Keplerian mean motion n = sqrt(μ/a³)."""
        return math.sqrt(MU_EARTH_M3_S2 / self.radius_m**3)

    @property
    def period_s(self) -> float:
        """Keplerian period 2π/n."""
        return orbital_period_s(self.altitude_m)


def orbit_from_ltan(
    altitude_m: float,
    inclination_rad: float,
    ltan_h: float,
    epoch: datetime,
    arg_latitude0_rad: float = 0.0,
) -> CircularOrbit:
    """Circular orbit whose ascending node is at local mean solar time ``ltan_h`` at ``epoch``.

    Ω0 = α_mean_sun(epoch) + (ltan_h - 12 h)·15°/h (Vallado 2013, §11.4, local time of the node).
    Approximation: the right ascension of the mean Sun is taken as the Sun's mean longitude L
    of the Astronomical Almanac formula (exact for the fictitious mean Sun up to precession,
    nutation and the ~20" aberration, all neglected). The node then drifts at the J2 rate for
    this altitude and inclination; it keeps its local time only if the orbit is sun-synchronous.
    """
    epoch_jd = julian_date(epoch)
    alpha_mean_sun = float(_mean_sun_longitude_rad(epoch_jd))
    raan0 = (alpha_mean_sun + (ltan_h - 12.0) * 15.0 * _DEG) % (2.0 * math.pi)
    return CircularOrbit(
        altitude_m=altitude_m,
        inclination_rad=inclination_rad,
        raan0_rad=raan0,
        raan_rate_rad_s=j2_raan_rate_rad_s(altitude_m, inclination_rad),
        arg_latitude0_rad=arg_latitude0_rad,
        epoch_jd=epoch_jd,
    )


def rtn_axes(orbit: CircularOrbit, t_s: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Radial (zenith), transverse (along-track) and normal (angular momentum) unit vectors.

    Each (n, 3) in ECI. With u = u0 + n·t, Ω = Ω0 + dΩ/dt·t (Vallado 2013, §2.6, perifocal to
    ECI rotation R3(-Ω)·R1(-i)·R3(-u) applied to x̂, ŷ, ẑ):
    R = (cΩ cu - sΩ su ci, sΩ cu + cΩ su ci, su si),
    T = (-cΩ su - sΩ cu ci, -sΩ su + cΩ cu ci, cu si),
    N = (sΩ si, -cΩ si, ci).
    T is the velocity direction of the circular orbit (the slow node drift is not included).
    """
    t = np.atleast_1d(np.array(t_s, dtype=np.float64))
    u = orbit.arg_latitude0_rad + orbit.mean_motion_rad_s * t
    raan = orbit.raan0_rad + orbit.raan_rate_rad_s * t
    cu, su = np.cos(u), np.sin(u)
    co, so = np.cos(raan), np.sin(raan)
    ci, si = math.cos(orbit.inclination_rad), math.sin(orbit.inclination_rad)
    radial = np.empty((t.size, 3), dtype=np.float64)
    radial[:, 0] = co * cu - so * su * ci
    radial[:, 1] = so * cu + co * su * ci
    radial[:, 2] = su * si
    transverse = np.empty((t.size, 3), dtype=np.float64)
    transverse[:, 0] = -co * su - so * cu * ci
    transverse[:, 1] = -so * su + co * cu * ci
    transverse[:, 2] = cu * si
    normal = np.empty((t.size, 3), dtype=np.float64)
    normal[:, 0] = so * si
    normal[:, 1] = -co * si
    normal[:, 2] = ci
    return radial, transverse, normal


def position_eci(orbit: CircularOrbit, t_s: npt.ArrayLike) -> FloatArray:
    """Position (n, 3) in metres in ECI (mean equator and equinox of date): r = a·R̂ (rtn_axes)."""
    radial, _, _ = rtn_axes(orbit, t_s)
    return orbit.radius_m * radial


def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise dot product of (n, 3) arrays, written out so it is bitwise slice-independent
    (a summation or einsum could reorder or vectorise differently with the array length)."""
    return a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1] + a[:, 2] * b[:, 2]


def beta_angle_rad(orbit: CircularOrbit, t_s: npt.ArrayLike) -> FloatArray:
    """Beta angle: β = asin(ŝ·N̂), the Sun's elevation above the orbit plane, positive towards +N
    (Rickman, NASA TFAWS *Introduction to On-Orbit Thermal Environments*)."""
    t = np.atleast_1d(np.array(t_s, dtype=np.float64))
    _, _, normal = rtn_axes(orbit, t)
    sun_unit, _ = sun_position(orbit.epoch_jd + t / SECONDS_PER_DAY)
    return np.arcsin(np.clip(_dot(sun_unit, normal), -1.0, 1.0))


# --- shadow ---------------------------------------------------------------------------------
def shadow_cylindrical(r_eci: FloatArray, sun_unit: FloatArray) -> BoolArray:
    """True where the satellite is inside the cylinder of radius R behind the Earth.

    In umbra iff r·ŝ < 0 and |r - (r·ŝ)ŝ| < R (Montenbruck & Gill, *Satellite Orbits*, 2000,
    §3.4.2, cylindrical model). ``r_eci`` (n, 3) in metres; ``sun_unit`` (n, 3) or (3,).
    """
    r = np.atleast_2d(np.asarray(r_eci, dtype=np.float64))
    s = np.broadcast_to(np.asarray(sun_unit, dtype=np.float64), r.shape)
    along = _dot(r, s)
    perp2 = _dot(r, r) - along * along
    return (along < 0.0) & (perp2 < R_EARTH_M * R_EARTH_M)


def illumination_conical(
    r_eci: FloatArray, sun_unit: FloatArray, sun_distance_m: npt.ArrayLike
) -> FloatArray:
    """Fraction (0..1) of the solar disk visible from the satellite, conical shadow with penumbra.

    Montenbruck & Gill, *Satellite Orbits* (2000), §3.4.2: apparent radii of the Sun
    a = asin(R_sun/|s - r|) and of the Earth b = asin(R/|r|), and their apparent separation c
    (between -r and s - r). No occultation if c ≥ a + b; total if c ≤ b - a; annular
    (1 - b²/a²) if c ≤ a - b; otherwise, with x = (c² + a² - b²)/(2c), y = sqrt(a² - x²),
    the occulted area A = a²·acos(x/a) + b²·acos((c - x)/b) - c·y and ν = 1 - A/(π a²).

    The three cases are sorted by comparing cos c with cos(a ± b), built from sines and
    cosines that need only square roots; the inverse trigonometric functions are evaluated for
    the (few) penumbra samples only. Element-wise, so the result does not depend on slicing.
    """
    r = np.atleast_2d(np.asarray(r_eci, dtype=np.float64))
    s = np.broadcast_to(np.asarray(sun_unit, dtype=np.float64), r.shape)
    d = np.broadcast_to(np.asarray(sun_distance_m, dtype=np.float64), r.shape[:1])
    to_sun = s * d[:, None] - r
    to_sun_m = np.sqrt(_dot(to_sun, to_sun))
    r_m = np.sqrt(_dot(r, r))
    sin_a = R_SUN_M / to_sun_m
    sin_b = np.minimum(R_EARTH_M / r_m, 1.0)
    cos_a = np.sqrt(1.0 - sin_a * sin_a)
    cos_b = np.sqrt(1.0 - sin_b * sin_b)
    cos_c = -_dot(r, to_sun) / (r_m * to_sun_m)
    no_overlap = cos_c <= cos_a * cos_b - sin_a * sin_b  # c >= a + b
    inside = cos_c >= cos_a * cos_b + sin_a * sin_b  # c <= |a - b|
    nu = np.where(no_overlap, 1.0, 0.0)
    annular = inside & (sin_a > sin_b)  # the Sun's disk larger than the Earth's (not in LEO)
    nu[annular] = 1.0 - (np.arcsin(sin_b[annular]) / np.arcsin(sin_a[annular])) ** 2
    idx = np.flatnonzero(~(no_overlap | inside))
    if idx.size:
        a = np.arcsin(sin_a[idx])
        b = np.arcsin(sin_b[idx])
        # c from atan2(|(-r) x (s - r)|, (-r)·(s - r)): well conditioned at all angles.
        rp, sp = r[idx], to_sun[idx]
        cx = rp[:, 1] * sp[:, 2] - rp[:, 2] * sp[:, 1]
        cy = rp[:, 2] * sp[:, 0] - rp[:, 0] * sp[:, 2]
        cz = rp[:, 0] * sp[:, 1] - rp[:, 1] * sp[:, 0]
        c = np.arctan2(np.sqrt(cx * cx + cy * cy + cz * cz), -_dot(rp, sp))
        x = (c * c + a * a - b * b) / (2.0 * c)
        y = np.sqrt(np.maximum(a * a - x * x, 0.0))
        occulted = (
            a * a * np.arccos(np.clip(x / a, -1.0, 1.0))
            + b * b * np.arccos(np.clip((c - x) / b, -1.0, 1.0))
            - c * y
        )
        nu[idx] = np.clip(1.0 - occulted / (math.pi * a * a), 0.0, 1.0)
    return nu


# --- Earth view factor ----------------------------------------------------------------------
def earth_view_factor(altitude_m: float, cos_gamma: npt.ArrayLike) -> FloatArray:
    """View factor from a one-sided flat plate to the Earth sphere; γ = plate normal vs nadir.

    Howell, *A Catalog of Radiation Heat Transfer Configuration Factors* (plane element of any
    tilt to a sphere), with H = (R + h)/R, X = sqrt(H² - 1), Y = -X·cot γ:
    γ ≤ acos(1/H): F = cos γ / H² (whole sphere visible);
    γ ≥ π/2 + asin(1/H): F = 0;
    otherwise F = (1/(π H²))·[cos γ·acos Y - X·sin γ·sqrt(1 - Y²)]
    + (1/π)·atan(sin γ·sqrt(1 - Y²)/X).
    Continuous at both boundaries (Y = -1 and Y = +1 respectively).
    """
    cos_g = np.clip(np.asarray(cos_gamma, dtype=np.float64), -1.0, 1.0)
    h_ratio = (R_EARTH_M + altitude_m) / R_EARTH_M
    h2 = h_ratio * h_ratio
    x_ = math.sqrt(h2 - 1.0)
    gamma = np.arccos(cos_g)
    full = gamma <= math.acos(1.0 / h_ratio)
    none = gamma >= 0.5 * math.pi + math.asin(1.0 / h_ratio)
    sin_g = np.sqrt(1.0 - cos_g * cos_g)
    partial = ~(full | none)
    sin_safe = np.where(partial, sin_g, 1.0)
    y_ = np.clip(-x_ * cos_g / sin_safe, -1.0, 1.0)
    root = np.sqrt(1.0 - y_ * y_)
    f_partial = (cos_g * np.arccos(y_) - x_ * sin_safe * root) / (math.pi * h2) + np.arctan(
        sin_safe * root / x_
    ) / math.pi
    return np.where(full, cos_g / h2, np.where(none, 0.0, f_partial))


# --- environment seen by the spacecraft ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Environment:
    """Sun and shadow along an orbit; every field has length n (``sun_rtn`` is (n, 3)).

    ``sun_rtn`` is the unit Sun vector in the radial/transverse/normal axes of ``rtn_axes``;
    ``albedo_factor`` = max(0, sun_rtn[:, 0]) is cos θ, the solar zenith angle at the sub-satellite
    point, in the usual albedo approximation q_alb = a·S·F·cos θ (Gilmore 2002, ch. 2).
    """

    t_s: FloatArray
    sun_rtn: FloatArray
    sun_distance_au: FloatArray
    illumination: FloatArray
    solar_flux_w_m2: FloatArray
    beta_rad: FloatArray
    sunlit: BoolArray
    albedo_factor: FloatArray


def environment(orbit: CircularOrbit, t_s: npt.ArrayLike) -> Environment:
    """Sun direction, distance, conical illumination, flux and beta at times ``t_s`` (s).

    solar_flux_w_m2 = SOLAR_CONSTANT_W_M2 / d_au² · illumination; sunlit = illumination > 0.5.
    Purely element-wise (no reductions over time, dot products written out), so
    environment(orbit, t[a:b]) equals environment(orbit, t)[a:b] bit for bit; verified with
    numpy 2.4 on AVX2, where the SIMD and scalar-tail paths agreed without any workaround.
    ``t_s`` is copied into a fresh array as a precaution, so the kernels see the same alignment
    whatever slice they are given.
    """
    t = np.atleast_1d(np.array(t_s, dtype=np.float64))
    radial, transverse, normal = rtn_axes(orbit, t)
    sun_unit, sun_distance_m = sun_position(orbit.epoch_jd + t / SECONDS_PER_DAY)
    sun_rtn = np.empty_like(sun_unit)
    sun_rtn[:, 0] = _dot(sun_unit, radial)
    sun_rtn[:, 1] = _dot(sun_unit, transverse)
    sun_rtn[:, 2] = _dot(sun_unit, normal)
    illumination = illumination_conical(orbit.radius_m * radial, sun_unit, sun_distance_m)
    sun_distance_au = sun_distance_m / AU_M
    return Environment(
        t_s=t,
        sun_rtn=sun_rtn,
        sun_distance_au=sun_distance_au,
        illumination=illumination,
        solar_flux_w_m2=SOLAR_CONSTANT_W_M2 / (sun_distance_au * sun_distance_au) * illumination,
        beta_rad=np.arcsin(np.clip(sun_rtn[:, 2], -1.0, 1.0)),
        sunlit=illumination > 0.5,
        albedo_factor=np.maximum(sun_rtn[:, 0], 0.0),
    )


def _sunlit(orbit: CircularOrbit, t_s: FloatArray) -> BoolArray:
    """illumination > 0.5 at ``t_s``, the same criterion as ``Environment.sunlit``."""
    radial, _, _ = rtn_axes(orbit, t_s)
    sun_unit, sun_distance_m = sun_position(orbit.epoch_jd + t_s / SECONDS_PER_DAY)
    return illumination_conical(orbit.radius_m * radial, sun_unit, sun_distance_m) > 0.5


def next_transition(
    orbit: CircularOrbit, t_s: float, sunlit_now: bool, horizon_s: float | None = None
) -> float | None:
    """Time (s since epoch) of the next eclipse entry (if ``sunlit_now``) or exit (if not).

    The state is ``illumination > 0.5`` (mid-penumbra), as in ``Environment.sunlit``. Sampled
    every 10 s over ``horizon_s`` (default two orbital periods), then the first change is
    bisected to < 0.1 s; the time returned is the first bisection point already in the new
    state. Returns ``t_s`` if the state at ``t_s`` already differs from ``sunlit_now``, and
    None if nothing changes within the horizon. Events shorter than 10 s can be missed.
    """
    horizon = 2.0 * orbit.period_s if horizon_s is None else float(horizon_s)
    steps = max(1, math.ceil(horizon / 10.0))
    grid = t_s + np.minimum(np.arange(steps + 1, dtype=np.float64) * 10.0, horizon)
    changed = np.flatnonzero(_sunlit(orbit, grid) != sunlit_now)
    if changed.size == 0:
        return None
    k = int(changed[0])
    if k == 0:
        return float(t_s)
    lo, hi = float(grid[k - 1]), float(grid[k])
    while hi - lo >= 0.1:
        mid = 0.5 * (lo + hi)
        if bool(_sunlit(orbit, np.array([mid]))[0]) != sunlit_now:
            hi = mid
        else:
            lo = mid
    return hi
