"""Fixtures: a real VictoriaMetrics server per test (see _vmserver.py), skipped if not installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _vmserver import VictoriaMetrics, need_binary


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    need_binary()
    server = VictoriaMetrics(tmp_path / "vm-data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def vm_stopped(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A server object whose port is reserved but not yet listening: call ``start()``."""
    need_binary()
    server = VictoriaMetrics(tmp_path / "vm-data")
    try:
        yield server
    finally:
        server.stop()
