"""`twin up`'s console logs in with the first-start operator's password kept in the state
directory, on the first start and on every later one; when it cannot, it says why and how to
fix it. The server is a real one on loopback, with the state directory's own users file."""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from _console import connected, free_port, shown, until

from twin.config import load_satellite
from twin.console.app import ConsoleApp
from twin.console.cli import console_login
from twin.opcua.server import ServerOptions, TwinServer
from twin.opcua.users import CREDENTIALS_FILE, UserStore
from twin.runtime import Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")


@asynccontextmanager
async def up_server(state: Path) -> AsyncIterator[TwinServer]:
    """The server as `twin up` makes it: users from the state dir, created on first start."""
    twin = Twin(load_satellite().config, state_dir=state)
    srv = TwinServer(twin, ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/up/",
                                         state_dir=state, allow_none=True))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def up_args(state: Path, user: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(state_dir=str(state), user=user, password=None)


async def logged_in_as_operator(srv: TwinServer, state: Path) -> None:
    user, password, notice = console_login(up_args(state), srv.options.users_file)
    assert (user, notice) == ("operator", "")
    app = ConsoleApp(srv.url, user, password)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await until(pilot, lambda: "operator (operator)" in shown(pilot, "#status"), "the role")


async def test_a_second_start_on_the_same_state_dir_logs_the_console_in_again(tmp_path: Path):
    state = tmp_path / "state"
    async with up_server(state) as first:
        assert set(first.created_users) == {"operator", "engineer"}
        await logged_in_as_operator(first, state)
    creds = state / CREDENTIALS_FILE
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    assert first.created_users["operator"] in creds.read_text()
    async with up_server(state) as second:
        assert second.created_users == {}  # nothing new: the kept password serves
        await logged_in_as_operator(second, state)
        # --user engineer: its kept password too, no prompt
        user, password, notice = console_login(up_args(state, "engineer"),
                                               second.options.users_file)
        assert (user, password, notice) == ("engineer", first.created_users["engineer"], "")


async def test_a_changed_or_missing_password_is_said_with_how_to_fix_it(tmp_path: Path):
    state = tmp_path / "state"
    async with up_server(state) as srv:
        store = UserStore.load(state / "users.json")
        store.add("operator", "changed by twin users", "operator")  # as `twin users add`
        store.save()
        user, _, notice = console_login(up_args(state), srv.options.users_file)
        assert user is None
        assert "no longer matches" in notice and "--user operator" in notice
        app = ConsoleApp(srv.url, user, None, notice=notice)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "no longer matches" in shown(pilot, "#answer"),
                        "the notice")
            await until(pilot, lambda: "DISCONNECTED" in shown(pilot, "#status"), "refused")
            assert "no longer matches" in shown(pilot, "#answer")  # it stays
        (state / CREDENTIALS_FILE).unlink()
        _, _, notice = console_login(up_args(state), srv.options.users_file)
        assert "has no operator password" in notice
        assert f"twin users --state-dir {state} add NAME --role operator" in notice
        assert f"delete {state}" in notice
