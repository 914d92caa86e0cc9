"""Snapshots of the main screens at 80×24, against a fresh twin in its paused start state.

Each screen is compared twice with the files in ``snapshots/``: as plain text (a readable diff
when it fails) and as Textual's SVG screenshot (colours and styles too). The state is fixed:
the default satellite with its configured seed, paused at its epoch, and the console shows
simulated time only, so nothing in the pictures depends on the wall clock. After an intended
change of a screen, rewrite the files with ``TWIN_UPDATE_SNAPSHOTS=1`` and review the diff.

(pytest-textual-snapshot is not used: it pins syrupy 4.8, which needs pytest < 9, and its
``snap_compare`` runs the app with its own event loop, which cannot share the test's loop with
the in-process OPC UA server.)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from _console import PASSWORDS, connected, screen_text, until

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


SCREENS = [  # name, keys, text that shows the screen is there
    ("overview", [], "Next edge"),
    ("power", ["w"], "Loads (LCL)"),
    ("thermal", ["t"], "Radiator panels"),
    ("compute", ["c"], "temperature °C:"),
    ("compute-state", ["c", "v", "v"], "state:"),
    ("rack", ["c", "enter"], "GPUs of rack 1"),
    ("alarms", ["a"], "shelved"),
    ("boards", ["b"], "No sensor boards"),
    ("replay", ["l"], "Not a replay"),
]


@pytest.mark.parametrize(("name", "keys", "done"), SCREENS, ids=[s[0] for s in SCREENS])
async def test_screen_snapshot(served: TwinServer, name: str, keys: list[str], done: str):
    app = ConsoleApp(served.url, "otto", PASSWORDS["otto"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.2)
        text = await settled(pilot, done)
        check(name, text, app.export_screenshot(title=f"console {name}"))
    assert served.twin.plant.t_s == 0.0  # nothing moved the twin
