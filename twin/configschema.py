"""A small, strict TOML → frozen-dataclass loader.

Each config section is a frozen dataclass whose fields carry their own rules in
``field(metadata=...)`` (see :func:`param`). :func:`build` walks a parsed TOML table against such a
class and raises one :class:`~twin.errors.ConfigError` naming the file, the dotted key, the value
and what was expected, for: unknown keys, missing keys, wrong types and out-of-range values.
Cross-field consistency lives in :func:`twin.config.check_consistency`.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from twin.errors import ConfigError

T = TypeVar("T")


def param(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[str, ...] | None = None,
    doc: str = "",
) -> Any:
    """A config field with its allowed range (ge/gt/le/lt), choices and a one-line doc."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "doc": doc}
    if isinstance(default, list | dict):
        raise TypeError("use a tuple for list defaults")
    return dataclasses.field(default=default, metadata=meta)


def build(cls: type[T], table: Any, file: str, prefix: str = "") -> T:
    """Build ``cls`` from a TOML table, checking every key against the field rules."""
    if not isinstance(table, dict):
        raise ConfigError(file, prefix, table, "a table")
    hints = typing.get_type_hints(cls)
    # Only fields declared with param() come from files; others (e.g. ``source``) are internal.
    fields = {f.name: f for f in dataclasses.fields(cls) if "doc" in f.metadata}  # type: ignore[arg-type]
    for key in table:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(
                file, _join(prefix, key), table[key], f"one of the known keys: {known}"
            )
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(file, key, "<missing>", f"this key to be present ({_doc(f)})")
            continue
        values[name] = _convert(hints[name], table[name], file, key, f.metadata)
    obj = cls(**values)
    return obj


def _doc(f: dataclasses.Field[Any]) -> str:
    return f.metadata.get("doc") or f.name


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _convert(hint: Any, value: Any, file: str, key: str, meta: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        errors = []
        for option in options:
            try:
                return _convert(option, value, file, key, meta)
            except ConfigError as exc:
                choices = meta.get("choices") if meta else None
                if option is str and choices and not isinstance(value, str):
                    errors.append("one of " + ", ".join(repr(c) for c in choices))
                else:
                    errors.append(exc.expected)
        raise ConfigError(file, key, value, " or ".join(errors))
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(file, key, value, f"an array ({_type_name(hint)})")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(
                _convert(args[0], v, file, f"{key}[{i}]", meta) for i, v in enumerate(value)
            )
        if len(value) != len(args):
            raise ConfigError(file, key, value, f"an array of {len(args)} items")
        return tuple(
            _convert(a, v, file, f"{key}[{i}]", meta)
            for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if dataclasses.is_dataclass(hint):
        return build(hint, value, file, key)  # type: ignore[arg-type]
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(file, key, value, "a number" + _range_text(meta))
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(file, key, value, "a number" + _range_text(meta)) from None
        _check_range(value, file, key, meta, "a number")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(file, key, value, "an integer" + _range_text(meta))
        _check_range(value, file, key, meta, "an integer")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(file, key, value, "true or false")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(file, key, value, "a string")
        choices = meta.get("choices") if meta else None
        if choices and value not in choices:
            raise ConfigError(file, key, value, "one of " + ", ".join(repr(c) for c in choices))
        return value
    if hint is datetime:
        if not isinstance(value, datetime):
            raise ConfigError(file, key, value, "a TOML date-time such as 2026-12-21T00:00:00Z")
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def _range_text(meta: Any) -> str:
    if not meta:
        return ""
    parts = []
    for name, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if meta.get(name) is not None:
            parts.append(f"{sym} {meta[name]:g}")
    return (" " + " and ".join(parts)) if parts else ""


def _check_range(value: float, file: str, key: str, meta: Any, kind: str = "a number") -> None:
    if not math.isfinite(value):
        raise ConfigError(file, key, value, f"a finite {kind.split()[-1]}" + _range_text(meta))
    if not meta:
        return
    bad = (
        (meta.get("ge") is not None and not value >= meta["ge"])
        or (meta.get("gt") is not None and not value > meta["gt"])
        or (meta.get("le") is not None and not value <= meta["le"])
        or (meta.get("lt") is not None and not value < meta["lt"])
    )
    if bad:
        raise ConfigError(file, key, value, kind + _range_text(meta))


def describe(cls: type) -> list[tuple[str, str, str]]:
    """(key, type, doc) for every field of ``cls``, nested sections flattened; for docs."""
    rows: list[tuple[str, str, str]] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            rows.extend((f"{f.name}.{k}", t, d) for k, t, d in describe(hint))  # type: ignore[arg-type]
        else:
            rows.append((f.name, _type_name(hint) + _range_text(f.metadata), _doc(f)))
    return rows


def read_text_file(path: str | Path, what: str) -> str:
    """The text of a config file, or one ConfigError naming it (``what``: "scenario file")."""
    file = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, "", None, f"an existing {what} (not found)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", None, f"a UTF-8 text file (byte {exc.start} is not)") from None
    except OSError as exc:
        raise ConfigError(file, "", None, f"a readable {what} ({exc.strerror})") from None


def parse_toml(text: str, file: str) -> dict[str, Any]:
    """A TOML table, or one ConfigError naming the file and the line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", None, f"valid TOML ({exc})") from None
