"""The console's commands: roles, the command palette, forms, confirmations and answers.

:class:`Control` is the part of :class:`~twin.console.app.ConsoleApp` that sends commands: it
knows the role (from the server's ``WhoAmI`` once connected, else ``--role`` or a refusal's
message), disables what the role may not use (with the reason), opens a command's form (choices
where the server names the values, the active faults for ``ClearFault``, the fault kinds for
``InjectFault``), asks before a hazardous one, and shows the server's answer: the message and
status, a scalar output such as InjectFault's new fault id on the answer line, a JSON list
(ListFaults, ListScenarios, ...) in a dialog.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from twin.console.link import variant_type
from twin.console.records import ROLES, MethodInfo, Outcome, Reading, role_allows
from twin.console.screens_dialogs import Choices, CommandForm, ConfirmScreen, OutputScreen, question

if TYPE_CHECKING:
    from twin.console.app import ConsoleApp
    from twin.console.link import Link

SPEEDS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0, 1000.0)
TIME_COMMANDS = {"pause": "Pause", "resume": "Resume", "step": "Step", "faster": "SetSpeed",
                 "slower": "SetSpeed"}
SIM_METHODS = frozenset({"Pause", "Resume", "Step", "SetSpeed", "RunUntil", "SaveCheckpoint",
                         "RestoreCheckpoint", "ListScenarios", "LoadScenario", "StartScenario",
                         "StopScenario", "ScenarioStatus"})
# The role each command needs, for a server whose commands are not read yet (or not found):
# the twin's own (its method descriptions say so once read).
VIEWER_COMMANDS = frozenset({"ListFaults", "ListFaultKinds", "ListAlarms", "ListScenarios",
                             "ScenarioStatus", "WhoAmI"})
ENGINEER_COMMANDS = frozenset({"InjectFault", "ClearFault", "LoadScenario", "StartScenario",
                               "StopScenario", "SaveCheckpoint", "RestoreCheckpoint"})
_REFUSED_ROLE = re.compile(r"needs the (\w+) role; .* is (viewer|operator|engineer)\b")


def connection_hint(detail: str, security: str | None) -> str:
    """What to do about a refused connection ('' when there is nothing to say)."""
    if "BadSecurityPolicyRejected" in detail and not security:
        return ("✗ this server has no unencrypted (None) endpoint: connect with --security "
                "Basic256Sha256,SignAndEncrypt,CERT.der,KEY.pem, and have the server trust "
                "that certificate (start it once with --trust-new, or copy the certificate "
                "into its STATE/pki/trusted/)")
    if any(code in detail for code in ("BadCertificateUntrusted", "BadSecurityChecksFailed",
                                       "BadCertificateInvalid")):
        return ("✗ the server does not trust this console's certificate: start it once with "
                "--trust-new, or move the certificate from its STATE/pki/rejected/ to "
                "STATE/pki/trusted/")
    if detail.startswith("login refused"):
        return ("✗ login refused: check --user and the password (`twin users list` on the "
                "server's machine; twin up keeps its first-start passwords in "
                "STATE/console-credentials.json)")
    return ""


def output_json(value: Any) -> Any:
    """A command output that is a JSON list or object, parsed; None otherwise."""
    if not isinstance(value, str) or value.lstrip()[:1] not in ("[", "{"):
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, list | dict) else None


def describe_outputs(names: Iterable[str], outputs: Iterable[Any]) -> tuple[str, list[Any]]:
    """The outputs after the message: scalars as ``· Name value`` for the answer line, and
    the JSON lists and objects (for a dialog)."""
    text, data = "", []
    names = list(names)
    for k, value in enumerate(outputs):
        name = names[k] if k < len(names) else f"output {k + 1}"
        parsed = output_json(value)
        if parsed is not None:
            data.append(parsed)
            if isinstance(parsed, dict) and len(parsed) <= 3 and not any(
                    isinstance(v, list | dict) for v in parsed.values()):
                text += " · " + " ".join(f"{k}={v}" for k, v in parsed.items())
            else:
                n = len(parsed)
                text += f" · {name}: {n} {'entry' if n == 1 else 'entries'}"
        else:
            text += f" · {name} {value}"
    return text, data


class TwinCommands(Provider):
    """The server's commands in the command palette (ctrl+p)."""

    def _entries(self) -> Iterable[tuple[str, str, MethodInfo]]:
        app: ConsoleApp = self.app  # type: ignore[assignment]
        for m in app.methods.values():
            reason = app.refusal_reason(m.name)
            hazard = " · ⚠ hazardous" if m.hazardous else ""
            help_text = (f"disabled: {reason}" if reason else
                         f"{m.description} ({m.role}{hazard})")
            yield f"{'✗ ' if reason else ''}{m.name}", help_text, m

    async def discover(self) -> Hits:
        app: ConsoleApp = self.app  # type: ignore[assignment]
        for text, help_text, m in self._entries():
            yield DiscoveryHit(text, partial(app.start_command, m), help=help_text)

    async def search(self, query: str) -> Hits:
        app: ConsoleApp = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        for text, help_text, m in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(app.start_command, m),
                          help=help_text)


