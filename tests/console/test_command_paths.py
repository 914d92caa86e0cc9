"""Every command path of the console reaches a real, served twin and shows the server's
answer: time keys, RunUntil, the plant commands from the palette (hazardous ones confirmed),
checkpoints, fault injection and clearing with their choices, and a JSON list in a dialog."""

from __future__ import annotations

import pytest
from _console import PASSWORDS, answer, connected, open_command, pick, shown, until
from textual.widgets import DataTable, Input

from twin.console.app import ConsoleApp
from twin.opcua.server import TwinServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


def console(served: TwinServer, user: str) -> ConsoleApp:
    return ConsoleApp(served.url, user, PASSWORDS[user])


async def form(pilot, field: str) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, lambda: bool(pilot.app.screen.query(f"#arg-{field}")), f"the {field} form")


async def confirm(pilot, question: str) -> None:  # type: ignore[no-untyped-def]
    """The hazardous command's question, all of it on screen; then yes."""
    await until(pilot, lambda: bool(pilot.app.screen.query("#question")), "the confirmation")
    assert shown(pilot, "#question") == question
    await pilot.press("y")


async def test_time_keys_and_run_until_change_the_servers_clock(served: TwinServer):
    twin = served.twin
    app = console(served, "otto")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("r")
        await until(pilot, lambda: "✓ Resume: Good" in answer(pilot), "Resume's answer")
        assert twin.clock.mode == "realtime"
        await until(pilot, lambda: "running ×1" in shown(pilot, "#f-clock"), "running")
        await pilot.press("plus")
        await until(pilot, lambda: "✓ SetSpeed: Good" in answer(pilot), "SetSpeed's answer")
        assert twin.clock.speed == 2.0
        await until(pilot, lambda: shown(pilot, "#f-clock").endswith("running ×2"), "×2")
        await pilot.press("minus", "minus")  # 2 → 1 → 0.5: from the commanded speed
        await until(pilot, lambda: twin.clock.speed == 0.5, "the speed at 0.5")
        await pilot.press("p")
        await until(pilot, lambda: "✓ Pause: Good" in answer(pilot), "Pause's answer")
        assert twin.clock.mode == "paused"
        target = round(twin.plant.t_s) + 120
        await open_command(pilot, "RunUntil")
        await form(pilot, "t_s")
        await pilot.press(*str(target), "enter")
        await until(pilot, lambda: "✓ RunUntil: Good" in answer(pilot), "RunUntil's answer")
        await until(pilot, lambda: twin.plant.t_s >= target and twin.clock.mode == "paused",
                    "the twin at the target, paused")
        await until(pilot, lambda: shown(pilot, "#f-clock").startswith("Clock        paused"),
                    "paused again")
    twin.commands.call("SetSpeed", {"speed": 1.0})


async def test_plant_commands_from_the_palette_change_the_twin(served: TwinServer):
    twin = served.twin
    inputs = twin.plant.inputs
    app = console(served, "otto")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await open_command(pilot, "SetRackEnabled")  # hazardous: asks first
        await form(pilot, "rack")
        await pilot.press("3", "tab", *"false", "enter")
        await confirm(pilot, "Send SetRackEnabled?\n  rack = 3\n  enabled = False")
        await until(pilot, lambda: "✓ SetRackEnabled: Good" in answer(pilot), "the answer")
        assert not inputs.rack_enabled[2]

        await open_command(pilot, "SetRackPowerCap")
        await form(pilot, "rack")
        await pilot.press("2", "tab", *"4000", "enter")
        await until(pilot, lambda: "✓ SetRackPowerCap: Good" in answer(pilot), "the answer")
        assert inputs.rack_cap_w[1] == 4000.0

        await open_command(pilot, "SetRadiatorDeploy")
        await form(pilot, "panel")
        await pilot.press("5", "tab", *"no", "enter")
        await confirm(pilot, "Send SetRadiatorDeploy?\n  panel = 5\n  deployed = False")
        await until(pilot, lambda: "✓ SetRadiatorDeploy: Good" in answer(pilot), "the answer")
        assert not inputs.panel_deploy[4]

        await open_command(pilot, "SetHeaterMode")  # its modes: a choice the server names
        await form(pilot, "string")
        await pilot.press("2", "tab")
        assert await pick(pilot, "mode", "on") == ["auto", "off", "on"]
        await pilot.press("tab", "enter")  # the Send button
        await until(pilot, lambda: "✓ SetHeaterMode: Good" in answer(pilot), "the answer")
        assert inputs.heater_mode[1] == 2

        await open_command(pilot, "SetLoadShedLevel")
        await form(pilot, "level")
        await pilot.press("1", "enter")
        await confirm(pilot, "Send SetLoadShedLevel?\n  level = 1")
        await until(pilot, lambda: "✓ SetLoadShedLevel: Good" in answer(pilot), "the answer")
        assert inputs.shed_level_cmd == 1
        log = [r for r in twin.commands.log if r.user == "otto"]
        assert [r.command for r in log[-5:]] == [
            "SetRackEnabled", "SetRackPowerCap", "SetRadiatorDeploy", "SetHeaterMode",
            "SetLoadShedLevel"]
    for name, args in (("SetRackEnabled", {"rack": 3, "enabled": True}),
                       ("SetRackPowerCap", {"rack": 2, "cap_w": 0.0}),
                       ("SetRadiatorDeploy", {"panel": 5, "deployed": True}),
                       ("SetHeaterMode", {"string": 2, "mode": "auto"}),
                       ("SetLoadShedLevel", {"level": 0})):
        assert twin.commands.call(name, args).ok


