"""Replay and what-if: a recording through the mirror, re-simulation and forked branches.

    twin = ReplayTwin(config, RunStore.open("runs/day1"), speed=60.0)   # serve(twin, ...)
    resimulate("runs/day1", "runs/day1-again")                          # bit for bit
    fork("runs/pump", 600.0, "runs/pump-shed", [Action("SetLoadShedLevel", {"level": 2})])

Player: :mod:`twin.replay.player`; re-simulation and forks: :mod:`twin.replay.resim` (a fork of
a scenario run carries the scenario on and is judged on the branch); a plant from a recorded
frame (recordings of real boards): :mod:`twin.replay.measured`; the ``twin replay`` command:
:mod:`twin.replay.cli`.
"""

from twin.replay.player import ReplayCommands, Replayer, ReplayTwin
from twin.replay.resim import Action, ForkResult, fork, parse_action, resimulate, resimulate_run

__all__ = ["Action", "ForkResult", "ReplayCommands", "ReplayTwin", "Replayer", "fork",
           "parse_action", "resimulate", "resimulate_run"]
