"""Bench test: commanding a rack off drops its power and the bus load within 2 s.

Runs against the embedded stubs by default, or the lab's boards with TWIN_BENCH_BOARDS set:
``pytest -p hil.benchkit examples/bench``. The rack's feed current and the bus load are measured
by the power board, so the drop has to cross the wire to pass.
"""

RACK = 2


def test_commanding_a_rack_off_drops_its_power_and_the_bus_load_within_2_s(bench):
    feed = f"power.pcdu.rack.{RACK}.current_a"
    on_a = bench.wait_for(feed, lambda a: a > 5.0, within_s=5.0).value
    load_w = bench.wait_for("power.bus.load_w", lambda w: w > 0.0, within_s=5.0).value
    bus_v = bench.value("power.bus.voltage_v")
    rack_w = on_a * bus_v

    bench.command("SetRackEnabled", rack=RACK, enabled=False)

    bench.wait_for(feed, lambda a: a < 0.5, within_s=2.0)
    bench.wait_for("power.bus.load_w", lambda w: w < load_w - 0.8 * rack_w, within_s=2.0)
    bench.assert_between(feed, 0.0, 0.5, for_s=1.0)  # and it stays off

    bench.command("SetRackEnabled", rack=RACK, enabled=True)
    bench.wait_for(feed, lambda a: a > 0.5 * on_a, within_s=3.0)
