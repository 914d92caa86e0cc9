"""Users, roles and what each role may do over OPC UA.

The users file is JSON (``users.json`` in the state directory by default)::

    {"anonymous": false,
     "users": {"ana": {"role": "operator", "scrypt": {"n": 16384, "r": 8, "p": 1},
                       "salt": "<hex>", "hash": "<hex>"}}}

Passwords are stored as salted scrypt hashes (:func:`hashlib.scrypt`, 16-byte random salt,
n=2¹⁴, r=8, p=1) and compared in constant time. Roles are the command path's: viewer (browse,
read, subscribe, history), operator (commands, time control), engineer (faults, scenarios,
checkpoints). Anonymous sessions are refused unless ``"anonymous": true``, and are then viewers.

First start (:func:`first_start_users`): a state directory without a users file gets an
``operator`` and an ``engineer`` with random passwords. Besides their hashes in ``users.json``
the passwords themselves are kept in ``console-credentials.json`` next to it (mode 0600, like
the server's private key): the console of ``twin up`` logs in with them on every start
(:func:`load_credentials`), and ``twin up``/``twin serve`` show them once.

:class:`TwinUserManager` is asyncua's user-manager hook; :class:`RolePermissions` is the
permission ruleset applied to every request on every secured endpoint: viewers may not Write
(all twin variables are read-only anyway); Call passes to the methods, where the one command
path checks the role of each command. It also records the request's user in
:data:`CURRENT_USER` so that method callbacks (which asyncua calls without the session) know
who is calling: asyncua checks permissions and then runs the request in the same task.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.crypto.permission_rules import USER_TYPES, PermissionRuleset, User, UserRole

from twin.commands import ROLES
from twin.errors import TwinError

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
USERS_FILE = "users.json"
CREDENTIALS_FILE = "console-credentials.json"


@dataclass
class TwinUser(User):
    """An authenticated OPC UA user with its twin role."""

    twin_role: str = "viewer"


CURRENT_USER: contextvars.ContextVar[TwinUser | None] = contextvars.ContextVar(
    "twin_opcua_user", default=None)


def hash_password(password: str, salt: bytes | None = None,
                  params: dict[str, int] | None = None) -> dict[str, Any]:
    salt = salt if salt is not None else secrets.token_bytes(16)
    p = params or SCRYPT
    digest = hashlib.scrypt(password.encode(), salt=salt, n=p["n"], r=p["r"], p=p["p"],
                            maxmem=128 * p["n"] * p["r"] * 2, dklen=32)
    return {"scrypt": dict(p), "salt": salt.hex(), "hash": digest.hex()}


def verify_password(password: str, entry: dict[str, Any]) -> bool:
    try:
        salt = bytes.fromhex(entry["salt"])
        want = bytes.fromhex(entry["hash"])
        got = hash_password(password, salt, entry.get("scrypt", SCRYPT))["hash"]
    except (KeyError, ValueError, TypeError):
        return False
    return hmac.compare_digest(bytes.fromhex(got), want)


@dataclass
class UserStore:
    """The users file in memory; :meth:`save` writes it with mode 0600."""

    path: Path | None = None
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    anonymous: bool = False

    @classmethod
    def load(cls, path: Path) -> UserStore:
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise TwinError(f"{path}: cannot read the users file ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise TwinError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        users = data.get("users", {})
        if not isinstance(users, dict):
            raise TwinError(f"{path}: users: expected a table of name → entry")
        for name, entry in users.items():
            if not isinstance(entry, dict) or entry.get("role") not in ROLES:
                raise TwinError(f"{path}: users.{name}.role = {entry!r:.40}: expected one of "
                                f"{', '.join(ROLES)}")
        return cls(path, users, bool(data.get("anonymous", False)))

    def add(self, name: str, password: str, role: str) -> None:
        if role not in ROLES:
            raise TwinError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        if not name or len(name) > 64:
            raise TwinError(f"user name {name!r}: expected 1 to 64 characters")
        self.users[name] = {"role": role, **hash_password(password)}

    def authenticate(self, name: str | None, password: str | None) -> TwinUser | None:
        if name is None:
            return TwinUser(UserRole.User, "anonymous", "viewer") if self.anonymous else None
        entry = self.users.get(name)
        if entry is None or password is None:
            hash_password(password or "")  # same time for unknown users
            return None
        if not verify_password(password, entry):
            return None
        return TwinUser(UserRole.User, name, entry["role"])

    def save(self, path: Path | None = None) -> Path:
        path = path or self.path
        if path is None:
            raise TwinError("users file: no path to save to")
        write_private(path, {"anonymous": self.anonymous, "users": self.users})
        self.path = path
        return path


def write_private(path: Path, data: object) -> None:
    """``data`` as JSON in ``path``, mode 0600, atomically (a temporary file beside it,
    renamed over it: a reader sees the old file or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def first_start_users(state_dir: Path) -> tuple[UserStore, dict[str, str]]:
    """The state dir's users file; on first start create operator + engineer with random
    passwords, keep the passwords for the console (:data:`CREDENTIALS_FILE`, mode 0600) and
    return them (name → password) so the caller can show them once."""
    path = state_dir / USERS_FILE
    if path.exists():
        return UserStore.load(path), {}
    store = UserStore(path)
    created = {}
    for name in ("operator", "engineer"):
        created[name] = secrets.token_urlsafe(12)
        store.add(name, created[name], name)
    write_private(state_dir / CREDENTIALS_FILE, {"users": created})  # before users.json:
    store.save()  # a users file always has its credentials (unless someone removed them)
    return store, created


def load_credentials(state_dir: Path) -> dict[str, str]:
    """The first-start passwords kept for the console (name → password); empty if the state
    dir has none (made before they were kept, or the file was removed). TwinError if the file
    is unreadable or not what :func:`first_start_users` writes."""
    path = state_dir / CREDENTIALS_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise TwinError(f"{path}: cannot read the console's credentials ({exc.strerror})"
                        ) from None
    except json.JSONDecodeError as exc:
        raise TwinError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno}); delete it "
                        "and log in with --user") from None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict) or not all(isinstance(v, str) for v in users.values()):
        raise TwinError(f"{path}: users: expected a table of name → password")
    return dict(users)


class TwinUserManager:
    """asyncua user-manager hook: username/password against the store."""

    def __init__(self, store: UserStore) -> None:
        self.store = store

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        return self.store.authenticate(username, password)


_ALL = frozenset(ua.NodeId(i) for i in USER_TYPES)
_VIEWER = _ALL - {ua.NodeId(ua.ObjectIds.WriteRequest_Encoding_DefaultBinary)}


class RolePermissions(PermissionRuleset):
    def check_validity(self, user: Any, action_type_id: ua.NodeId, body: Any) -> bool:
        if not isinstance(user, TwinUser):
            CURRENT_USER.set(None)
            return False
        CURRENT_USER.set(user)
        allowed = _VIEWER if user.twin_role == "viewer" else _ALL
        return action_type_id in allowed
