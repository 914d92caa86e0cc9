"""Helpers for the OPC UA tests: users, free ports, clients."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from asyncua import Client

from twin.opcua.users import UserStore

PASSWORDS = {"vera": "viewer-pw", "otto": "operator-pw", "erin": "engineer-pw"}
ROLE = {"vera": "viewer", "otto": "operator", "erin": "engineer"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def users_file(directory: Path) -> Path:
    store = UserStore()
    for name, pw in PASSWORDS.items():
        store.add(name, pw, ROLE[name])
    return store.save(directory / "users.json")


@asynccontextmanager
async def connect(url: str, user: str | None = None, password: str | None = None,
                  security: str | None = None) -> AsyncIterator[Client]:
    client = Client(url, timeout=20)
    if user is not None:
        client.set_user(user)
        client.set_password(password if password is not None else PASSWORDS[user])
    if security:
        await client.set_security_string(security)
    async with client:
        yield client
