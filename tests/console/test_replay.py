"""Replay against a real replay server on loopback: a short scenario run recorded in the test's
directory (as tests/replay records one), played by a ReplayTwin that TwinServer serves, as
``twin replay RUN`` does. The screen shows the timeline, seeks with ←/→ and j, forks with f; a
replay server without Fork gets the command line that forks instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from _console import PASSWORDS, connected, served_twin, shown, until

from twin.console.app import ConsoleApp
from twin.console.fmt import sim_clock
from twin.opcua.server import TwinServer
from twin.replay.player import ReplayTwin
from twin.replay.resim import load_config
from twin.scenario import parse_scenario, run_scenario
from twin.store import RunStore

pytestmark = pytest.mark.asyncio(loop_scope="module")

# 400 s recorded every 10 s: ←/→ move the head by 1 % (4 s), less than a recorded tick
SCENARIO = """
[scenario]
name = "console-replay"
duration_s = 400
record_every_s = 10
seed = 5

[[action]]
at_s = 200
command = "InjectFault"
args = { kind = "pump_failure", target = "thermal.pump.2" }

[[expect]]
name = "pump failure recorded"
fault = "pump_failure"
target = "thermal.pump.2"
"""
AT_S = 100.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("console-replay") / "run"
    run_scenario(parse_scenario(SCENARIO, "console-replay.toml"), out)
    return out


@asynccontextmanager
async def served_replay(run: Path, state_dir: Path, fork: bool = True
                        ) -> AsyncIterator[TwinServer]:
    """The recording, paused at AT_S, served on 127.0.0.1; ``fork=False``: a replay server
    from before the Fork command (its address space built without it)."""
    with RunStore.open(run) as store:
        twin = ReplayTwin(load_config(store.meta), store, at_s=AT_S)
        if not fork:
            del twin.commands.commands["Fork"]
        async with served_twin(state_dir, twin=twin) as srv:
            yield srv


def position(pilot) -> str:  # type: ignore[no-untyped-def]
    return shown(pilot, "#f-replay-position")


async def test_replay_shows_the_timeline_and_seeks_with_the_keys(recording: Path,
                                                                   tmp_path: Path):
    async with served_replay(recording, tmp_path) as srv:
        replayer = srv.twin.replayer  # type: ignore[attr-defined]
        app = ConsoleApp(srv.url, "otto", PASSWORDS["otto"])
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(pilot)
            await pilot.press("l")
            await until(pilot, lambda: shown(pilot, "#replay-note").startswith("A recording"),
                        "a recording")
            assert app.screen.query_one("#panel-timeline").display
            await until(pilot, lambda: position(pilot).endswith("T+" + sim_clock(AT_S)),
                        "the play head's position")
            end = "T+" + sim_clock(replayer.end_s)
            await until(pilot, lambda: shown(pilot, "#f-replay-end").endswith(end), "the end")
            # → moves the head 4 s, within the tick at 100 s: the next → starts from the
            # head, so three of them reach the tick at 110 s
            log = srv.twin.commands.log
            for k in range(1, 4):
                await pilot.press("right")
                await until(pilot, lambda k=k: sum(r.command == "Seek" for r in log) == k,
                            f"Seek {k} at the server")
            await until(pilot, lambda: position(pilot).endswith("T+" + sim_clock(110.0)),
                        "the position after three →")
            assert replayer.tick_s == 110.0
            await pilot.press("left")
            await until(pilot, lambda: position(pilot).endswith("T+" + sim_clock(100.0)),
                        "the position after ←")
            # j: the Seek form, starting at the position shown
            await pilot.press("j")
            await until(pilot, lambda: bool(app.screen.query("#arg-t_s")), "the Seek form")
            await pilot.press(*["backspace"] * 8, *"250", "enter")
            await until(pilot, lambda: position(pilot).endswith("T+" + sim_clock(250.0)),
                        "the position after the jump")
            assert replayer.tick_s == 250.0
            # f: a what-if branch from the play head, into a directory of the test's
            out = tmp_path / "branch"
            await pilot.press("f")
            await until(pilot, lambda: bool(app.screen.query("#arg-actions")), "the Fork form")
            await pilot.press(*str(out), "tab", *"SetLoadShedLevel level=2", "enter")
            await until(pilot, lambda: "✓ Fork: Good" in shown(pilot, "#answer"), "Fork")
            await until(pilot, lambda: any(e.kind == "fork" for e in app.events),
                        "the fork event", timeout=60)
            (done,) = [e for e in app.events if e.kind == "fork"]
            assert f"forked at 250 s into {out}" in done.what, done
        srv.twin.commands.forks[-1].join(60)  # type: ignore[attr-defined]
        assert out.is_dir()


async def test_replay_without_a_fork_command_says_how_to_fork(recording: Path, tmp_path: Path):
    async with served_replay(recording, tmp_path, fork=False) as srv:
        app = ConsoleApp(srv.url, "otto", PASSWORDS["otto"])
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(pilot)
            await pilot.press("l")
            await until(pilot, lambda: position(pilot).endswith("T+" + sim_clock(AT_S)),
                        "the play head's position")
            assert "Seek" in app.methods and "Fork" not in app.methods
            await pilot.press("f")
            await until(pilot, lambda: "no Fork command" in shown(pilot, "#answer"), "the hint")
            assert (f"fork from the command line: twin replay RUN --fork {AT_S:g} --do"
                    in shown(pilot, "#answer"))
            assert not app.screen.query("#arg-actions")  # no form: nothing to send


async def test_space_plays_and_pauses_the_replay_and_the_speed_keys_change_its_speed(
        recording: Path, tmp_path: Path):
    async with served_replay(recording, tmp_path) as srv:
        replayer = srv.twin.replayer  # type: ignore[attr-defined]
        app = ConsoleApp(srv.url, "otto", PASSWORDS["otto"])
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(pilot)
            await pilot.press("l")
            await until(pilot, lambda: shown(pilot, "#f-replay-mode").endswith("paused"),
                        "paused")
            await pilot.press("plus")
            await until(pilot, lambda: "✓ SetSpeed: Good" in shown(pilot, "#answer"), "×2")
            assert replayer.speed == 2.0
            await until(pilot, lambda: shown(pilot, "#f-replay-speed").endswith("2.000 ×"),
                        "the speed shown")
            await pilot.press("space")
            await until(pilot, lambda: "✓ Resume: Good" in shown(pilot, "#answer"), "play")
            assert replayer.playing
            await until(pilot, lambda: shown(pilot, "#f-replay-mode").endswith("playing"),
                        "shown playing")
            await pilot.press("space")
            await until(pilot, lambda: "✓ Pause: Good" in shown(pilot, "#answer"), "pause")
            assert not replayer.playing
            await pilot.press("minus")
            await until(pilot, lambda: replayer.speed == 1.0, "×1 again")
            await until(pilot, lambda: shown(pilot, "#f-replay-mode").endswith("paused"),
                        "shown paused")
