"""Alarms raised server-side reach the Alarms screen and are acknowledged from it; the console
survives its server going away and reconnects when it comes back."""

from __future__ import annotations

from pathlib import Path

import pytest
from _console import (
    PASSWORDS,
    connected,
    free_port,
    inside,
    screen_text,
    served_twin,
    shown,
    until,
    users_file,
)
from textual.widgets import DataTable, Input, Static

from twin.config import load_satellite
from twin.console import fmt
from twin.console.app import ConsoleApp
from twin.console.screens_compute import GpuGrid
from twin.console.widgets import QUALITY_STYLE
from twin.opcua.server import ServerOptions, TwinServer
from twin.runtime import Twin

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
        # since when, in simulated time as everywhere on this screen; the value, live
        since = "T+" + fmt.sim_clock(twin.alarms.alarms[HOTTEST].since_s)
        await until(pilot, lambda: row()[4] == since, f"since {since}")
        for _ in range(3):
            twin.commands.call("Step", {"n": 10})
            twin.tick(0.0)
        now = f"{twin.mirror.value(HOTTEST):.4g}"
        await until(pilot, lambda: row()[3] == now, f"the value now, {now}")
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
            await pilot.press("c", "v", "v")  # the grid by state
            grid = app.screen.query_one(GpuGrid)
            await until(pilot, lambda: grid.cells(1)[1:2] == [("nom", "white on #3f8f3f")],
                        "GPU states")
            await srv.stop()
            # at once: the transport closes, no keep-alive timeout is needed
            await until(pilot, lambda: "DISCONNECTED" in shown(pilot, "#status"),
                        "the lost connection", timeout=2)
            # the states by name still (not their numbers), dimmed: stale
            await until(pilot, lambda: grid.cells(1)[1] == ("nom", QUALITY_STYLE["stale"]),
                        "a stale state")
            assert screen_text(app).count(" nom ") >= 8
            await pilot.press("o")
            assert app.screen.query_one("#f-compute-pflops", Static).has_class("-stale")
            await pilot.press("s")  # disabled while disconnected: no crash, nothing sent
            await pilot.press("a", "o")
            status = shown(pilot, "#status")  # lost, or retrying: never shown as connected
            assert "DISCONNECTED" in status or "connecting" in status, status
            async with served_twin(tmp_path / "again", port) as again:
                assert again.url == url
                await until(pilot, lambda: "● connected" in shown(pilot, "#status"),
                            "the reconnection", timeout=15)
                await until(pilot, lambda: not app.screen.query_one(
                    "#f-compute-pflops", Static).has_class("-stale"), "fresh values")


async def test_a_server_without_the_none_policy_is_shown_with_how_to_connect(tmp_path: Path):
    """No --security against a server that offers only encrypted endpoints: the status bar
    says so within 80 columns (the retry delay kept), the answer line says what to do."""
    twin = Twin(load_satellite().config, state_dir=tmp_path)
    opts = ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/twin/",
                         state_dir=tmp_path, users_file=users_file(tmp_path), allow_none=False)
    srv = TwinServer(twin, opts)
    await srv.start()
    try:
        app = ConsoleApp(srv.url, "otto", PASSWORDS["otto"])
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "BadSecurityPolicyRejected" in shown(pilot, "#status")
                        and "retry" in shown(pilot, "#status"), "the refusal")
            status = shown(pilot, "#status")
            assert status.startswith("✗ DISCONNECTED: BadSecurityPolicyRejected · retry ")
            assert len(status) <= 78 and "otto (role ?)" in status
            hint = shown(pilot, "#answer")
            assert "no unencrypted (None) endpoint" in hint and "--security" in hint
            assert "--trust-new" in hint
            region = app.screen.query_one("#answer").region
            assert 2 <= region.height <= 3 and region.bottom <= 23  # wrapped, above the footer
            inside(pilot)  # the overview still fits above it
    finally:
        await srv.stop()
