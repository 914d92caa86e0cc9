"""``twin console`` and the console half of ``twin up``.

``twin console --url opc.tcp://… --user NAME`` asks for the password (or reads
``TWIN_PASSWORD``); ``--security`` takes an asyncua security string
(``Basic256Sha256,SignAndEncrypt,client_cert.der,client_key.pem``); ``--role`` is a hint that
disables controls the role may not use until the server says the role (it decides either way).
``--web`` serves the same console in a browser instead (:mod:`twin.console.web`, on 127.0.0.1,
``--web-port``).

``twin up`` (:func:`up_command`) runs the twin and its OPC UA server on a thread of their own
(their own event loop, so drawing the console never delays the plant or the publisher) and the
console in the foreground; with ``--web``, the console in a browser instead of the terminal.
The console logs in (:func:`console_login`) as the first-start ``operator``, on this start and
every later one, with the password kept in the state directory
(``console-credentials.json``, mode 0600, beside the hashed ``users.json``), or as ``--user``
(its password from ``--password``, ``TWIN_PASSWORD``, those credentials, or asked for). When it
cannot (no kept password, or one that no longer matches), the console says so and how to fix
it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from twin.errors import TwinError

if TYPE_CHECKING:
    from twin.opcua.server import TwinServer

DEFAULT_URL = "opc.tcp://127.0.0.1:4840/orbital-twin/"


def add_console_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=DEFAULT_URL, help=f"OPC UA endpoint (default {DEFAULT_URL})")
    add_login_arguments(p)


def add_login_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``twin console`` and ``twin up``: the login, and ``--web``."""
    p.add_argument("--user", default=None, help="OPC UA user (default: anonymous)")
    p.add_argument("--password", default=None, help="password (default: $TWIN_PASSWORD, or "
                   "asked for)")
    p.add_argument("--security", default=None, metavar="STRING", help="asyncua security "
                   "string, e.g. Basic256Sha256,SignAndEncrypt,cert.der,key.pem (default: None "
                   "policy, loopback servers only)")
    p.add_argument("--role", choices=("viewer", "operator", "engineer"), default=None,
                   help="your role, as a hint until connected: controls it may not use are "
                   "disabled (the server decides either way, and says the role once connected; "
                   "a twin without WhoAmI: its first refusal does)")
    from twin.console.web import add_web_arguments

    add_web_arguments(p)


def _password(args: argparse.Namespace, kept: dict[str, str] | None = None) -> str | None:
    """``--user``'s password: ``--password``, ``TWIN_PASSWORD``, ``kept`` (the state dir's
    credentials), or asked for on a terminal."""
    if args.user is None:
        return None
    if args.password is not None:
        return str(args.password)
    env = os.environ.get("TWIN_PASSWORD")
    if env is not None:
        return env
    if kept and args.user in kept:
        return kept[args.user]
    if not sys.stdin.isatty():
        raise TwinError(f"no password for {args.user!r}: use --password or TWIN_PASSWORD")
    return getpass.getpass(f"OPC UA password for {args.user}: ")


def console_command(args: argparse.Namespace) -> int:
    """``twin console``: the console against any running twin until q (``--web``: in a
    browser, until Ctrl-C)."""
    if getattr(args, "web", False):
        from twin.console.web import serve_console

        return serve_console(args.url, args.user, _password(args), args.security, args.role,
                             args.web_port)
    from twin.console.app import ConsoleApp

    app = ConsoleApp(args.url, args.user, _password(args), args.security, args.role)
    app.run()
    return 0


