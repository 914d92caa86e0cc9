"""Scenarios on a running twin: ``LoadScenario``, ``StartScenario``, ``StopScenario``.

The same scenario files that ``twin simulate`` runs in a batch can be run on a live twin
(``twin up``, ``twin serve``) through the one command path, so that an operator rehearses a
failure on the console while its timeline, triggers and expectations play out:

- **Loading** reads a file by name from the scenario folders (:func:`scenario_dirs`:
  ``configs/scenarios/`` and ``<state dir>/scenarios/``, the latter for a lab's own) and
  validates it against the running twin's satellite and catalogue (its ``hil.*`` channels
  included). The file's ``satellite`` and ``seed`` apply to batch runs only: a live run uses
  the twin as it is. A ``step_s`` other than the twin's is refused.
- **Timeline**: the run starts at the simulated instant ``StartScenario`` is called; an
  ``[[action]]`` at ``at_s`` runs at that step. :meth:`Twin.tick <twin.runtime.Twin.tick>`
  splits its steps at every action due, so an action is never late by a tick, at any speed;
  if an action changes the clock (``Pause``, ``SetSpeed``), the tick stops there.
- **Triggers and expectations** see what the twin shows, the mirror (the boards' measured values
  where boards run; a Bad value is NaN and holds no condition), checked once every
  ``check_every_s`` of simulated time at the first tick at or after each check instant. At a
  speed where one tick spans more than a check interval the checks are a tick apart; the
  times used are the ones reported.
- **End**: when the scenario's duration has passed, or on ``StopScenario``, the expectations are
  judged over what was seen (a stopped run's later windows have no frames and fail), a
  ``scenario`` event gives the verdict, and ``ScenarioStatus`` holds the whole result. Moving
  simulated time backwards (``RestoreCheckpoint``) stops the run.

Every step, trigger firing and verdict is a ``scenario`` event; every action goes through
``twin.commands.call(..., user="scenario", role="engineer")`` and is recorded like any other
command. The channels ``sim.scenario.state`` and ``sim.scenario.elapsed_s`` show where it stands.
"""

from __future__ import annotations

import json
import logging
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.catalogue import SCENARIO_STATES as STATES
from twin.config import CONFIG_DIR
from twin.configschema import read_text_file
from twin.errors import CommandError, ConfigError, TwinError
from twin.scenario.report import format_result
from twin.scenario.runner import ScenarioResult, ScenarioRunner
from twin.scenario.spec import Action, Scenario, parse_scenario, satellite_path

if TYPE_CHECKING:
    from twin.runtime import Twin

log = logging.getLogger(__name__)
SCENARIO_DIR = CONFIG_DIR / "scenarios"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def scenario_dirs(state_dir: Path | None) -> list[Path]:
    """Where ``LoadScenario`` looks, in order: the shipped scenarios, then the state dir's."""
    dirs = [SCENARIO_DIR]
    if state_dir is not None:
        dirs.append(Path(state_dir) / "scenarios")
    return dirs


@dataclass(frozen=True, slots=True)
class Available:
    name: str
    file: str
    description: str
    duration_s: float
    outcome: str


def available(state_dir: Path | None) -> list[Available]:
    """Every scenario file in the folders, by file name (a state dir's file of the same name
    as a shipped one takes its place); the ``[scenario]`` table only, not validated."""
    found: dict[str, Available] = {}
    for d in scenario_dirs(state_dir):
        for path in sorted(d.glob("*.toml")) if d.is_dir() else ():
            try:
                info = tomllib.loads(path.read_text(encoding="utf-8")).get("scenario", {})
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                info = {}
            found[path.stem] = Available(
                path.stem, str(path), str(info.get("description", "(unreadable file)")),
                float(info.get("duration_s", math.nan)), str(info.get("outcome", "pass")))
    return list(found.values())


def find(name: str, state_dir: Path | None) -> Path:
    """The file of scenario ``name`` (``pump-failure-shed`` or ``pump-failure-shed.toml``)."""
    if not _NAME.match(name) or name.startswith("."):
        raise CommandError(f"scenario name {name!r}: expected a file name from ListScenarios "
                           "(letters, digits, . _ -), no folders", "BadInvalidArgument")
    stem = name.removesuffix(".toml")
    for d in reversed(scenario_dirs(state_dir)):
        path = d / f"{stem}.toml"
        if path.is_file():
            return path
    known = ", ".join(a.name for a in available(state_dir)) or "none"
    where = " or ".join(str(d) for d in scenario_dirs(state_dir))
    raise CommandError(f"no scenario {stem!r} in {where}; known: {known}", "BadInvalidArgument")


