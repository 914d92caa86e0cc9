"""The boards in software: Modbus RTU and TCP slaves and the ASCII rack controller.

:func:`make_stub` builds the stub a board file asks for. Serial boards open a pseudo-terminal
pair by default (``stub.port`` is the path a master opens) or a given ``device``; TCP boards
listen on ``host:port`` (port 0: a free one, then in ``stub.port``).
"""

from __future__ import annotations

from typing import Any

from firmware_stubs.base import StubBase
from hil.boardfile import Board


def make_stub(board: Board, source: Any, **kw: Any) -> StubBase:
    """A stub for ``board`` sensing ``source``; keywords as :class:`~firmware_stubs.base.StubBase`
    plus ``device`` (serial boards) or ``host``/``port`` (TCP). Use ``async with``."""
    from firmware_stubs.ascii import AsciiStub
    from firmware_stubs.rtu import RtuStub
    from firmware_stubs.tcp import TcpStub

    cls = {"modbus_rtu": RtuStub, "modbus_tcp": TcpStub, "ascii": AsciiStub}[board.protocol]
    return cls(board, source, **kw)


__all__ = ["StubBase", "make_stub"]
