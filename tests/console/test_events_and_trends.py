"""Events and Trends against a real, paused twin: a command the console sent, with who and
the result; a fault; a channel's history from the server, then its live values."""

from __future__ import annotations

import pytest
from _console import PASSWORDS, connected, screen_text, shown, until
from textual.widgets import DataTable, Input, OptionList, Sparkline

from twin.console.app import ConsoleApp
from twin.opcua.server import TwinServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


def rows(pilot) -> list[list[str]]:  # type: ignore[no-untyped-def]
    t = pilot.app.screen.query_one("#event-log", DataTable)
    return [[str(c) for c in t.get_row_at(k)] for k in range(t.row_count)]


async def test_events_show_a_command_with_who_when_and_the_result_and_a_fault(
        served: TwinServer):
    twin = served.twin
    app = ConsoleApp(served.url, "otto", PASSWORDS["otto"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("e")
        await pilot.press("s")  # Step, from this console
        await until(pilot, lambda: "✓ Step: Good" in shown(pilot, "#answer"), "Step's answer")
        rec = twin.commands.log[-1]
        when = f"{int(rec.sim_s) // 3600:02d}:{int(rec.sim_s) // 60 % 60:02d}:" \
               f"{int(rec.sim_s) % 60:02d}"
        # the result before what: at 80 columns "what" runs off the screen
        step = [when, "command", "200", "otto (operator)", "Good", "Step {'n': 1}"]
        await until(pilot, lambda: step in rows(pilot), "the Step event")
        assert rows(pilot)[0] == step  # newest first
        line = next(t for t in screen_text(app).splitlines() if " command " in t)
        assert "Good" in line, line  # the result is on the 80-column screen
        fault = twin.commands.call("InjectFault", {"kind": "pump_degraded",
                                                   "target": "thermal.pump.2"}).data
        await until(pilot, lambda: any(r[1] == "fault" and f"fault {fault} pump_degraded" in r[5]
                                       for r in rows(pilot)), "the fault event")
        await pilot.press("f")  # only commands
        await until(pilot, lambda: all(r[1] == "command" for r in rows(pilot)), "the filter")
        assert step in rows(pilot)
        assert shown(pilot, "#events-note").startswith("command events:")
    twin.commands.call("ClearFault", {"fault_id": fault})


async def test_trends_plot_a_channels_history_from_the_server_then_live_values(
        served: TwinServer):
    twin = served.twin
    for _ in range(6):  # six frames of history on the server
        twin.commands.call("Step", {"n": 1})
        twin.tick(0.0)
    path = "orbit.next_transition_s"  # changes every step
    app = ConsoleApp(served.url, "vera", PASSWORDS["vera"])
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("n", "slash", *"next trans", "enter")
        options = app.screen.query_one("#trend-list", OptionList)
        await until(pilot, lambda: options.option_count == 1, "the one match")
        assert options.get_option_at_index(0).id == path
        await pilot.press("enter")
        n = min(served.history.count, served.history.capacity)  # frames the server holds
        await until(pilot, lambda: f"{n} from history" in shown(pilot, "#trend-stats"),
                    f"{n} values from history")
        spark = app.screen.query_one("#trend-spark", Sparkline)
        assert len(spark.data or []) >= n >= 7
        assert app.screen.query_one("#trend-plot").border_title == path
        last = twin.mirror.value(path)
        assert shown(pilot, "#trend-stats").startswith(f"last {last:.4g}")
        twin.commands.call("Step", {"n": 1})  # a live value joins the plot
        twin.tick(0.0)
        await until(pilot, lambda: "+ 1 live" in shown(pilot, "#trend-stats"), "a live value")
        assert app.screen.query_one("#trend-search", Input).value == "next trans"
        # the screen keys work again: the focus is back on the list, not in the search box
        await until(pilot, lambda: app.focused is not None and app.focused.id == "trend-list",
                    "the list focused")
        await pilot.press("o")
        await until(pilot, lambda: bool(app.screen.query("#overview")), "the overview")