class LiveRun(ScenarioRunner):
    """A :class:`ScenarioRunner` whose plant steps are the live twin's ticks (see the module
    docstring); nothing is recorded by it (the live recorder has the twin's commands, events
    and frames)."""

    def __init__(self, scenario: Scenario, twin: Twin) -> None:
        super().__init__(scenario, twin)
        self.checked_k = -1  # the last step index checked
        self.last_t_s = 0.0

    def elapsed_s(self) -> float:
        return self.twin.plant.t_s - self.t_start

    def step_index(self) -> int:
        return round(self.elapsed_s() / self.sc.step_s)

    def begin(self) -> None:
        """Run the actions due at step 0 (``at_s = 0``), show their effect, check the mirror."""
        self._actions_through(0)
        self.twin.refresh()
        self._check_at(0)

    def run_steps(self, n: int) -> int:
        """Step the plant up to ``n`` steps (not past the scenario's end), running each timeline
        action at its step and, at every check step inside the tick, refreshing the mirror and
        checking it; stop early when an action changed the clock. Returns the steps run (the
        tick's own refresh and :meth:`after_tick` follow)."""
        plant, clock, step = self.twin.plant, self.twin.clock, self.sc.step_s
        at = at0 = self.step_index()
        end = min(at + n, self.end_k) if at < self.end_k else at + n
        c = self.check
        stops = sorted({k for k in self.due if at < k <= end}
                       | set(range((at // c + 1) * c, end, c)) | {end})
        for k in stops:
            if k > at:
                plant.run(k - at, step)
                at = k
            before = (clock.mode, clock.speed, clock.pending_steps, clock.run_until_s)
            self._actions_through(k)
            if (clock.mode, clock.speed, clock.pending_steps, clock.run_until_s) != before:
                break
            if k < end and k % c == 0:
                self.twin.clock.advanced(k - at0, plant.t_s)
                at0 = k
                self.twin.refresh()
                self._check_at(k)
        return at - at0

    def _actions_through(self, k: int) -> None:
        for kk in sorted(kk for kk in self.due if self.k < kk <= k):
            for a in self.due[kk]:
                self._act(a, f"step {a.key} at {a.at_s or 0.0:g} s")
        self.k = max(self.k, k)

    def after_tick(self) -> bool:
        """After a tick's refresh: check the mirror if this is a check step (or the end); True
        when the run is over. TwinError if simulated time moved backwards."""
        t = self.elapsed_s()
        if t < self.last_t_s - 1e-9:
            raise TwinError(f"simulated time moved back by {self.last_t_s - t:g} s")
        k = self.step_index()
        self._actions_through(k)  # e.g. a StartScenario while paused, then a Step
        if k % self.check == 0 or k >= self.end_k:
            self._check_at(k)
        return k >= self.end_k

    def _check_at(self, k: int) -> None:
        if k > self.checked_k:
            self.checked_k = k
            self.last_t_s = self.elapsed_s()
            self._observe(self.last_t_s, self.twin.mirror.values.copy())


    def _act(self, a: Action, why: str = "") -> None:
        super()._act(a, why)
        r = self.results[-1]
        if not r.ok:
            self.twin.event("scenario", 600, f"{self.sc.name}: {a.key} {a.command} refused: "
                            f"{r.status}: {r.message}", scenario=self.sc.name, key=a.key)

    def result(self) -> ScenarioResult:
        """The expectations judged on everything seen so far (the mirror is left alone)."""
        self.end_k = self.step_index()
        self.twin.off_event(self._event)
        return self.verdict()


class LiveScenarios:
    """The loaded scenario and its run on one twin (``twin.scenarios``)."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.scenario: Scenario | None = None
        self.run: LiveRun | None = None
        self.result: ScenarioResult | None = None
        self.state = "none"
        self.reason = ""

    @property
    def running(self) -> bool:
        return self.run is not None

    def values(self) -> tuple[float, float]:
        """``sim.scenario.state`` (index into :data:`STATES`) and ``sim.scenario.elapsed_s``."""
        elapsed = self.run.elapsed_s() if self.run is not None else (
            self.result.duration_s if self.result is not None else 0.0)
        return float(STATES.index(self.state)), max(0.0, elapsed)

    # --- commands ----------------------------------------------------------------------------
    def list_json(self) -> str:
        return json.dumps([{"name": a.name, "file": a.file, "description": a.description,
                            "duration_s": a.duration_s, "outcome": a.outcome}
                           for a in available(self.twin.state_dir)])

    def load(self, name: str) -> str:
        if self.run is not None:
            raise CommandError(f"scenario {self.run.sc.name!r} is running; StopScenario first",
                               "BadInvalidState")
        path = find(name, self.twin.state_dir)
        try:
            text = read_text_file(path, "scenario file")
            sc = parse_scenario(text, str(path), satellite=self.twin.config,
                                catalogue=self.twin.catalogue)
        except ConfigError as exc:
            raise CommandError(str(exc), "BadInvalidArgument") from None
        wanted = satellite_path(sc.info.satellite)
        if wanted.resolve() != Path(self.twin.config.source).resolve():
            raise CommandError(f"{path}: written for the satellite {sc.info.satellite} "
                               f"({wanted}), but this twin runs {self.twin.config.source}; "
                               "run it with twin simulate, or on a twin of that satellite",
                               "BadInvalidArgument")
        if abs(sc.step_s - self.twin.clock.step_s) > 1e-9:
            raise CommandError(f"{path}: step_s = {sc.step_s:g} s, but this twin steps "
                               f"{self.twin.clock.step_s:g} s; a live run uses the twin's step "
                               "(remove step_s, or run it with twin simulate)",
                               "BadInvalidArgument")
        self.scenario, self.result, self.state, self.reason = sc, None, "loaded", ""
        self._refresh()
        self.twin.event("scenario", 200, f"scenario {sc.name} loaded from {path}: "
                        f"{len(sc.actions)} steps, {len(sc.triggers)} triggers, "
                        f"{len(sc.expectations)} expectations over {sc.duration_s:g} s",
                        scenario=sc.name, state="loaded")
        return f"loaded {sc.name} ({sc.info.description})"

    def start(self) -> str:
        if self.run is not None:
            raise CommandError(f"scenario {self.run.sc.name!r} is already running",
                               "BadInvalidState")
        if self.scenario is None:
            raise CommandError("no scenario loaded; LoadScenario first (ListScenarios names "
                               "them)", "BadInvalidState")
        sc = self.scenario
        run = self.run = LiveRun(sc, self.twin)
        self.result, self.state, self.reason = None, "running", ""
        self.twin.event("scenario", 300, f"scenario {sc.name} started at "
                        f"{self.twin.plant.t_s:g} s for {sc.duration_s:g} s "
                        f"(clock {self.twin.clock.mode})", scenario=sc.name, state="running")
        run.begin()  # refreshes the mirror, with the new state
        return f"started {sc.name} at {self.twin.plant.t_s:g} s"

    def stop(self, reason: str = "stopped by StopScenario") -> str:
        if self.run is None:
            raise CommandError("no scenario is running", "BadInvalidState")
        return self._end("stopped", reason)

    def status_json(self) -> str:
        sc = self.run.sc if self.run is not None else self.scenario
        out: dict[str, Any] = {"state": self.state, "reason": self.reason}
        if sc is not None:
            out.update(name=sc.name, source=sc.source, description=sc.info.description,
                       duration_s=sc.duration_s, outcome=sc.info.outcome)
        if self.run is not None:
            st = self.run.state()
            out.update(started_s=self.run.t_start, elapsed_s=self.run.elapsed_s(),
                       timeline_done=list(st.timeline_done), timeline_next=list(st.timeline_next),
                       fired=st.fired)
        if self.result is not None:
            out["result"] = self.result.to_dict()
        return json.dumps(out)

    # --- the twin's ticks ----------------------------------------------------------------------
    def run_steps(self, n: int) -> int:
        assert self.run is not None
        return self.run.run_steps(n)

    def after_tick(self) -> None:
        """Checks and triggers on the refreshed mirror; the verdict at the end. Never raises
        into the twin's loop: a failure stops the run and says why."""
        run = self.run
        if run is None:
            return
        try:
            if run.after_tick():
                self._end("done", "")
        except TwinError as exc:
            self._end("stopped", str(exc))
        except Exception as exc:  # a bug here must not stop the twin: stop the run, say why
            log.exception("live scenario %s failed", run.sc.name)
            self._end("stopped", f"internal error: {exc!r}")

    def _end(self, how: str, reason: str) -> str:
        run = self.run
        assert run is not None
        self.run = None
        res = self.result = run.result()
        self.state = "stopped" if how == "stopped" else ("passed" if res.passed else "failed")
        self.reason = reason
        n_fail = sum(not e.passed for e in res.expectations)
        verdict = {"passed": "passed", "failed": f"FAILED ({n_fail} of "
                   f"{len(res.expectations)} expectations)",
                   "stopped": f"stopped at {run.elapsed_s():g} s ({reason})"}[self.state]
        documented = "" if self.state == "stopped" or res.as_documented else \
            f"; documented outcome is {res.outcome!r}"
        sev = 300 if self.state == "passed" else 700 if self.state == "failed" else 400
        self.twin.event("scenario", sev, f"scenario {res.name} {verdict}{documented}",
                        scenario=res.name, state=self.state, report=format_result(res))
        self._refresh()
        return f"scenario {res.name} {verdict}"

    def _refresh(self) -> None:
        """Show the new scenario state now, also while the clock is paused."""
        self.twin.refresh_scenario()
