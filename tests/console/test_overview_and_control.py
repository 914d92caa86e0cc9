"""The console against a real, paused twin: what the overview shows, and time control."""

from __future__ import annotations

from pathlib import Path

import pytest
from _console import PASSWORDS, connected, free_port, open_command, served_twin, shown, until
from textual import events
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from twin.config import load_satellite
from twin.console.app import ConsoleApp
from twin.opcua.server import TwinServer
from twin.runtime import BAD_NO_COMMUNICATION, Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")


READ_ONLY = ("ListAlarms", "ListFaults", "ListScenarios", "ScenarioStatus", "WhoAmI")


def commands(twin: Twin) -> list[str]:
    """Commands the twin has logged, without the console's read-only calls."""
    return [r.command for r in twin.commands.log if r.command not in READ_ONLY]


def console(served: TwinServer, user: str, role: str | None = None) -> ConsoleApp:
    return ConsoleApp(served.url, user, PASSWORDS[user], role=role)


async def test_overview_shows_the_paused_state_at_80x24(served: TwinServer):
    twin = served.twin
    value = twin.mirror.value
    app = console(served, "otto")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        pflops = f"{value('compute.pflops'):,.2f} PFLOP/s"
        await until(pilot, lambda: pflops in shown(pilot, "#f-compute-pflops"), pflops)
        soc = f"{value('power.battery.soc_pct'):,.1f} %"
        assert shown(pilot, "#f-power-battery-soc_pct") == f"Charge       {soc}"
        assert shown(pilot, "#f-power-array-power_w").endswith(
            f"{value('power.array.power_w') / 1e3:,.1f} kW")
        assert shown(pilot, "#f-power-bus-load_w").endswith(
            f"{value('power.bus.load_w') / 1e3:,.1f} kW")
        light = "sunlit" if value("orbit.sunlit") else "ECLIPSE"
        assert shown(pilot, "#f-orbit-sunlit").endswith(light)
        assert shown(pilot, "#f-orbit-beta_deg").endswith(f"{value('orbit.beta_deg'):.1f} °")
        assert shown(pilot, "#f-compute-hottest_gpu_temp_c").endswith(
            f"{value('compute.hottest_gpu_temp_c'):.1f} °C")
        assert shown(pilot, "#f-compute-gpus_nominal").endswith(
            str(int(value("compute.gpus_nominal"))))
        assert shown(pilot, "#f-sim-time_s").endswith("T+0d 00:00:00")
        assert "otto (operator)" in shown(pilot, "#status")  # the role, from the server
        assert "paused (×1)" in shown(pilot, "#status")
        assert shown(pilot, "#alarm-counts").startswith("red 0  yellow")
        # the commanded clock, and which edge of the eclipse comes next
        await until(pilot, lambda: shown(pilot, "#f-clock").endswith("paused (×1)"), "clock")
        edge = "entry" if value("orbit.sunlit") else "exit"
        left = int(value("orbit.next_transition_s"))
        assert shown(pilot, "#f-eclipse").endswith(f"{edge} in {left // 60}:{left % 60:02d}")
        # a line per coolant loop the server has (two in the default satellite)
        for n in (1, 2):
            loop = f"thermal.loop.{n}"
            temps = (f"{value(f'{loop}.supply_temp_c'):.1f} → "
                     f"{value(f'{loop}.return_temp_c'):.1f} °C")
            await until(pilot, lambda n=n, t=temps: shown(pilot, f"#f-loop-{n}") ==
                        f"Loop {n}       {t}", f"loop {n}")
        assert not app.screen.query("#f-loop-3")
        # every panel lies inside the 80×24 screen, above the answer line and the footer
        for panel in app.screen.query(".panel"):
            region = panel.region
            assert region.width > 0 and region.height > 0, panel.id
            assert region.right <= 80 and region.bottom <= 22, (panel.id, region)


