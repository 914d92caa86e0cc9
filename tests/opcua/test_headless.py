"""``twin up --headless`` as a stranger meets it: a process that prints its endpoint, security
and first-start passwords, and an OPC UA client that finds, understands and commands the twin
with nothing but that output."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _opcua import connect, free_port
from asyncua import ua

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.asyncio


async def read_until(proc: asyncio.subprocess.Process, pattern: str, timeout: float = 60.0
                     ) -> str:
    """Standard output up to the first line matching ``pattern``."""
    assert proc.stdout is not None
    seen = ""
    async with asyncio.timeout(timeout):
        while not re.search(pattern, seen):
            line = await proc.stdout.readline()
            if not line:
                raise AssertionError(f"twin up ended before {pattern!r}:\n{seen}")
            seen += line.decode()
    return seen


async def test_a_stranger_connects_from_the_printed_lines_reads_units_and_commands(tmp_path):
    url = f"opc.tcp://127.0.0.1:{free_port()}/orbital-twin/"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "twin.cli", "up", "--headless", "--endpoint", url,
        "--state-dir", str(tmp_path / "state"), "--no-record", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out = await read_until(proc, r"security: .*\n")
        assert f"listening on {url}" in out
        assert "None (loopback only" in out and "Basic256Sha256" in out
        password = re.search(r"user 'operator' with password '([^']+)'", out)
        assert password is not None
        async with connect(url, "operator", password[1]) as c:
            soc = c.get_node("ns=2;s=power.battery.1.soc_pct")
            unit = await (await soc.get_child("0:EngineeringUnits")).read_value()
            span = await (await soc.get_child("0:EURange")).read_value()
            assert await soc.read_type_definition() == ua.NodeId(ua.ObjectIds.AnalogItemType)
            sim = c.get_node("ns=2;s=sim")
            assert await sim.call_method("2:SetSpeed", 2.0) == "SetSpeed done"
            speed = c.get_node("ns=2;s=sim.speed_x")
            for _ in range(100):  # the next publish carries the new speed
                if await speed.read_value() == 2.0:
                    break
                await asyncio.sleep(0.05)
            assert await speed.read_value() == 2.0
        logged = await read_until(proc, r"command SetSpeed .* by operator \(operator\).*Good")
        assert "INFO" in logged  # every command is logged, with who and the result
        assert (unit.DisplayName.Text, span.Low, span.High) == ("%", 0.0, 100.0)
    finally:
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            await proc.wait()
    assert proc.returncode in (0, -signal.SIGINT, 130)


async def test_a_second_twin_on_the_same_port_says_so_in_one_line(tmp_path):
    url = f"opc.tcp://127.0.0.1:{free_port()}/orbital-twin/"
    args = ("up", "--headless", "--endpoint", url, "--no-record")
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "twin.cli", *args, "--state-dir", str(tmp_path / "a"), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await read_until(first, r"listening on")
        second = subprocess.run([sys.executable, "-m", "twin.cli", *args, "--state-dir",
                                 str(tmp_path / "b")], capture_output=True, text=True,
                                cwd=ROOT, timeout=120)
        assert second.returncode != 0
        last = second.stderr.strip().splitlines()[-1]
        assert last.startswith("twin up: endpoint ") and "--endpoint" in last
    finally:
        first.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            await first.wait()
