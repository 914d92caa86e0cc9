"""What the console's link reports and its views show: plain records, no asyncua.

The views (:mod:`~twin.console.fmt`, the widgets and screens) import these, not
:mod:`twin.console.link`'s OPC UA side, so that the app starts without asyncua, which the link
imports in a thread while the first screen is drawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ROLES = ("viewer", "operator", "engineer")
_ROLE = re.compile(r"\s*Role: (viewer|operator|engineer)\.")
_CHOICES = re.compile(r", one of ([^()]+?)(?: \(optional:.*)?$")


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
    choices: tuple[str, ...] = ()  # the values the server names ("…, one of a, b, c")
    optional: bool = False  # the server says "(optional: … for the default)"


@dataclass(frozen=True, slots=True)
class MethodInfo:
    name: str
    parent: str  # "satellite" or "sim"
    role: str
    hazardous: bool
    description: str  # the server's, without its "Role: …." and "Hazardous." marks
    args: tuple[ArgInfo, ...] = field(default_factory=tuple)
    outputs: tuple[str, ...] = ()  # names of the output arguments after the Message


def role_allows(role: str | None, needed: str) -> bool:
    """True if ``role`` may use a control needing ``needed``; an unknown role may try."""
    if role is None:
        return True
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def plain_description(desc: str) -> str:
    """A method's description without the twin's ``Role: <role>.`` and ``Hazardous.`` marks
    (the console shows those itself)."""
    return _ROLE.sub("", desc).replace("Hazardous.", "").strip()


def arg_info(name: str, kind: str, description: str) -> ArgInfo:
    """An argument as the twin describes it (:func:`twin.opcua.methods.describe`): its values
    after ``, one of …``, and ``(optional: … for the default)``."""
    optional = "(optional:" in description
    m = _CHOICES.search(description)
    choices = tuple(c.strip() for c in m[1].split(",") if c.strip()) if m else ()
    return ArgInfo(name, kind, description, choices, optional)
