"""``twin stub`` (here ``python -m firmware_stubs``): a standalone stub in its own process."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from firmware_stubs.cli import add_stub_arguments, stub_command
from twin.errors import TwinError

ROOT = Path(__file__).resolve().parents[2]


async def test_a_standalone_tcp_stub_serves_until_terminated():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firmware_stubs", "thermal", "--tcp", "127.0.0.1:0",
        "--no-noise", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        m = re.search(r"tcp 127\.0\.0\.1:(\d+) unit 1", line)
        assert m, line
        c = AsyncModbusTcpClient("127.0.0.1", port=int(m[1]), timeout=2, retries=0)
        try:
            assert await c.connect()
            r = await c.read_input_registers(0, count=1, device_id=1)
            assert r.registers == [0x0201]
        finally:
            c.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()
    assert "stopped" in err.decode()


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="twin stub")
    add_stub_arguments(p)
    return p.parse_args(argv)


@pytest.mark.parametrize(("argv", "message"), [
    (["thermal", "--port", "/dev/ttyS9"], "speaks Modbus TCP: use --tcp"),
    (["power", "--tcp", "127.0.0.1:0"], "is a serial board"),
    (["thermal", "--tcp", "nowhere"], "expected HOST:PORT"),
    (["power", "--source", "profile"], r"expected 'constant \[FILE\]'"),
])
def test_wrong_stub_arguments_say_what_to_do(argv, message):
    with pytest.raises(TwinError, match=message):
        stub_command(parse(*argv))


def test_unknown_board_is_a_config_error():
    with pytest.raises(TwinError, match=r"configs/boards/nope\.toml: expected an existing"):
        stub_command(parse("nope"))
