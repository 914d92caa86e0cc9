"""Link statistics of one board: counters and round-trip latency.

Counters only grow (``polls`` counts transactions and, for ASCII boards, sentences received).
``errors`` counts CRC failures, bad headers, wrong device ids and unparsable lines together;
``failures`` splits every failed transaction by reason. In a twin built with the board they are
the channels ``hil.<board>.polls``, ``.timeouts``, ``.errors``, ``.exceptions``, ``.link_down``
and ``.latency_ms`` (:meth:`LinkStats.latency_ms`, the median of the last
:data:`~twin.catalogue.LATENCY_WINDOW` round trips), which :class:`hil.sync.HilSync` fills.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from twin.catalogue import HIL_COUNTERS, LATENCY_WINDOW

CHANNEL_QUANTITIES = ("online", *HIL_COUNTERS, "latency_ms")  # hil.<board>.<quantity>


@dataclass
class LinkStats:
    polls: int = 0
    ok: int = 0
    timeouts: int = 0
    errors: int = 0  # CRC, garbage, wrong id, bad sentence
    exceptions: int = 0  # Modbus exception answers, ASCII NAKs
    link_down: int = 0
    online: bool = False
    last_latency_s: float = float("nan")
    latencies_s: deque[float] = field(default_factory=lambda: deque(maxlen=512))
    failures: Counter[str] = field(default_factory=Counter)

    def success(self, latency_s: float | None = None) -> None:
        self.polls += 1
        self.ok += 1
        if latency_s is not None:
            self.last_latency_s = latency_s
            self.latencies_s.append(latency_s)

    def failure(self, reason: str) -> None:
        self.polls += 1
        self.failures[reason] += 1
        if reason == "timeout":
            self.timeouts += 1
        elif reason == "garbage":
            self.errors += 1
        elif reason in ("exception", "nak"):
            self.exceptions += 1
        else:
            self.link_down += 1

    def latency_p(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) if self.latencies_s else float("nan")

    def latency_ms(self, window: int = LATENCY_WINDOW) -> float:
        """Median round trip of the last ``window`` answered requests, ms (NaN: none yet)."""
        recent = list(itertools.islice(reversed(self.latencies_s), window))
        return statistics.median(recent) * 1e3 if recent else float("nan")

    def as_dict(self) -> dict[str, float | int | bool]:
        return {"online": self.online, "polls": self.polls, "ok": self.ok,
                "timeouts": self.timeouts, "errors": self.errors, "exceptions": self.exceptions,
                "link_down": self.link_down, "latency_ms_last": self.last_latency_s * 1e3,
                "latency_ms_p50": self.latency_p(50) * 1e3,
                "latency_ms_p99": self.latency_p(99) * 1e3}
