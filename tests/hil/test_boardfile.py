"""Board files and the register/sentence codec shared by the stubs and the pollers.

Codec tables follow the layouts in ``hil/boardfile/registers.py``'s docstring: Modbus registers
are big-endian 16-bit words (MODBUS Application Protocol V1.1b3 §4.2); 32-bit values take two
registers in the stated word order; NMEA-style checksums are the XOR of the characters between
``$`` and ``*`` (NMEA 0183 §5.2.1).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from pathlib import Path

import pytest

from hil.boardfile import (
    BOARDS_DIR,
    Field,
    Flag,
    SentenceError,
    boards_doc_command,
    checksum,
    decode,
    decode_block,
    decode_sentence,
    decode_words,
    encode,
    encode_ascii_command,
    encode_sentence,
    encode_value,
    encode_write,
    load_board,
    load_boards,
    parse_board,
    parse_reply,
    parse_sentence,
    render_all,
)
from twin.catalogue import build_catalogue
from twin.config import DEFAULT_SATELLITE, load_satellite
from twin.errors import ConfigError, TwinError
from twin.model.plant import Plant

ROOT = Path(__file__).resolve().parents[2]
CFG = load_satellite().config
CAT = build_catalogue(CFG)
POWER_TEXT = (BOARDS_DIR / "power.toml").read_text(encoding="utf-8")
RACK_TEXT = (BOARDS_DIR / "rack.toml").read_text(encoding="utf-8")


def field(type_: str, scale: float = 1.0, offset: float = 0.0, order: str = "big",
          rng: tuple[float, float] | None = None, key: str = "power.bus.voltage_v") -> Field:
    return Field(key, "input_registers", 0, type_, scale, offset, order, "", "", "test", rng)


# --- the shipped boards --------------------------------------------------------------------
@pytest.mark.parametrize("satellite", ["satellite.toml", "satellite-leo53.toml"])
def test_shipped_boards_load_against_each_shipped_satellite(satellite):
    cat = build_catalogue(load_satellite(DEFAULT_SATELLITE.parent / satellite).config)
    boards = load_boards(cat)
    assert set(boards) == {"power", "thermal", "rack"}
    assert [boards[n].protocol for n in ("power", "thermal", "rack")] == [
        "modbus_rtu", "modbus_tcp", "ascii"]
    for b in boards.values():
        assert all(p in cat for p in b.paths())


def test_each_board_has_a_status_block():
    for b in load_boards(CAT).values():
        keys = {f.key for f in b.all_fields() if f.kind == "status"}
        assert {"status.fw_version", "status.uptime_s", "status.sample_count",
                "status.sample_time_s", "status.frame_errors"} <= keys, b.name


def test_templates_expand_to_every_catalogue_index_at_their_stride():
    power = load_board("power", CAT)
    currents = [f for f in power.table("input_registers") if f.key.endswith(".current_a")
                and f.key.startswith("power.array.")]
    assert [f.key for f in currents] == [f"power.array.{i}.current_a" for i in (1, 2, 3, 4)]
    assert [f.address for f in currents] == [33, 37, 41, 45]
    assert all(f.width == 2 and f.word_order == "little" for f in currents)
    coils = power.table("coils")
    assert [f.key for f in coils[:16]] == [f"compute.rack.{i}.enabled" for i in range(1, 17)]


def test_docs_boards_md_is_the_generated_map():
    text = (ROOT / "docs" / "boards.md").read_text(encoding="utf-8")
    assert text == render_all(load_boards(CAT).values()), \
        "docs/boards.md is stale: python -m hil.boardfile > docs/boards.md"


def test_boards_doc_command_writes_markdown(tmp_path):
    out = tmp_path / "b.md"
    args = argparse.Namespace(boards=["thermal"], config=None, out=str(out))
    assert boards_doc_command(args) == 0
    text = out.read_text(encoding="utf-8")
    assert "| 16 | int16 | `thermal.loop.1.supply_temp_c` | °C | 0.01 |" in text
    assert "Regenerate" in text or "regenerate" in text


# --- the register codec --------------------------------------------------------------------
@pytest.mark.parametrize(("type_", "scale", "offset", "order", "value", "words", "sat"), [
    ("uint16", 0.01, 0.0, "big", 120.0, [12000], False),
    ("uint16", 0.01, 0.0, "big", 0.0, [0], False),            # 0 is a value, not saturation
    ("uint16", 0.01, 0.0, "big", 655.35, [65535], True),      # at the limit
    ("uint16", 0.01, 0.0, "big", 1000.0, [65535], True),
    ("uint16", 0.01, 0.0, "big", -3.0, [0], True),            # clipped below
    ("int16", 0.01, 0.0, "big", -12.34, [0xFB2E], False),      # -1234 two's complement
    ("int16", 0.01, 0.0, "big", 400.0, [0x7FFF], True),
    ("int16", 0.01, 0.0, "big", -400.0, [0x8000], True),
    ("int16", 1.0, 0.0, "big", 2.5, [3], False),              # round half up
    ("int16", 1.0, 0.0, "big", -2.5, [0xFFFE], False),        # -2.5 → -2
    ("uint16", 0.1, -273.15, "big", 20.0, [2932], False),      # offset: (293.15 / 0.1) → 2932
    ("uint32", 1.0, 0.0, "big", 0x11223344, [0x1122, 0x3344], False),
    ("uint32", 1.0, 0.0, "little", 0x11223344, [0x3344, 0x1122], False),
    ("int32", 0.01, 0.0, "big", -209.99, [0xFFFF, 0xADF9], False),   # -20999
    ("int32", 0.01, 0.0, "little", -209.99, [0xADF9, 0xFFFF], False),
    ("uint32", 0.01, 0.0, "little", 792.41, [0x3589, 0x0001], False),  # 79241
    ("int32", 1.0, 0.0, "big", 3e9, [0x7FFF, 0xFFFF], True),
    ("uint16", 0.01, 0.0, "big", math.nan, [65535], True),    # NaN: the saturation code
])
def test_encode_scales_rounds_orders_words_and_saturates(type_, scale, offset, order, value,
                                                         words, sat):
    f = field(type_, scale, offset, order)
    assert encode_value(f, value) == (words, sat)


@pytest.mark.parametrize(("type_", "order", "words", "raw", "flag"), [
    ("uint16", "big", [0], 0, Flag.OK),
    ("uint16", "big", [65535], 65535, Flag.SATURATED),
    ("int16", "big", [0x7FFF], 32767, Flag.SATURATED),
    ("int16", "big", [0x8000], -32768, Flag.SATURATED),
    ("int16", "big", [0xFB2E], -1234, Flag.OK),
    ("int32", "big", [0xFFFF, 0xADF9], -20999, Flag.OK),
    ("int32", "little", [0xADF9, 0xFFFF], -20999, Flag.OK),
    ("uint32", "big", [0xFFFF, 0xFFFF], 2**32 - 1, Flag.SATURATED),
    ("int32", "big", [0x8000, 0x0000], -(2**31), Flag.SATURATED),
])
def test_decode_reads_words_in_order_and_flags_type_limits(type_, order, words, raw, flag):
    d = decode_words(field(type_, 0.01, 0.0, order), words)
    assert (d.raw, d.flag) == (raw, flag)
    assert d.value == pytest.approx(raw / 100)


def test_decode_flags_values_outside_the_sensor_range():
    f = field("int16", 0.01, rng=(-55.0, 125.0))
    assert decode_words(f, encode_value(f, 125.0)[0]).flag == Flag.OK
    assert decode_words(f, encode_value(f, 130.0)[0]).flag == Flag.OUT_OF_RANGE
    assert decode_words(f, encode_value(f, -60.0)[0]).flag == Flag.OUT_OF_RANGE
    assert decode_words(f, encode_value(f, 400.0)[0]).flag == Flag.SATURATED


def test_decimal_scales_decode_to_the_nearest_float():
    assert decode_words(field("int16", 0.1), [333]).value == 33.3
    assert decode_words(field("uint16", 0.01), [12345]).value == 123.45


def test_status_counters_wrap_instead_of_saturating():
    f = dataclasses.replace(field("uint16"), key="status.rx_frames")
    assert encode_value(f, 65536) == ([0], False)
    assert encode_value(f, 70000) == ([4464], False)
    assert decode_words(f, [65535]).flag == Flag.OK


def test_a_plant_frame_survives_encode_and_decode_within_the_stated_quantisation():
    plant = Plant(CFG)
    plant.run(30, 1.0)
    frame = CAT.sample(plant)
    for name in ("power", "thermal"):
        board = load_board(name, CAT)
        values = {p: float(frame[CAT[p].index]) for p in board.paths()}
        decoded = decode(board, encode(board, values))
        for f in board.measuring():
            assert abs(decoded[f.key].value - values[f.key]) <= f.scale / 2 + 1e-9, f.key


def test_decode_block_takes_only_fields_wholly_inside_the_block():
    power = load_board("power", CAT)
    image = encode(power, {"power.bus.voltage_v": 120.5, "power.bus.current_a": 800.25})
    words = image["input_registers"]
    got = decode_block(power, "input_registers", 16, words[16:18])  # current's first word only
    assert set(got) == {"power.bus.voltage_v"}
    got = decode_block(power, "input_registers", 16, words[16:19])
    assert got["power.bus.current_a"].value == pytest.approx(800.25)


def test_a_coil_for_a_three_way_mode_is_a_switch_a_command_and_no_measurement():
    power = load_board("power", CAT)
    f = power.field_at("coils", 32)
    assert f.key == "power.battery.1.heater_mode"
    auto, off, on = 0, 1, 2  # catalogue order: auto, off, on
    assert encode_value(f, off)[0] == [0]
    assert encode_value(f, auto)[0] == [1]
    assert encode_value(f, on)[0] == [1]
    assert decode_words(f, [0]).value == off
    assert decode_words(f, [1]).value == auto
    assert f.switch
    # every mode is a command: "on" is the heater feed switched on, like "auto"
    assert encode_write(power, "power.battery.1.heater_mode", on).values == (1,)
    assert encode_write(power, "power.battery.1.heater_mode", off).values == (0,)
    # ... but a read of the bit cannot tell auto from on: the board does not measure the mode
    assert "power.battery.1.heater_mode" not in power.paths()
    assert "power.battery.1.heater_on" in power.paths()  # the heater's state, a discrete input
    thermal = load_board("thermal", CAT)
    assert "power.battery.1.heater_mode" in thermal.paths()  # a register holds it whole
    assert not thermal.command_field("power.battery.1.heater_mode").switch


def test_encode_write_picks_the_function_for_each_command():
    power = load_board("power", CAT)
    assert encode_write(power, "compute.rack.3.enabled", 0) == \
        encode_write(power, "compute.rack.3.enabled", 0.0)
    w = encode_write(power, "compute.rack.3.enabled", 0)
    assert (w.table, w.address, w.values, w.function, w.readback_function) == \
        ("coils", 2, (0,), 5, 1)
    w = encode_write(power, "power.pcdu.shed_level_cmd", 2)
    assert (w.address, w.values, w.function) == (0, (2,), 6)
    w = encode_write(power, "setting.bus_overcurrent_a", 1500.0)
    assert (w.address, w.values, w.function) == (2, (0x0002, 0x49F0), 16)  # 150000
    with pytest.raises(TwinError, match=r"outside 0\.\.16"):
        encode_write(power, "power.pcdu.shed_level_cmd", 17)
    with pytest.raises(TwinError, match=r"no command for 'power\.bus\.voltage_v'"):
        encode_write(power, "power.bus.voltage_v", 1)


# --- ASCII sentences ------------------------------------------------------------------------
def test_checksum_matches_a_published_nmea_sentence():
    # NMEA 0183 GLL example widely quoted in receiver manuals: ...,A*28
    assert checksum("GPGLL,5300.97914,N,00259.98174,E,125926,A") == "28"


def test_parse_sentence_rejects_bad_checksum_and_bad_format():
    assert parse_sentence(b"$RKQRY,ALL*" + checksum("RKQRY,ALL").encode() + b"\r\n") == \
        ["RKQRY", "ALL"]
    with pytest.raises(SentenceError) as exc:
        parse_sentence(b"$RKQRY,ALL*00\r\n")
    assert exc.value.reason == "checksum"
    for bad in (b"RKQRY,ALL*1F\r\n", b"$RKQRY,ALL\r\n", b"$RK$QRY*00\r\n", b"$RKQRY*ZZ\r\n"):
        with pytest.raises(SentenceError) as exc:
            parse_sentence(bad)
        assert exc.value.reason == "format"


def test_sentences_round_trip_with_their_fixed_point():
    rack = load_board("rack", CAT)
    gpu = next(s for s in rack.sentences if s.id == "RKGPU")
    values = {"compute.rack.2.gpu.7.temp_c": 61.26, "compute.rack.2.gpu.7.power_w": 654.33,
              "compute.rack.2.gpu.7.util_pct": 99.99, "compute.rack.2.gpu.7.clock_mhz": 1980.4,
              "compute.rack.2.gpu.7.state": 1.0}
    line = encode_sentence(gpu, (2, 7), values)
    body = "RKGPU,2,7,61.3,654.3,100.0,1980,1"
    assert line == f"${body}*{checksum(body)}\r\n".encode()
    sid, got = decode_sentence(rack, line)
    assert sid == "RKGPU"
    assert {k: d.value for k, d in got.items()} == pytest.approx(
        {k: round(v, 1 if k.endswith(("temp_c", "power_w", "util_pct")) else 0)
         for k, v in values.items()})


def test_ascii_commands_and_replies():
    rack = load_board("rack", CAT)
    assert encode_ascii_command(rack, "compute.rack.3.power_cap_w", 5000) == \
        b"$RKCMD,CAP,3,5000*" + checksum("RKCMD,CAP,3,5000").encode() + b"\r\n"
    with pytest.raises(TwinError, match=r"outside 0\.\.12800"):
        encode_ascii_command(rack, "compute.rack.3.power_cap_w", 20000)
    body = "RKNAK,CAP,3,RANGE"
    r = parse_reply(rack, f"${body}*{checksum(body)}\r\n")
    assert (r.ok, r.name, r.keys, r.detail) == (False, "CAP", (3,), "RANGE")


# --- bad board files: one clear ConfigError each ---------------------------------------------
def edited(old: str, new: str, text: str = POWER_TEXT) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


BAD = [
    ('path = "power.bus.voltage_v"', 'path = "power.bus.volts"', "input_registers[9].path",
     "'power.bus.volts'", "a channel path in the catalogue (did you mean 'power.bus.voltage_v'?)"),
    ("[[input_registers]]\naddress = 17\n", "[[input_registers]]\naddress = 16\n",
     "input_registers[10].address", "16", "no overlap: power.bus.current_a at 16 collides with"),
    ('address = 0\npath = "compute.rack.{i}.enabled"',
     'address = 0\npath = "compute.rack.{i}.power_w"', "coils[0].path",
     "'compute.rack.1.power_w'", "a writable (command) channel in coils"),
    ('path = "compute.rack.{i}.enabled"\ncount = "all"',
     'path = "compute.rack.{i}.enabled"\ncount = 20', "coils[0].count", "20",
     "indices the catalogue has (compute.rack.{i}.enabled: 1..16)"),
    ('path = "power.pcdu.rack.{i}.on"\ncount = "all"', 'path = "power.pcdu.rack.{i}.on"',
     "discrete_inputs[0].count", "'<missing>'", "count (a number or 'all') or indices"),
    ('path = "power.pcdu.rack.{i}.on"\ncount = "all"',
     'path = "power.pcdu.rack.{i}.on"\ncount = "every"', "discrete_inputs[0].count", "'every'",
     "an integer >= 1 or one of 'all'"),
    ("adc_bits = 14", "adc_bit = 14", "input_registers[9].adc_bit", "14",
     "one of the known keys:"),
    ('type = "uint32"              # ~', 'type = "uint33"              # ~',
     "input_registers[10].type", "'uint33'", "one of 'int16', 'uint16'"),
    ("range = [0.0, 200.0]\nnoise = 0.02\nadc_bits", "range = [0.0, 900.0]\nnoise = 0.02\nadc_bits",
     "input_registers[9].range", "[0.0, 900.0]", "a range that uint16 × 0.01 + 0 can hold"),
    ("range = [0.0, 200.0]\nnoise = 0.02\nadc_bits", "range = [200.0, 0.0]\nnoise = 0.02\nadc_bits",
     "input_registers[9].range", "[200.0, 0.0]", "[lo, hi] with lo < hi"),
    ('firmware_version = "1.4"', 'firmware_version = "1.4.2"', "board.firmware_version",
     "'1.4.2'", "MAJOR.MINOR"),
    ('address = 0\nstatus = "fw_version"', 'address = 0\nstatus = "firmware"',
     "input_registers[0].status", "'firmware'", "one of fw_version, uptime_s"),
    ('address = 0\npath = "power.pcdu.shed_level_cmd"',
     'address = 0\npath = "power.pcdu.shed_level_cmd"\nstatus = "uptime_s"',
     "holding_registers[0]", "'<path and status>'", "exactly one of path, status or setting"),
    ('protocol = "modbus_rtu"', 'protocol = "modbus_ascii"', "board.protocol",
     "'modbus_ascii'", "one of 'modbus_rtu', 'modbus_tcp', 'ascii'"),
    ('protocol = "modbus_rtu"', 'protocol = "ascii"', "coils", "'<2 entries>'",
     "no [[coils]] for protocol 'ascii'"),
    ("[link]\nbaud = 115200", "[link]\nbaud = 115200.5", "link.baud", "115200.5",
     "an integer >= 300 and <= 4e+06"),
    ("retries = 1  ", "retries = 11  ", "link.retries", "11", "an integer >= 0 and <= 10"),
    ("retries = 1  ", "retries = 0.5  ", "link.retries", "0.5", "an integer"),
    ("timeout_s = 0.2", "timeout_s = 0.0", "link.timeout_s", "0.0", "> 0"),
    ("[link]\nbaud", "[link]\nstatus_query_s = -1.0\nbaud", "link.status_query_s", "-1.0",
     ">= 0"),
]


@pytest.mark.parametrize(("old", "new", "key", "value", "expected"), BAD,
                         ids=[b[2] for b in BAD])
def test_a_bad_board_file_gives_one_clear_config_error(tmp_path, old, new, key, value, expected):
    path = tmp_path / "power.toml"
    path.write_text(edited(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_board(path, CAT)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: {key} = {value}: expected "), msg
    assert expected in msg, msg


def test_a_command_channel_with_two_encodings_on_one_board_is_refused():
    text = POWER_TEXT + '\n[[holding_registers]]\naddress = 40\npath = "compute.rack.{i}.enabled"' \
        '\ncount = "all"\ntype = "uint16"\n'
    with pytest.raises(ConfigError, match=r"holding_registers\[3\]\.path = 'compute.rack.1."
                       r"enabled': expected one command encoding per channel \(also in coils"):
        parse_board(text, CAT, "x.toml")


def test_bad_ascii_fields_are_refused():
    with pytest.raises(ConfigError, match=r"sentences\[2\]\.fields\[0\]\.scale = 0\.2: "
                       r"expected a power of ten"):
        parse_board(RACK_TEXT.replace("scale = 0.1, range = [-40.0", "scale = 0.2, range = "
                                      "[-40.0"), CAT, "r.toml")
    with pytest.raises(ConfigError, match=r"sentences\[1\]\.fields\[0\]\.path = "
                       r"'compute\.rack\.\{i\}\.power_w': expected a template using exactly "
                       r"the keys \['r'\]"):
        parse_board(RACK_TEXT.replace("compute.rack.{r}.power_w", "compute.rack.{i}.power_w"),
                    CAT, "r.toml")


def test_unreadable_board_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: expected an existing board file"):
        load_board(tmp_path / "nope.toml", CAT)
    bad = tmp_path / "bad.toml"
    bad.write_text("[board\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{bad}: expected valid TOML")):
        load_board(bad, CAT)
