"""What the bench kit's helpers return (:mod:`hil.benchkit`): a channel's :class:`Sample` and a
command's :class:`CommandOutcome`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hil.poller import CommandResult
from twin.commands import Result
from twin.runtime import BAD_NO_COMMUNICATION, GOOD, UNCERTAIN_SUBSTITUTE


@dataclass(frozen=True, slots=True)
class Sample:
    """One channel as the mirror showed it: value, OPC UA status code, source time (sim s)."""

    path: str
    value: float
    status: int
    source_s: float

    @property
    def good(self) -> bool:
        return self.status == GOOD

    @property
    def quality(self) -> str:
        if self.status == GOOD:
            return "Good"
        if self.status == UNCERTAIN_SUBSTITUTE:
            return "Uncertain (estimated)"
        if self.status == BAD_NO_COMMUNICATION:
            return "Bad (board offline)"
        return ("Uncertain" if self.status >> 30 == 1 else "Bad") + f" (0x{self.status:08X})"

    def __str__(self) -> str:
        return f"{self.path} = {self.value:g} [{self.quality}] at t = {self.source_s:g} s"


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """A bench command: the twin's :class:`~twin.commands.Result` and, against lab boards,
    each forwarded board write's :class:`~hil.poller.CommandResult` (confirmed or why not)."""

    result: Result
    boards: tuple[CommandResult, ...] = ()

    @property
    def ok(self) -> bool:
        """The twin accepted it and every board it went to confirmed it."""
        return self.result.ok and not self.failures

    @property
    def failures(self) -> tuple[CommandResult, ...]:
        return tuple(b for b in self.boards if not b.ok)

    @property
    def reason(self) -> str:
        """Why it failed: the twin's status (``BadOutOfRange``...) or the first failed board
        write's reason (``timeout``, ``exception``, ``nak``...); empty when it is ok."""
        if not self.result.ok:
            return self.result.status
        return self.failures[0].reason if self.failures else ""

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def message(self) -> str:
        return self.result.message

    @property
    def data(self) -> Any:
        return self.result.data

    def __str__(self) -> str:
        if not self.result.ok:
            return f"{self.result.status}: {self.result.message}"
        if self.failures:
            return "the board refused or did not confirm: " + "; ".join(
                str(b) for b in self.failures)
        return self.result.message
