"""`twin users`: add, change, remove and list users; passwords never on the command line."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from twin.errors import TwinError
from twin.opcua.users import CREDENTIALS_FILE, UserStore, first_start_users, load_credentials

ROOT = Path(__file__).resolve().parents[2]


def twin(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twin.cli", *args], input=stdin, text=True,
                          capture_output=True, cwd=ROOT, timeout=60)


def test_add_list_change_and_remove(tmp_path):
    state = str(tmp_path)
    out = twin("users", "--state-dir", state, "add", "ana", "--role", "operator",
               "--password-stdin", stdin="correct horse battery\n")
    assert out.returncode == 0, out.stderr
    path = tmp_path / "users.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    store = UserStore.load(path)
    assert store.authenticate("ana", "correct horse battery").twin_role == "operator"
    assert store.authenticate("ana", "wrong password!") is None
    assert "correct horse" not in path.read_text()

    twin("users", "--state-dir", state, "add", "ana", "--role", "engineer", "--password-stdin",
         stdin="another long secret\n")
    assert UserStore.load(path).authenticate("ana", "another long secret").twin_role == \
        "engineer"
    listed = twin("users", "--state-dir", state, "list").stdout
    assert "ana\tengineer" in listed and "anonymous\trefused" in listed

    assert twin("users", "--state-dir", state, "remove", "ana").returncode == 0
    assert UserStore.load(path).users == {}


def test_short_passwords_unknown_roles_and_users_are_refused(tmp_path):
    state = str(tmp_path)
    short = twin("users", "--state-dir", state, "add", "bo", "--role", "viewer",
                 "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    role = twin("users", "--state-dir", state, "add", "bo", "--role", "admin",
                "--password-stdin", stdin="long enough pass\n")
    assert role.returncode == 2 and "invalid choice: 'admin'" in role.stderr
    gone = twin("users", "--state-dir", state, "remove", "nobody")
    assert gone.returncode == 2 and "no user 'nobody'" in gone.stderr


def test_first_start_keeps_the_new_passwords_for_the_console_in_a_private_file(tmp_path):
    _store, created = first_start_users(tmp_path)
    creds = tmp_path / CREDENTIALS_FILE
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    assert load_credentials(tmp_path) == created
    again, created_again = first_start_users(tmp_path)  # a later start: kept as they were
    assert created_again == {} and load_credentials(tmp_path) == created
    for name, password in load_credentials(tmp_path).items():
        assert again.authenticate(name, password).twin_role == name
    assert not list(tmp_path.glob("*.tmp"))  # written whole, then renamed


def test_a_state_dir_without_kept_passwords_has_none(tmp_path):
    assert load_credentials(tmp_path) == {}
    (tmp_path / CREDENTIALS_FILE).write_text("{not json")
    with pytest.raises(TwinError, match="not valid JSON"):
        load_credentials(tmp_path)
