"""The store's error: a run directory, a channel path or a frame the store cannot accept."""

from __future__ import annotations

from twin.errors import TwinError


class StoreError(TwinError):
    """A recorded run cannot be created, opened, written or read as asked.

    The message names the run directory (or file) and says what was expected.
    """