async def test_step_reaches_the_server_and_its_answer_is_shown(served: TwinServer):
    twin = served.twin
    before = twin.plant.t_s
    app = console(served, "otto")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("s")
        await until(pilot, lambda: "✓ Step: Good" in shown(pilot, "#answer"), "Step's answer")
        await until(pilot, lambda: twin.plant.t_s == pytest.approx(before + twin.clock.step_s),
                    "the step at the server")
        elapsed = f"T+0d 00:00:{int(twin.plant.t_s):02d}"
        await until(pilot, lambda: shown(pilot, "#f-sim-time_s").endswith(elapsed), elapsed)
        rec = [r for r in twin.commands.log if r.command == "Step"][-1]
        assert (rec.user, rec.command, rec.status) == ("otto", "Step", "Good")


async def test_a_viewers_controls_are_disabled_from_the_start_with_the_servers_role(
        served: TwinServer):
    twin = served.twin
    calls = commands(twin)
    app = console(served, "vera")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await until(pilot, lambda: "vera (viewer)" in shown(pilot, "#status"), "the role")
        assert shown(pilot, "#control") == ("Time control disabled: Step needs the operator "
                                            "role; you are viewer (per server)")
        await pilot.press("p", "s", "r", "plus")  # disabled: nothing reaches the server
        await pilot.pause()
        assert commands(twin) == calls
    who = [r for r in twin.commands.log if r.command == "WhoAmI"][-1]
    assert (who.user, who.status) == ("vera", "Good")


async def test_without_whoami_a_viewer_is_refused_then_time_control_is_disabled(
        tmp_path: Path):
    """A twin older than WhoAmI: the console learns the role from the first refusal."""
    twin = Twin(load_satellite().config, state_dir=tmp_path)
    del twin.commands.commands["WhoAmI"]
    async with served_twin(tmp_path, twin=twin) as srv:
        app = console(srv, "vera")
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(pilot)
            assert "vera (role ?)" in shown(pilot, "#status")
            await pilot.press("p")
            await until(pilot, lambda: "BadUserAccessDenied" in shown(pilot, "#answer"),
                        "refusal")
            assert "Pause needs the operator role; vera is viewer" in shown(pilot, "#answer")
            control = shown(pilot, "#control")
            assert control.startswith("Time control disabled: Step needs the operator role; "
                                      "you are viewer")
            calls = commands(twin)
            await pilot.press("s")  # disabled now: nothing reaches the server
            await pilot.pause()
            assert commands(twin) == calls


async def test_a_role_hint_disables_controls_before_connecting():
    app = ConsoleApp(f"opc.tcp://127.0.0.1:{free_port()}/twin/", "vera", PASSWORDS["vera"],
                     role="viewer")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "DISCONNECTED" in shown(pilot, "#status"), "no server")
        assert shown(pilot, "#control") == ("Time control disabled: Step needs the operator "
                                            "role; you are viewer (--role)")
        assert "vera (viewer)" in shown(pilot, "#status")


def time_keys(app: ConsoleApp) -> dict[str, bool]:
    """The footer's Pause/Resume/Step keys: key → shown enabled (not dimmed)."""
    return {k.key: not k.has_class("-disabled") for k in app.screen.query(FooterKey)
            if k.key in ("p", "r", "s")}


async def test_time_keys_light_up_on_connecting_while_the_app_is_blurred(tmp_path: Path):
    """A browser page starts blurred (Textual's web driver says so), a terminal can report
    focus out; Textual's footer skips binding changes meanwhile, and the key press that
    refocuses the app does not ask it again. The time keys must not stay dimmed."""
    port = free_port()
    app = ConsoleApp(f"opc.tcp://127.0.0.1:{port}/twin/", "otto", PASSWORDS["otto"],
                     role="operator")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "DISCONNECTED" in shown(pilot, "#status"), "no server yet")
        await until(pilot, lambda: time_keys(app) == {"p": False, "r": False, "s": False},
                    "the time keys dimmed (not connected)")
        app.post_message(events.AppBlur())
        async with served_twin(tmp_path, port):
            await connected(pilot)
            await until(pilot, lambda: "Pause" in app.methods, "the server's commands")
            await pilot.pause(0.3)
            assert not app.app_focus
            await pilot.press("x")  # no binding: only refocuses the app
            await until(pilot, lambda: time_keys(app) == {"p": True, "r": True, "s": True},
                        "the time keys enabled")


