"""A real twin OPC UA server on 127.0.0.1 (a free port), shared by a test module."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from _opcua import free_port, users_file

from twin.config import load_satellite
from twin.opcua.server import ServerOptions, TwinServer
from twin.runtime import Twin


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("opcua-state")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(state_dir: Path) -> AsyncIterator[TwinServer]:
    """The default satellite, paused, on a None (loopback) + secured endpoint."""
    twin = Twin(load_satellite().config, state_dir=state_dir)
    opts = ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/twin/",
                         state_dir=state_dir, users_file=users_file(state_dir), allow_none=True)
    srv = TwinServer(twin, opts)
    await srv.start()
    stop = asyncio.Event()
    ticking = asyncio.create_task(twin.run(stop))
    try:
        yield srv
    finally:
        stop.set()
        await ticking
        await srv.stop()