def console_login(args: argparse.Namespace, server: TwinServer
                  ) -> tuple[str | None, str | None, str]:
    """Who the console of ``twin up`` logs in as: (user, password, notice). The notice is
    empty, or says why the console cannot log in and how to fix it (it then tries
    anonymously, which a twin refuses unless started with ``--anonymous``)."""
    from twin.opcua.users import CREDENTIALS_FILE, USERS_FILE, UserStore, load_credentials

    state = Path(args.state_dir)
    own_users = server.options.users_file is None  # the state dir's users.json
    kept: dict[str, str] = {}
    problem = ""
    if own_users:
        try:
            kept = load_credentials(state)
        except TwinError as exc:
            problem = str(exc)
    if args.user is not None:
        return args.user, _password(args, kept), ""
    creds, users = state / CREDENTIALS_FILE, state / USERS_FILE
    fresh = (f"add a user with `twin users --state-dir {state} add NAME --role operator` "
             f"and start with --user NAME, or delete {state} for new first-start users")
    if not own_users:
        return None, None, (f"✗ no login: the users come from {server.options.users_file}; "
                            "start with --user NAME (a user of that file)")
    if problem:
        return None, None, f"✗ no login: {problem}"
    password = kept.get("operator")
    if password is None:
        return None, None, (f"✗ no login: {creds} has no operator password (a state dir "
                            f"from before it was kept, or the file was removed): {fresh}")
    try:
        matches = UserStore.load(users).authenticate("operator", password) is not None
    except TwinError as exc:
        return None, None, f"✗ no login: {exc}"
    if not matches:
        return None, None, (f"✗ no login: the operator password kept in {creds} no longer "
                            f"matches {users} (changed with `twin users add`?): start with "
                            f"--user operator (asks for it), or {fresh}")
    return "operator", password, ""


def up_command(args: argparse.Namespace) -> int:
    """``twin up`` without ``--headless``: server on a thread, console in the foreground.

    ``args`` carries :func:`twin.opcua.server.add_serve_arguments` options plus
    :func:`add_login_arguments`. The embedded endpoint is loopback, so the None policy is
    offered (sessions still need a password); the console logs in as :func:`console_login`
    says, and a first start's new passwords are printed after it closes.
    """
    from twin.console.app import ConsoleApp
    from twin.embedded import EmbeddedBoards
    from twin.opcua.server import ServerOptions, TwinServer, is_loopback, twin_from_args
    from twin.recording import LiveTelemetry

    if getattr(args, "web", False):
        from twin.console.web import check_web_port

        check_web_port(args.web_port)  # before the twin starts
    twin, _ = twin_from_args(args)  # with the stub boards' hil.* channels
    telemetry = LiveTelemetry(twin, args)  # run store, and InfluxDB when configured
    options = ServerOptions(endpoint=args.endpoint, state_dir=Path(args.state_dir),
                            users_file=Path(args.users) if args.users else None,
                            allow_none=args.allow_none or is_loopback(args.endpoint),
                            anonymous=True if args.anonymous else None,
                            trust_new=args.trust_new)
    server = TwinServer(twin, options)
    ready = threading.Event()
    failed: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run_server() -> None:
        try:
            await server.start()
        except BaseException as exc:
            failed.append(exc)
            ready.set()
            return
        ready.set()
        try:
            async with EmbeddedBoards(twin):  # the stub boards on wires, as `twin up --headless`
                await twin.run(stop)
        finally:
            await server.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(run_server(),),
                              name="twin-server", daemon=True)
    thread.start()
    ready.wait(60)
    if failed:
        raise TwinError(f"twin up: the OPC UA server did not start: {failed[0]}")
    try:
        user, password, notice = console_login(args, server)
        if getattr(args, "web", False):
            if notice:
                print(notice, file=sys.stderr)
            from twin.console.web import serve_console

            serve_console(server.url, user, password, args.security, args.role, args.web_port)
        else:
            ConsoleApp(server.url, user, password, args.security, args.role,
                       notice=notice or None).run()
            if notice:
                print(notice, file=sys.stderr)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        if not thread.is_alive():
            loop.close()
        done = telemetry.close()
        if done:
            print(done)
    state = Path(args.state_dir)
    for name, pw in server.created_users.items():
        print(f"created OPC UA user {name!r} with password {pw!r} (shown once; stored hashed "
              f"in {state / 'users.json'}, and kept for the console of twin up in "
              f"{state / 'console-credentials.json'}, mode 0600)")
    return 0
