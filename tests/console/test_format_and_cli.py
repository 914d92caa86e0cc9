"""How odd values are shown, and the console's command-line options (no server needed)."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys

import pytest

from twin.console import fmt
from twin.console.cli import _password, add_console_arguments
from twin.console.control import connection_hint, describe_outputs
from twin.console.link import Reading, role_allows
from twin.console.records import arg_info, plain_description
from twin.console.widgets import fit_status
from twin.errors import TwinError


def test_bad_nan_missing_and_uncertain_values_are_shown_for_what_they_are():
    f = fmt.number(1, "%")
    assert fmt.show(Reading(None, "BadNoCommunication"), f) == "— BadNoCommunication"
    assert fmt.show(Reading(math.nan), f) == "—"
    assert fmt.show(None, f) == "…"
    assert fmt.show(Reading(12.34, "UncertainSubstitute"), f) == "12.3 % (UncertainSubstitute)"
    assert fmt.show(Reading("not a number"), f) == "—"
    assert fmt.kw(93_212.0) == "93.2 kW"
    assert fmt.sim_clock(93_784.0) == "1d 02:03:04"


def test_roles_order_viewer_operator_engineer_and_unknown_may_try():
    assert role_allows("engineer", "operator") and not role_allows("viewer", "operator")
    assert role_allows(None, "engineer")


def test_console_options_and_a_missing_password_without_a_terminal(monkeypatch):
    p = argparse.ArgumentParser()
    add_console_arguments(p)
    args = p.parse_args(["--url", "opc.tcp://127.0.0.1:4841/x/", "--user", "otto",
                         "--role", "operator"])
    assert (args.url, args.user, args.role, args.security) == (
        "opc.tcp://127.0.0.1:4841/x/", "otto", "operator", None)
    monkeypatch.setenv("TWIN_PASSWORD", "from-env")
    assert _password(args) == "from-env"
    monkeypatch.delenv("TWIN_PASSWORD")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(TwinError, match="no password for 'otto'"):
        _password(args)
    with pytest.raises(SystemExit):
        p.parse_args(["--role", "admin"])


def test_the_app_starts_without_importing_asyncua():
    """asyncua takes ~0.7 s to import: the link loads it in a thread while the first screen is
    drawn, so importing the app (and every screen) must not."""
    code = ("import sys, twin.console.app; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'asyncua'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_commands_description_loses_its_role_and_hazard_marks_and_names_its_choices():
    assert plain_description("Set a coolant pump's speed. Role: operator. Hazardous.") == \
        "Set a coolant pump's speed."
    mode = arg_info("mode", "str", "heater mode, one of auto, off, on")
    assert mode.choices == ("auto", "off", "on") and not mode.optional
    params = arg_info("params", "str", "parameters as a JSON object (optional: empty for the "
                      "default)")
    assert params.choices == () and params.optional


def test_the_status_line_fits_80_columns_and_keeps_the_retry_delay():
    why = "login refused (BadUserAccessDenied) and a long explanation of it " * 2
    line = fit_status(78, f"✗ DISCONNECTED: {why}", "engineer (engineer)",
                      "sim 2026-12-21 00:00:00 UTC", "", " · retry 5s")
    assert len(line) <= 78 and line.startswith("✗ DISCONNECTED: login refused")
    assert "… · retry 5s │ engineer (engineer)" in line
    wide = fit_status(78, "● connected", "engineer (engineer)", "sim 2026-12-21 00:00:00 UTC",
                      "running ×1000")
    assert wide == "● connected │ engineer (engineer) │ sim 2026-12-21 00:00:00 │ running ×1000"


def test_command_outputs_are_named_scalars_or_json_for_a_dialog():
    assert describe_outputs(["FaultId"], [7]) == (" · FaultId 7", [])
    text, data = describe_outputs(["Faults"], ['[{"id": 1}, {"id": 2}]'])
    assert text == " · Faults: 2 entries" and data == [[{"id": 1}, {"id": 2}]]
    assert describe_outputs(["Identity"], ['{"user": "otto", "role": "operator"}'])[0] == \
        " · user=otto role=operator"
    assert "--security" in connection_hint("BadSecurityPolicyRejected", None)
    assert connection_hint("BadSecurityPolicyRejected", "Basic256Sha256,...") == ""
