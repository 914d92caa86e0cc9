"""Modbus application layer as board firmware does it: PDUs, exception codes, RTU and MBAP frames.

Pure functions, no I/O: :func:`process` turns a request PDU into a response PDU against a
:class:`~firmware_stubs.core.BoardCore`. CRC and RTU/MBAP framing are the project's one
implementation in :mod:`hil.modbus` (bytes on a wire are the same on both sides).
Spec: *MODBUS Application Protocol Specification V1.1b3* (functions 01-06, 15, 16; exception
codes, §7) and *MODBUS over Serial Line V1.02* (RTU framing and CRC, §2.5; t3.5 = 1.75 ms above
19200 Bd, §2.5.1.1).

Supported functions and their limits (quantity outside them → exception 03):
01 read coils and 02 read discrete inputs (1..2000), 03 read holding and 04 read input
registers (1..125), 05 write single coil (0x0000 or 0xFF00), 06 write single register,
15 write multiple coils (1..1968), 16 write multiple registers (1..123).
Any other function → 01; an address range outside the table → 02; a table the board does not
have → 01; a command the board refuses (range) → 03; a sensing or command failure → 04.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from hil.modbus import crc16  # one CRC and framing for both sides

if TYPE_CHECKING:
    from firmware_stubs.core import BoardCore

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE, DEVICE_FAILURE = 1, 2, 3, 4
READS = {1: ("coils", 2000), 2: ("discrete_inputs", 2000), 3: ("holding_registers", 125),
         4: ("input_registers", 125)}


class ModbusError(Exception):
    """A request the board answers with an exception code."""

    def __init__(self, code: int, why: str = "") -> None:
        self.code = code
        super().__init__(f"exception {code:02d}: {why}")


def rtu_check(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == struct.unpack("<H", frame[-2:])[0]


def exception_pdu(function: int, code: int) -> bytes:
    return bytes([(function | 0x80) & 0xFF, code])


def _pack_bits(bits: list[int]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, b in enumerate(bits):
        if b:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def _unpack_bits(data: bytes, count: int) -> list[int]:
    return [(data[i // 8] >> (i % 8)) & 1 for i in range(count)]


async def process(core: BoardCore, pdu: bytes) -> bytes:
    """The response PDU (possibly an exception) for a request PDU."""
    if not pdu:
        return exception_pdu(0, ILLEGAL_FUNCTION)
    fn = pdu[0]
    try:
        return await _process(core, fn, pdu[1:])
    except ModbusError as exc:
        core.count("exceptions")
        return exception_pdu(fn, exc.code)


async def _process(core: BoardCore, fn: int, data: bytes) -> bytes:
    if fn in READS:
        table, limit = READS[fn]
        start, count = _two(data)
        if not 1 <= count <= limit:
            raise ModbusError(ILLEGAL_VALUE, f"quantity {count} outside 1..{limit}")
        values = core.read(table, start, count)
        payload = _pack_bits(values) if fn in (1, 2) else struct.pack(f">{count}H", *values)
        return bytes([fn, len(payload)]) + payload
    if fn == 5:
        addr, value = _two(data)
        if value not in (0x0000, 0xFF00):
            raise ModbusError(ILLEGAL_VALUE, f"coil value {value:#06x}")
        await core.write("coils", addr, [1 if value else 0])
        return bytes([fn]) + data[:4]
    if fn == 6:
        addr, value = _two(data)
        await core.write("holding_registers", addr, [value])
        return bytes([fn]) + data[:4]
    if fn in (15, 16):
        if len(data) < 5:
            raise ModbusError(ILLEGAL_VALUE, "short request")
        addr, count = _two(data)
        nbytes = data[4]
        limit, need = (1968, (count + 7) // 8) if fn == 15 else (123, 2 * count)
        if not 1 <= count <= limit or nbytes != need or len(data) != 5 + nbytes:
            raise ModbusError(ILLEGAL_VALUE, f"quantity {count}, {nbytes} bytes")
        body = data[5:]
        if fn == 15:
            await core.write("coils", addr, _unpack_bits(body, count))
        else:
            await core.write("holding_registers", addr, list(struct.unpack(f">{count}H", body)))
        return bytes([fn]) + data[:4]
    raise ModbusError(ILLEGAL_FUNCTION, f"function {fn}")


def _two(data: bytes) -> tuple[int, int]:
    if len(data) < 4:
        raise ModbusError(ILLEGAL_VALUE, "short request")
    a, b = struct.unpack(">HH", data[:4])
    return a, b

