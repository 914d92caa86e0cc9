"""``twin stub BOARD``: one stub board, standalone, until interrupted.

    twin stub power                              # RTU on a new pty (its path is printed)
    twin stub power --port /dev/ttyUSB0 --pace   # on a real serial port, paced at the baud
    twin stub thermal --tcp 127.0.0.1:5020 --source profile day.toml
    twin stub rack --source recording runs/day1 --speed 60

The lead wires :func:`add_stub_arguments` and :func:`stub_command` into ``twin``;
``python -m firmware_stubs`` runs the same command on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from twin.errors import TwinError


def add_stub_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("board", help="board name (configs/boards/NAME.toml) or board file")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", metavar="DEV", help="serial device; 'pty' (default for serial "
                       "boards) opens a new pseudo-terminal and prints its path")
    where.add_argument("--tcp", metavar="HOST:PORT", help="listen address of a TCP board "
                       "(default 127.0.0.1:<the board file's port>; port 0: a free one)")
    parser.add_argument("--source", nargs="+", metavar="KIND [PATH]", default=["constant"],
                        help="what the board senses: 'constant [FILE]' (a fresh plant's "
                        "values, FILE overriding some: \"path\" = value), 'profile FILE' "
                        "(TOML or CSV, piecewise linear) or 'recording DIR' (twin simulate "
                        "--out); default constant")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="source seconds per wall second (profile, recording; default 1)")
    parser.add_argument("--loop", action="store_true", help="repeat a profile or recording")
    parser.add_argument("--config", default=None, help="satellite file (default: configs/"
                        "satellite.toml)")
    parser.add_argument("--seed", type=int, default=None, help="noise seed (default: board's)")
    parser.add_argument("--no-noise", action="store_true", help="sensors without noise")
    parser.add_argument("--pace", action="store_true",
                        help="send bytes no faster than the baud rate (serial boards)")
    parser.add_argument("--turnaround-ms", type=float, default=None,
                        help="RS-485 turnaround before answers (default: the board file's)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: until interrupted)")


def build_source(kind_args: list[str], cfg: Any, catalogue: Any, speed: float, loop: bool
                 ) -> Any:
    from firmware_stubs.sources import (
        ConstantSource,
        RecordingSource,
        WallClock,
        load_constants,
        load_profile,
        nominal_values,
    )

    kind, rest = kind_args[0], kind_args[1:]
    clock = WallClock(speed)
    if kind == "constant" and len(rest) <= 1:
        values = nominal_values(cfg)
        if rest:
            values.update(load_constants(rest[0], catalogue))
        return ConstantSource(values, clock)
    if kind == "profile" and len(rest) == 1:
        src = load_profile(rest[0], catalogue, clock)
        src.loop = src.loop or loop
        return src
    if kind == "recording" and len(rest) == 1:
        return RecordingSource(rest[0], clock, loop)
    raise TwinError(f"--source {' '.join(kind_args)}: expected 'constant [FILE]', "
                    "'profile FILE' or 'recording DIR'")


def stub_command(args: argparse.Namespace) -> int:
    """Run one stub until interrupted (or ``--duration``); prints where it listens."""
    from hil.boardfile import load_board
    from twin.catalogue import build_catalogue
    from twin.config import DEFAULT_SATELLITE, load_satellite

    cfg = load_satellite(Path(args.config) if args.config else DEFAULT_SATELLITE).config
    cat = build_catalogue(cfg)
    board = load_board(args.board, cat)
    source = build_source(args.source, cfg, cat, args.speed, args.loop)
    kw: dict[str, Any] = {"seed": args.seed, "noise": not args.no_noise, "pace": args.pace,
                          "turnaround_ms": args.turnaround_ms}
    if board.protocol == "modbus_tcp":
        if args.port:
            raise TwinError(f"board {board.name} speaks Modbus TCP: use --tcp HOST:PORT")
        host, port = board.link.host, board.link.port
        if args.tcp:
            host, _, p = args.tcp.rpartition(":")
            if not host or not p.isdigit():
                raise TwinError(f"--tcp {args.tcp}: expected HOST:PORT, e.g. 127.0.0.1:5020")
            port = int(p)
        kw.update(host=host, port=port)
    else:
        if args.tcp:
            raise TwinError(f"board {board.name} is a serial board: use --port DEV or pty")
        kw["device"] = None if args.port in (None, "pty") else args.port
    return asyncio.run(_serve(board, source, kw, args.duration))


async def _serve(board: Any, source: Any, kw: dict[str, Any], duration: float | None) -> int:
    from firmware_stubs import make_stub

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        stub = make_stub(board, source, **kw)
        await stub.start()
    except OSError as exc:
        raise TwinError(f"board {board.name}: cannot open its port: {exc}") from None
    where = f"tcp {stub.host}:{stub.port} unit {board.device_id}" \
        if board.protocol == "modbus_tcp" else f"serial {stub.port}"  # type: ignore[attr-defined]
    print(f"stub {board.name} ({board.protocol}) on {where}", flush=True)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    finally:
        await stub.close()
    print(f"stub {board.name}: stopped; counters {stub.counters}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_stubs",
                                     description="Run one firmware stub board.")
    add_stub_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return stub_command(args)
    except TwinError as exc:
        print(f"stub: {exc}", file=sys.stderr)
        return 2
