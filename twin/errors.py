"""The project's error hierarchy: every error a user can see says what to do about it."""

from __future__ import annotations


class TwinError(Exception):
    """Base of every error the twin raises on purpose; the CLI prints these without a traceback."""


class ConfigError(TwinError):
    """A configuration file is unreadable or invalid.

    The message names the file, the dotted key, the offending value and what was expected.
    """

    def __init__(self, file: str, key: str, value: object, expected: str) -> None:
        self.file = file
        self.key = key
        self.value = value
        self.expected = expected
        shown = _show(value)
        where = f"{file}: {key}" if key else file
        super().__init__(
            f"{where} = {shown}: expected {expected}" if key else f"{where}: expected {expected}"
        )


class CommandError(TwinError):
    """A command was refused (bad argument, out of range, wrong state, not permitted)."""

    def __init__(self, message: str, status: str = "BadInvalidArgument") -> None:
        self.status = status
        super().__init__(message)


class CheckpointError(TwinError):
    """A checkpoint file cannot be read or does not match the running configuration."""


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
