"""Bench test: a pump speed setpoint reaches the thermal board and reads back.

Against lab boards, ``bench.command`` returns once the thermal board has confirmed the setpoint
by read-back; the measured pump speed then follows it on the wire.
"""

import pytest

PUMP = 2


@pytest.mark.parametrize("setpoint_pct", [55.0, 80.0])
def test_a_pump_speed_setpoint_reaches_the_thermal_board_and_reads_back(bench, setpoint_pct):
    path = f"thermal.pump.{PUMP}.speed_pct"
    bench.wait_for(path, lambda v: v >= 0.0, within_s=5.0)

    bench.command("SetPumpSpeed", pump=PUMP, speed_pct=setpoint_pct)

    got = bench.wait_for(path, lambda v: abs(v - setpoint_pct) <= 0.5, within_s=2.0)
    assert got.good
    bench.assert_between(path, setpoint_pct - 0.5, setpoint_pct + 0.5, for_s=1.0)
