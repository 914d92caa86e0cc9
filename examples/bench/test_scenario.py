"""Bench test: a shipped scenario run on the bench twin through the command path.

``bench.scenario`` loads the scenario (LoadScenario), starts it (StartScenario) at 100 × real
time, waits until ``sim.scenario.state`` shows its verdict and returns ``ScenarioStatus``.

The runaway GPU is injected into the twin's plant model; the embedded stubs sense that plant,
so the trip, the isolation and the rack staying off are seen through the power board's readings
on the wire. Real boards do not follow a fault injected into the model, so the test is marked
``stubs``: with TWIN_BENCH_BOARDS set it is skipped, with the reason.
"""

import pytest


@pytest.mark.stubs
def test_a_runaway_gpu_trips_its_rack_and_the_scenario_passes_on_the_bench(bench):
    status = bench.scenario("gpu-runaway-rack-trip", speed=100.0, within_s=120.0, check=True)

    assert status["state"] == "passed"
    verdicts = {e["name"]: e["passed"] for e in status["result"]["expectations"]}
    assert verdicts["rack 3 trips"] and verdicts["rack 3 stays off"]
    assert bench.wait_for("power.pcdu.rack.3.on", lambda on: on == 0.0, within_s=2.0).good
