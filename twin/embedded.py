"""``twin up``: the plant, its three stub boards on real wires, the pollers, and the OPC UA server.

:class:`EmbeddedBoards` starts, for every board file, a firmware stub sensing the plant's truth
and a poller reading it over a real wire — serial boards on a pseudo-terminal pair (the stub
opens one end by path, the poller holds the other), TCP boards on a free loopback port — and a
:class:`~hil.sync.HilSync` that puts the boards' values into the twin's mirror. Commands a board
receives (a coil, a register, an ASCII CMD) reach the plant through the one command path,
``twin.commands.call(...)`` as user ``board`` with the operator role; a refused command is
refused on the wire too (Modbus exception 04, ASCII NAK FAILED). :func:`run_embedded` adds the
OPC UA server and runs until ``stop``.

Sensor and board faults injected through the command path (``InjectFault`` with a ``sensor_*``
kind on a channel, or a ``board_*`` kind on ``hil.<board>``: the plant's catalogue has them with
``plant = False``) are forwarded to the stubs: a sensor fault to every board that measures the
channel, a board fault to that board, each while the twin's fault is active (scheduled starts,
durations, ClearFault and RestoreCheckpoint included), again after a stub restarts.
``board_reset`` resets the board once. A target no board has is refused before anything is
recorded (:meth:`EmbeddedBoards.check_fault`).

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
from twin.model import faults as flt
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
        self._faults_task: asyncio.Task[None] | None = None
        self._faults_due = asyncio.Event()
        self._faults_seen: tuple[tuple[int, str], ...] = ()
        self._applied: dict[int, list[tuple[str, int]]] = {}  # twin fault → (board, stub id)
        self._resets_done: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

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
        for fid in [fid for fid, on in self._applied.items() if any(b == name for b, _ in on)]:
            del self._applied[fid]  # a new stub starts without faults: apply them again
            self._faults_seen = ()
        self._faults_changed()
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
            self._loop = asyncio.get_running_loop()
            self._sync_task = self._loop.create_task(self.sync.run(self._stop))
            self.twin.board_faults = self
            self.twin.on_frame(lambda _tw: self._faults_changed())
            self.twin.on_command(lambda _rec: self._faults_changed())
            self._faults_task = self._loop.create_task(self._forward_faults())
            self._faults_changed()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._stop.set()
        self._faults_due.set()
        self._loop = None  # the twin's listeners stay registered: make them no-ops
        if self.twin.board_faults is self:
            self.twin.board_faults = None
        for task in (self._sync_task, self._faults_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._sync_task = self._faults_task = None
        for p in self.pollers.values():
            await p.close()
        for s in self.stubs.values():
            await s.close()
        for pty in self.ptys.values():
            pty.close()
        self.pollers.clear()
        self.stubs.clear()
        self.ptys.clear()

    # --- sensor and board faults ---------------------------------------------------------
    def check_fault(self, kind: str, target: str) -> None:
        """Refuse (CommandError) a sensor or board fault that no stub board can apply."""
        if flt.KINDS[kind].target == "board":
            name = target.removeprefix("hil.")
            if name not in self.boards:
                raise CommandError(f"fault {kind}: no sensor board {name!r}; boards: "
                                   + ", ".join(f"hil.{b}" for b in self.boards),
                                   "BadInvalidArgument")
        elif not self._boards_measuring(target):
            raise CommandError(f"fault {kind}: no sensor board measures {target!r} (a model "
                               "estimate has no sensor to fail; `twin boards doc` lists what "
                               "the boards measure)", "BadInvalidArgument")

    def _boards_measuring(self, path: str) -> list[str]:
        return [n for n, b in self.boards.items() if path in b.paths()]

    def _fault_boards(self, f: flt.Fault) -> list[str]:
        if flt.KINDS[f.kind].target == "board":
            name = f.target.removeprefix("hil.")
            return [name] if name in self.stubs else []
        return [n for n in self._boards_measuring(f.target) if n in self.stubs]

    def _faults_changed(self) -> None:
        """From the twin's listeners (any thread): wake the forwarder if a sensor or board
        fault changed state."""
        seen = tuple((f.id, f.state) for f in self.twin.plant.faults
                     if not flt.KINDS[f.kind].plant)
        if seen != self._faults_seen and self._loop is not None:
            self._faults_seen = seen
            self._loop.call_soon_threadsafe(self._faults_due.set)

    async def _forward_faults(self) -> None:
        while not self._stop.is_set():
            await self._faults_due.wait()
            self._faults_due.clear()
            if not self._stop.is_set():
                try:
                    await self._apply_faults()
                except Exception:  # a stub that cannot take it must not stop the twin
                    log.exception("forwarding sensor and board faults to the stubs failed")

    async def _apply_faults(self) -> None:
        """Make the stubs' faults what the twin's active sensor and board faults say."""
        now_us = self.twin.plant.state.t_us
        want: dict[int, flt.Fault] = {}
        for f in self.twin.plant.faults:
            fk = flt.KINDS[f.kind]
            if fk.plant:
                continue
            if fk.one_shot:
                happened = f.start_us <= now_us and (f.end_us is None or f.end_us >= f.start_us)
                if happened and f.id not in self._resets_done:
                    self._resets_done.add(f.id)
                    for name in self._fault_boards(f):
                        await self.stubs[name].inject_fault(f.kind.removeprefix("board_"))
                        log.warning("board %s: reset (twin fault %d)", name, f.id)
            elif f.state == "active":
                want[f.id] = f
        for fid in [fid for fid in self._applied if fid not in want]:
            for name, stub_id in self._applied.pop(fid):
                with contextlib.suppress(CommandError, KeyError):  # replaced, or restarted
                    await self.stubs[name].clear_fault(stub_id)
                log.warning("board %s: fault %d cleared", name, fid)
        for fid, f in want.items():
            if fid in self._applied:
                continue
            on: list[tuple[str, int]] = []
            board_wide = flt.KINDS[f.kind].target == "board"
            kind = f.kind.removeprefix("board_") if board_wide else f.kind
            target = "" if board_wide else f.target
            params = dict(f.params)
            for name in self._fault_boards(f):
                on.append((name, await self.stubs[name].inject_fault(kind, target, params)))
                log.warning("board %s: fault %d %s %s", name, fid, kind, target or "")
            self._applied[fid] = on


async def run_embedded(twin: Twin, endpoint: str, state_dir: str | Path,
                       stop: asyncio.Event | None = None, **serve_options: Any) -> None:
    """The embedded twin until ``stop``: stub boards on ptys and loopback TCP, their pollers,
    the mirror sync, and the OPC UA server (``serve_options`` go to
    :func:`twin.opcua.server.serve`: ``allow_none``, ``anonymous``, ``users_file``, ``out``)."""
    from twin.opcua.server import serve

    stop = stop or asyncio.Event()
    await serve(twin, endpoint, state_dir, stop=stop, within=lambda: EmbeddedBoards(twin),
                **serve_options)