class Control:
    """Roles and commands, mixed into the app (see the module docstring); it uses the app's
    ``link_connected``, ``answer``, ``refresh_view``, ``refresh_alarms`` and Textual's own
    ``push_screen`` and ``run_worker``."""

    link: Link
    methods: dict[str, MethodInfo]
    readings: dict[str, Reading]
    role: str | None
    role_source: str
    speed_set: float | None
    _rate: float | None

    # --- roles ---------------------------------------------------------------------------
    def needed_role(self, command: str) -> str:
        m = self.methods.get(command)
        if m is not None:
            return m.role
        if command in VIEWER_COMMANDS or command.startswith("List"):
            return "viewer"
        return "engineer" if command in ENGINEER_COMMANDS else "operator"

    def refusal_reason(self, command: str) -> str:
        """Why this console will not send ``command`` ('' if it will)."""
        needed = self.needed_role(command)
        if role_allows(self.role, needed):
            return ""
        return f"{command} needs the {needed} role; you are {self.role} ({self.role_source})"

    def allowed(self, command: str) -> bool | None:
        """For check_action: True, or None (shown disabled) when the role may not use it."""
        if not self.link_connected:
            return None
        return True if not self.refusal_reason(command) else None

    async def learn_role(self) -> None:
        """The role the server gives this session (its WhoAmI; a twin without it leaves the
        role to ``--role`` and the refusals)."""
        out = await self.link.call("satellite", "WhoAmI")
        data = output_json(out.outputs[0]) if out.ok and out.outputs else None
        role = data.get("role") if isinstance(data, dict) else None
        if role in ROLES:
            self.role, self.role_source = str(role), "per server"

    # --- commands ------------------------------------------------------------------------
    async def ask(self, name: str, *args: Any) -> tuple[Outcome, Any]:
        """A read-only command for a screen (ScenarioStatus, ListFaults, ...), its answer not
        shown: the outcome and its first output parsed as JSON (None if none)."""
        out = await self.link.call(self._method_parent(name), name, *args)
        data = output_json(out.outputs[0]) if out.ok and out.outputs else None
        return out, data

    def _method_parent(self, name: str) -> str:
        m = self.methods.get(name)
        return m.parent if m is not None else ("sim" if name in SIM_METHODS else "satellite")

    async def run_command(self, name: str, args: tuple[Any, ...] = (),
                          show_data: bool = False) -> Outcome:
        """Send one command and show the server's answer (and, with ``show_data``, a JSON
        output in a dialog); never raises."""
        reason = self.refusal_reason(name)
        m = self.methods.get(name)
        if reason:
            out = Outcome(False, "disabled", reason)
        else:
            types = ([variant_type(a.kind) for a in m.args] if m is not None
                     and len(m.args) == len(args) else None)
            out = await self.link.call(self._method_parent(name), name, *args, types=types)
            learned = _REFUSED_ROLE.search(out.message) if out.status == "BadUserAccessDenied" \
                else None
            if learned:
                self.role, self.role_source = learned[2], "per server"
                self.refresh_view(bindings=True)
        mark = "✓" if out.ok else "✗"
        extra, data = describe_outputs(m.outputs if m is not None else (), out.outputs)
        self.answer(out.ok, f"{mark} {name}: {out.status} — {out.message}{extra}")
        if show_data and data:
            for d in data:
                self.push_screen(OutputScreen(f"{name}: {out.message}", d))
        return out

    async def action_time(self, what: str) -> None:
        if what in ("pause", "resume"):
            await self.run_command(TIME_COMMANDS[what])
        elif what == "step":
            await self.run_command("Step", (1,))
        else:
            # the speed this console set, until the server's sim.speed_x tells it; that;
            # (a twin without it) the rate measured
            commanded = self.readings.get("sim.speed_x")
            now = commanded.value if commanded is not None else None
            current = self.speed_set or (float(now) if isinstance(now, int | float) and now > 0
                                         else self._rate or 1.0)
            if what == "faster":
                speed = next((s for s in SPEEDS if s > current * 1.001), SPEEDS[-1])
            else:
                speed = next((s for s in reversed(SPEEDS) if s < current * 0.999), SPEEDS[0])
            if (await self.run_command("SetSpeed", (speed,))).ok:
                self.speed_set = speed

    def start_command(self, m: MethodInfo, values: dict[str, str] | None = None) -> None:
        """From the palette: reason if disabled, else a form for the arguments (starting with
        ``values``), then a confirmation for hazardous commands, then the call."""
        reason = self.refusal_reason(m.name)
        if reason:
            self.answer(False, f"✗ {reason}")
            return
        if m.args:
            self.run_worker(self._open_form(m, values), group="forms")
        else:
            self._confirm_and_send(m, ())

    async def _open_form(self, m: MethodInfo, values: dict[str, str] | None) -> None:
        choices: dict[str, Choices] = {}
        hints: dict[str, dict[str, str]] = {}
        if m.name == "ClearFault":  # the faults there are to clear
            _, faults = await self.ask("ListFaults")
            choices["fault_id"] = [
                (f"{f.get('id')} {f.get('kind')} on {f.get('target')} ({f.get('state')})",
                 str(f.get("id"))) for f in faults or [] if isinstance(f, dict)
                and f.get("state") != "cleared"]
            if not choices["fault_id"]:
                self.answer(False, "✗ ClearFault: no fault to clear (ListFaults is empty)")
                return
        kind = next((a for a in m.args if a.name == "kind"), None)
        if m.name == "InjectFault" and kind is not None:
            # the server's fault catalogue says what target each kind takes (a server without
            # ListFaultKinds: the kinds its InjectFault names, if any, without targets)
            targets: dict[str, str] = {}
            if "ListFaultKinds" in self.methods:
                _, catalogue = await self.ask("ListFaultKinds")
                targets = {str(k.get("kind")): str(k.get("target")) for k in catalogue or []
                           if isinstance(k, dict)}
            names = list(kind.choices) or list(targets)
            if names:
                choices["kind"] = [(f"{k}  ({targets.get(k, 'target: see the catalogue')})", k)
                                   for k in names]
                hints["kind"] = {k: targets.get(k, "target") for k in names}
        self.push_screen(CommandForm(m, values, choices, hints),
                         partial(self._confirm_and_send, m))

    def start_command_named(self, name: str, values: dict[str, str] | None = None) -> None:
        """A screen's key for one command: its form, as from the palette."""
        m = self.methods.get(name)
        if m is None:
            self.answer(False, f"✗ {name}: the server has no such command"
                        + ("" if self.link_connected else " (not connected)"))
            return
        self.start_command(m, values)

    def _confirm_and_send(self, m: MethodInfo, args: tuple[Any, ...] | None) -> None:
        if args is None:
            return

        def send(yes: bool | None = True) -> None:
            if yes:
                self.run_worker(self._send(m.name, args), group="commands")
            else:
                self.answer(False, f"{m.name}: cancelled")

        if m.hazardous:
            self.push_screen(ConfirmScreen(question(m, args)), send)
        else:
            send()

    async def _send(self, name: str, args: tuple[Any, ...]) -> None:
        out = await self.run_command(name, args, show_data=True)
        if out.ok and "Alarm" in name:  # shelving shows in the alarm list, not in events
            await self.refresh_alarms()
