"""The register codec: values ↔ raw integers ↔ Modbus registers and bits, and command writes.

Register layout (Modbus is big-endian within a register; the word order of 32-bit values is per
field, default ``[board] word_order``)::

    type     registers  raw range                 wire bytes for raw 0x11223344 / 0x1122
    int16    1          -32768..32767             11 22
    uint16   1          0..65535                  11 22
    int32    2  big     -2^31..2^31-1             11 22 33 44   (high word first, "ABCD")
    uint32   2  little  0..2^32-1                 33 44 11 22   (low word first, "CDAB")
    bool     1 bit      0/1                       coils and discrete inputs only

Value ↔ raw: ``value = raw × scale + offset``; encoding rounds half up, ``raw = ⌊(value −
offset) / scale + ½⌋``, then saturates at the type's limits (NaN encodes as the type's maximum).
Status counters wrap instead (modulo 2^bits). Decoding flags a raw value at the type's limits
(the maximum; the minimum for signed types) as :attr:`Flag.SATURATED`, and a value outside the
field's declared sensor ``range`` as :attr:`Flag.OUT_OF_RANGE`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hil.boardfile.model import Board, Decoded, Field, Flag
from hil.boardfile.schema import READ_FUNCTION, TABLES, TYPES, WRITABLE_TABLES
from twin.errors import TwinError

Image = dict[str, list[int]]  # table → words (registers) or 0/1 (bits), from address 0


def to_raw(f: Field, value: float) -> tuple[int, bool]:
    """(raw, saturated): scale, round half up, saturate (status counters wrap)."""
    if f.type == "bool":
        if f.states is not None:
            return int(round(value) != f.states[0]), False
        return int(value >= 0.5), False
    lo, hi = f.raw_limits
    if math.isnan(value):
        return hi, True
    inv = 1.0 / f.scale
    # × 10, 100... where the scale is decimal; the 1e-9 keeps 20.0 − (−273.15) = 293.15 (stored
    # as 293.1499999...) rounding up to 2932 at scale 0.1, as a person would.
    x = (value - f.offset) * round(inv) if abs(inv - round(inv)) < 1e-9 else \
        (value - f.offset) / f.scale
    if f.kind == "status" and math.isfinite(x):
        span = hi - lo + 1
        return (math.floor(x + 0.5 + 1e-9) - lo) % span + lo, False
    r = hi + 1 if x > hi else lo - 1 if x < lo else math.floor(x + 0.5 + 1e-9)
    clipped = r > hi or r < lo
    r = min(max(r, lo), hi)
    return r, clipped or r == hi or (TYPES[f.type][1] and r == lo)


def from_raw(f: Field, raw: int) -> Decoded:
    """The value of a raw integer, flagged when saturated or out of the sensor range."""
    if f.type == "bool":
        if f.states is not None:
            return Decoded(float(f.states[1] if raw else f.states[0]), raw)
        return Decoded(float(bool(raw)), raw)
    inv = 1.0 / f.scale  # divide by 10, 100... where possible: 333 × 0.1 is not 33.3
    value = (raw / round(inv) if abs(inv - round(inv)) < 1e-9 else raw * f.scale) + f.offset
    lo, hi = f.raw_limits
    signed = TYPES[f.type][1]
    if f.kind != "status" and (raw >= hi or (signed and raw <= lo)):
        return Decoded(value, raw, Flag.SATURATED)
    if f.range is not None and not f.range[0] <= value <= f.range[1]:
        return Decoded(value, raw, Flag.OUT_OF_RANGE)
    return Decoded(value, raw)


def raw_to_words(f: Field, raw: int) -> list[int]:
    """Registers (16-bit words, in address order) holding ``raw``; bits give [0 or 1]."""
    if f.type == "bool":
        return [1 if raw else 0]
    if f.width == 1:
        return [raw & 0xFFFF]
    hi, lo = (raw >> 16) & 0xFFFF, raw & 0xFFFF
    return [hi, lo] if f.word_order == "big" else [lo, hi]


def words_to_raw(f: Field, words: Sequence[int]) -> int:
    if f.type == "bool":
        return 1 if words[0] else 0
    if f.width == 1:
        u = words[0] & 0xFFFF
    else:
        hi, lo = (words[0], words[1]) if f.word_order == "big" else (words[1], words[0])
        u = ((hi & 0xFFFF) << 16) | (lo & 0xFFFF)
    bits, signed = TYPES[f.type]
    return u - (1 << bits) if signed and u >= 1 << (bits - 1) else u


def encode_value(f: Field, value: float) -> tuple[list[int], bool]:
    raw, sat = to_raw(f, value)
    return raw_to_words(f, raw), sat


def decode_words(f: Field, words: Sequence[int]) -> Decoded:
    return from_raw(f, words_to_raw(f, words))


def new_image(board: Board) -> Image:
    """Zeroed tables as long as each table's extent (settings at their defaults)."""
    image = {t: [0] * board.extent(t) for t in TABLES}
    for f in board.fields:
        if f.kind == "setting":
            put(image, f, f.default)
    return image


