"""Snapshots of the main screens at 80×24, against a fresh twin in its paused start state.

Each screen (and the help over the overview) is compared twice with the files in
``snapshots/``: as plain text (a readable diff when it fails) and as Textual's SVG screenshot
(colours and styles too). The state is fixed: the default satellite with its configured seed,
paused at its epoch, and the console shows simulated time only, so nothing in the pictures
depends on the wall clock. The Events screen shows a command the server refused (it moves
nothing); the Scenarios screen lists the files in ``configs/scenarios/``. After an intended
change of a screen, rewrite the files with ``TWIN_UPDATE_SNAPSHOTS=1`` and review the diff.

(pytest-textual-snapshot is not used: it pins syrupy 4.8, which needs pytest < 9, and its
``snap_compare`` runs the app with its own event loop, which cannot share the test's loop with
the in-process OPC UA server.)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from _console import PASSWORDS, connected, open_command, screen_text, shown, until

from twin.console.app import ConsoleApp
from twin.opcua.server import TwinServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("TWIN_UPDATE_SNAPSHOTS") == "1"


def normal_svg(svg: str) -> str:
    """Rich names the SVG's classes after a hash of the content: drop it."""
    return re.sub(r"\bterminal-\d+-", "terminal-", svg)


def check(name: str, text: str, svg: str) -> None:
    txt, pic = SNAPSHOTS / f"{name}.txt", SNAPSHOTS / f"{name}.svg"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        txt.write_text(text)
        pic.write_text(normal_svg(svg))
        return
    assert txt.exists() and pic.exists(), f"no snapshot {name}: run with TWIN_UPDATE_SNAPSHOTS=1"
    assert text == txt.read_text(), f"{name}: the screen's text changed"
    assert normal_svg(svg) == pic.read_text(), f"{name}: the screen's colours or styles changed"


async def settled(pilot, done: str) -> str:  # type: ignore[no-untyped-def]
    """The screen's text once every value has arrived (no "…") and two looks agree."""
    def ready() -> bool:
        text = screen_text(pilot.app)
        return "…" not in text and done in text

    await until(pilot, ready, f"a settled screen showing {done!r}")
    while True:
        before = screen_text(pilot.app)
        await pilot.pause(0.3)
        after = screen_text(pilot.app)
        if after == before:
            return after


async def refused_command(pilot) -> None:  # type: ignore[no-untyped-def]
    """A command the server refuses (it moves nothing): an event at T+0, and its answer."""
    await open_command(pilot, "SetSpeed")
    await until(pilot, lambda: bool(pilot.app.screen.query("#arg-speed")), "the form")
    await pilot.press(*"5000", "enter")
    await until(pilot, lambda: "BadOutOfRange" in shown(pilot, "#answer"), "the refusal")
    await until(pilot, lambda: bool(pilot.app.events), "the command's event")


SCREENS = [  # name, what to do first, keys, text that shows the screen is there
    ("overview", None, [], "Eclipse"),
    ("power", None, ["w"], "Loads (LCL)"),
    ("thermal", None, ["t"], "Radiator panels"),
    ("compute", None, ["c"], "temperature °C:"),
    ("compute-state", None, ["c", "v", "v"], "state:"),
    ("rack", None, ["c", "enter"], "GPUs of rack 1"),
    ("alarms", None, ["a"], "shelved"),
    ("boards", None, ["b"], "No sensor boards"),
    ("events", refused_command, ["e"], "BadOutOfRange"),
    ("trends", None, ["n", "slash", *"pflops", "enter"], "Pick a channel"),
    ("scenarios", None, ["i"], "array-drive-stuck:"),
    ("replay", None, ["l"], "Not a replay"),
    ("help", None, ["question_mark"], "ctrl+p  command palette"),
]


@pytest.mark.parametrize(("name", "setup", "keys", "done"), SCREENS,
                         ids=[s[0] for s in SCREENS])
async def test_screen_snapshot(served: TwinServer, name: str, setup: Any, keys: list[str],
                               done: str):
    app = ConsoleApp(served.url, "otto", PASSWORDS["otto"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        if setup is not None:
            await setup(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.2)
        text = await settled(pilot, done)
        check(name, text, app.export_screenshot(title=f"console {name}"))
    assert served.twin.plant.t_s == 0.0  # nothing moved the twin
