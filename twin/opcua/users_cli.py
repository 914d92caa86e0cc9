"""``twin users``: manage the OPC UA users file (add, remove, list).

Passwords never appear on the command line (where ``ps`` and shell history would keep them):
``add`` asks for one twice on a terminal, or reads one line from standard input with
``--password-stdin`` for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from twin.commands import ROLES
from twin.errors import TwinError
from twin.opcua.users import USERS_FILE, UserStore

MIN_PASSWORD = 10


def add_users_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", default="state", help="state directory (default ./state)")
    p.add_argument("--users", default=None, help=f"users file (default STATE_DIR/{USERS_FILE})")
    sub = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a user or change a user's password and role")
    add.add_argument("name", help="user name")
    add.add_argument("--role", required=True, choices=ROLES, help="viewer, operator or engineer")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    rm = sub.add_parser("remove", help="remove a user")
    rm.add_argument("name", help="user name")
    sub.add_parser("list", help="list users and their roles")


def users_command(args: argparse.Namespace) -> int:
    path = Path(args.users) if args.users else Path(args.state_dir) / USERS_FILE
    store = UserStore.load(path) if path.exists() else UserStore(path)
    if args.users_command == "list":
        for name, entry in sorted(store.users.items()):
            print(f"{name}\t{entry['role']}")
        print(f"anonymous\t{'viewer' if store.anonymous else 'refused'}")
        return 0
    if args.users_command == "remove":
        if args.name not in store.users:
            raise TwinError(f"{path}: no user {args.name!r}")
        del store.users[args.name]
        store.save()
        print(f"removed {args.name!r} from {path}")
        return 0
    password = _read_password(args.password_stdin)
    store.add(args.name, password, args.role)
    store.save()
    print(f"{args.name!r} is now {args.role} in {path}")
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise TwinError("the two passwords differ")
    if len(password) < MIN_PASSWORD:
        raise TwinError(f"password: expected at least {MIN_PASSWORD} characters")
    return password
