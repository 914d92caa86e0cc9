"""``twin up``: the plant, its three stub boards on real wires, the pollers, and the OPC UA server.

:class:`EmbeddedBoards` starts, for every board file, a firmware stub sensing the plant's truth
and a poller reading it over a real wire — serial boards on a pseudo-terminal pair (the stub
opens one end by path, the poller holds the other), TCP boards on a free loopback port — and a
:class:`~hil.sync.HilSync` that puts the boards' values into the twin's mirror. Commands a board
receives (a coil, a register, an ASCII CMD) reach the plant through the one command path,
``twin.commands.call(...)`` as user ``board`` with the operator role; a refused command is
refused on the wire too (Modbus exception 04, ASCII NAK FAILED). :func:`run_embedded` adds the
OPC UA server and runs until ``stop``.

Build the twin with its boards, so that their ``hil.*`` link and residual channels are in the
catalogue before the OPC UA server, the recorder or InfluxDB look at it::

    twin = embedded_twin(config, seed=..., state_dir=..., mode="realtime")
    # the same as Twin(config, ..., boards=stub_boards(config))
    async with EmbeddedBoards(twin):      # the boards the twin was built with
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware_stubs import StubBase, make_stub
from firmware_stubs.sources import plant_source
from hil.boardfile import BOARDS_DIR, Board, load_boards
from hil.poller import BoardPoller, make_poller
from hil.sync import HilSync
from hil.transport import PtyPair
from twin.catalogue import build_catalogue
from twin.errors import CommandError
from twin.runtime import Twin

log = logging.getLogger(__name__)
BOARD_USER, BOARD_ROLE = "board", "operator"


def stub_boards(config: Any, boards_dir: str | Path = BOARDS_DIR) -> dict[str, Board]:
    """The board files of ``boards_dir``, checked against ``config``'s catalogue, by name."""
    return load_boards(build_catalogue(config), boards_dir)


def embedded_twin(config: Any, *, boards_dir: str | Path = BOARDS_DIR, **twin_options: Any
                  ) -> Twin:
    """A twin built with the stub boards of ``boards_dir`` (their ``hil.*`` channels in its
    catalogue); ``twin_options`` go to :class:`~twin.runtime.Twin` (seed, state_dir, mode...)."""
    return Twin(config, boards=stub_boards(config, boards_dir), **twin_options)


def board_command(twin: Twin, path: str, value: float) -> tuple[str, dict[str, Any]]:
    """The command and arguments for a board's write of ``value`` to channel ``path``."""
    parts = path.split(".")
    n = int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0
    head, qty = ".".join(parts[:2]), parts[-1]
    if head == "compute.rack" and qty == "enabled":
        return "SetRackEnabled", {"rack": n, "enabled": value >= 0.5}
    if head == "compute.rack" and qty == "power_cap_w":
        return "SetRackPowerCap", {"rack": n, "cap_w": float(value)}
    if head == "thermal.pump" and qty == "speed_pct":
        return "SetPumpSpeed", {"pump": n, "speed_pct": float(value)}
    if head == "thermal.radiator" and qty == "deploy_cmd":
        return "SetRadiatorDeploy", {"panel": n, "deployed": value >= 0.5}
    if head == "power.battery" and qty == "heater_mode":
        enum = twin.catalogue[path].enum
        return "SetHeaterMode", {"string": n, "mode": enum[int(value)]}
    if path == "power.pcdu.shed_level_cmd":
        return "SetLoadShedLevel", {"level": int(value)}
    raise CommandError(f"no command for board channel {path!r}")


def command_sink(twin: Twin) -> Callable[[str, float], None]:
    """A stub's ``on_command``: the twin's command path; a refusal raises (the board refuses)."""

    def apply(path: str, value: float) -> None:
        name, args = board_command(twin, path, value)
        result = twin.commands.call(name, args, user=BOARD_USER, role=BOARD_ROLE)
        if not result.ok:
            raise CommandError(result.message, result.status)

    return apply


class EmbeddedBoards:
    """Stubs, pollers and the mirror sync for ``twin``; ``async with`` starts and stops them.

    ``boards`` default: those the twin was built with, else the board files of ``boards_dir``
    (a twin built without boards has no ``hil.*`` channels; the sync then warns)."""

    def __init__(self, twin: Twin, boards: dict[str, Board] | None = None, *,
                 boards_dir: str | Path = BOARDS_DIR, pace: bool = False,
                 stub_options: dict[str, Any] | None = None) -> None:
        self.twin = twin
        if boards is None:
            own = {b.name: b for b in twin.boards if isinstance(b, Board)}
            boards = own if own and boards_dir == BOARDS_DIR else load_boards(twin.catalogue,
                                                                              boards_dir)
        self.boards = boards
        self.pace = pace
        self.stub_options = stub_options or {}
        self.source = plant_source(twin.plant, twin.catalogue)
        self.ptys: dict[str, PtyPair] = {}
        self.stubs: dict[str, StubBase] = {}
        self.pollers: dict[str, BoardPoller] = {}
        self.sync: HilSync | None = None
        self._stop = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None

    async def start_stub(self, name: str) -> StubBase:
        """Start (or restart, on the same pty or port) the stub of board ``name``."""
        board = self.boards[name]
        kw: dict[str, Any] = {"on_command": command_sink(self.twin), "pace": self.pace,
                              **self.stub_options}
        if board.protocol == "modbus_tcp":
            old = self.stubs.get(name)
            kw.update(host="127.0.0.1", port=old.port if old is not None else 0)
        else:
            kw["device"] = self.ptys[name].path
        stub = await make_stub(board, self.source, **kw).start()
        self.stubs[name] = stub
        return stub

    async def __aenter__(self) -> EmbeddedBoards:
        try:
            for name, board in self.boards.items():
                if board.protocol != "modbus_tcp":
                    self.ptys[name] = PtyPair()
                await self.start_stub(name)
            for name, board in self.boards.items():
                if board.protocol == "modbus_tcp":
                    poller = make_poller(board, host="127.0.0.1", port=self.stubs[name].port)
                else:
                    poller = make_poller(board, device=self.ptys[name].master_fd)
                self.pollers[name] = poller.start()
                log.info("board %s: stub on %s, poller started", name, self.stubs[name].port)
            self.sync = HilSync(self.twin, self.pollers.values())
            self._sync_task = asyncio.get_running_loop().create_task(self.sync.run(self._stop))
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._stop.set()
        if self._sync_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
            self._sync_task = None
        for p in self.pollers.values():
            await p.close()
        for s in self.stubs.values():
            await s.close()
        for pty in self.ptys.values():
            pty.close()
        self.pollers.clear()
        self.stubs.clear()
        self.ptys.clear()


async def run_embedded(twin: Twin, endpoint: str, state_dir: str | Path,
                       stop: asyncio.Event | None = None, **serve_options: Any) -> None:
    """The embedded twin until ``stop``: stub boards on ptys and loopback TCP, their pollers,
    the mirror sync, and the OPC UA server (``serve_options`` go to
    :func:`twin.opcua.server.serve`: ``allow_none``, ``anonymous``, ``users_file``, ``out``)."""
    from twin.opcua.server import serve

    stop = stop or asyncio.Event()
    async with EmbeddedBoards(twin):
        await serve(twin, endpoint, state_dir, stop=stop, **serve_options)

