"""What a scenario run produces: its result, and its state at one step (for forks).

:class:`ScenarioResult` is what ``twin simulate SCENARIO`` prints and stores
(``meta.extra["scenario_result"]``, ``scenario-result.json``); a what-if branch of a scenario run
gets one too, judged on the branch. :class:`ScenarioState` is where a run stands at one step:
which ``[[action]]`` entries have run, which triggers fired and when, the triggers' hold timers
and the fault labels. Together with the plant's state it is everything needed to carry the
scenario on from that step; a fork restores it by re-simulating the parent's history up to the
fork (see :meth:`twin.scenario.runner.ScenarioRunner.advance`) and stores it in the branch's
``meta.extra["fork"]["scenario_state"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    name: str
    rule: str
    passed: bool
    measured: str  # one line with the values that decided it
    values: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True, slots=True)
class ActionResult:
    t_s: float
    key: str  # "action[2]", "trigger[1].actions[1]"; "history" if a parent's record matched none
    command: str
    args: dict[str, Any]
    ok: bool
    status: str
    message: str


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    name: str
    source: str
    seed: int
    outcome: str  # the documented outcome: "pass" or "fail"
    expectations: tuple[ExpectationResult, ...]
    actions: tuple[ActionResult, ...]
    fired: dict[str, list[float]]
    duration_s: float
    frames_recorded: int
    frames_checked: int
    wall_s: float
    out_dir: str = ""
    fork_t_s: float | None = None  # a what-if branch: judged on the branch, forked here
    influx: str = ""  # where the InfluxDB sink's points went, when there was one

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.expectations) and all(a.ok for a in self.actions)

    @property
    def as_documented(self) -> bool:
        return self.passed == (self.outcome == "pass")

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name, "source": self.source, "seed": self.seed,
            "outcome": self.outcome, "passed": self.passed, "duration_s": self.duration_s,
            "wall_s": self.wall_s, "frames_recorded": self.frames_recorded,
            "frames_checked": self.frames_checked, "fired": self.fired,
            "expectations": [{"name": e.name, "rule": e.rule, "passed": e.passed,
                              "measured": e.measured, "values": e.values}
                             for e in self.expectations],
            "actions": [{"t_s": a.t_s, "key": a.key, "command": a.command, "args": a.args,
                         "ok": a.ok, "status": a.status, "message": a.message}
                        for a in self.actions],
        }
        if self.fork_t_s is not None:
            out["fork_t_s"] = self.fork_t_s
        return out


@dataclass(frozen=True, slots=True)
class ScenarioState:
    """A scenario run at step ``k`` (time ``t_s``), everything at that step done.

    ``holding_since``: per trigger that is not spent, the first checked time of the current
    run of frames on which its condition held (None: it does not hold now). ``rearming``: the
    ``once = false`` triggers that fired and wait for their condition to clear. ``spent``: the
    ``once = true`` triggers that fired (they never fire again).
    """

    k: int
    t_s: float
    timeline_done: tuple[str, ...]  # keys of the [[action]] entries that have run
    timeline_next: tuple[str, ...]  # the ones still to come
    fired: dict[str, list[float]]
    holding_since: dict[str, float | None]
    rearming: tuple[str, ...]
    spent: tuple[str, ...]
    labels: dict[str, int]  # InjectFault label → fault id

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "t_s": self.t_s, "timeline_done": list(self.timeline_done),
                "timeline_next": list(self.timeline_next), "fired": self.fired,
                "holding_since": self.holding_since, "rearming": list(self.rearming),
                "spent": list(self.spent), "labels": self.labels}