async def test_a_refused_command_from_the_palette_shows_the_servers_reason(served: TwinServer):
    twin = served.twin
    app = console(served, "otto")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await until(pilot, lambda: "SetSpeed" in app.methods, "the server's commands")
        await pilot.press("ctrl+p")
        await pilot.press(*"SetSpeed")
        await pilot.pause(0.3)  # the palette searches in a worker
        await pilot.press("enter")
        await until(pilot, lambda: bool(app.screen.query("#arg-speed")), "the argument form")
        await pilot.press(*"5000", "enter")
        await until(pilot, lambda: "BadOutOfRange" in shown(pilot, "#answer"), "refusal")
        assert "✗ SetSpeed: BadOutOfRange" in shown(pilot, "#answer")
        assert "expected 0.1 to 1000" in shown(pilot, "#answer")
    assert twin.commands.log[-1].status == "BadOutOfRange"


async def test_a_bad_value_is_shown_as_a_dash_with_its_status(served: TwinServer):
    twin = served.twin
    path = "power.battery.soc_pct"
    app = console(served, "vera")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        status = twin.mirror.status.copy()
        status[twin.catalogue[path].index] = BAD_NO_COMMUNICATION
        twin.mirror.status = status
        twin.mirror.version += 1
        served.publisher.frame_ready()
        field = "#f-power-battery-soc_pct"
        await until(pilot, lambda: shown(pilot, field).endswith("— BadNoCommunication"),
                    "the Bad value")
        assert app.screen.query_one(field, Static).has_class("-bad")
        twin.refresh()
        await until(pilot, lambda: shown(pilot, field).endswith(" %"), "the good value again")


async def test_help_screen_lists_the_keys(served: TwinServer):
    app = console(served, "otto")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: bool(app.screen.query("#help-text")), "the help screen")
        assert "ctrl+p  command palette" in shown(pilot, "#help-text")
        await pilot.press("escape")
        await until(pilot, lambda: bool(app.screen.query("#overview")), "the overview again")


async def test_a_hazardous_command_asks_first_then_reaches_the_server(served: TwinServer):
    twin = served.twin
    app = console(served, "erin")
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await open_command(pilot, "SetPumpSpeed")
        await until(pilot, lambda: bool(app.screen.query("#arg-pump")), "the argument form")
        await pilot.press("1", "tab", *"55", "enter")
        await until(pilot, lambda: bool(app.screen.query("#question")), "the confirmation")
        assert shown(pilot, "#question") == "Send SetPumpSpeed?\n  pump = 1\n  speed_pct = 55.0"
        await pilot.press("n")
        await until(pilot, lambda: "cancelled" in shown(pilot, "#answer"), "the cancel")
        assert twin.plant.inputs.pump_speed[0] != pytest.approx(0.55)
        await open_command(pilot, "SetPumpSpeed")
        await until(pilot, lambda: bool(app.screen.query("#arg-pump")), "the argument form")
        await pilot.press("1", "tab", *"55", "enter")
        await until(pilot, lambda: bool(app.screen.query("#question")), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: "✓ SetPumpSpeed: Good" in shown(pilot, "#answer"), "answer")
    assert twin.plant.inputs.pump_speed[0] == pytest.approx(0.55)
    assert twin.commands.call("SetPumpSpeed", {"pump": 1, "speed_pct": 100.0}).ok


async def test_a_wrong_password_is_shown_as_a_refused_login(served: TwinServer):
    app = ConsoleApp(served.url, "otto", "wrong")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "login refused" in shown(pilot, "#status"), "the refusal")
        assert "DISCONNECTED" in shown(pilot, "#status")
        assert shown(pilot, "#f-compute-pflops").endswith("…")
