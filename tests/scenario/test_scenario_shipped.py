"""Every shipped scenario loads, runs, records and ends with its documented outcome."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from twin.config import CONFIG_DIR
from twin.scenario import load_scenario, run_scenario_file
from twin.store import RunStore

SHIPPED = sorted((CONFIG_DIR / "scenarios").glob("*.toml"))


def test_at_least_seven_scenarios_ship() -> None:
    assert len(SHIPPED) >= 7
    names = {load_scenario(p).name for p in SHIPPED}
    assert len(names) == len(SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenario_has_its_documented_outcome(path: Path, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result = run_scenario_file(path, tmp_path / "run", junit=junit)
    failed = [e for e in result.expectations if not e.passed]
    assert result.as_documented, [f"{e.name}: {e.measured}" for e in failed]
    assert all(a.ok for a in result.actions), result.actions
    if result.outcome == "fail":
        assert failed, "a scenario documented to fail must fail an expectation"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert int(suite.get("failures", "-1")) == len(failed)
    with RunStore.open(tmp_path / "run") as run:
        assert run.tick_count() == result.frames_recorded
        commands = run.commands()
        assert len(commands) == len(result.actions)
        assert all(c.user == "scenario" for c in commands)
        assert run.meta.extra["scenario"] == result.name
        assert run.meta.extra["scenario_result"]["passed"] == result.passed
    assert (tmp_path / "run" / "scenario-result.json").is_file()
