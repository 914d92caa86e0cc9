"""How values are shown: units at the edge, Bad values as a dash with their status.

Pure presentation, no twin logic: a format turns one :class:`~twin.console.records.Reading` into
text. A Bad value is ``—`` followed by its status name; a missing one (never received) is ``…``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from twin.console.records import Reading

DASH = "—"
Format = Callable[[Any], str]


def number(digits: int = 1, unit: str = "", scale: float = 1.0) -> Format:
    def fmt(v: Any) -> str:
        x = float(v) * scale
        if not math.isfinite(x):
            return DASH
        return f"{x:,.{digits}f}{(' ' + unit) if unit else ''}"
    return fmt


def kw(v: Any) -> str:
    return number(1, "kW", 1e-3)(v)


def integer(v: Any) -> str:
    return f"{int(v)}"


def flag(true: str, false: str) -> Format:
    return lambda v: true if bool(v) else false


def show(reading: Reading | None, fmt: Format) -> str:
    """The text for one reading: formatted value, ``— <Status>`` when Bad, ``…`` when unknown."""
    if reading is None:
        return "…"
    if reading.value is None:
        return f"{DASH} {reading.status}" if reading.status != "Good" else DASH
    try:
        text = fmt(reading.value)
    except (TypeError, ValueError, OverflowError):
        text = DASH
    if not reading.good:
        text += f" ({reading.status})"
    return text


def countdown(v: Any) -> str:
    """Seconds to the next eclipse entry or exit as ``in 14:49`` (0: none within two orbits)."""
    x = float(v)
    if x != x or x <= 0.0:
        return "none soon"
    m, s = divmod(int(x), 60)
    return f"in {m}:{s:02d}"


def sim_clock(seconds: float) -> str:
    """Simulated seconds as ``d HH:MM:SS``: ``93784`` → ``1d 02:03:04``."""
    if not math.isfinite(seconds):
        return DASH
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{d}d {h:02d}:{m:02d}:{s:02d}"


def utc(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC") if ts is not None else ""
