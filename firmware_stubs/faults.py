"""Fault modes of a stub board, set and cleared at run time.

The shape follows the plant's faults (``kind``, ``target``, ``params``; an id to clear), so that
scenarios and the OPC UA fault method can drive both the same way:

========================  ==========  =====================================================
kind                      target      effect (parameters)
========================  ==========  =====================================================
``sensor_stuck``          channel     reads ``value`` (NaN: the reading when it failed)
``sensor_drift``          channel     adds ``rate_per_h`` × hours since injection (sample time)
``sensor_noise``          channel     adds Gaussian noise of σ ``std``
``dropout``               (board)     no answer, with ``probability`` (default 1)
``garbage``               (board)     ``length`` random bytes instead of an answer, with
                                      ``probability``
``slow``                  (board)     answers, and unsolicited telemetry, ``delay_s`` late
``link_down``             (board)     serial: nothing in, nothing out; TCP: listener and
                                      connections closed until cleared
``reset``                 (board)     one shot: uptime, counters and settings back to start
========================  ==========  =====================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.errors import CommandError

SENSOR_KINDS = {"sensor_stuck": ("value", math.nan), "sensor_drift": ("rate_per_h", 1.0),
                "sensor_noise": ("std", 1.0)}
LINK_KINDS = {"dropout": {"probability": 1.0}, "garbage": {"probability": 1.0, "length": 16.0},
              "slow": {"delay_s": 0.5}, "link_down": {}}
KINDS = (*SENSOR_KINDS, *LINK_KINDS, "reset")


@dataclass(slots=True)
class StubFault:
    id: int
    kind: str
    target: str
    params: dict[str, float]
    start_t: float | None = None  # sample time of the first sample under this fault
    held: float | None = None  # stuck value captured at failure

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "target": self.target,
                "params": dict(self.params)}


class BoardFaults:
    """The active faults of one board and the seeded randomness they draw from."""

    def __init__(self, board_paths: tuple[str, ...], rng: np.random.Generator) -> None:
        self.paths = set(board_paths)
        self.rng = rng
        self.active: list[StubFault] = []
        self.next_id = 1

    def add(self, kind: str, target: str = "", params: dict[str, Any] | None = None
            ) -> StubFault:
        given = dict(params or {})
        if kind in SENSOR_KINDS:
            if target not in self.paths:
                raise CommandError(f"{kind}: target {target!r} is not a channel of this board")
            defaults = dict([SENSOR_KINDS[kind]])
        elif kind in LINK_KINDS:
            if target:
                raise CommandError(f"{kind}: takes no target (it affects the whole board)")
            defaults = dict(LINK_KINDS[kind])
        else:
            raise CommandError(f"unknown stub fault kind {kind!r}; expected one of "
                               + ", ".join(KINDS))
        for name in given:
            if name not in defaults:
                raise CommandError(f"{kind}: unknown parameter {name!r}; expected "
                                   + (", ".join(defaults) or "none"))
        values = {}
        for name, default in defaults.items():
            try:
                values[name] = float(given.get(name, default))
            except (TypeError, ValueError):
                raise CommandError(f"{kind}: {name} = {given[name]!r} is not a number") from None
        if not 0.0 <= values.get("probability", 0.0) <= 1.0:
            raise CommandError(f"{kind}: probability must be within 0..1", "BadOutOfRange")
        if values.get("delay_s", 0.0) < 0 or values.get("std", 0.0) < 0:
            raise CommandError(f"{kind}: expected a value >= 0", "BadOutOfRange")
        f = StubFault(self.next_id, kind, target, values)
        self.next_id += 1
        self.active = [g for g in self.active if (g.kind, g.target) != (kind, target)]
        self.active.append(f)
        return f

    def remove(self, fault_id: int | None = None, kind: str | None = None) -> None:
        """Clear one fault by id, every fault of a kind, or (no arguments) every fault."""
        before = len(self.active)
        self.active = [f for f in self.active
                       if not ((fault_id is None or f.id == fault_id)
                               and (kind is None or f.kind == kind))]
        if fault_id is not None and len(self.active) == before:
            raise CommandError(f"no active stub fault with id {fault_id}")

    def link(self, kind: str) -> dict[str, float] | None:
        for f in self.active:
            if f.kind == kind:
                return f.params
        return None

    def chance(self, kind: str) -> bool:
        p = self.link(kind)
        return p is not None and (p["probability"] >= 1.0 or self.rng.random() < p["probability"])

    def drops(self) -> bool:
        return self.chance("dropout")

    def garbage(self) -> bytes | None:
        if not self.chance("garbage"):
            return None
        p = self.link("garbage")
        assert p is not None
        return self.rng.integers(0, 256, max(1, int(p["length"]))).astype(np.uint8).tobytes()

    def delay_s(self) -> float:
        p = self.link("slow")
        return p["delay_s"] if p else 0.0

    @property
    def link_down(self) -> bool:
        return self.link("link_down") is not None

    def sense(self, path: str, value: float, t_s: float) -> float:
        """``value`` as the faulty sensor reads it at sample time ``t_s``."""
        for f in self.active:
            if f.target != path:
                continue
            if f.start_t is None:
                f.start_t = t_s
            if f.kind == "sensor_stuck":
                if f.held is None:
                    f.held = value if math.isnan(f.params["value"]) else f.params["value"]
                value = f.held
            elif f.kind == "sensor_drift":
                value += f.params["rate_per_h"] * (t_s - f.start_t) / 3600.0
            elif f.kind == "sensor_noise":
                value += float(self.rng.normal(0.0, f.params["std"]))
        return value