def put(image: Image, f: Field, value: float) -> bool:
    """Encode ``value`` into ``image`` at ``f``; returns whether it saturated."""
    words, sat = encode_value(f, value)
    image[f.table][f.address:f.address + len(words)] = words
    return sat


def encode(board: Board, values: Mapping[str, float], image: Image | None = None) -> Image:
    """Registers and bits of ``board`` for ``values`` (path or status./setting. keys)."""
    image = new_image(board) if image is None else image
    for f in board.fields:
        if f.key in values:
            put(image, f, values[f.key])
    return image


def decode_block(board: Board, table: str, start: int, words: Sequence[int]
                 ) -> dict[str, Decoded]:
    """Every field of ``table`` lying wholly in ``words`` read from ``start``."""
    out = {}
    for f in board.fields:
        if f.table == table and start <= f.address and f.address + f.width <= start + len(words):
            out[f.key] = decode_words(f, words[f.address - start:f.address - start + f.width])
    return out


def decode(board: Board, image: Mapping[str, Sequence[int]]) -> dict[str, Decoded]:
    """Every field found in ``image`` (tables from address 0)."""
    out: dict[str, Decoded] = {}
    for table, words in image.items():
        out.update(decode_block(board, table, 0, words))
    return out


def check_command(f: Field, value: float) -> str | None:
    """Why ``value`` is not an acceptable command for ``f`` (None when it is)."""
    if math.isnan(value):
        return "not a number"
    if (f.integral or f.type == "bool") and value != round(value):
        return f"{value:g} is not a whole number"
    lo, hi = (0.0, len(f.enum) - 1.0) if f.enum and not f.states else f.limits
    if f.type == "bool":
        lo, hi = (0.0, len(f.enum) - 1.0) if f.switch else (0.0, 1.0)
    if not lo <= value <= hi:
        return f"{value:g} is outside {lo:g}..{hi:g}"
    return None


@dataclass(frozen=True, slots=True)
class ModbusWrite:
    """A command as a Modbus request: write ``values`` at ``address``; read back the same."""

    table: str
    address: int
    values: tuple[int, ...]
    function: int  # 5, 6, 15 or 16

    @property
    def readback_function(self) -> int:
        return READ_FUNCTION[self.table]


def encode_write(board: Board, path: str, value: float) -> ModbusWrite:
    """The request that commands ``path`` to ``value`` (TwinError when not acceptable)."""
    f = board.command_field(path)
    if f.table not in WRITABLE_TABLES:
        raise TwinError(f"board {board.name}: {path} is an ASCII command; use encode_ascii_command")
    why = check_command(f, value)
    if why:
        raise TwinError(f"board {board.name}: {path} = {value:g}: {why}")
    words, _ = encode_value(f, value)
    fn = (5 if f.table == "coils" else 6) if len(words) == 1 else 16
    return ModbusWrite(f.table, f.address, tuple(words), fn)
