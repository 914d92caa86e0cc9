"""A what-if branch of a scenario run carries the scenario on: the timeline and the triggers'
state (fired, spent, hold timers, fault labels) restored exactly at the fork, triggers
re-evaluated on the branch's own frames, expectations judged on the branch and shown beside the
parent's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin.cli import main
from twin.replay import Action, fork, resimulate
from twin.scenario import ScenarioRunner, parse_scenario, run_scenario
from twin.store import RunStore

# Pump 2 fails at 100 s; loop 2's GPUs heat by ~5 K per 10 s. Checked every 5 s, the hottest GPU
# is first above 84 °C at 185 s and has been for 10 s at 195 s: the emergency shed fires then.
# The expectation says the operator should never need it, so the run fails. Shedding at 120 s
# (before the GPUs heat) is the other decision; the branch shows it would have passed.
SHED = """
[scenario]
name = "fork-unit"
duration_s = 900
record_every_s = 10
check_every_s = 5
seed = 1

[[action]]
at_s = 100
command = "InjectFault"
args = { kind = "pump_failure", target = "thermal.pump.2" }
label = "pump2"

[[action]]
at_s = 700
command = "SetHeaterMode"
args = { string = 1, mode = "on" }

[[trigger]]
name = "emergency shed"
channel = "compute.hottest_gpu_temp_c"
op = ">"
value = 84.0
for_s = 10.0
actions = [{ command = "SetLoadShedLevel", args = { level = 2 } }]

[[expect]]
name = "no emergency shed"
trigger = "emergency shed"
fired = false

