"""Scenarios: a timeline of commands and faults, triggers on conditions, and expectations.

A scenario file (``configs/scenarios/*.toml``, format in ``docs/scenarios.md``) is loaded and
validated by :func:`load_scenario` (:mod:`.spec`), run as fast as possible by
:class:`ScenarioRunner` (:mod:`.runner`) on a fresh :class:`~twin.runtime.Twin` through the one
command path, recorded into a run store, and reported as a table or JUnit XML (:mod:`.report`).

    result = run_scenario_file("configs/scenarios/pump-failure-shed.toml", "runs/pump")
    print(format_result(result)); sys.exit(0 if result.passed else 1)

``twin simulate SCENARIO [--seed N] [--out DIR] [--junit FILE] [--influx FILE]`` is
:func:`simulate_scenario_command`. A what-if branch of a scenario run carries the scenario on
(its remaining timeline, its triggers on the branch's own state) and is judged on the branch:
:func:`twin.replay.fork`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from twin.errors import TwinError
from twin.model.outputs import books
from twin.recording import record_past_events
from twin.runtime import Twin
from twin.scenario.report import format_branch, format_result, junit_tree, write_junit
from twin.scenario.runner import (
    ActionResult,
    ExpectationResult,
    Planned,
    ScenarioResult,
    ScenarioRunner,
    ScenarioState,
)
from twin.scenario.spec import Scenario, load_scenario, parse_scenario
from twin.store import RunStore, run_meta

__all__ = [
    "ActionResult",
    "ExpectationResult",
    "Planned",
    "Scenario",
    "ScenarioResult",
    "ScenarioRunner",
    "ScenarioState",
    "format_branch",
    "format_result",
    "junit_tree",
    "load_scenario",
    "parse_scenario",
    "run_scenario",
    "run_scenario_file",
    "simulate_scenario_command",
    "write_junit",
]


def run_scenario(sc: Scenario, out_dir: str | Path, seed: int | None = None,
                 junit: str | Path | None = None, progress: bool = False,
                 influx: str | bool | None = False) -> ScenarioResult:
    """Run a loaded scenario into a new run directory ``out_dir``.

    The directory gets the run store (every channel at the record interval, every command with
    user "scenario", every event and alarm transition; ``meta.extra`` holds the scenario's
    name, text and results and the plant's energy books),
    a copy of the scenario and satellite files, and ``scenario-result.json``. ``influx``: also
    send what is recorded to InfluxDB, as :func:`twin.influx.sink_for` decides (a settings
    file, None for the environment, False for no sink); everything is sent or spooled before
    this returns.
    """
    out = Path(out_dir)
    if seed is not None:
        if seed < 0:
            raise TwinError(f"--seed {seed}: expected a seed >= 0")
        sc = dataclasses.replace(sc, seed=seed)
    twin = Twin(sc.config, seed=sc.seed, state_dir=out)
    meta = run_meta(sc.config, twin.plant.seed, sc.step_s, sc.info.record_every_s,
                    duration_s=sc.duration_s, scenario=sc.name, scenario_source=sc.source,
                    scenario_text=sc.text)
    from twin.influx import close_run_sink, sink_for

    with RunStore.create(out, twin.catalogue, meta) as store:
        sink = sink_for(sc.config, twin.catalogue, influx, run=store.meta)
        record_past_events(store, twin)
        try:
            if sink is not None:
                sink.attach(twin, frames=False)  # commands and events; frames from the runner
            result = ScenarioRunner(sc, twin, store, progress=progress, influx=sink).run()
        finally:
            influx_text = close_run_sink(sink)
        result = dataclasses.replace(result, out_dir=str(out), influx=influx_text)
        store.set_extra("scenario_result", result.to_dict())
        store.set_extra("energy_books", books(twin.plant.params, twin.plant.state))
    (out / "scenario-result.json").write_text(json.dumps(result.to_dict(), indent=1),
                                              encoding="utf-8")
    (out / "scenario.toml").write_text(sc.text, encoding="utf-8")
    if Path(sc.config.source).is_file():
        shutil.copyfile(sc.config.source, out / "satellite.toml")
    if junit is not None:
        write_junit([result], junit)
    return result


def run_scenario_file(path: str | Path, out_dir: str | Path | None = None,
                      seed: int | None = None, junit: str | Path | None = None,
                      progress: bool = False, influx: str | bool | None = False
                      ) -> ScenarioResult:
    """Load, run and record one scenario file (``out_dir`` default: ``runs/<time>-<name>``)."""
    sc = load_scenario(path)
    if out_dir is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out_dir = Path("runs") / f"{stamp}-{sc.name}"
    return run_scenario(sc, out_dir, seed=seed, junit=junit, progress=progress, influx=influx)


def simulate_scenario_command(args: argparse.Namespace) -> int:
    """``twin simulate SCENARIO``: 0 when every expectation passes, 1 when one fails.

    Uses ``args.scenario``, ``args.seed``, ``args.out``, ``args.junit`` (optional),
    ``args.influx`` (optional: a settings file; the TWIN_INFLUX_* environment otherwise) and
    ``args.quiet``; the scenario file fixes the satellite, duration, step and record interval.
    """
    if getattr(args, "config", None):
        raise TwinError(f"--config {args.config}: a scenario names its satellite in "
                        "[scenario] satellite = ...; run without --config")
    result = run_scenario_file(args.scenario, args.out, seed=args.seed,
                               junit=getattr(args, "junit", None),
                               progress=not getattr(args, "quiet", False),
                               influx=getattr(args, "influx", None))
    print(format_result(result))
    print(f"recorded to {result.out_dir}")
    if result.influx:
        print(result.influx)
    return 0 if result.passed else 1
