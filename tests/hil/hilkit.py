"""Helpers for the sync tests: the default satellite, its boards, waiting on conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from hil.boardfile import load_boards
from twin.catalogue import build_catalogue
from twin.config import load_satellite
from twin.runtime import Twin

CFG = load_satellite().config
CAT = build_catalogue(CFG)
BOARDS = load_boards(CAT)


def new_twin(**kw: object) -> Twin:
    return Twin(CFG, seed=7, **kw)  # type: ignore[arg-type]


def boards_twin(**kw: object) -> Twin:
    """A twin built with the shipped boards: their hil.* channels are in its catalogue."""
    return Twin(CFG, seed=7, boards=BOARDS, **kw)  # type: ignore[arg-type]


async def until(predicate: Callable[[], bool], timeout: float, every: float = 0.01) -> float:
    """Seconds until ``predicate()`` held (checked every ``every`` s); TimeoutError after
    ``timeout``. A condition wait, not a sleep: it returns as soon as the condition holds."""
    t0 = time.monotonic()
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(every)
    return time.monotonic() - t0


def max_error(board_name: str) -> dict[str, float]:
    """The stated quantisation (± in channel units) of each channel of a board."""
    out: dict[str, float] = {}
    for f in BOARDS[board_name].all_fields():
        if f.kind == "channel" and f.table != "command":
            out[f.key] = max(out.get(f.key, 0.0), f.max_error)
    return out
