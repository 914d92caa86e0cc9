"""Fixtures for the store tests."""

from __future__ import annotations

import pytest
from _storehelp import small_channels

from twin.catalogue import Channel


@pytest.fixture
def channels() -> list[Channel]:
    return small_channels()
