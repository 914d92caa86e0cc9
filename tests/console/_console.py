"""Helpers for the console tests: users, free ports, a served twin, waiting for what is shown."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Static

from twin.config import load_satellite
from twin.opcua.server import ServerOptions, TwinServer
from twin.opcua.users import UserStore
from twin.runtime import Twin

PASSWORDS = {"vera": "viewer-pw", "otto": "operator-pw", "erin": "engineer-pw"}
ROLE = {"vera": "viewer", "otto": "operator", "erin": "engineer"}
WAIT_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def users_file(directory: Path) -> Path:
    store = UserStore()
    for name, pw in PASSWORDS.items():
        store.add(name, pw, ROLE[name])
    return store.save(directory / "users.json")


@asynccontextmanager
async def served_twin(state_dir: Path, port: int | None = None) -> AsyncIterator[TwinServer]:
    """The default satellite, paused, served on 127.0.0.1 (None policy allowed)."""
    twin = Twin(load_satellite().config, state_dir=state_dir)
    opts = ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{port or free_port()}/twin/",
                         state_dir=state_dir, users_file=users_file(state_dir), allow_none=True)
    srv = TwinServer(twin, opts)
    await srv.start()
    stop = asyncio.Event()
    ticking = asyncio.create_task(twin.run(stop))
    try:
        yield srv
    finally:
        stop.set()
        await ticking
        await srv.stop()


def shown(pilot: Pilot[None], selector: str) -> str:
    """The text a Static widget on the current screen shows."""
    return str(pilot.app.screen.query_one(selector, Static).content)


async def until(pilot: Pilot[None], check: Callable[[], bool], what: str,
                timeout: float = WAIT_S) -> None:
    """Let the app run until ``check()`` holds; fail naming ``what`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}; status: "
                                 f"{shown(pilot, '#status')!r}, answer: "
                                 f"{shown(pilot, '#answer')!r}")
        await pilot.pause(0.05)


async def connected(pilot: Pilot[None]) -> None:
    await until(pilot, lambda: "connected" in shown(pilot, "#status")
                and "sim 20" in shown(pilot, "#status"), "the first data")
