"""Alarms: limit alarms from the catalogue's yellow and red limits, with acknowledge and shelve.

The twin decides alarm states here, in the core; the OPC UA server and the console only show
them and pass operators' acknowledgements and shelving through the command path. After each
mirror refresh :meth:`AlarmBook.evaluate` judges every limited channel at once (numpy): a value
beyond a red limit is ``red-low``/``red-high`` (severity 800), beyond a yellow one
``yellow-low``/``yellow-high`` (500), else ``ok``. Values whose quality is Bad are not judged
(their alarm holds its state). An alarm returns to a milder state only when the value is back
inside the limit by a deadband (1 % of the channel's range, or 5 % of its yellow band if
narrower), so a noisy value sitting on a limit does not flap. Link and residual alarms are
limit alarms too, on the ``hil.*`` channels of a twin built with boards
(``hil.<board>.online`` red when a board is offline, ``hil.residual.<path>`` beyond its
limits; :mod:`twin.catalogue`). Each transition becomes an ``alarm`` event. An alarm that
becomes active, or worse, needs acknowledging again; a shelved alarm keeps being evaluated
but raises no events until its shelf time runs out (simulated time).

Every notification (transition, acknowledgement, shelving) gets an ``event_id`` (16 random bytes
as hex), which the OPC UA server sends as the EventId of the condition event. A client
acknowledges one notification by its id (:meth:`AlarmBook.acknowledge_event`, the standard
Acknowledge method): only the notifications since the alarm last needed acknowledging
(its ``episode``) qualify. Messages name the value and the limit crossed; a boolean channel's
alarm says ``is true``/``is false`` instead of a number.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from twin.errors import CommandError

if TYPE_CHECKING:
    from twin.runtime import Twin

STATES = ("ok", "yellow-low", "yellow-high", "red-low", "red-high")
SEVERITY = (200, 500, 500, 800, 800)
MAX_SHELVE_S = 7 * 86400.0
LEVEL = np.array([0, 1, 1, 2, 2], dtype=np.int8)  # ok, yellow, red per state index
DEADBAND_SPAN = 0.01  # of the channel's range (hi - lo)
DEADBAND_BAND = 0.05  # of its yellow band (yellow high - yellow low), when narrower
KEEP_EVENT_IDS = 10_000  # notifications that can still be acknowledged by their id


@dataclass(slots=True)
class Alarm:
    path: str
    state: str
    severity: int
    active: bool
    acked: bool
    since_s: float  # simulated time of the last transition
    value: float
    shelved_until_s: float | None = None
    acked_by: str = ""
    comment: str = ""
    event_id: str = ""  # the latest notification's id (hex; the OPC UA EventId)
    episode: int = 0  # how many times the alarm has needed acknowledging
    message: str = ""  # the latest notification's message


def alarm_data(alarm: Alarm) -> dict[str, object]:
    """An alarm as event data (the event carries its own severity and message)."""
    d = asdict(alarm)
    d["alarm_severity"] = d.pop("severity")
    del d["message"]
    return d


class AlarmBook:
    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        chans = [c for c in twin.catalogue.channels if c.yellow != (None, None)
                 or c.red != (None, None)]
        self.index = np.array([c.index for c in chans], dtype=np.int64)
        self.paths = [c.path for c in chans]
        self.position = {p: k for k, p in enumerate(self.paths)}
        self.boolean = [c.dtype == "bool" for c in chans]
        self.units = [f" {c.unit}" if c.unit else "" for c in chans]

        def col(values: list[float | None], fill: float) -> np.ndarray:
            return np.array([fill if v is None else v for v in values], dtype=float)

        self.y_lo = col([c.yellow[0] for c in chans], -np.inf)
        self.y_hi = col([c.yellow[1] for c in chans], np.inf)
        self.r_lo = col([c.red[0] for c in chans], -np.inf)
        self.r_hi = col([c.red[1] for c in chans], np.inf)
        # deadband: an alarm returns to a milder state only once the value is back inside the
        # limit by 1 % of the channel's span, or 5 % of its yellow band if that is narrower
        span = np.array([c.hi - c.lo for c in chans], dtype=float)
        band = np.where(np.isfinite(self.y_hi - self.y_lo), self.y_hi - self.y_lo, np.inf)
        self.deadband = np.minimum(DEADBAND_SPAN * span, DEADBAND_BAND * band)
        self.state = np.zeros(len(chans), dtype=np.int8)
        self.alarms: dict[str, Alarm] = {}  # every alarm that has ever left "ok"
        self.listeners: list = []
        # event id → (path, episode, whether that notification showed the alarm acknowledged)
        self._notes: OrderedDict[str, tuple[str, int, bool]] = OrderedDict()

    def evaluate(self) -> list[Alarm]:
        """Judge every limited channel; returns the alarms that changed state."""
        m = self.twin.mirror
        v = m.values[self.index]
        new = self._states(v, 0.0)
        milder = LEVEL[new] < LEVEL[self.state]
        if milder.any():  # hold the alarm until the value is inside by the deadband
            held = self._states(v[milder], self.deadband[milder], milder)
            keep = LEVEL[held] <= LEVEL[self.state[milder]]
            new[milder] = np.where(keep, held, self.state[milder])
        unjudged = ((m.status[self.index] & 0x80000000) != 0) | np.isnan(v)
        new[unjudged] = self.state[unjudged]
        changed = []
        now = self.twin.plant.t_s
        for k in np.flatnonzero(new != self.state).tolist():
            s = int(new[k])
            path = self.paths[k]
            old = self.alarms.get(path)
            worse = SEVERITY[s] > (old.severity if old and old.active else 0)
            keep = old is not None and not worse
            alarm = Alarm(path, STATES[s], SEVERITY[s], s != 0,
                          acked=(old.acked if old and not worse else s == 0),
                          since_s=now, value=float(v[k]),
                          shelved_until_s=old.shelved_until_s if old else None,
                          acked_by=old.acked_by if keep else "",
                          comment=old.comment if keep else "",
                          episode=(old.episode if old else 0) + (1 if worse else 0))
            self.alarms[path] = alarm
            changed.append(alarm)
            was = old.state if old else "ok"
            message = self.describe(k, alarm.value, s, was)
            if self.shelved(alarm):
                self._note(alarm, message)  # raises no event, but the state has its id
            else:
                self._notify(alarm, alarm.severity if s else 200, message, previous=was)
        self.state = new
        for fn in self.listeners:
            fn(changed)
        return changed

    def _states(self, v: np.ndarray, db: np.ndarray | float,
                where: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The state index of values ``v`` (channels ``where``), limits tightened by ``db``."""
        new = np.zeros(len(v), dtype=np.int8)
        new[v < self.y_lo[where] + db] = 1
        new[v > self.y_hi[where] - db] = 2
        new[v < self.r_lo[where] + db] = 3
        new[v > self.r_hi[where] - db] = 4
        return new

    def describe(self, k: int, value: float, s: int, was: str) -> str:
        """The message of a transition of limited channel ``k`` into state ``s``."""
        path = self.paths[k]
        level = STATES[s].split("-")[0]
        if self.boolean[k]:  # e.g. "hil.io1.online is false: red alarm (was ok)"
            truth = "true" if value >= 0.5 else "false"
            now = f"{level} alarm" if s else "ok"
            return f"{path} is {truth}: {now} (was {was.split('-')[0]})"
        unit = self.units[k]
        if s == 0:
            return f"{path} = {value:g}{unit}: ok, within limits (was {was})"
        limit = (0.0, self.y_lo[k], self.y_hi[k], self.r_lo[k], self.r_hi[k])[s]
        side = "above" if s % 2 == 0 else "below"
        return (f"{path} = {value:g}{unit}: {STATES[s]}, {side} the {level} limit "
                f"{limit:g}{unit} (was {was})")

    def _note(self, alarm: Alarm, message: str) -> None:
        """Give the alarm's new state a notification id (and remember whose it is)."""
        alarm.event_id = uuid.uuid4().hex
        alarm.message = message
        self._notes[alarm.event_id] = (alarm.path, alarm.episode, alarm.acked)
        while len(self._notes) > KEEP_EVENT_IDS:
            self._notes.popitem(last=False)

    def _notify(self, alarm: Alarm, severity: int, message: str, **extra: object) -> None:
        self._note(alarm, message)
        self.twin.event("alarm", severity, message, **extra, **alarm_data(alarm))

    def shelved(self, alarm: Alarm) -> bool:
        if alarm.shelved_until_s is None:
            return False
        if self.twin.plant.t_s >= alarm.shelved_until_s:
            alarm.shelved_until_s = None
            return False
        return True

    def _get(self, path: str) -> Alarm:
        if path not in self.position:
            raise CommandError(f"{path!r} has no limits, so no alarm; see `twin channels`")
        alarm = self.alarms.get(path)
        if alarm is None:
            raise CommandError(f"alarm {path!r} has never been raised", "BadInvalidState")
        return alarm

    def acknowledge(self, path: str, user: str, comment: str = "") -> None:
        alarm = self._get(path)
        if alarm.acked:
            raise CommandError(f"alarm {path!r} is already acknowledged", "BadInvalidState")
        alarm.acked, alarm.acked_by, alarm.comment = True, user, comment
        self._notify(alarm, 200, f"{path}: acknowledged by {user}"
                     + (f" ({comment})" if comment else ""))

    def acknowledge_event(self, event_id: str, user: str, comment: str = "",
                          path: str = "") -> None:
        """Acknowledge the alarm whose notification ``event_id`` is (of ``path`` if given).

        Refused with BadEventIdUnknown for an id this book did not give (or forgot, or of
        another alarm, or of a state superseded by a worse one still unacknowledged) and
        BadConditionBranchAlreadyAcked when that notification needs no acknowledgement.
        """
        note = self._notes.get(event_id.lower())
        if note is None or (path and note[0] != path):
            where = f" of alarm {path!r}" if path else ""
            raise CommandError(f"no alarm notification{where} has the event id {event_id!r}",
                               "BadEventIdUnknown")
        owner, episode, acked_then = note
        alarm = self.alarms[owner]
        if acked_then or alarm.acked:
            raise CommandError(f"alarm {owner!r}: that notification is already acknowledged",
                               "BadConditionBranchAlreadyAcked")
        if episode < alarm.episode:
            raise CommandError(f"alarm {owner!r} has become worse since that notification "
                               f"({alarm.state}); acknowledge its latest one, "
                               f"{alarm.event_id}", "BadEventIdUnknown")
        self.acknowledge(owner, user, comment)

    def shelve(self, path: str, duration_s: float, user: str) -> None:
        if not (0.0 <= duration_s <= MAX_SHELVE_S and math.isfinite(duration_s)):
            raise CommandError(f"duration_s = {duration_s:g}: expected 0 to {MAX_SHELVE_S:g} s "
                               "(0 unshelves)", "BadOutOfRange")
        if path not in self.position:
            raise CommandError(f"{path!r} has no limits, so no alarm; see `twin channels`")
        alarm = self.alarms.setdefault(path, Alarm(path, "ok", 200, False, True,
                                                   self.twin.plant.t_s, math.nan))
        alarm.shelved_until_s = self.twin.plant.t_s + duration_s if duration_s > 0 else None
        what = f"shelved for {duration_s:g} s" if duration_s > 0 else "unshelved"
        self._notify(alarm, 200, f"{path}: {what} by {user}")

    def active(self) -> list[Alarm]:
        """Active or unacknowledged alarms, worst first, then oldest first."""
        out = [a for a in self.alarms.values() if a.active or not a.acked]
        return sorted(out, key=lambda a: (-a.severity, a.since_s, a.path))

    def counts(self) -> dict[str, int]:
        act = [a for a in self.alarms.values() if a.active and not self.shelved(a)]
        return {"red": sum(a.severity >= 800 for a in act),
                "yellow": sum(500 <= a.severity < 800 for a in act),
                "unacknowledged": sum(not a.acked for a in self.alarms.values())}

    def to_json(self) -> str:
        return json.dumps([asdict(a) for a in self.active()])
