"""Boards: the link health of a twin's stub boards, and what a twin without boards shows;
Replay: what a live twin shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from _console import PASSWORDS, cells, connected, inside, served_twin, shown, until
from textual.widgets import DataTable

from twin.config import load_satellite
from twin.console.app import ConsoleApp
from twin.opcua.server import TwinServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
BOARDS = ("power", "rack", "thermal")


def boards_twin(state_dir: Path):  # type: ignore[no-untyped-def]
    """The default satellite built with its stub boards (their hil.* channels), or a skip
    while the catalogue does not name board channels."""
    try:
        from twin.embedded import embedded_twin
    except ImportError:
        pytest.skip("twin.embedded has no embedded_twin yet (hil.* channels)")
    # running: a paused twin publishes no new frames, so the link counters would not move
    twin = embedded_twin(load_satellite().config, state_dir=state_dir, mode="realtime")
    if "hil.power.online" not in twin.catalogue:
        pytest.skip("the catalogue has no hil.* channels yet")
    return twin


async def test_boards_show_each_stub_boards_link_and_the_largest_residuals(tmp_path: Path):
    twin = boards_twin(tmp_path)
    async with served_twin(tmp_path, twin=twin, boards=True) as srv:
        app = ConsoleApp(srv.url, "vera", PASSWORDS["vera"])
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(pilot)
            await pilot.press("b")
            for b in BOARDS:
                await until(pilot, lambda b=b: cells(pilot, "#board-links", b)[:2] == [
                    b, "online"], f"board {b} online")
            for b in BOARDS:
                row = cells(pilot, "#board-links", b)
                polls = int(row[2].replace(",", ""))
                assert 0 < polls <= twin.mirror.value(f"hil.{b}.polls"), row
                assert float(row[6]) > 0.0  # latency, ms
            assert shown(pilot, "#boards-note").startswith("3 boards · ")
            residuals = app.screen.query_one("#residuals", DataTable)
            await until(pilot, lambda: residuals.row_count == 10, "the largest residuals")
            values = [abs(float(str(residuals.get_row_at(k)[1])))
                      for k in range(residuals.row_count)]
            assert values == sorted(values, reverse=True)
            for k in range(residuals.row_count):
                assert f"hil.residual.{residuals.get_row_at(k)[0]}" in twin.catalogue
            inside(pilot)


async def test_a_twin_without_boards_says_so(served: TwinServer):
    app = ConsoleApp(served.url, "vera", PASSWORDS["vera"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("b")
        await until(pilot, lambda: shown(pilot, "#boards-note").startswith("No sensor boards"),
                    "no boards")
        assert "no hil.* channels" in shown(pilot, "#boards-note")
        assert not app.screen.query_one("#panel-links").display


async def test_replay_on_a_live_twin_says_it_is_not_a_replay_and_offers_no_play_head(
        served: TwinServer):
    twin = served.twin
    calls = len(twin.commands.log)
    app = ConsoleApp(served.url, "otto", PASSWORDS["otto"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("l")
        await until(pilot, lambda: shown(pilot, "#replay-note").startswith("Not a replay"),
                    "not a replay")
        assert not app.screen.query_one("#panel-timeline").display
        await pilot.press("space", "left", "right", "j", "f")  # hidden: nothing is sent
        await pilot.pause(0.2)
    assert [r.command for r in twin.commands.log[calls:]] == ["WhoAmI", "ListAlarms"]
