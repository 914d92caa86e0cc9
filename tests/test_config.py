"""The satellite config loader: shipped files load cleanly, bad files fail with one clear message.

Every error is a :class:`~twin.errors.ConfigError` (a ``TwinError``, which the CLI prints without a
traceback) whose text is ``"<file>: <key> = <value>: expected <...>"``. Most bad files are the
default ``configs/satellite.toml`` with one string replaced; a few hand-written ones live in
``tests/data/bad_configs/``. Tests marked ``xfail(strict=True)`` document loader problems that are
not fixed yet: each reason names the place to change.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from twin.config import (
    DEFAULT_SATELLITE,
    Loaded,
    SatelliteConfig,
    inclination_rad,
    load_satellite,
)
from twin.errors import ConfigError, TwinError
from twin.model.orbit import (
    R_EARTH_M,
    beta_angle_rad,
    critical_beta_rad,
    orbital_period_s,
)
from twin.model.sizing import build_orbit, design_margins

LEO53_SATELLITE = DEFAULT_SATELLITE.parent / "satellite-leo53.toml"
SHIPPED = (DEFAULT_SATELLITE, LEO53_SATELLITE)
BAD_DIR = Path(__file__).resolve().parent / "data" / "bad_configs"
DEFAULT_TEXT = DEFAULT_SATELLITE.read_text(encoding="utf-8")


# --- helpers ------------------------------------------------------------------------------------
def edited(old: str, new: str, text: str = DEFAULT_TEXT) -> str:
    """``text`` with the one occurrence of ``old`` replaced (fails loudly if the default moved)."""
    assert text.count(old) == 1, f"{old!r} should occur once in the default satellite file"
    return text.replace(old, new)


def write(tmp_path: Path, text: str, name: str = "edited.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_edited(tmp_path: Path, old: str, new: str) -> Loaded:
    return load_satellite(write(tmp_path, edited(old, new)))


def assert_names(err: ConfigError, file: Path | str, key: str, value: str, expected: str) -> None:
    """The message names the file, the dotted key, the bad value and what was expected.

    ``value`` is the start of the value as shown (long values are cut to 60 characters).
    """
    text = str(err)
    assert isinstance(err, TwinError)
    assert err.file == str(file)
    assert err.key == key
    assert text.startswith(f"{file}: {key} = {value}"), text
    assert text.endswith(f": expected {err.expected}"), text
    assert expected in err.expected, text


# --- the shipped files --------------------------------------------------------------------------
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_satellite_loads_without_warnings(path: Path) -> None:
    loaded = load_satellite(path)
    assert isinstance(loaded.config, SatelliteConfig)
    assert loaded.warnings == ()
    assert loaded.config.source == str(path)


def test_default_path_is_the_default_satellite() -> None:
    assert load_satellite().config == load_satellite(DEFAULT_SATELLITE).config


def test_leo53_has_the_default_hardware() -> None:
    """Only [orbit] and battery.max_depth_of_discharge differ between the two shipped files."""
    default = load_satellite(DEFAULT_SATELLITE).config
    leo53 = load_satellite(LEO53_SATELLITE).config
    assert leo53.battery.max_depth_of_discharge == 0.60
    same_battery = dataclasses.replace(
        leo53.battery, max_depth_of_discharge=default.battery.max_depth_of_discharge
    )
    assert dataclasses.replace(leo53, orbit=default.orbit, battery=same_battery) == default


def test_leo53_orbit_is_53_deg_with_a_long_eclipse_every_orbit() -> None:
    cfg = load_satellite(LEO53_SATELLITE).config
    assert cfg.orbit.altitude_km == 550.0
    assert cfg.orbit.inclination_deg == 53.0
    beta0_deg = math.degrees(float(beta_angle_rad(build_orbit(cfg), [0.0])[0]))
    assert abs(beta0_deg) < 20.0  # Sun near the orbit plane at epoch (file says -2.5°)
    assert abs(beta0_deg) < math.degrees(critical_beta_rad(550e3))

    # Longest cylindrical eclipse, at β = 0: f = acos(sqrt(h² + 2Rh) / (R + h)) / π
    # (Wertz & Larson, SMAD 3rd ed. §5.1), times the Kepler period: 35.6 min at 550 km.
    h = 550e3
    f0 = math.acos(math.sqrt(h * h + 2.0 * R_EARTH_M * h) / (R_EARTH_M + h)) / math.pi
    m = design_margins(cfg)
    assert m.worst_eclipse_s == pytest.approx(f0 * orbital_period_s(h), rel=1e-3)
    assert m.worst_eclipse_s / 60.0 == pytest.approx(35.6, abs=0.1)
    # 108 kW × 35.6 min / 0.95 of a 124.7 kWh battery: 54 %, inside the file's 60 % limit.
    assert m.eclipse_dod == pytest.approx(0.541, abs=0.005)
    assert m.eclipse_dod < cfg.battery.max_depth_of_discharge


def test_leo53_with_the_default_dod_limit_warns_about_the_battery(tmp_path: Path) -> None:
    text = edited(
        "max_depth_of_discharge = 0.60",
        "max_depth_of_discharge = 0.40",
        LEO53_SATELLITE.read_text(encoding="utf-8"),
    )
    loaded = load_satellite(write(tmp_path, text))
    assert len(loaded.warnings) == 1
    assert "battery" in loaded.warnings[0]
    assert "depth of discharge of 54%" in loaded.warnings[0]


# --- frozen objects -----------------------------------------------------------------------------
def test_loaded_config_is_frozen() -> None:
    loaded = load_satellite()
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.config.orbit.altitude_km = 1000.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.config.battery = loaded.config.battery  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.warnings = ("x",)  # type: ignore[misc]
    assert isinstance(loaded.config.battery.ocv_v, tuple)
    assert isinstance(loaded.config.thermal.radiator.normal_rtn, tuple)


# --- inclination: a number or "sun-synchronous" -------------------------------------------------
def test_inclination_accepts_sun_synchronous() -> None:
    orbit = load_satellite().config.orbit
    assert orbit.inclination_deg == "sun-synchronous"
    # J2 regression = mean-Sun rate at 650 km gives 97.99° (Vallado 2013 §11.4; the default file).
    assert math.degrees(inclination_rad(orbit)) == pytest.approx(97.99, abs=0.01)


def test_inclination_accepts_a_number(tmp_path: Path) -> None:
    loaded = load_edited(tmp_path, 'inclination_deg = "sun-synchronous"', "inclination_deg = 53")
    assert loaded.config.orbit.inclination_deg == 53.0
    assert isinstance(loaded.config.orbit.inclination_deg, float)
    assert inclination_rad(loaded.config.orbit) == pytest.approx(math.radians(53.0))


@pytest.mark.parametrize(
    ("new", "value", "expected"),
    [
        ('inclination_deg = "polar"', "'polar'", "one of 'sun-synchronous'"),
        ('inclination_deg = "Sun-Synchronous"', "'Sun-Synchronous'", "one of 'sun-synchronous'"),
        ("inclination_deg = 200.0", "200.0", "a number >= 0 and <= 180"),
    ],
)
def test_inclination_rejects_other_values(
    tmp_path: Path, new: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        load_edited(tmp_path, 'inclination_deg = "sun-synchronous"', new)
    assert_names(exc.value, tmp_path / "edited.toml", "orbit.inclination_deg", value, expected)


def test_inclination_out_of_range_message_names_the_only_word(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_edited(tmp_path, 'inclination_deg = "sun-synchronous"', "inclination_deg = 200.0")
    assert "a string" not in exc.value.expected
    assert "'sun-synchronous'" in exc.value.expected


# --- unreadable files ---------------------------------------------------------------------------
def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no-such-satellite.toml"
    with pytest.raises(ConfigError) as exc:
        load_satellite(path)
    assert str(exc.value).startswith(f"{path}: ")
    assert "not found" in str(exc.value)


def test_directory_instead_of_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_satellite(tmp_path)
    assert str(exc.value).startswith(f"{tmp_path}: ")
    assert "readable" in str(exc.value)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    # In Latin-1, "°" is the single byte 0xB0, which is not valid UTF-8.
    path.write_bytes(DEFAULT_TEXT.encode("latin-1", errors="replace"))
    with pytest.raises(ConfigError) as exc:
        load_satellite(path)
    assert str(exc.value).startswith(f"{path}: ")


def test_keyless_messages_say_expected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_satellite(tmp_path / "no-such-satellite.toml")
    assert ": expected " in str(exc.value)


# --- the hand-written bad files -----------------------------------------------------------------
def test_toml_syntax_error_names_file_and_line() -> None:
    path = BAD_DIR / "syntax_error.toml"
    with pytest.raises(ConfigError) as exc:
        load_satellite(path)
    text = str(exc.value)
    assert text.startswith(f"{path}: ")
    assert "TOML" in text
    assert "line 7" in text


def test_toml_syntax_error_in_the_default_names_its_line(tmp_path: Path) -> None:
    text = edited("altitude_km = 650.0", "altitude_km = 650.0.0")
    line = 1 + text.splitlines().index("altitude_km = 650.0.0")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_satellite(path)
    assert str(exc.value).startswith(f"{path}: ")
    assert f"line {line}" in str(exc.value)


@pytest.mark.parametrize(
    ("name", "key", "value", "expected"),
    [
        ("altitude_as_string.toml", "orbit.altitude_km", "'650 km'", "a number >= 160 and <= 2000"),
        ("altitude_too_low.toml", "orbit.altitude_km", "100.0", "a number >= 160 and <= 2000"),
        ("altitude_key_typo.toml", "orbit.altitude_kmm", "650.0", "known keys: altitude_km,"),
        ("inclination_polar.toml", "orbit.inclination_deg", "'polar'", "'sun-synchronous'"),
        ("satellite_not_a_table.toml", "satellite", "'OTS-1'", "a table"),
    ],
)
def test_bad_file_names_key_value_and_expectation(
    name: str, key: str, value: str, expected: str
) -> None:
    path = BAD_DIR / name
    with pytest.raises(ConfigError) as exc:
        load_satellite(path)
    assert_names(exc.value, path, key, value, expected)


# --- errors in an edited default -----------------------------------------------------------------
OCV_V = "ocv_v   = [3.00, 3.30, 3.42, 3.53, 3.60, 3.65, 3.69, 3.76, 3.85, 3.94, 4.04, 4.15]"
OCV_SOC = "ocv_soc = [0.0, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 1.00]"

BAD_EDITS = [
    # type errors
    pytest.param("altitude_km = 650.0", 'altitude_km = "650"',
                 "orbit.altitude_km", "'650'", "a number", id="string-for-number"),
    pytest.param("wings = 4", "wings = 4.0",
                 "solar_array.wings", "4.0", "an integer >= 1 and <= 16", id="float-for-integer"),
    pytest.param("cell_efficiency = 0.30", "cell_efficiency = true",
                 "solar_array.cell_efficiency", "True", "a number", id="bool-for-number"),
    pytest.param("racks = 16", "racks = true",
                 "compute.racks", "True", "an integer", id="bool-for-integer"),
    pytest.param("tracking = true ", "tracking = 1 ",
                 "solar_array.tracking", "1", "true or false", id="number-for-bool"),
    pytest.param("altitude_km = 650.0", "altitude_km = { value = 650.0 }",
                 "orbit.altitude_km", "{'value': 650.0}", "a number", id="table-for-number"),
    pytest.param('profile = "constant"', "profile = { name = 'constant' }",
                 "compute.workload.profile", "{'name': 'constant'}", "a string",
                 id="table-for-string"),
    pytest.param("racks = 16", "racks = [16]",
                 "compute.racks", "[16]", "an integer", id="array-for-integer"),
    pytest.param(OCV_SOC, "ocv_soc = 0.5",
                 "battery.ocv_soc", "0.5", "an array", id="number-for-array"),
    pytest.param("3.30, 3.42,", '"3.30", 3.42,',
                 "battery.ocv_v[1]", "'3.30'", "a number", id="string-in-array"),
    pytest.param("normal_rtn = [0.0, 1.0, 0.0]", "normal_rtn = [0.0, 1.0]",
                 "thermal.radiator.normal_rtn", "[0.0, 1.0]", "an array of 3 items",
                 id="vector-too-short"),
    pytest.param("epoch = 2026-12-21T00:00:00Z", "epoch = 2026-12-21",
                 "orbit.epoch", "datetime.date(2026, 12, 21)", "a TOML date-time",
                 id="date-for-date-time"),
    pytest.param("epoch = 2026-12-21T00:00:00Z", 'epoch = "2026-12-21T00:00:00Z"',
                 "orbit.epoch", "'2026-12-21T00:00:00Z'", "a TOML date-time",
                 id="string-for-date-time"),
    # missing keys
    pytest.param("altitude_km = 650.0\n", "",
                 "orbit.altitude_km", "'<missing>'", "this key to be present",
                 id="missing-altitude"),
    pytest.param("design_temp_c = 30.0\n", "",
                 "thermal.radiator.design_temp_c", "'<missing>'", "this key to be present",
                 id="missing-nested-key"),
    # unknown keys
    pytest.param("altitude_km = 650.0", "altitude_kmm = 650.0",
                 "orbit.altitude_kmm", "650.0", "one of the known keys: altitude_km,",
                 id="typo-in-orbit"),
    pytest.param("design_temp_c = 30.0\n", "design_temp_c = 30.0\ncolour = \"white\"\n",
                 "thermal.radiator.colour", "'white'", "one of the known keys: absorptivity,",
                 id="unknown-nested-key"),
    pytest.param("[solar_array]\n", "[solar_arrays]\n",
                 "solar_arrays", "{", "one of the known keys: battery,", id="section-typo"),
    # out of range
    pytest.param("area_per_wing_m2 = 160.0", "area_per_wing_m2 = -160.0",
                 "solar_array.area_per_wing_m2", "-160.0", "a number > 0 and <= 2000",
                 id="negative-area"),
    pytest.param("cell_efficiency = 0.30", "cell_efficiency = 0.6",
                 "solar_array.cell_efficiency", "0.6", "a number > 0 and < 0.6",
                 id="efficiency-0.6"),
    pytest.param("cell_efficiency = 0.30", "cell_efficiency = 0.75",
                 "solar_array.cell_efficiency", "0.75", "a number > 0 and < 0.6",
                 id="efficiency-0.75"),
    pytest.param("altitude_km = 650.0", "altitude_km = 100.0",
                 "orbit.altitude_km", "100.0", "a number >= 160 and <= 2000",
                 id="altitude-100-km"),
    pytest.param("altitude_km = 650.0", "altitude_km = nan",
                 "orbit.altitude_km", "nan", "a finite number >= 160 and <= 2000",
                 id="altitude-nan"),
    pytest.param("ltan_h = 6.0", "ltan_h = 24.0",
                 "orbit.ltan_h", "24.0", "a number >= 0 and < 24", id="ltan-24"),
    pytest.param("loops = 2", "loops = 0",
                 "thermal.coolant.loops", "0", ">= 1 and <= 8", id="zero-loops"),
    pytest.param("utilisation = 0.85", "utilisation = 1.2",
                 "compute.workload.utilisation", "1.2", "a number >= 0 and <= 1",
                 id="utilisation-above-1"),
    pytest.param('profile = "constant"', 'profile = "bursty"',
                 "compute.workload.profile", "'bursty'", "one of 'constant', 'diurnal'",
                 id="unknown-profile"),
    # inconsistent values
    pytest.param("slowdown_temp_c = 87.0", "slowdown_temp_c = 95.0",
                 "compute.slowdown_temp_c", "95.0", "below compute.shutdown_temp_c (92.0)",
                 id="slowdown-above-shutdown"),
    pytest.param("slowdown_temp_c = 87.0", "slowdown_temp_c = 92.0",
                 "compute.slowdown_temp_c", "92.0", "below compute.shutdown_temp_c (92.0)",
                 id="slowdown-equals-shutdown"),
    pytest.param("heater_on_c = 5.0", "heater_on_c = 12.0",
                 "battery.heater_on_c", "12.0", "below battery.heater_off_c (10.0)",
                 id="heater-on-above-off"),
    pytest.param("heater_on_c = 5.0", "heater_on_c = 10.0",
                 "battery.heater_on_c", "10.0", "below battery.heater_off_c (10.0)",
                 id="heater-on-equals-off"),
    pytest.param("3.30, 3.42, 3.53", "3.30, 3.25, 3.53",
                 "battery.ocv_v[2]", "3.25", "strictly increasing voltages",
                 id="ocv-v-not-increasing"),
    pytest.param("0.05, 0.10, 0.20", "0.05, 0.20, 0.10",
                 "battery.ocv_soc[3]", "0.1", "strictly increasing SOC points",
                 id="ocv-soc-not-increasing"),
    pytest.param("0.90, 1.00]", "0.90, 0.95]",
                 "battery.ocv_soc[11]", "0.95", "1.0 (the table ends full)",
                 id="ocv-soc-not-to-1"),
    pytest.param("3.94, 4.04, 4.15]", "3.94, 4.04]",
                 "battery.ocv_v", "(3.0, 3.3,",
                 "as many voltages as battery.ocv_soc has points (12)", id="ocv-length-mismatch"),
    pytest.param("min_cell_v = 3.00", "min_cell_v = 2.50",
                 "battery.min_cell_v", "2.5", "within the OCV table 3.0–4.15 V",
                 id="min-cell-v-below-table"),
    pytest.param("charge_cutoff_cell_v = 4.10", "charge_cutoff_cell_v = 4.30",
                 "battery.charge_cutoff_cell_v", "4.3", "within the OCV table 3.0–4.15 V",
                 id="cutoff-above-table"),
    pytest.param("racks = 16", "racks = 15",
                 "compute.racks", "15", "a multiple of thermal.coolant.loops (2)",
                 id="racks-not-multiple-of-loops"),
    pytest.param("panels = 16", "panels = 15",
                 "thermal.radiator.panels", "15", "a multiple of thermal.coolant.loops (2)",
                 id="panels-not-multiple-of-loops"),
    pytest.param("undervoltage_v = 114.0", "undervoltage_v = 120.0",
                 "bus.undervoltage_v", "120.0", "below bus.voltage_v (120.0)",
                 id="undervoltage-at-nominal"),
    pytest.param("shed_soc_pct = 30.0", "shed_soc_pct = 50.0",
                 "bus.shed_soc_pct", "50.0", "below bus.recover_soc_pct (45.0)",
                 id="shed-above-recover"),
    pytest.param("gpu_idle_w = 90.0", "gpu_idle_w = 700.0",
                 "compute.gpu_idle_w", "700.0", "below compute.gpu_tdp_w (700.0)",
                 id="idle-at-tdp"),
    pytest.param("clock_min_mhz = 600.0", "clock_min_mhz = 2000.0",
                 "compute.clock_min_mhz", "2000.0", "below compute.clock_max_mhz (1980.0)",
                 id="clock-min-above-max"),
    pytest.param("normal_rtn = [0.0, 0.0, 1.0]", "normal_rtn = [0.0, 0.0, 0.0]",
                 "thermal.avionics.normal_rtn", "(0.0, 0.0, 0.0)", "a non-zero direction",
                 id="zero-normal"),
    pytest.param("initial_temp_c = 20.0", "initial_temp_c = 95.0",
                 "thermal.initial_temp_c", "95.0", "below compute.shutdown_temp_c",
                 id="initial-temp-above-shutdown"),
]


@pytest.mark.parametrize(("old", "new", "key", "value", "expected"), BAD_EDITS)
def test_bad_value_names_file_key_value_and_expectation(
    tmp_path: Path, old: str, new: str, key: str, value: str, expected: str
) -> None:
    path = write(tmp_path, edited(old, new))
    with pytest.raises(ConfigError) as exc:
        load_satellite(path)
    assert_names(exc.value, path, key, value, expected)


def test_value_for_a_table_names_the_section(tmp_path: Path) -> None:
    text = edited("[simulation]\nseed = 1\nstep_s = 1.0\n", "")
    path = write(tmp_path, edited("[satellite]\n", "simulation = 1\n\n[satellite]\n", text))
    with pytest.raises(ConfigError) as exc:
        load_satellite(path)
    assert_names(exc.value, path, "simulation", "1", "a table")


def test_optional_section_may_be_left_out(tmp_path: Path) -> None:
    loaded = load_edited(tmp_path, "[simulation]\nseed = 1\nstep_s = 1.0\n", "")
    assert loaded.config.simulation.seed == 0
    assert loaded.warnings == ()


def test_unknown_key_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_edited(tmp_path, "altitude_km = 650.0", "altitude_kmm = 650.0")
    for known in ("altitude_km", "inclination_deg", "ltan_h", "epoch", "arg_latitude_deg"):
        assert known in exc.value.expected


# --- non-finite values, integer ranges, cross-checks and message details --------------------------
def test_infinite_value_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_edited(tmp_path, "avionics_power_w = 1500.0", "avionics_power_w = inf")
    assert exc.value.key == "bus.avionics_power_w"


def test_huge_integer_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_edited(tmp_path, "altitude_km = 650.0", "altitude_km = 1" + "0" * 400)
    assert exc.value.key == "orbit.altitude_km"


def test_integer_out_of_range_says_integer(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_edited(tmp_path, "loops = 2", "loops = 0")
    assert exc.value.expected.startswith("an integer")


def test_min_cell_voltage_above_charge_cutoff_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_edited(tmp_path, "min_cell_v = 3.00", "min_cell_v = 4.12")
    assert exc.value.key == "battery.min_cell_v"


def test_shed_level_larger_than_the_rack_count_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_edited(tmp_path, "racks_per_shed_level = 4", "racks_per_shed_level = 32")
    assert exc.value.key == "bus.racks_per_shed_level"


def test_ocv_dip_late_in_the_table_is_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_edited(tmp_path, "3.94, 4.04, 4.15]", "3.94, 3.90, 4.15]")
    # The offending 3.90 V must appear (not only as part of the 3.94 V before it).
    assert "3.9" in str(exc.value).replace("3.94", "")


def test_one_point_ocv_table_asks_for_two_points(tmp_path: Path) -> None:
    text = edited(OCV_V, "ocv_v = [3.0]", edited(OCV_SOC, "ocv_soc = [0.0]"))
    with pytest.raises(ConfigError) as exc:
        load_satellite(write(tmp_path, text))
    assert "two" in exc.value.expected


def test_top_level_source_key_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_edited(tmp_path, "[satellite]\n", 'source = "elsewhere"\n[satellite]\n')
    assert exc.value.key == "source"
    assert "source" not in exc.value.expected


# --- warnings: flyable but risky ---------------------------------------------------------------
def test_small_battery_is_a_warning_not_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, edited("cell_capacity_ah = 50.0", "cell_capacity_ah = 30.0"))
    loaded = load_satellite(path)
    assert len(loaded.warnings) == 1
    warning = loaded.warnings[0]
    assert warning.startswith(f"{path}: battery: ")
    assert "depth of discharge" in warning
    assert "battery.max_depth_of_discharge = 40%" in warning
    # 30/50 of the battery: DoD 30 % × 50/30 = 50 % (design_margins of the default).
    assert "depth of discharge of 50%" in warning
    assert "too small for the eclipse" in warning


def test_rack_lcl_below_full_load_current_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, edited("rack_lcl_trip_a = 64.0", "rack_lcl_trip_a = 50.0"))
    loaded = load_satellite(path)
    assert len(loaded.warnings) == 1
    warning = loaded.warnings[0]
    assert warning.startswith(f"{path}: compute.rack_lcl_trip_a = 50.0 A")
    # 8 × 700 W + 800 W = 6.4 kW at 120 V = 53.3 A (the default file's comment).
    assert "53.3 A" in warning
    assert "trip" in warning
