"""Bench test for real boards only: every board answers steadily, without link errors.

Marked ``hardware``: skipped unless TWIN_BENCH_BOARDS names a lab file.
"""

import pytest


@pytest.mark.hardware
def test_every_board_answers_for_three_seconds_without_timeouts_or_garbage(bench):
    before = bench.links()
    bench.assert_between("power.bus.voltage_v", 0.0, 1000.0, for_s=3.0)
    after = bench.links()
    for board, link in after.items():
        assert link["state"] == "good", (board, link)
        assert link["polls"] > before[board]["polls"], (board, link)
        for counter in ("timeouts", "errors", "link_down"):
            assert link[counter] == before[board][counter], (board, counter, link)
