"""Scenarios against a real twin: the server's list, load, start (confirmed), the run live,
stop and the result table; disabled with the reason for an operator; a refusal shows why.

The tests share one served twin and run in order: nothing is loaded before the first."""

from __future__ import annotations

import pytest
from _console import PASSWORDS, answer, cells, connected, shown, until
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from twin.console.app import ConsoleApp
from twin.opcua.server import TwinServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
NAME = "pump-failure-shed"
CONTROLS = ("LoadScenario", "StartScenario", "StopScenario")


def console(served: TwinServer, user: str) -> ConsoleApp:
    return ConsoleApp(served.url, user, PASSWORDS[user])


async def scenarios(pilot) -> None:  # type: ignore[no-untyped-def]
    """The Scenarios screen with the server's list on it."""
    await pilot.press("i")
    await until(pilot, lambda: bool(cells(pilot, "#scenario-list", NAME)), "the list")


def live(pilot) -> str:  # type: ignore[no-untyped-def]
    return shown(pilot, "#scenario-live")


async def test_starting_with_nothing_loaded_shows_the_servers_refusal(served: TwinServer):
    app = console(served, "erin")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await scenarios(pilot)
        assert "State    none" in live(pilot)
        await pilot.press("g")  # hazardous: asks first
        await until(pilot, lambda: bool(app.screen.query("#question")), "the confirmation")
        assert shown(pilot, "#question") == "Send StartScenario?"
        await pilot.press("y")
        await until(pilot, lambda: "BadInvalidState" in answer(pilot), "the refusal")
        assert answer(pilot).startswith("✗ StartScenario: BadInvalidState — StartScenario: "
                                        "no scenario loaded; LoadScenario first")


async def test_an_engineer_loads_and_starts_a_scenario_sees_it_run_and_its_result(
        served: TwinServer):
    twin = served.twin
    app = console(served, "erin")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await scenarios(pilot)
        row = cells(pilot, "#scenario-list", NAME)
        assert row == [NAME, "30:00", "pass"]  # name, length, documented outcome
        for _ in range(10):  # to its row
            if shown(pilot, "#scenario-about").startswith(f"{NAME}:"):
                break
            await pilot.press("down")
        assert "a trigger sheds loop 2's racks" in shown(pilot, "#scenario-about")
        await pilot.press("enter")
        await until(pilot, lambda: "✓ LoadScenario: Good" in answer(pilot), "loaded")
        await until(pilot, lambda: f"Loaded   {NAME}" in live(pilot)
                    and "State    loaded" in live(pilot), "shown loaded")
        await pilot.press("g")
        await until(pilot, lambda: bool(app.screen.query("#question")), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: "✓ StartScenario: Good" in answer(pilot), "started")
        assert twin.scenarios.state == "running"
        await until(pilot, lambda: "State    running · 0:00 of 30:00" in live(pilot), "running")
        assert "Timeline 0 done · next action[1]" in live(pilot)
        twin.commands.call("Step", {"n": 400})  # past the pump failure and the trigger
        await until(pilot, lambda: "State    running · 6:40 of 30:00" in live(pilot)
                    and "Timeline 1 done · nothing left" in live(pilot), "the timeline done")
        fired = twin.scenarios.run.fired["shed loop 2 racks"]
        assert f"Fired    shed loop 2 racks at {fired[0]:g} s" in live(pilot)
        await pilot.press("h")
        await until(pilot, lambda: "✓ StopScenario: Good" in answer(pilot), "stopped")
        await until(pilot, lambda: app.screen.query_one("#panel-scenario-result").display,
                    "the result")
        await until(pilot, lambda: "State    stopped" in live(pilot), "shown stopped")
        result = app.screen.query_one("#scenario-result", DataTable)
        rows = [[str(c) for c in result.get_row_at(k)] for k in range(result.row_count)]
        judged = twin.scenarios.result.expectations
        assert rows == [["PASS" if e.passed else "FAIL", e.name, str(e.measured)]
                        for e in judged]
        assert rows[0][:2] == ["PASS", "pump failure recorded"]
        failed = sum(not e.passed for e in judged)
        assert app.screen.query_one("#panel-scenario-result").border_title == (
            f"Result · {NAME} stopped: {failed} of {len(judged)} expectations failed")
        # polled only while shown
        await pilot.press("o")
        asked = sum(r.command == "ScenarioStatus" for r in twin.commands.log)
        await pilot.pause(1.5)
        assert sum(r.command == "ScenarioStatus" for r in twin.commands.log) == asked
    faults = [f["id"] for f in twin.plant.list_faults() if f["state"] == "active"]
    for fid in faults:
        twin.commands.call("ClearFault", {"fault_id": fid})
    twin.commands.call("SetLoadShedLevel", {"level": 0})


async def test_an_operator_sees_the_scenario_controls_disabled_with_the_reason(
        served: TwinServer):
    twin = served.twin
    app = console(served, "otto")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await scenarios(pilot)
        await until(pilot, lambda: "per server" in shown(pilot, "#scenarios-note"), "the role")
        assert shown(pilot, "#scenarios-note") == (
            "Scenarios need the engineer role: LoadScenario needs the engineer role; you are "
            "operator (per server)")
        keys = {k.key: k.has_class("-disabled") for k in app.screen.query(FooterKey)}
        assert keys["g"] and keys["h"]  # dimmed
        before = [r.command for r in twin.commands.log]
        await pilot.press("enter", "g", "h")
        await until(pilot, lambda: "disabled" in answer(pilot), "the reason")
        assert answer(pilot) == ("✗ LoadScenario: disabled — LoadScenario needs the engineer "
                                 "role; you are operator (per server)")
        after = [r.command for r in twin.commands.log]
        assert not [c for c in after[len(before):] if c in CONTROLS]
        assert "State    stopped" in live(pilot)  # what the engineer left, still shown
