"""What the console's link reports and its views show: plain records, no asyncua.

The views (:mod:`~twin.console.fmt`, the widgets and screens) import these, not
:mod:`twin.console.link`'s OPC UA side, so that the app starts without asyncua, which the link
imports in a thread while the first screen is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ROLES = ("viewer", "operator", "engineer")


@dataclass(frozen=True, slots=True)
class Reading:
    """One channel value as the server sent it: ``value`` is None when Bad or empty."""

    value: Any
    status: str = "Good"
    source_time: datetime | None = None

    @property
    def good(self) -> bool:
        return self.status == "Good"

    @property
    def bad(self) -> bool:
        return self.status.startswith("Bad")


@dataclass(frozen=True, slots=True)
class LinkState:
    state: str  # "connecting", "connected", "lost"
    detail: str = ""
    retry_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """The server's answer to a method call."""

    ok: bool
    status: str
    message: str
    outputs: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class ArgInfo:
    name: str
    kind: str  # "int", "float", "bool", "str"
    description: str


@dataclass(frozen=True, slots=True)
class MethodInfo:
    name: str
    parent: str  # "satellite" or "sim"
    role: str
    hazardous: bool
    description: str
    args: tuple[ArgInfo, ...] = field(default_factory=tuple)


def role_allows(role: str | None, needed: str) -> bool:
    """True if ``role`` may use a control needing ``needed``; an unknown role may try."""
    if role is None:
        return True
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)