[[expect]]
name = "no GPU above 88 C"
channel = "compute.hottest_gpu_temp_c"
stat = "max"
op = "<"
value = 88.0
"""
FIRES_AT = 195.0
HOLD_FROM = 185.0


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenario-fork") / "parent"
    result = run_scenario(parse_scenario(SHED, "fork-unit.toml"), out)
    assert result.fired == {"emergency shed": [FIRES_AT]}
    assert not result.passed
    return out


def frames(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with RunStore.open(path) as run:
        return run.read_frames()


def commands(path: Path, after_s: float = -1.0) -> list[tuple[float, str, str]]:
    with RunStore.open(path) as run:
        return [(c.t_s, c.user, c.name) for c in run.commands() if c.t_s > after_s]


def test_shedding_before_the_trigger_keeps_it_quiet_and_the_branch_passes(
        parent: Path, tmp_path: Path) -> None:
    res = fork(parent, 120.0, tmp_path / "shed", [Action("SetLoadShedLevel", {"level": 2})])
    assert res.matched_parent is True and res.warnings == ()
    r = res.scenario
    assert r is not None and r.fork_t_s == 120.0
    assert r.fired == {"emergency shed": []}
    assert r.passed and all(e.passed for e in r.expectations)
    assert res.parent_scenario is not None and res.parent_scenario["passed"] is False
    # The remaining timeline ran; the trigger's action did not.
    assert commands(tmp_path / "shed", 100.0) == [(120.0, "what-if", "SetLoadShedLevel"),
                                                  (700.0, "scenario", "SetHeaterMode")]
    with RunStore.open(tmp_path / "shed") as br:
        stored = br.meta.extra["scenario_result"]
        assert stored["passed"] is True and stored["fork_t_s"] == 120.0
        assert br.meta.extra["fork"]["scenario_state"]["timeline_next"] == ["action[2]"]
    assert (tmp_path / "shed" / "scenario-result.json").is_file()


def test_the_fork_report_says_the_other_decision_would_have_passed(
        parent: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["replay", str(parent), "--fork", "120", "--do", "SetLoadShedLevel level=2",
               "--out", str(tmp_path / "b"), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "trigger emergency shed: did not fire (parent: fired at 195 s)" in out
    assert "PASS  no emergency shed" in out and "[parent: FAIL] ← changed" in out
    assert "the parent failed: this decision would have passed" in out
    # The same fork without the decision fails, like the parent: exit 1, as twin simulate.
    assert main(["replay", str(parent), "--fork", "120", "--out", str(tmp_path / "c"),
                 "--quiet"]) == 1


def test_a_fork_after_the_trigger_keeps_it_fired_and_does_not_fire_it_again(
        parent: Path, tmp_path: Path) -> None:
    res = fork(parent, 300.0, tmp_path / "late")
    assert res.scenario is not None and res.scenario_state is not None
    assert res.scenario_state.spent == ("emergency shed",)
    assert res.scenario.fired == {"emergency shed": [FIRES_AT]}
    assert [c["command"] for c in res.commands] == ["SetHeaterMode"]
    sheds = [c for c in commands(tmp_path / "late") if c[2] == "SetLoadShedLevel"]
    assert sheds == [(FIRES_AT, "scenario", "SetLoadShedLevel")]  # the parent's, copied


def test_a_fork_with_no_changes_reproduces_the_parent_bit_for_bit(parent: Path,
                                                                  tmp_path: Path) -> None:
    tp, fp = frames(parent)
    for at in (150.0, 190.0, 195.0, 300.0):  # before, during the hold, at and after the firing
        out = tmp_path / f"same-{at:g}"
        res = fork(parent, at, out)
        assert res.matched_parent is (True if at % 10 == 0 else None)  # recorded every 10 s
        tb, fb = frames(out)
        assert np.array_equal(tp, tb)
        assert fp.tobytes() == fb.tobytes(), at  # every remaining sample, NaNs included
        assert commands(out) == commands(parent)
        assert res.scenario is not None
        assert res.scenario.fired == {"emergency shed": [FIRES_AT]}
        assert [e.passed for e in res.scenario.expectations] == [False, True]


def test_the_hold_timer_is_restored_at_the_fork(parent: Path, tmp_path: Path) -> None:
    # At 190 s the condition has held since 185 s: 5 of its 10 s. The branch fires at 195 s,
    # not 10 s after the fork.
    res = fork(parent, 190.0, tmp_path / "hold")
    state = res.scenario_state
    assert state is not None
    assert state.holding_since == {"emergency shed": HOLD_FROM}
    assert state.spent == () and state.fired == {"emergency shed": []}
    assert state.labels == {"pump2": 1} and state.timeline_done == ("action[1]",)
    assert res.scenario is not None and res.scenario.fired["emergency shed"] == [FIRES_AT]


def test_the_restored_state_is_the_live_runs_state_at_that_step(parent: Path,
                                                                tmp_path: Path) -> None:
    sc = parse_scenario(SHED, "fork-unit.toml")
    for at in (120.0, 190.0, 300.0):
        live = ScenarioRunner(sc)
        live.advance(round(at / sc.step_s))
        res = fork(parent, at, tmp_path / f"state-{at:g}")
        assert res.scenario_state == live.state()


def test_a_trigger_that_did_not_fire_before_may_fire_in_a_branch(parent: Path,
                                                                 tmp_path: Path) -> None:
    fork(parent, 120.0, tmp_path / "shed", [Action("SetLoadShedLevel", {"level": 2})])
    # A branch of that branch: the racks come back at 150 s with pump 2 still failed.
    res = fork(tmp_path / "shed", 150.0, tmp_path / "unshed",
               [Action("SetLoadShedLevel", {"level": 0})])
    assert res.matched_parent is True
    assert res.scenario is not None and not res.scenario.passed
    (fired,) = res.scenario.fired["emergency shed"]
    assert 150.0 < fired < 300.0
    assert res.parent_scenario is not None and res.parent_scenario["passed"] is True
    # Branches re-simulate bit for bit from their own command logs, and fork again exactly.
    again = resimulate(tmp_path / "unshed", tmp_path / "unshed-again")
    assert frames(tmp_path / "unshed")[1].tobytes() == frames(again)[1].tobytes()
    same = fork(tmp_path / "unshed", 400.0, tmp_path / "unshed-same")
    assert same.matched_parent is True and same.warnings == ()
    assert frames(tmp_path / "unshed")[1].tobytes() == frames(tmp_path / "unshed-same")[1].tobytes()
