"""Modbus master side: request PDUs, response parsing, RTU/MBAP framing, typed link failures.

Pure functions, no I/O (the transports in :mod:`hil.transport` do the I/O). Spec: *MODBUS
Application Protocol Specification V1.1b3* (functions 01-06, 15, 16; exception responses, §7)
and *MODBUS over Serial Line V1.02* (RTU frame and CRC-16, §2.5).

RTU response lengths, from the function byte (the third byte for reads)::

    01..04  [id][fn][n][n data bytes][crc lo][crc hi]        5 + n bytes
    05/06/15/16  [id][fn][addr hi lo][value|qty hi lo][crc]   8 bytes
    fn|0x80 [id][fn|0x80][code][crc lo][crc hi]               5 bytes (an exception)

A failure is a :class:`LinkError` with a ``reason`` (``timeout``, ``garbage``, ``exception``,
``link_down``), never ``None``.
"""

from __future__ import annotations

import struct

from twin.errors import TwinError

EXCEPTION_NAMES = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                   4: "server device failure", 5: "acknowledge", 6: "server device busy",
                   8: "memory parity error", 10: "gateway path unavailable",
                   11: "gateway target failed to respond"}
REASONS = ("timeout", "garbage", "exception", "link_down", "nak")
MAX_READ = {1: 2000, 2: 2000, 3: 125, 4: 125}


class LinkError(TwinError):
    """A transaction that failed, and why.

    ``reason``: ``timeout`` (no complete answer in time), ``garbage`` (bad CRC, header, length or
    device id), ``exception`` (the board answered with exception ``code``), ``link_down`` (the
    port or connection cannot be opened), ``nak`` (an ASCII command refused, ``detail`` says why).
    """

    def __init__(self, reason: str, where: str, detail: str = "", code: int = 0) -> None:
        assert reason in REASONS, reason
        self.reason, self.where, self.detail, self.code = reason, where, detail, code
        what = {"exception": f"exception {code:02d} ({EXCEPTION_NAMES.get(code, 'unknown')})",
                "nak": "NAK"}.get(reason, reason.replace("_", " "))
        super().__init__(f"{where}: {what}" + (f": {detail}" if detail else ""))


# --- CRC and frames --------------------------------------------------------------------------
def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (polynomial 0xA001 reflected, initial 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _CRC[(crc ^ b) & 0xFF]
    return crc


def rtu_frame(device_id: int, pdu: bytes) -> bytes:
    body = bytes([device_id]) + pdu
    return body + struct.pack("<H", crc16(body))


def rtu_expected_length(head: bytes) -> int | None:
    """Length of the RTU answer starting with ``head`` (None: not known from these bytes yet)."""
    if len(head) < 2:
        return None
    fn = head[1]
    if fn & 0x80:
        return 5
    if fn in (1, 2, 3, 4):
        return 5 + head[2] if len(head) >= 3 else None
    if fn in (5, 6, 15, 16):
        return 8
    return -1  # not a function we asked for: garbage


def rtu_unwrap(frame: bytes, device_id: int, where: str) -> bytes:
    """The PDU of an RTU answer; LinkError("garbage") for a bad CRC or a foreign device id."""
    if len(frame) < 4 or crc16(frame[:-2]) != struct.unpack("<H", frame[-2:])[0]:
        raise LinkError("garbage", where, f"bad CRC in {frame[:32].hex(' ')}")
    if frame[0] != device_id:
        raise LinkError("garbage", where, f"answer from device id {frame[0]}, "
                        f"expected {device_id}")
    return frame[1:-2]


def mbap_frame(transaction: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", transaction, 0, len(pdu) + 1, unit) + pdu


# --- PDUs ------------------------------------------------------------------------------------
def read_request(function: int, address: int, count: int) -> bytes:
    if not 1 <= count <= MAX_READ[function]:
        raise ValueError(f"quantity {count} outside 1..{MAX_READ[function]}")
    return struct.pack(">BHH", function, address, count)


def write_request(function: int, address: int, values: tuple[int, ...] | list[int]) -> bytes:
    """05/06 (one value) or 15/16 (several) at ``address``; coils as 0/1."""
    if function == 5:
        return struct.pack(">BHH", 5, address, 0xFF00 if values[0] else 0)
    if function == 6:
        return struct.pack(">BHH", 6, address, values[0] & 0xFFFF)
    if function == 15:
        data = bytearray((len(values) + 7) // 8)
        for i, v in enumerate(values):
            if v:
                data[i // 8] |= 1 << (i % 8)
        return struct.pack(">BHHB", 15, address, len(values), len(data)) + bytes(data)
    if function == 16:
        return (struct.pack(">BHHB", 16, address, len(values), 2 * len(values))
                + struct.pack(f">{len(values)}H", *(v & 0xFFFF for v in values)))
    raise ValueError(f"function {function} is not a write")


def parse_response(request: bytes, response: bytes, where: str) -> list[int]:
    """Registers or bits read (a write: its echoed quantity or value as one item).

    LinkError("exception", code=n) for an exception answer; LinkError("garbage") for an answer
    that does not fit the request.
    """
    fn = request[0]
    if not response:
        raise LinkError("garbage", where, "empty answer")
    if response[0] == fn | 0x80:
        code = response[1] if len(response) > 1 else 0
        raise LinkError("exception", where, f"function {fn:02d}", code=code)
    if response[0] != fn:
        raise LinkError("garbage", where, f"answer to function {response[0]}, asked {fn}")
    if fn in (1, 2, 3, 4):
        count = struct.unpack(">H", request[3:5])[0]
        n = response[1] if len(response) > 1 else -1
        need = (count + 7) // 8 if fn in (1, 2) else 2 * count
        if n != need or len(response) != 2 + n:
            raise LinkError("garbage", where, f"{n} data bytes, expected {need}")
        data = response[2:]
        if fn in (1, 2):
            return [(data[i // 8] >> (i % 8)) & 1 for i in range(count)]
        return list(struct.unpack(f">{count}H", data))
    if response != request[:5]:
        raise LinkError("garbage", where, "write echo differs from the request")
    return [struct.unpack(">H", response[3:5])[0]]
