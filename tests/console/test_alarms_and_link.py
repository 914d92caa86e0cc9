"""Alarms raised server-side reach the Alarms screen and are acknowledged from it; the console
survives its server going away and reconnects when it comes back."""

from __future__ import annotations

from pathlib import Path

import pytest
from _console import PASSWORDS, connected, served_twin, shown, until
from textual.widgets import DataTable, Input, Static

from twin.console import fmt
from twin.console.app import ConsoleApp
from twin.opcua.server import TwinServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
HOTTEST = "compute.hottest_gpu_temp_c"


def heat_up(served: TwinServer) -> list[int]:
    """Both pumps failed, then steps until the hottest GPU is past its yellow limit."""
    twin = served.twin
    faults = [twin.commands.call("InjectFault", {"kind": "pump_failure",
                                                 "target": f"thermal.pump.{p}"}).data
              for p in (1, 2)]
    for _ in range(60):
        twin.commands.call("Step", {"n": 10})
        twin.tick(0.0)
        a = twin.alarms.alarms.get(HOTTEST)
        if a is not None and a.state == "yellow-high":
            break
    assert twin.alarms.alarms[HOTTEST].state == "yellow-high"
    return faults


async def test_an_alarm_appears_and_acknowledging_it_reaches_the_server(served: TwinServer):
    twin = served.twin
    app = ConsoleApp(served.url, "otto", PASSWORDS["otto"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("a")
        table = app.screen.query_one(DataTable)
        faults = heat_up(served)

        def row() -> list[str]:
            for key in table.rows:
                if key.value == HOTTEST:
                    return [str(c) for c in table.get_row(key)]
            return []

        await until(pilot, lambda: row()[:2] == ["500", "yellow-high"] and row()[5] == "NO",
                    "the alarm on the Alarms screen")
        await pilot.press("o")
        c = twin.alarms.counts()
        expected = f"red {c['red']}  yellow {c['yellow']}  unacked {c['unacknowledged']}"
        await until(pilot, lambda: shown(pilot, "#alarm-counts") == expected, expected)
        await pilot.press("a")
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index(HOTTEST))
        await pilot.press("k")
        await until(pilot, lambda: "✓ AcknowledgeAlarm: Good" in shown(pilot, "#answer"),
                    "the acknowledgement's answer")
        alarm = twin.alarms.alarms[HOTTEST]
        assert alarm.acked and alarm.acked_by == "otto"
        await until(pilot, lambda: row()[5] == "yes", "the alarm shown acknowledged")
        await pilot.press("k")  # again: the server refuses, the console shows why
        await until(pilot, lambda: "BadInvalidState" in shown(pilot, "#answer"), "refusal")
        assert "already acknowledged" in shown(pilot, "#answer")
    for fid in faults:
        twin.commands.call("ClearFault", {"fault_id": fid})


async def test_shelving_an_alarm_from_the_alarms_screen_reaches_the_server(served: TwinServer):
    twin = served.twin
    app = ConsoleApp(served.url, "otto", PASSWORDS["otto"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        faults = [twin.commands.call("InjectFault", {"kind": "pump_failure",
                                                     "target": f"thermal.pump.{p}"}).data
                  for p in (1, 2)]
        for _ in range(60):  # until the hottest GPU's alarm is active (yellow or red)
            a = twin.alarms.alarms.get(HOTTEST)
            if a is not None and a.active:
                break
            twin.commands.call("Step", {"n": 10})
            twin.tick(0.0)
        await pilot.press("a")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: HOTTEST in [k.value for k in table.rows], "the alarm")
        table.move_cursor(row=table.get_row_index(HOTTEST))
        await pilot.press("h")  # the ShelveAlarm form, for the selected alarm, one hour
        await until(pilot, lambda: bool(app.screen.query("#arg-duration_s")), "the form")
        assert app.screen.query_one("#arg-path", Input).value == HOTTEST
        assert app.screen.query_one("#arg-duration_s", Input).value == "3600"
        await pilot.press("enter")
        await until(pilot, lambda: "✓ ShelveAlarm: Good" in shown(pilot, "#answer"), "answer")
        alarm = twin.alarms.alarms[HOTTEST]
        assert alarm.shelved_until_s == pytest.approx(twin.plant.t_s + 3600.0)
        assert twin.commands.log[-2].user == "otto"  # the ListAlarms after it is the last
        until_s = "to T+" + fmt.sim_clock(alarm.shelved_until_s)
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: [str(c) for c in table.get_row(HOTTEST)][6] == until_s,
                    "the alarm shown shelved")
    for fid in faults:
        twin.commands.call("ClearFault", {"fault_id": fid})
    twin.commands.call("ShelveAlarm", {"path": HOTTEST, "duration_s": 0.0})


async def test_the_console_survives_its_server_stopping_and_reconnects(tmp_path: Path):
    async with served_twin(tmp_path) as srv:
        url = srv.url
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        app = ConsoleApp(url, "otto", PASSWORDS["otto"])
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(pilot)
            await srv.stop()
            # at once: the transport closes, no keep-alive timeout is needed
            await until(pilot, lambda: "DISCONNECTED" in shown(pilot, "#status"),
                        "the lost connection", timeout=2)
            assert app.screen.query_one("#f-compute-pflops", Static).has_class("-stale")
            await pilot.press("s")  # disabled while disconnected: no crash, nothing sent
            await pilot.press("a", "o")
            assert "DISCONNECTED" in shown(pilot, "#status")
            async with served_twin(tmp_path / "again", port) as again:
                assert again.url == url
                await until(pilot, lambda: "● connected" in shown(pilot, "#status"),
                            "the reconnection", timeout=15)
                await until(pilot, lambda: not app.screen.query_one(
                    "#f-compute-pflops", Static).has_class("-stale"), "fresh values")
