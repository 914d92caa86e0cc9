"""Where the twin's log goes: one place, set up once by the ``twin`` command.

What is logged: every command through the command path (who, role, arguments, result;
:mod:`twin.commands`), the boards' link failures (first one at WARNING, repeats at DEBUG,
recovery at INFO; :mod:`hil.poller`), fault forwarding to stub boards, and errors.

- Long-running twins (``twin serve``, ``twin up --headless``, ``twin replay``) log to standard
  error at INFO, as a service manager or a lab's terminal expects.
- ``twin up`` with its console in the foreground cannot write to the terminal (it would break
  the screen): it logs to ``<state dir>/twin.log`` instead, and says so when it exits.
- Every other command logs warnings and errors to standard error.

``--log-level`` (DEBUG, INFO, WARNING, ERROR) overrides the level; ``--log-file`` sends the log
to a file as well. asyncua's own INFO chatter (session timeouts, secure channels) is kept at
WARNING unless the level is DEBUG.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SERVICES = ("serve", "replay")


def setup(command: str, headless: bool = False, state_dir: str | Path | None = None,
          level: str | None = None, log_file: str | Path | None = None) -> Path | None:
    """Configure the root logger for ``command``; returns the file the log goes to, if any."""
    service = command in SERVICES or (command == "up" and headless)
    console = command == "up" and not headless
    chosen = getattr(logging, (level or ("INFO" if service or console else "WARNING")).upper())
    handlers: list[logging.Handler] = []
    target: Path | None = None
    if console:
        target = Path(state_dir or "state") / "twin.log"
    elif log_file is not None:
        target = Path(log_file)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(target, encoding="utf-8"))
    if not console:
        handlers.append(logging.StreamHandler(sys.stderr))
    for h in handlers:
        h.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=chosen, handlers=handlers, force=True)
    if chosen > logging.DEBUG:
        logging.getLogger("asyncua").setLevel(max(chosen, logging.WARNING))
    return target
