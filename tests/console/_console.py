"""Helpers for the console tests: users, free ports, a served twin, waiting for what is shown."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from rich.console import Console
from textual.app import App
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
async def served_twin(state_dir: Path, port: int | None = None, twin: Twin | None = None,
                      boards: bool = False) -> AsyncIterator[TwinServer]:
    """The default satellite (or ``twin``), paused, served on 127.0.0.1 (None policy allowed);
    ``boards``: with its stub boards on wires (``twin`` must have been built with them)."""
    twin = twin or Twin(load_satellite().config, state_dir=state_dir)
    opts = ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{port or free_port()}/twin/",
                         state_dir=state_dir, users_file=users_file(state_dir), allow_none=True)
    srv = TwinServer(twin, opts)
    async with AsyncExitStack() as stack:
        if boards:
            from twin.embedded import EmbeddedBoards

            await stack.enter_async_context(EmbeddedBoards(twin))
        await srv.start()
        stop = asyncio.Event()
        ticking = asyncio.create_task(twin.run(stop))
        try:
            yield srv
        finally:
            stop.set()
            await ticking
            await srv.stop()


def screen_text(app: App[None]) -> str:
    """What the terminal shows now, as plain text (one line per row)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      force_terminal=True, color_system="truecolor", legacy_windows=False,
                      safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens, simplify=True))
    return console.export_text()


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
    """Until the first data is shown and the console knows the server's commands (it reads
    them, after the alarm list, once connected)."""
    await until(pilot, lambda: "connected" in shown(pilot, "#status")
                and "sim 20" in shown(pilot, "#status"), "the first data")
    await until(pilot, lambda: bool(getattr(pilot.app, "methods", None)),
                "the server's commands")


def cells(pilot: Pilot[None], table: str, row: str) -> list[str]:
    """The texts of one row (by key) of a DataTable on the current screen; [] if not there."""
    from textual.widgets import DataTable

    t = pilot.app.screen.query_one(table, DataTable)
    return [str(c).strip() for c in t.get_row(row)] if row in t.rows else []


def inside(pilot: Pilot[None], selector: str = ".panel") -> None:
    """Every widget matching ``selector`` has a size and lies inside the terminal, above the
    answer line and the footer (the last two rows)."""
    width, height = pilot.app.size
    found = pilot.app.screen.query(selector)
    assert found, f"nothing matches {selector}"
    for w in found:
        r = w.region
        assert r.width > 0 and r.height > 0, (w.id, r)
        assert r.right <= width and r.bottom <= height - 2, (w.id, r, (width, height))


async def open_command(pilot: Pilot[None], name: str) -> None:
    """A command's form (or its confirmation, or the call) from the command palette."""
    app = pilot.app
    await until(pilot, lambda: name in getattr(app, "methods", {}), "the server's commands")
    from textual.command import CommandList, CommandPalette

    await pilot.press("ctrl+p")
    await pilot.press(*name)

    def found() -> bool:  # the palette searches in a worker: until its first hit is the name
        if not isinstance(app.screen, CommandPalette):
            return False
        hits = app.screen.query_one(CommandList)
        return hits.option_count > 0 and hits.highlighted == 0 and str(
            hits.get_option_at_index(0).prompt).split()[0].strip("✗ ") == name

    await until(pilot, found, f"{name} in the palette")
    await pilot.press("enter")


async def pick(pilot: Pilot[None], field: str, text: str) -> list[str]:
    """Choose the option of the focused Select (``#arg-<field>``) that starts with ``text``:
    enter opens the list, typing finds the option, enter takes it. Returns the options the
    list offered (their labels)."""
    from textual.widgets import OptionList, Select

    select = pilot.app.screen.query_one(f"#arg-{field}", Select)
    assert pilot.app.focused is select, f"{field} is not focused: {pilot.app.focused}"
    await pilot.press("enter")
    overlay = select.query_one("SelectOverlay", OptionList)
    await until(pilot, lambda: overlay.has_focus, f"the {field} list open")
    offered = [str(overlay.get_option_at_index(k).prompt) for k in range(overlay.option_count)]
    await pilot.press(*text)
    await pilot.press("enter")
    await until(pilot, lambda: str(select.value).startswith(text.strip()), f"{field} = {text}")
    return [o for o in offered if o and o != select.prompt]  # (not the blank option)


def answer(pilot: Pilot[None]) -> str:
    return shown(pilot, "#answer")
