"""``twin console`` and the console half of ``twin up``.

``twin console --url opc.tcp://… --user NAME`` asks for the password (or reads
``TWIN_PASSWORD``); ``--security`` takes an asyncua security string
(``Basic256Sha256,SignAndEncrypt,client_cert.der,client_key.pem``); ``--role`` is a hint that
disables controls the role may not use until the server says the role (it decides either way).
``--web`` serves the same console in a browser instead (:mod:`twin.console.web`, on 127.0.0.1,
``--web-port``).

``twin up`` (:func:`up_command`) runs the twin and its OPC UA server in a child process (``twin
up --headless``: drawing the console, which holds Python's GIL, never delays the plant, the
boards' polls or the publisher) and the console in the foreground; with ``--web``, the console
in a browser instead of the terminal.
The console logs in (:func:`console_login`) as the first-start ``operator``, on this start and
every later one, with the password kept in the state directory
(``console-credentials.json``, mode 0600, beside the hashed ``users.json``), or as ``--user``
(its password from ``--password``, ``TWIN_PASSWORD``, those credentials, or asked for). When it
cannot (no kept password, or one that no longer matches), the console says so and how to fix
it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import threading
from pathlib import Path

from twin.errors import TwinError

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


def console_login(args: argparse.Namespace, users_file: Path | None
                  ) -> tuple[str | None, str | None, str]:
    """Who the console of ``twin up`` logs in as: (user, password, notice). The notice is
    empty, or says why the console cannot log in and how to fix it (it then tries
    anonymously, which a twin refuses unless started with ``--anonymous``)."""
    from twin.opcua.users import CREDENTIALS_FILE, USERS_FILE, UserStore, load_credentials

    state = Path(args.state_dir)
    own_users = users_file is None  # the state dir's users.json
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
        return None, None, (f"✗ no login: the users come from {users_file}; "
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


# console-only options of twin up: not for its twin process (value-taking, then flags)
_CONSOLE_OPTIONS = ("--user", "--password", "--security", "--role", "--web-port", "--log-file")
_CONSOLE_FLAGS = ("--web", "--headless")
START_TIMEOUT_S = 120.0


def twin_argv(argv: list[str], log_file: Path) -> list[str]:
    """``twin up``'s own command line → its twin process's: ``--headless``, logging to
    ``log_file``, without the console's options (whose values are never passed on)."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in _CONSOLE_OPTIONS:
            skip = "=" not in a
            continue
        if name in _CONSOLE_FLAGS:
            continue
        out.append(a)
    return ["--log-file", str(log_file), *out, "--headless"]


class TwinProcess:
    """``twin up --headless`` as a child process: the twin, its stub boards and its OPC UA
    server, away from the console's process, so that drawing a screen (which holds Python's
    GIL for a good part of a second) never delays a board's poll or a publish. Its output is
    read on a thread; log lines go to the log file (the child writes them there too), the
    rest (the first-start passwords, where the recording went) is kept for the end."""

    def __init__(self, argv: list[str], log_file: Path) -> None:
        import subprocess

        self.log_file = log_file
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "twin.cli", *twin_argv(argv, log_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, start_new_session=True)  # its own session: no terminal keys
        self._reader = threading.Thread(target=self._read, name="twin-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("security: "):
                self.ready.set()  # printed once the server listens
            elif not line[:4].isdigit():  # not a log line: a message for the operator
                self.lines.append(line)
        self.ready.set()  # ended

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        if not self.ready.wait(timeout):
            self.stop()
            raise TwinError(f"the twin did not start within {timeout:g} s (its log: "
                            f"{self.log_file})")
        if self.proc.poll() is not None:
            self._reader.join(5)
            said = [ln for ln in self.lines if ln.strip()]
            raise TwinError(said[-1].removeprefix("twin up: ") if said else
                            f"the twin ended at start (exit {self.proc.returncode}; its log: "
                            f"{self.log_file})")

    def stop(self, timeout: float = 20.0) -> None:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # records and closes cleanly
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)

    def messages(self) -> list[str]:
        """What it said for the operator, without the start-up lines the console replaced."""
        return [ln for ln in self.lines if ln.strip() and not ln.startswith(
            ("OPC UA server listening", "twin up: interrupted"))]


def up_command(args: argparse.Namespace) -> int:
    """``twin up`` without ``--headless``: the twin in a child process (:class:`TwinProcess`),
    the console in the foreground (with ``--web``: served to a browser) until it quits.

    ``args`` carries :func:`twin.opcua.server.add_serve_arguments` options plus
    :func:`add_login_arguments`, and the command line (``args.argv``) the child's is made from.
    The embedded endpoint is loopback, so the None policy is offered (sessions still need a
    password); the console logs in as :func:`console_login` says. What the twin said for the
    operator (a first start's passwords, where it recorded) is printed after the console
    closes; its log is in the state directory's ``twin.log`` (or ``--log-file``).
    """
    from twin.console.app import ConsoleApp

    if getattr(args, "web", False):
        from twin.console.web import check_web_port

        check_web_port(args.web_port)  # before the twin starts
    state = Path(args.state_dir)
    log_file = Path(args.log_file) if getattr(args, "log_file", None) else state / "twin.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    twin = TwinProcess(list(getattr(args, "argv", None) or sys.argv[1:]), log_file)
    try:
        twin.wait_ready()
        url = args.endpoint
        user, password, notice = console_login(args, Path(args.users) if args.users else None)
        if getattr(args, "web", False):
            if notice:
                print(notice, file=sys.stderr)
            from twin.console.web import serve_console

            serve_console(url, user, password, args.security, args.role, args.web_port)
        else:
            ConsoleApp(url, user, password, args.security, args.role,
                       notice=notice or None).run()
            if notice:
                print(notice, file=sys.stderr)
    finally:
        twin.stop()
    for line in twin.messages():
        print(line)
    return 0
