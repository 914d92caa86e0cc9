"""Shared runs for the replay tests: a short scenario run with a fault, recorded in tmp."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.scenario import parse_scenario, run_scenario

PUMP = """
[scenario]
name = "replay-unit"
duration_s = 900
record_every_s = 10
seed = 5

[[action]]
at_s = 200
command = "InjectFault"
args = { kind = "pump_failure", target = "thermal.pump.2" }

[[action]]
at_s = 205
command = "SetHeaterMode"
args = { string = 1, mode = "on" }

[[expect]]
name = "pump failure recorded"
fault = "pump_failure"
target = "thermal.pump.2"
"""


@pytest.fixture(scope="session")
def pump_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("replay") / "pump"
    run_scenario(parse_scenario(PUMP, "replay-unit.toml"), out)
    return out
