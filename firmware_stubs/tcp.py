"""Modbus TCP server of a board: MBAP framing, one task per connection, answers in order.

Only the board's unit id is answered (others count as ``foreign_frames``); a header with a
protocol id other than 0 or an impossible length counts as a ``frame_error`` and closes the
connection (there is no way to find the next frame). ``link_down`` closes the listener and
every connection; clearing it listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

from firmware_stubs.base import StubBase
from firmware_stubs.modbus import process
from hil.modbus import mbap_frame


class TcpStub(StubBase):
    def __init__(self, *args: object, host: str = "127.0.0.1", port: int = 0,
                 **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.host = host
        self.port = port
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def _open(self) -> None:
        await self._listen()

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        await self._unlisten()

    async def _unlisten(self) -> None:
        if self.server is not None:
            self.server.close()
            for w in list(self._writers):
                w.transport.abort()
            await self.server.wait_closed()
            self.server = None
        if self._handlers:  # let them see the closed connection and end by themselves
            _, late = await asyncio.wait(set(self._handlers), timeout=2.0)
            for t in late:
                t.cancel()

    async def _faults_changed(self) -> None:
        if self.core.faults.link_down and self.server is not None:
            await self._unlisten()
        elif not self.core.faults.link_down and self.server is None and not self.closed:
            await self._listen()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        core = self.core
        try:
            while True:
                tid, pid, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                if pid != 0 or not 2 <= length <= 254:
                    core.count("frame_errors")
                    break
                pdu = await reader.readexactly(length - 1)
                if unit != self.board.device_id:
                    core.count("foreign_frames")
                    continue
                core.count("rx_frames")
                response = await process(core, pdu)
                if not await self.answer_delay():
                    continue
                writer.write(core.faults.garbage() or mbap_frame(tid, unit, response))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
