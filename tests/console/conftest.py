"""A real twin OPC UA server on 127.0.0.1 (a free port), shared by a test module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from _console import served_twin

from twin.opcua.server import TwinServer


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-state")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(state_dir: Path) -> AsyncIterator[TwinServer]:
    async with served_twin(state_dir) as srv:
        yield srv