async def test_a_checkpoint_saved_and_restored_from_the_console(served: TwinServer):
    twin = served.twin
    app = console(served, "erin")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        saved_at = twin.plant.t_s
        await open_command(pilot, "SaveCheckpoint")
        await form(pilot, "name")
        await pilot.press(*"before-steps", "enter")
        await until(pilot, lambda: "✓ SaveCheckpoint: Good" in answer(pilot), "the answer")
        assert " · Path " in answer(pilot) and "before-steps" in answer(pilot)  # the file
        await pilot.press("s", "s")
        await until(pilot, lambda: twin.plant.t_s > saved_at, "steps")
        await open_command(pilot, "RestoreCheckpoint")  # hazardous
        await form(pilot, "name")
        await pilot.press(*"before-steps", "enter")
        await confirm(pilot, "Send RestoreCheckpoint?\n  name = 'before-steps'")
        await until(pilot, lambda: "✓ RestoreCheckpoint: Good" in answer(pilot), "the answer")
        assert twin.plant.t_s == saved_at


async def test_a_fault_injected_and_cleared_from_the_console(served: TwinServer):
    twin = served.twin
    app = console(served, "erin")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await open_command(pilot, "InjectFault")
        await form(pilot, "kind")
        box = app.screen.query_one("#form").region  # five arguments, at 80×24
        assert box.y >= 0 and box.bottom <= 24 and box.right <= 80, box
        send = app.screen.query_one("#send").region
        assert send.height and send.bottom <= box.bottom, send  # the Send button shows
        kinds = {k.split()[0] for k in await pick(pilot, "kind", "pump_degraded")}
        assert {"pump_degraded", "board_dropout", "sensor_drift"} <= kinds
        target = app.screen.query_one("#arg-target", Input)
        assert target.placeholder == "thermal.pump.N"  # what this kind takes
        await pilot.press("tab", *"thermal.pump.2", "enter")
        await until(pilot, lambda: bool(app.screen.query("#question")), "the confirmation")
        box = app.screen.query_one("#confirm").region
        assert box.bottom <= 24 and app.screen.query_one("#confirm-keys").region.bottom < 24
        await confirm(pilot, "Send InjectFault?\n  kind = 'pump_degraded'\n  target = "
                      "'thermal.pump.2'\n  params = (default)\n  start_s = (default)\n"
                      "  duration_s = (default)")
        await until(pilot, lambda: "✓ InjectFault: Good" in answer(pilot), "the answer")
        (fault,) = [f for f in twin.plant.list_faults() if f["state"] == "active"]
        assert f"· FaultId {fault['id']}" in answer(pilot)  # the new fault's id, shown

        await open_command(pilot, "ListFaults")  # the JSON list, in a dialog
        await until(pilot, lambda: bool(app.screen.query("#output-table")), "the list")
        table = app.screen.query_one("#output-table", DataTable)
        assert [str(c.label) for c in table.columns.values()][:3] == ["id", "kind", "target"]
        assert [str(c) for c in table.get_row_at(0)][:3] == [
            str(fault["id"]), "pump_degraded", "thermal.pump.2"]
        await pilot.press("escape")

        await open_command(pilot, "ClearFault")  # a choice of the active faults
        await form(pilot, "fault_id")
        await pick(pilot, "fault_id", str(fault["id"]))
        await pilot.press("tab", "enter")
        await until(pilot, lambda: "✓ ClearFault: Good" in answer(pilot), "the answer")
        assert [f["state"] for f in twin.plant.list_faults() if f["id"] == fault["id"]] == [
            "cleared"]
        await open_command(pilot, "ClearFault")  # nothing left to clear: said, no form
        await until(pilot, lambda: "no fault to clear" in answer(pilot), "nothing to clear")
        assert not app.screen.query("#arg-fault_id")
