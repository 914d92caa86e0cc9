"""The console in a browser: ``twin console --web`` and ``twin up --web``, via textual-serve.

textual-serve runs a small aiohttp server. Its page draws a terminal (xterm.js) and opens a
websocket; for every page that connects it starts one console process of its own —
``python -m twin.cli console --url … [--user …] [--security …] [--role …]`` — and carries the
keys and the screen between the two. Closing the tab ends that console; Ctrl-C (or SIGTERM)
ends the server and the consoles it started (one that does not quit within seconds is
terminated).

The server listens on 127.0.0.1 only and has no login of its own: whoever can open the page
gets a console logged in as the user given here, so it is for the operator's own machine (or a
browser reaching it through an SSH tunnel), never for a shared network. The password reaches the
console processes in ``TWIN_PASSWORD`` (their environment), never on a command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import socket
import sys
import time
from typing import Any, ClassVar

from twin.errors import TwinError

WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8484
SHUTDOWN_S = 10.0  # open pages' consoles get this long to quit when the server stops


def add_web_arguments(p: argparse.ArgumentParser) -> None:
    """``--web`` and ``--web-port``, for ``twin console`` and ``twin up``."""
    p.add_argument("--web", action="store_true", help="serve the console in a browser "
                   f"(textual-serve) on http://{WEB_HOST}:PORT/ instead of this terminal; "
                   "each page opened gets its own console")
    p.add_argument("--web-port", type=int, default=DEFAULT_WEB_PORT, metavar="PORT",
                   help=f"port for --web, on {WEB_HOST} only (default {DEFAULT_WEB_PORT})")


def console_argv(url: str, user: str | None = None, security: str | None = None,
                 role: str | None = None) -> list[str]:
    """The command each browser page runs: ``twin console`` with these options (no password)."""
    argv = [sys.executable, "-m", "twin.cli", "console", "--url", url]
    for option, value in (("--user", user), ("--security", security), ("--role", role)):
        if value is not None:
            argv += [option, value]
    return argv


def web_url(port: int) -> str:
    return f"http://{WEB_HOST}:{port}/"


def serve_console(url: str, user: str | None, password: str | None, security: str | None,
                  role: str | None, port: int = DEFAULT_WEB_PORT) -> int:
    """Serve ``twin console`` for ``url`` in a browser on ``port`` until Ctrl-C or SIGTERM.

    Runs in the main thread (it installs the signal handlers) on an event loop of its own.
    """
    try:
        from textual_serve.server import Server
    except ImportError as exc:
        raise TwinError("--web needs the textual-serve package: "
                        ".venv/bin/pip install textual-serve") from exc
    check_web_port(port)
    if user is not None and password is not None:
        os.environ["TWIN_PASSWORD"] = password  # inherited by each page's console

    class ConsoleServer(Server):
        pages: ClassVar[set[asyncio.Task[Any]]] = set()

        async def on_startup(self, app: Any) -> None:
            print(f"orbital-twin console for {url} at {web_url(port)} "
                  f"(listening on {WEB_HOST} only; Ctrl-C to stop)", flush=True)

        async def handle_websocket(self, request: Any) -> Any:
            task = asyncio.current_task()
            assert task is not None
            self.pages.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self.pages.discard(task)

        async def on_shutdown(self, app: Any) -> None:
            # End each page now: textual-serve then asks its console to quit and waits for it.
            for task in self.pages:
                task.cancel()

    argv = console_argv(url, user, security, role)
    # textual-serve runs the command through a shell; exec makes each console its child.
    server = ConsoleServer("exec " + shlex.join(argv), host=WEB_HOST, port=port,
                           title="orbital-twin console")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        _run(server, loop)
    except OSError as exc:
        raise TwinError(f"--web: could not listen on {web_url(port)}: {exc}") from exc
    finally:
        end_consoles(argv)
        asyncio.set_event_loop(None)
        loop.close()
    return 0


def _run(server: Any, loop: asyncio.AbstractEventLoop) -> None:
    """``Server.serve`` without its banner and logging set-up, and with a shutdown that ends
    the open pages at once (textual-serve's own waits aiohttp's default 60 s for them; 61 s
    measured with one page open)."""
    from aiohttp import web

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_exit)
    try:
        web.run_app(server._make_app(), host=server.host, port=server.port,
                    handle_signals=False, loop=loop, print=None,
                    shutdown_timeout=SHUTDOWN_S)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def end_consoles(argv: list[str], wait_s: float = 3.0) -> None:
    """SIGTERM, then SIGKILL, the page consoles still running once the server has stopped
    (textual-serve asks each to quit and waits for it, but gives up on one that hangs)."""
    left = [pid for pid in _children() if _cmdline(pid) == argv]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        end = time.monotonic() + wait_s
        while left and time.monotonic() < end:
            time.sleep(0.05)
            left = [pid for pid in left if _running(pid)]
        if not left:
            return


def _children() -> set[int]:
    """This process's children (Linux /proc; empty elsewhere)."""
    kids: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/children") as f:
                kids |= {int(k) for k in f.read().split()}
    return kids


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a child's watcher thread reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def check_web_port(port: int) -> None:
    """Raise :class:`TwinError` unless ``port`` is free on 127.0.0.1 (before anything starts)."""
    if not 0 < port < 65536:
        raise TwinError(f"--web-port {port}: expected a port number from 1 to 65535")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((WEB_HOST, port))
        except OSError as exc:
            raise TwinError(f"--web-port {port}: {WEB_HOST}:{port} is in use ({exc.strerror}); "
                            "choose another port with --web-port") from exc
