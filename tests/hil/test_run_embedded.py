"""``run_embedded``: the boards' values reach an OPC UA client with their quality."""

from __future__ import annotations

import asyncio
import io
import socket

from asyncua import Client, ua
from hilkit import new_twin, until

from twin.embedded import run_embedded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_run_embedded_serves_board_values_and_estimates_and_stops_cleanly(tmp_path):
    twin = new_twin(mode="realtime")
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/twin"
    stop, out = asyncio.Event(), io.StringIO()
    task = asyncio.get_running_loop().create_task(run_embedded(
        twin, endpoint, tmp_path, stop, allow_none=True, anonymous=True, out=out))
    try:
        await until(lambda: "listening" in out.getvalue() or task.done(), 30.0)
        assert not task.done(), task.exception()
        client = Client(endpoint, timeout=20)
        async with client:
            measured = client.get_node("ns=2;s=thermal.radiator.1.temp_c")
            estimated = client.get_node("ns=2;s=power.array.1.power_w")
            dv = None
            for _ in range(100):  # until the first poll has reached the address space
                dv = await measured.read_data_value(raise_on_bad_status=False)
                if dv.StatusCode.value == ua.StatusCodes.Good:
                    break
                await asyncio.sleep(0.05)
            assert dv is not None and dv.StatusCode.value == ua.StatusCodes.Good
            est = await estimated.read_data_value(raise_on_bad_status=False)
            assert est.StatusCode.value == 0x40910000  # Uncertain_SubstituteValue
    finally:
        stop.set()
        await asyncio.wait_for(task, 10.0)
