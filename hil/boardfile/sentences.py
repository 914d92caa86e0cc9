"""The ASCII sentence codec: NMEA-like telemetry, commands and their ACK/NAK replies.

Sentences are ``$<ID>,<field>,...*<XOR checksum, 2 hex>\\r\\n``; a field's text is its value
with as many decimals as its scale (a power of ten) implies, through the same raw integer (and
saturation) as a register would hold (:func:`hil.boardfile.registers.to_raw`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hil.boardfile.model import Board, Decoded, Field, Sentence
from hil.boardfile.registers import check_command, from_raw, to_raw
from twin.errors import TwinError


class SentenceError(TwinError):
    def __init__(self, reason: str, line: bytes | str) -> None:
        self.reason = reason  # "format" or "checksum"
        super().__init__(f"bad sentence ({reason}): {line!r}")


def checksum(body: str) -> str:
    """NMEA checksum: XOR of every character between '$' and '*', two upper-case hex digits."""
    x = 0
    for b in body.encode("ascii"):
        x ^= b
    return f"{x:02X}"


def format_sentence(words: Sequence[str]) -> bytes:
    body = ",".join(words)
    return f"${body}*{checksum(body)}\r\n".encode("ascii")


def parse_sentence(line: bytes | str) -> list[str]:
    """The comma-separated words of one sentence; SentenceError for bad format or checksum."""
    text = line.decode("ascii", "replace") if isinstance(line, bytes) else line
    m = re.fullmatch(r"\$([\x20-\x7e]+)\*([0-9A-Fa-f]{2})\r?\n?", text)
    if not m or "$" in m[1] or "*" in m[1]:
        raise SentenceError("format", line)
    if checksum(m[1]) != m[2].upper():
        raise SentenceError("checksum", line)
    return m[1].split(",")


def format_value(f: Field, value: float) -> str:
    raw, _ = to_raw(f, value)
    d = f.decimals
    return f"{raw * f.scale + f.offset:.{d}f}"


def parse_value(f: Field, text: str) -> Decoded:
    try:
        v = float(text)
    except ValueError:
        raise SentenceError("format", text) from None
    if not math.isfinite(v):
        raise SentenceError("format", text)
    return from_raw(f, to_raw(f, v)[0])


def encode_sentence(sentence: Sentence, keys: tuple[int, ...], values: Mapping[str, float]
                    ) -> bytes:
    """One telemetry sentence for the instance ``keys`` (missing values are sent as NaN)."""
    fields = dict(sentence.instances)[keys]
    words = [sentence.id, *map(str, keys)]
    words += [format_value(f, values.get(f.key, math.nan)) for f in fields]
    return format_sentence(words)


def decode_sentence(board: Board, line: bytes | str) -> tuple[str, dict[str, Decoded]]:
    """(sentence id, decoded fields) of a telemetry line; unknown ids give ``(id, {})``."""
    words = parse_sentence(line)
    s = next((s for s in board.sentences if s.id == words[0]), None)
    if s is None:
        return words[0], {}
    try:
        keys = tuple(int(w) for w in words[1:1 + len(s.keys)])
        fields = dict(s.instances)[keys]
    except (ValueError, KeyError):
        raise SentenceError("format", line) from None
    texts = words[1 + len(s.keys):]
    if len(texts) != len(fields):
        raise SentenceError("format", line)
    return s.id, {f.key: parse_value(f, t) for f, t in zip(fields, texts, strict=True)}


def encode_ascii_command(board: Board, path: str, value: float) -> bytes:
    """``$<talker>CMD,<NAME>,<keys>,<value>*hh`` for a command to ``path``."""
    for c in board.commands:
        for ix, f in c.instances:
            if f.key == path:
                why = check_command(f, value)
                if why:
                    raise TwinError(f"board {board.name}: {path} = {value:g}: {why}")
                return format_sentence([board.talker + "CMD", c.name, *map(str, ix),
                                        format_value(f, value)])
    raise TwinError(f"board {board.name}: no command for {path!r}")


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to a command: ``$<talker>ACK,<NAME>,<keys>,<value>`` or ``...NAK,...,<reason>``."""

    ok: bool
    name: str
    keys: tuple[int, ...]
    detail: str  # the value echoed (ACK) or the reason (NAK)


def parse_reply(board: Board, line: bytes | str) -> Reply | None:
    """The ACK/NAK in ``line``, or None for any other sentence."""
    words = parse_sentence(line)
    if words[0] not in (board.talker + "ACK", board.talker + "NAK") or len(words) < 3:
        return None
    try:
        keys = tuple(int(w) for w in words[2:-1])
    except ValueError:
        keys = ()
    return Reply(words[0].endswith("ACK"), words[1], keys, words[-1])
