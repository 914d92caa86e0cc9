"""An independent peer: node-opcua's client (interop/client.mjs) against the twin's server.

Browses, reads a value with its engineering units and range, subscribes, calls a command and
has one refused, and reads history; once without security on loopback and once with
Basic256Sha256 SignAndEncrypt and a user. The client is installed by `make test`
(`npm ci` in interop/, versions pinned in interop/package-lock.json).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest
from _opcua import PASSWORDS, free_port, users_file

from twin.config import load_satellite
from twin.opcua.server import ServerOptions, TwinServer
from twin.runtime import Twin

INTEROP = Path(__file__).resolve().parents[2] / "interop"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or not (INTEROP / "node_modules" / "node-opcua-client").is_dir(),
    reason="node or interop/node_modules missing: `make test` runs `npm ci` in interop/")


async def run_client(url: str, mode: str, pki: Path) -> dict:
    proc = await asyncio.create_subprocess_exec(
        NODE, str(INTEROP / "client.mjs"), url, "otto", PASSWORDS["otto"], mode, str(pki),
        cwd=INTEROP, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()[-3000:]
    return json.loads(out.decode().strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["None", "SignAndEncrypt"])
async def test_node_opcua_client_browses_reads_subscribes_calls_and_reads_history(tmp_path, mode):
    twin = Twin(load_satellite().config, state_dir=tmp_path, mode="realtime", speed=20.0)
    opts = ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/twin/", state_dir=tmp_path,
                         users_file=users_file(tmp_path), allow_none=True, trust_new=True)
    stop = asyncio.Event()
    async with TwinServer(twin, opts) as srv:
        ticking = asyncio.create_task(twin.run(stop))
        try:
            result = await run_client(srv.url, mode, tmp_path / "node-pki")
        finally:
            stop.set()
            await ticking
    print(json.dumps(result), file=sys.stderr)
    assert {"Power", "Thermal", "Compute"} <= set(result["satellite_children"])
    gpu = result["gpu_temp"]
    assert gpu["unit"] == "°C" and gpu["unit_id"] == 4408652  # UNECE CEL
    assert gpu["range"] == [-40, 150]
    assert gpu["status"] == "Good" and gpu["source_timestamp"].startswith("2026-12-21")
    times = result["subscription"]
    assert len(times) >= 3 and times == sorted(times)
    assert result["call"] == {"ok": "Good", "refused": "BadOutOfRange"}
    assert twin.plant.inputs.pump_speed[0] == pytest.approx(0.9)
    assert twin.commands.log[-1].user == "otto"
    assert result["history"]["status"] == "Good" and result["history"]["count"] >= 3
