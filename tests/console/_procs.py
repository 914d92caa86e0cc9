"""What a process tree holds, read from /proc: its descendants and its listening TCP ports."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

LISTEN = "0A"


def descendants(pid: int) -> set[int]:
    """PIDs below ``pid`` (from each thread's /proc children list)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError):
                    kids = {int(k) for k in Path(f"/proc/{p}/task/{task}/children")
                            .read_text().split()}
                    todo += kids - out
                    out |= kids
    return out


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _listening() -> dict[str, int]:
    """Socket inode → port, for every TCP socket in LISTEN (IPv4 and IPv6)."""
    out: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                if f[3] == LISTEN:
                    out[f[9]] = int(f[1].rsplit(":", 1)[1], 16)
    return out


def listening_ports(pids: set[int]) -> set[int]:
    """TCP ports on which any of ``pids`` listens."""
    inodes = _listening()
    ports: set[int] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        ports.add(inodes[link[8:-1]])
    return ports


def still_listening(ports: set[int]) -> set[int]:
    """Those of ``ports`` on which anything on this machine still listens."""
    return ports & set(_listening().values())
