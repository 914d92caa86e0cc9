"""The master's Modbus codec: CRC, request PDUs, answer parsing, typed failures.

Reference frames: *MODBUS over Serial Line V1.02* §6.2.2 (CRC low byte first) and the
application protocol V1.1b3 §6 (request/response layouts, exception responses §7). The frame
``01 03 00 00 00 0A C5 CD`` is the widely published read of ten holding registers from device 1.
"""

from __future__ import annotations

import pytest

from hil.modbus import (
    LinkError,
    crc16,
    parse_response,
    read_request,
    rtu_expected_length,
    rtu_frame,
    rtu_unwrap,
    write_request,
)


def test_crc_matches_the_published_read_request():
    assert rtu_frame(1, read_request(3, 0, 10)) == bytes.fromhex("01030000000AC5CD")
    assert crc16(b"123456789") == 0x4B37  # CRC-16/MODBUS check value


@pytest.mark.parametrize(("head", "length"), [
    (b"\x01\x04\x14", 25), (b"\x01\x84", 5), (b"\x01\x05", 8), (b"\x01\x10", 8),
    (b"\x01", None), (b"\x01\x04", None), (b"\x01\x2b", -1)])
def test_answer_length_follows_the_function_byte(head, length):
    assert rtu_expected_length(head) == length


def test_write_requests_encode_coils_and_registers():
    assert write_request(5, 7, [1]) == bytes.fromhex("050007FF00")
    assert write_request(5, 7, [0]) == bytes.fromhex("0500070000")
    assert write_request(6, 2, [0xABCD]) == bytes.fromhex("060002ABCD")
    assert write_request(15, 0, [1, 0, 1]) == bytes.fromhex("0F0000000301" "05")
    assert write_request(16, 4, [1, 2]) == bytes.fromhex("1000040002040001" "0002")


def test_read_answers_decode_registers_and_bits():
    assert parse_response(read_request(4, 0, 2), bytes.fromhex("0404001200FF"), "x") == [18, 255]
    assert parse_response(read_request(1, 0, 3), bytes.fromhex("010105"), "x") == [1, 0, 1]


def test_an_exception_answer_is_a_typed_failure_with_its_code():
    with pytest.raises(LinkError) as err:
        parse_response(read_request(4, 9000, 1), bytes.fromhex("8402"), "board power reg 9000")
    assert err.value.reason == "exception" and err.value.code == 2
    assert "board power reg 9000: exception 02 (illegal data address)" in str(err.value)


@pytest.mark.parametrize("answer", ["0403001200", "0302ABCD", "04"])
def test_an_answer_that_does_not_fit_the_request_is_garbage(answer):
    with pytest.raises(LinkError) as err:
        parse_response(read_request(4, 0, 2), bytes.fromhex(answer), "x")
    assert err.value.reason == "garbage"


def test_a_bad_crc_or_a_foreign_device_id_is_garbage():
    good = rtu_frame(1, bytes.fromhex("0402ABCD"))
    assert rtu_unwrap(good, 1, "x") == bytes.fromhex("0402ABCD")
    with pytest.raises(LinkError, match="bad CRC"):
        rtu_unwrap(good[:-1] + bytes([good[-1] ^ 1]), 1, "x")
    with pytest.raises(LinkError, match="device id 2, expected 1"):
        rtu_unwrap(rtu_frame(2, bytes.fromhex("0402ABCD")), 1, "x")
