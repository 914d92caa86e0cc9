"""``twin serve --boards FILE``: the twin against real boards in a lab.

A lab file says which boards to poll and where; everything else about a board (its register
map, protocol, device id, default link settings) stays in its board file
(``configs/boards/<name>.toml``)::

    [lab]                              # optional
    name = "bench-3"
    boards_dir = "configs/boards"      # relative to the lab file; default: the shipped boards

    [[board]]
    name = "power"                     # a board file's [board] name
    device = "/dev/ttyUSB0"            # serial boards (modbus_rtu, ascii)
    baud = 57600                       # optional overrides of the board file's [link] ...
    timeout_s = 0.3

    [[board]]
    name = "thermal"
    host = "192.168.1.20"              # TCP boards (modbus_tcp)
    port = 502

Optional per board: ``baud``, ``parity``, ``stopbits``, ``interframe_ms``, ``timeout_s``,
``retries``, ``telemetry_period_s``, ``status_query_s`` (the board file's ``[link]``), and the
poller's ``poll_period_s`` and ``offline_after_s``. Serial boards on one RS-485 line share its
device (and one bus lock); they must all be Modbus RTU with the same serial settings.

:func:`load_lab` checks the file with the project's strict loader (one :class:`ConfigError`
naming file, key, value and what was expected). :class:`LabBoards` starts a poller per board and
the mirror sync, and forwards the twin's accepted commands (OPC UA, console, scenarios, bench
tests) to every board that has the command's channel, confirming each by read-back or ACK; a
failed forward is a twin event of severity 700 naming board and reason. :func:`run_lab` adds
the OPC UA server and runs until ``stop``.

Build the twin with the lab's boards, so that their ``hil.*`` link and residual channels (with
the lab's timeouts) are in the catalogue before the OPC UA server, the recorder or InfluxDB look
at it: ``twin, lab = lab_twin(config, "lab.toml", mode="realtime")``, the same as
``lab = load_lab(path, build_catalogue(config)); twin = Twin(config, boards=lab.boards)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.boardfile import BOARDS_DIR, Board, load_boards
from hil.poller import BoardPoller, CommandResult, make_poller
from hil.sync import HilSync
from hil.transport import SerialBus, rtu_gap_s
from twin.catalogue import BoardChannels, Catalogue, build_catalogue
from twin.commands import CommandRecord
from twin.configschema import build, param, parse_toml, read_text_file
from twin.errors import ConfigError
from twin.runtime import Twin

log = logging.getLogger(__name__)
SERIAL_OVERRIDES = ("baud", "parity", "stopbits", "interframe_ms")
LINK_OVERRIDES = (*SERIAL_OVERRIDES, "timeout_s", "retries", "telemetry_period_s",
                  "status_query_s")
BOARD_USER = "board"  # commands the boards themselves issue (embedded stubs) are not echoed


@dataclass(frozen=True, slots=True)
class LabSection:
    name: str = param("lab", doc="a name for this bench, for logs")
    boards_dir: str = param("", doc="board files folder, relative to the lab file "
                            "(default: the shipped configs/boards)")


@dataclass(frozen=True, slots=True)
class LabBoardSpec:
    name: str = param(doc="board name, as in its board file's [board] name")
    device: str = param("", doc="serial device of a Modbus RTU or ASCII board")
    host: str = param("", doc="host name or address of a Modbus TCP board")
    port: int = param(0, ge=1, le=65535, doc="TCP port of a Modbus TCP board "
                      "(default: the board file's)")
    baud: int = param(0, ge=300, le=4_000_000, doc="serial bit rate")
    parity: str = param("", choices=("N", "E", "O"), doc="serial parity")
    stopbits: int = param(0, ge=1, le=2, doc="serial stop bits")
    interframe_ms: float = param(-1.0, ge=0.0, le=1000.0, doc="RTU frame gap")
    timeout_s: float = param(0.0, gt=0.0, le=60.0, doc="answer timeout")
    telemetry_period_s: float = param(0.0, gt=0.0, le=3600.0, doc="ASCII telemetry period")
    status_query_s: float = param(-1.0, ge=0.0, le=3600.0, doc="ASCII: status query period "
                                  "(0: none)")
    poll_period_s: float = param(0.0, gt=0.0, le=3600.0, doc="poll period "
                                 "(default: the board's sample rate / telemetry period)")
    retries: int = param(-1, ge=0, le=10, doc="retries of a request that timed out or came "
                         "back garbled")
    offline_after_s: float = param(0.0, gt=0.0, le=3600.0, doc="silence before values turn "
                                   "Bad (default: two poll periods)")


@dataclass(frozen=True, slots=True)
class LabFileSpec:
    board: tuple[LabBoardSpec, ...] = param(doc="[[board]] tables: which boards, and where")
    lab: LabSection = param(LabSection(), doc="[lab] table")


@dataclass(frozen=True, slots=True)
class LabBoard:
    """One board of the lab: its board file (link overrides applied) and where it is."""

    board: Board
    device: str = ""
    host: str = ""
    port: int = 0
    poller_options: tuple[tuple[str, float], ...] = ()

    @property
    def name(self) -> str:
        return self.board.name

    @property
    def where(self) -> str:
        return self.device or f"{self.host}:{self.port}"

    def board_channels(self) -> BoardChannels:
        """The board's ``hil.*`` channels (with this lab's timeout), for ``Twin(boards=...)``."""
        return self.board.board_channels()


@dataclass(frozen=True, slots=True)
class LabConfig:
    name: str
    file: str
    boards: tuple[LabBoard, ...]


def load_lab(path: str | Path, catalogue: Catalogue) -> LabConfig:
    """Read and check a lab file against the board files and ``catalogue``."""
    path = Path(path)
    file = str(path)
    spec = build(LabFileSpec, parse_toml(read_text_file(path, "lab file"), file), file)
    boards_dir = (path.parent / spec.lab.boards_dir) if spec.lab.boards_dir else BOARDS_DIR
    if not boards_dir.is_dir():
        raise ConfigError(file, "lab.boards_dir", spec.lab.boards_dir,
                          "a folder of board files (not found)")
    known = load_boards(catalogue, boards_dir)
    if not spec.board:
        raise ConfigError(file, "board", [], "at least one [[board]] table")
    out: list[LabBoard] = []
    for n, b in enumerate(spec.board):
        out.append(_lab_board(b, known, file, f"board[{n}]"))
        if b.name in [o.name for o in out[:-1]]:
            raise ConfigError(file, f"board[{n}].name", b.name,
                              "each board listed once (it is already listed)")
    _check_shared_lines(out, file)
    return LabConfig(spec.lab.name, file, tuple(out))


def lab_twin(config: Any, path: str | Path, **twin_options: Any) -> tuple[Twin, LabConfig]:
    """The lab file at ``path`` and a twin built with its boards (``twin_options`` go to
    :class:`~twin.runtime.Twin`: seed, state_dir, mode...)."""
    lab = load_lab(path, build_catalogue(config))
    return Twin(config, boards=lab.boards, **twin_options), lab


def _lab_board(b: LabBoardSpec, known: dict[str, Board], file: str, key: str) -> LabBoard:
    board = known.get(b.name)
    if board is None:
        raise ConfigError(file, f"{key}.name", b.name,
                          "one of the board files' names: " + ", ".join(sorted(known)))
    tcp = board.protocol == "modbus_tcp"
    if tcp:
        if not b.host:
            raise ConfigError(file, f"{key}.host", "<missing>",
                              f"a host: board {b.name} speaks Modbus TCP")
        for k in ("device", *SERIAL_OVERRIDES):
            if getattr(b, k) != _DEFAULTS[k]:
                raise ConfigError(file, f"{key}.{k}", getattr(b, k),
                                  f"no {k}: board {b.name} speaks Modbus TCP (host, port)")
    else:
        if not b.device:
            raise ConfigError(file, f"{key}.device", "<missing>",
                              f"a serial device: board {b.name} speaks {board.protocol}")
        for k in ("host", "port"):
            if getattr(b, k) != _DEFAULTS[k]:
                raise ConfigError(file, f"{key}.{k}", getattr(b, k),
                                  f"no {k}: board {b.name} is on a serial line (device)")
    if b.telemetry_period_s and board.protocol != "ascii":
        raise ConfigError(file, f"{key}.telemetry_period_s", b.telemetry_period_s,
                          f"no telemetry_period_s: board {b.name} is polled "
                          f"({board.protocol}); use poll_period_s")
    if b.status_query_s != _DEFAULTS["status_query_s"] and board.protocol != "ascii":
        raise ConfigError(file, f"{key}.status_query_s", b.status_query_s,
                          f"no status_query_s: board {b.name} is polled ({board.protocol}) "
                          "and every poll is timed")
    link = dataclasses.replace(board.link, **{k: getattr(b, k) for k in LINK_OVERRIDES
                                              if getattr(b, k) != _DEFAULTS[k]})
    board = dataclasses.replace(board, link=link)
    opts = [(k, getattr(b, k)) for k in ("offline_after_s",) if getattr(b, k) != _DEFAULTS[k]]
    if b.poll_period_s:
        opts.append(("period_s", b.poll_period_s))
    return LabBoard(board, device=b.device, host=b.host,
                    port=b.port or (link.port if tcp else 0), poller_options=tuple(opts))


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(LabBoardSpec)}


def _check_shared_lines(boards: list[LabBoard], file: str) -> None:
    """Boards on one serial device share an RS-485 line: Modbus RTU, same settings."""
    first: dict[str, tuple[int, LabBoard]] = {}
    for n, lb in enumerate(boards):
        if not lb.device:
            continue
        if lb.device not in first:
            first[lb.device] = (n, lb)
            continue
        m, other = first[lb.device]
        if "ascii" in (lb.board.protocol, other.board.protocol):
            raise ConfigError(file, f"board[{n}].device", lb.device,
                              f"a device of its own: board[{m}] ({other.name}) is on it, and an "
                              "ASCII line cannot be shared")
        if lb.board.device_id == other.board.device_id:
            raise ConfigError(file, f"board[{n}].device", lb.device,
                              f"a line without another device id {lb.board.device_id} "
                              f"(board[{m}], {other.name}, has it)")
        for k in (*SERIAL_OVERRIDES, "bytesize"):
            if getattr(lb.board.link, k) != getattr(other.board.link, k):
                raise ConfigError(file, f"board[{n}].{k}", getattr(lb.board.link, k),
                                  f"{getattr(other.board.link, k)!r}, as board[{m}] "
                                  f"({other.name}) on the same line {lb.device}")


# --- twin commands → board commands ----------------------------------------------------------
def board_writes(twin: Twin, command: str, args: dict[str, Any]) -> list[tuple[str, float]]:
    """The board channel writes ``(path, value)`` that carry out a twin command (the inverse of
    :func:`twin.embedded.board_command`); none for commands no board takes (time, faults)."""
    if command == "SetRackEnabled":
        return [(f"compute.rack.{args['rack']}.enabled", 1.0 if args["enabled"] else 0.0)]
    if command == "SetRackPowerCap":
        return [(f"compute.rack.{args['rack']}.power_cap_w", float(args["cap_w"]))]
    if command == "SetPumpSpeed":
        return [(f"thermal.pump.{args['pump']}.speed_pct", float(args["speed_pct"]))]
    if command == "SetRadiatorDeploy":
        return [(f"thermal.radiator.{args['panel']}.deploy_cmd",
                 1.0 if args["deployed"] else 0.0)]
    if command == "SetHeaterMode":
        path = f"power.battery.{args['string']}.heater_mode"
        enum = twin.catalogue[path].enum if path in twin.catalogue else ("auto", "off", "on")
        return [(path, float(list(enum).index(args["mode"])))]
    if command == "SetLoadShedLevel":
        return [("power.pcdu.shed_level_cmd", float(args["level"]))]
    return []


class LabBoards:
    """Pollers for the lab's boards, the mirror sync and command forwarding for ``twin``;
    ``async with`` starts and stops them. No stubs: the boards are whatever is on the wires."""

    def __init__(self, twin: Twin, lab: LabConfig, *, forward_commands: bool = True) -> None:
        self.twin = twin
        self.lab = lab
        self.forward_commands = forward_commands
        self.buses: dict[str, SerialBus] = {}
        self.pollers: dict[str, BoardPoller] = {}
        self.sync: HilSync | None = None
        self.forwarded: list[CommandResult] = []  # every forwarded write's result, in order
        self._stop = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None
        self._forwards: set[asyncio.Task[None]] = set()
        self._open = False

    def _poller(self, lb: LabBoard) -> BoardPoller:
        kw: dict[str, Any] = dict(lb.poller_options)
        if lb.board.protocol == "modbus_tcp":
            return make_poller(lb.board, host=lb.host, port=lb.port, **kw)
        bus = self.buses.get(lb.device)
        if bus is None:
            ln = lb.board.link
            bus = SerialBus(lb.device, baud=ln.baud, bytesize=ln.bytesize, parity=ln.parity,
                            stopbits=ln.stopbits, gap_s=rtu_gap_s(ln.baud, ln.interframe_ms))
            self.buses[lb.device] = bus
        return make_poller(lb.board, bus=bus, **kw)

    async def __aenter__(self) -> LabBoards:
        try:
            for lb in self.lab.boards:
                self.pollers[lb.name] = self._poller(lb).start()
                log.info("lab %s: polling board %s on %s", self.lab.name, lb.name, lb.where)
            self.sync = HilSync(self.twin, self.pollers.values())
            self._sync_task = asyncio.get_running_loop().create_task(self.sync.run(self._stop))
            if self.forward_commands and not self._open:
                self.twin.on_command(self._on_command)
            self._open = True
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def targets(self, path: str) -> list[BoardPoller]:
        """The pollers of the boards that accept a command to ``path``."""
        out = []
        for p in self.pollers.values():
            with contextlib.suppress(Exception):
                p.board.command_field(path)
                out.append(p)
        return out

    async def command(self, path: str, value: float) -> list[CommandResult]:
        """Write ``value`` to ``path`` on every board that takes it; the confirmed results."""
        return list(await asyncio.gather(*(p.command(path, value)
                                           for p in self.targets(path))))

    def _on_command(self, rec: CommandRecord) -> None:
        if not self._open or rec.status != "Good" or rec.user == BOARD_USER:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a command called outside the twin's loop cannot reach a wire
            log.warning("lab %s: %s not forwarded to the boards (called outside the event "
                        "loop)", self.lab.name, rec.command)
            return
        for path, value in board_writes(self.twin, rec.command, rec.args):
            for p in self.targets(path):
                task = loop.create_task(self._forward(p, path, value))
                self._forwards.add(task)
                task.add_done_callback(self._forwards.discard)

    async def _forward(self, poller: BoardPoller, path: str, value: float) -> None:
        res = await poller.command(path, value)
        self.forwarded.append(res)
        if res.ok:
            log.info("board %s: %s", poller.board.name, res)
        else:
            log.warning("board %s: command failed: %s", poller.board.name, res)
            self.twin.event("board", 700, f"board {poller.board.name}: command {res}",
                            board=poller.board.name, path=path, reason=res.reason)

    async def settle(self) -> None:
        """Wait until every forwarded command has been confirmed or has failed."""
        while self._forwards:
            await asyncio.gather(*list(self._forwards), return_exceptions=True)

    async def close(self) -> None:
        self._open = False
        self._stop.set()
        for t in list(self._forwards):
            t.cancel()
        await asyncio.gather(*self._forwards, return_exceptions=True)
        if self._sync_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
            self._sync_task = None
        await close_pollers(self.pollers.values())
        for bus in self.buses.values():
            bus.close()
        self.pollers.clear()
        self.buses.clear()


async def close_pollers(pollers: Iterable[BoardPoller], retry_s: float = 0.5) -> None:
    """Close pollers, cancelling again while a poll task carries on: on Python 3.11,
    ``asyncio.wait_for`` (used under the pollers' reads) loses a cancellation that lands just as
    its wait completes, and a single ``close()`` then waits for ever."""
    for p in list(pollers):
        closing = {asyncio.ensure_future(p.close())}
        while not (await asyncio.wait(closing, timeout=retry_s,
                                      return_when=asyncio.FIRST_COMPLETED))[0]:
            log.debug("board %s: poll task ignored a cancellation; cancelling again",
                      p.board.name)
            closing.add(asyncio.ensure_future(p.close()))
        await asyncio.gather(*closing)


async def run_lab(twin: Twin, lab: LabConfig, endpoint: str, state_dir: str | Path,
                  stop: asyncio.Event | None = None, **serve_options: Any) -> None:
    """The twin against the lab's boards until ``stop``: their pollers, the mirror sync,
    command forwarding and the OPC UA server (``serve_options`` go to
    :func:`twin.opcua.server.serve`: ``allow_none``, ``anonymous``, ``users_file``, ``out``,
    ``trust_new``)."""
    from twin.opcua.server import serve

    stop = stop or asyncio.Event()
    await serve(twin, endpoint, state_dir, stop=stop, within=lambda: LabBoards(twin, lab),
                **serve_options)
