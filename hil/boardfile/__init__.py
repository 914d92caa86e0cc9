"""Sensor boards as data: the board-file schema, its loader, and the one register/sentence codec.

A board file (``configs/boards/*.toml``) maps a board's Modbus tables or ASCII sentences to
catalogue channels. The firmware stubs encode with this package and the twin's pollers decode
with it, so the two sides cannot disagree; ``twin boards doc`` renders the same objects as
Markdown. Everything is importable from ``hil.boardfile``; the modules are

=======================  ===============================================================
:mod:`.schema`           what a file may say: tables, keys, ranges (TOML → frozen specs)
:mod:`.model`            the loaded :class:`Board`, its :class:`Field` objects, sentences and
                         commands; residual limits (:meth:`Board.residual_limits`)
:mod:`.loader`           :func:`load_boards`, :func:`load_board`, :func:`parse_board`:
                         specs resolved against the catalogue, templates expanded, checked
:mod:`.registers`        values ↔ raw ↔ Modbus registers and bits (layout table there)
:mod:`.sentences`        the NMEA-like ASCII sentences, commands and ACK/NAK replies
:mod:`.docs`             Markdown (``twin boards doc``, ``python -m hil.boardfile``)
=======================  ===============================================================

Expansion: a ``path`` may hold placeholders such as ``thermal.radiator.{i}.temp_c``; ``count``
(an integer, or ``"all"`` for every index the catalogue has) or ``indices`` lists the instances,
placed at ``address + k × stride`` (``stride`` defaults to the register width). ASCII sentences
name their placeholders in ``keys``; their instances are every index tuple in the catalogue.

Hardware-in-loop channels: a twin built with boards (``Twin(config, boards=...)``) has, per
board, ``hil.<name>.*`` link channels and, per channel a board measures and the plant models,
``hil.residual.<path>`` with the limits :mod:`.model` explains (:class:`hil.sync.HilSync` fills
them).
"""

from __future__ import annotations

from hil.boardfile.docs import (
    add_boards_arguments,
    boards_command,
    boards_doc_command,
    render_all,
    render_link,
    render_markdown,
)
from hil.boardfile.loader import board_file, load_board, load_boards, parse_board
from hil.boardfile.model import (
    RESIDUAL_RED_FACTOR,
    RESIDUAL_SIGMAS,
    RESIDUAL_STEPS,
    Board,
    Command,
    Decoded,
    Field,
    Flag,
    Sentence,
    default_residual,
)
from hil.boardfile.registers import (
    Image,
    ModbusWrite,
    check_command,
    decode,
    decode_block,
    decode_words,
    encode,
    encode_value,
    encode_write,
    from_raw,
    new_image,
    put,
    raw_to_words,
    to_raw,
    words_to_raw,
)
from hil.boardfile.schema import (
    BIT_TABLES,
    BOARDS_DIR,
    READ_FUNCTION,
    STATUS_FIELDS,
    TABLES,
    TYPES,
    WRITABLE_TABLES,
    BoardFileSpec,
    BoardSection,
    FieldSpec,
    LinkSection,
    SentenceSpec,
)
from hil.boardfile.sentences import (
    Reply,
    SentenceError,
    checksum,
    decode_sentence,
    encode_ascii_command,
    encode_sentence,
    format_sentence,
    format_value,
    parse_reply,
    parse_sentence,
    parse_value,
)

__all__ = [
    "BIT_TABLES", "BOARDS_DIR", "READ_FUNCTION", "RESIDUAL_RED_FACTOR", "RESIDUAL_SIGMAS",
    "RESIDUAL_STEPS", "STATUS_FIELDS", "TABLES", "TYPES", "WRITABLE_TABLES", "Board",
    "BoardFileSpec", "BoardSection", "Command", "Decoded", "Field", "FieldSpec", "Flag", "Image",
    "LinkSection", "ModbusWrite", "Reply", "Sentence", "SentenceError", "SentenceSpec",
    "add_boards_arguments", "board_file", "boards_command", "boards_doc_command", "check_command",
    "checksum", "decode", "decode_block", "decode_sentence", "decode_words", "default_residual",
    "encode", "encode_ascii_command", "encode_sentence", "encode_value", "encode_write",
    "format_sentence", "format_value", "from_raw", "load_board", "load_boards", "new_image",
    "parse_board", "parse_reply", "parse_sentence", "parse_value", "put", "raw_to_words",
    "render_all", "render_link", "render_markdown", "to_raw", "words_to_raw",
]
